//! The worker pool under every thread group: a lock-free queue of jobs, at most `limit` of them
//! in flight, run by worker threads that are started lazily (up to the limit), reused, and
//! parked one by one when there is nothing to do.
//!
//! No lock is taken on the path of a job. The in-flight count is split in two, so that a
//! spawner and the workers do not write one cache line for every job, and a third word runs
//! the crew:
//!
//! - `slots` (the spawners' side): how many jobs were ever accepted (`started`, a running
//!   count), the `BUSY` bit and the `CLOSED` bit. [`Pool::acquire`] takes a slot with a CAS
//!   that adds one job and checks `CLOSED` together; only spawners write this word (and
//!   `close`, once).
//! - `finished` (the workers' side): how many jobs have ended (a running count, modulo 2^32),
//!   the number of `acquire`s parked at the limit, and the `WAITING` bit of a waiting
//!   `close`. Each finished job raises the count with one `fetch_add`, whose result says
//!   whether an `acquire` is parked and must be woken, or whether `close` waits.
//! - `crew`: how many workers there are, how many are *searching* the queue, and how many are
//!   *sleeping*, plus the crew's own `CLOSED` bit. [`Pool::submit`] reads it after queueing a
//!   job to decide whether a worker must be woken or started.
//!
//! The jobs in flight are `started - finished`. A spawner checks the limit against `seen`, a
//! finished count read earlier (by it or another spawner): the count only grows, so
//! `started - seen` is never below the truth, and the limit holds. It reads the workers'
//! count afresh only when that bound reaches the limit (and to keep the high-water mark
//! exact), so a spawner far from the limit touches no line that a worker writes. An `acquire`
//! at the limit yields a few times, then parks: its read-modify-write of `finished` counts it
//! parked and returns the finished count; a job that finishes after it sees it parked and
//! wakes one parked `acquire`. One word, so one of the two sees the other.
//!
//! The group's [`WaitGroup`] holds one count from the first `acquire` (the one that sets
//! `BUSY`) until [`Pool::close`] clears `BUSY` (with feature `diagnostics`, it counts each job
//! instead, so that stall reports list every `spawn`): it is what the self-deadlock check and
//! the leak checker key on. `close` waits for `started == finished` itself: it sets
//! `WAITING` (a read-modify-write that returns the finished count), and parks on the
//! `finished` word's address until the job that brings `finished` up to `started` sees
//! `WAITING` and wakes it. Reading `finished` (Acquire, from a chain of `SeqCst`
//! `fetch_add`s) makes every write of every job visible to the waiter.
//!
//! # Life cycle
//!
//! 1. [`Pool::acquire`] takes a slot (the first one `add(1)`s the group), blocking or
//!    refusing at the limit. A blocking one at the limit runs queued jobs itself meanwhile,
//!    a few at a time, as the waiter does in step 4 (and under the same rules).
//! 2. [`Pool::submit`] queues the job and makes sure a worker will come for it (below).
//! 3. A worker runs the job under `catch_unwind`, keeps the payload of a panic, and raises
//!    `finished`. A job is a [`Job`]: a small task is stored in it inline, so that a spawn
//!    allocates nothing (an allocation on the spawner freed on a worker would miss both
//!    threads' allocator caches).
//! 4. The waiter first runs the jobs still queued itself ([`Pool::help`]); then
//!    [`Pool::close`] (once nothing is in flight) sets `CLOSED` and clears `BUSY` in one CAS
//!    (which fails if a job was accepted meanwhile), and `done()`s the group: every later
//!    `acquire` is refused, searching workers leave, sleeping ones are taken off the crew.
//!    A worker that leaves goes back to the process-wide cache of idle workers ([`warm`]),
//!    where the next pool that needs a worker hires it; under Miri and loom it exits instead,
//!    and [`Pool::join_workers`] joins it.
//!
//! # Worker states
//!
//! A worker is *running* a job, *searching* (just started, just woken, between two jobs, or
//! spinning briefly before it sleeps), or *sleeping* (parked on the `crew` word's address). The
//! rule that keeps every queued job served, and starts threads only when they are needed:
//!
//! - `submit` does nothing more when a worker is searching: that worker will take the job.
//!   Otherwise it wakes a sleeping worker, or else starts a new one (below the limit).
//! - A worker that finishes a job takes the next queued one directly, without searching in
//!   between (nor does the waiter in [`Pool::help`] search when it takes queued jobs). That
//!   leaves the rule intact: taking a job only shortens the queue; every job still queued
//!   keeps the worker that was counted on for it (a searcher, a worker being woken or
//!   started), and a `submit` meanwhile sees no searcher and finds a worker itself.
//! - A searching worker that takes a job and sees more jobs queued, with no other worker
//!   searching, first wakes or starts one more (a chain), so a burst of jobs that block still
//!   gets a worker each, up to the limit; short jobs end the chain early, because the workers
//!   free themselves faster than threads start: 10,000 short tasks may need only a few threads.
//!
//! No wake-up is lost: `submit` pushes, then (after a `SeqCst` fence) reads `crew`; a worker
//! leaves the searching state by a `SeqCst` read-modify-write of `crew`, then (after a fence)
//! looks at the queue once more. Of two such sequences at least one sees the other's write, so
//! either `submit` sees the worker searching or sleeping (and relies on it or wakes it), or the
//! worker sees the job. A worker becomes *sleeping* inside the parking lot's `validate`, under
//! the queue lock that the waker's unpark takes too: a worker counted as sleeping is parked or
//! about to find out it must not park, never in between.
//!
//! There is always a worker for a queued job: the queue holds jobs in flight, and fewer than
//! `limit` jobs in flight means fewer than `limit` workers are running; if all workers run,
//! the first to finish searches and finds the job.
//!
//! # Changing the limit
//!
//! [`Pool::set_limit`] is refused while jobs are in flight. Between two batches it takes
//! effect at once: workers above the new limit retire (back to the cache of idle workers), and
//! the high-water mark of jobs in flight starts again from zero.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::park::{Backoff, Parked, Parker};
use crate::sync::{
    self, fence, thread, AtomicBool, AtomicU64, AtomicUsize, CachePadded, Mutex,
    Ordering::{Acquire, Relaxed, Release, SeqCst},
    Queue,
};
use crate::WaitGroup;

std::thread_local! {
    /// The pool whose job this thread is running (null outside jobs): only compared, never
    /// dereferenced. Set and restored around each job, so a warm worker that moves on to
    /// another pool does not carry it along.
    static RUNNING: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

/// A job: a task with its type (and, in the scoped form, its lifetime) erased.
pub(crate) use super::job::Job;

/// A panic payload, as `std::thread::JoinHandle::join` and `catch_unwind` return it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The limit of a group built without [`limit`](crate::Group::limit): no limit.
pub(crate) const UNLIMITED: usize = usize::MAX;

// The `slots` word.
/// Jobs accepted since the pool was made: a running count, the low 62 bits.
const STARTED: u64 = (1 << 62) - 1;
/// Set by the first `acquire` while it is clear, which then counts the pool busy in the
/// group's `WaitGroup`; cleared by `close` (module docs).
const BUSY: u64 = 1 << 62;
/// Set by `close`: no more jobs (also in `crew`).
const CLOSED: u64 = 1 << 63;

// The `finished` word.
/// `acquire`s parked at the limit: the low 31 bits.
const PARKED: u64 = (1 << 31) - 1;
/// Set by `close` (and `close_when_idle`) once it waits for the pool to go idle: the job that
/// finds the pool idle wakes it.
const WAITING: u64 = 1 << 31;
/// One finished job: the high 32 bits count them, modulo 2^32 (a carry out of the word is
/// dropped).
const FINISHED: u64 = 1 << 32;

/// The finished count of a `finished` word (modulo 2^32).
fn finished_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// Jobs in flight: accepted (`started`) and not finished (`finished`, modulo 2^32). Both are
/// running counts, and fewer than 2^31 jobs are ever in flight, so the difference modulo 2^32
/// is the count; a `finished` read after `started` and already past it (a stale `started`)
/// gives 0.
fn in_flight_of(started: u64, finished: u32) -> u64 {
    ((started as u32).wrapping_sub(finished) as i32).max(0) as u64
}

// The `crew` word: three 21-bit counts, then `CLOSED`.
const FIELD: u64 = (1 << 21) - 1;
const WORKER: u64 = 1;
const SEARCHING: u64 = 1 << 21;
const SLEEPING: u64 = 1 << 42;
/// The most workers a pool starts, whatever its limit.
const MAX_WORKERS: u64 = FIELD;

fn workers_of(crew: u64) -> u64 {
    crew & FIELD
}
fn searching_of(crew: u64) -> u64 {
    (crew >> 21) & FIELD
}
fn sleeping_of(crew: u64) -> u64 {
    (crew >> 42) & FIELD
}

/// Whether the group's [`WaitGroup`] counts every job in flight (with feature `diagnostics`:
/// each count records its `spawn` call for stall reports), or only whether any is (one count,
/// taken by the job that makes the pool busy and released by the job that makes it idle): one
/// contended read-modify-write less per job on either side.
const COUNT_EACH_JOB: bool = cfg!(feature = "diagnostics");

/// How many times an `acquire` at the limit yields its time slice, re-checking in between,
/// before it parks: short jobs free a slot faster than a park and wake-up round trip. It
/// yields rather than spins: the workers that will free the slot may be waiting for its core.
const ACQUIRE_YIELDS: u32 = if cfg!(loom) { 0 } else { 64 };

/// How many queued jobs a spawner blocked at the limit runs before it tries for a slot again
/// (one would do, but joining and leaving the crew for each costs about as much as the job:
/// 10,000 small jobs at a limit of 100 took 30% longer).
const SPAWN_HELPS: usize = 8;

/// How many times a searching worker yields, looking at the queue in between, before it
/// sleeps.
const WORKER_YIELDS: u32 = if cfg!(loom) { 0 } else { 16 };

/// Why [`Pool::acquire`] did not take a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `limit` jobs are in flight (only when not blocking).
    Full,
    /// The pool was closed by `wait`.
    Closed,
}

/// A slot taken by [`Pool::acquire`], to be filled by [`Pool::submit`].
#[must_use]
pub(crate) struct Slot(());

/// The spawners' side of the in-flight count (one cache line, written by `acquire` only).
struct Spawned {
    /// Jobs accepted, `BUSY`, `CLOSED` (module docs).
    slots: AtomicU64,
    /// A finished count (of the `finished` word) that a spawner read: behind the count or
    /// equal to it (the count only grows), which `acquire` uses until the bound it gives
    /// reaches the limit.
    seen: AtomicU64,
}

pub(crate) struct Pool {
    /// Jobs accepted, `BUSY`, `CLOSED` (module docs).
    spawned: CachePadded<Spawned>,
    /// Jobs finished, parked `acquire`s, `WAITING` (module docs): written by every finished
    /// job, so on a cache line of its own.
    finished: CachePadded<AtomicU64>,
    /// Workers, searching, sleeping, `CLOSED` (module docs).
    crew: CachePadded<AtomicU64>,
    queue: Queue<Job>,
    /// Above zero from the first `acquire` until `close` (counts each job with feature
    /// `diagnostics`).
    wg: CachePadded<WaitGroup>,
    /// At most this many jobs in flight; `UNLIMITED` for none.
    limit: AtomicUsize,
    /// The most jobs in flight at once since the limit was last set.
    high_water: AtomicUsize,
    /// Sleeping workers park here, on the address of `crew`.
    idle: Parker,
    /// `acquire`s at the limit park here, on the address of `slots`; `close` waits here for
    /// the pool to go idle, on the address of the finished count.
    full: Parker,
    /// Panics caught in jobs, in the order they were caught.
    panics: Mutex<Vec<Payload>>,
    /// Join handles of the workers, joined by `join_workers` (under Miri and loom; otherwise
    /// workers go back to the cache of idle workers and their handles are not kept).
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Workers being started whose handle is not in `handles` yet: `join_workers` waits for
    /// them (a worker can run a job, and the count reach zero, before its starter registers
    /// the handle). Raised before the `crew` CAS that decides the start.
    unregistered: AtomicUsize,
    /// Set by [`close_when_idle`](Pool::close_when_idle): the job that ends the last busy
    /// period closes the pool.
    close_when_idle: AtomicBool,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
        Pool {
            spawned: CachePadded::new(Spawned {
                slots: AtomicU64::new(0),
                seen: AtomicU64::new(0),
            }),
            finished: CachePadded::new(AtomicU64::new(0)),
            crew: CachePadded::new(AtomicU64::new(0)),
            queue: Queue::new(),
            wg: CachePadded::new(WaitGroup::new()),
            limit: AtomicUsize::new(limit),
            high_water: AtomicUsize::new(0),
            idle: Parker::new(),
            full: Parker::new(),
            panics: Mutex::new(Vec::new()),
            handles: Mutex::new(Vec::new()),
            unregistered: AtomicUsize::new(0),
            close_when_idle: AtomicBool::new(false),
        }
    }

    /// The key the workers park on.
    fn idle_key(&self) -> usize {
        (&*self.crew as *const AtomicU64) as usize
    }

    /// The key blocked `acquire`s park on.
    fn full_key(&self) -> usize {
        (&self.spawned.slots as *const AtomicU64) as usize
    }

    /// The key `close` parks on while it waits for the pool to go idle.
    fn idle_wait_key(&self) -> usize {
        (&*self.finished as *const AtomicU64) as usize
    }

    /// The limit on jobs in flight, as a count (below 2^31: see [`in_flight_of`]).
    fn slot_limit(&self) -> u64 {
        (self.limit.load(Relaxed) as u64).min(i32::MAX as u64)
    }

    /// Jobs in flight now, and the `slots` word read: the finished count is read first, so
    /// that the difference is never negative.
    fn in_flight_now(&self) -> (u64, u64) {
        let finished = self.finished.load(SeqCst);
        let slots = self.spawned.slots.load(SeqCst);
        (in_flight_of(slots & STARTED, finished_of(finished)), slots)
    }

    /// The limit on workers.
    fn worker_limit(&self) -> u64 {
        (self.limit.load(SeqCst) as u64).min(MAX_WORKERS)
    }

    /// The current limit (`UNLIMITED` for none).
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Relaxed)
    }

    /// Changes the limit. Between two batches of jobs, the new limit holds from then on:
    /// workers above it retire, and the high-water mark starts again.
    ///
    /// # Panics
    ///
    /// If `limit` is 0, if jobs are in flight, or if the pool is closed.
    #[track_caller]
    pub(crate) fn set_limit(&self, what: &str, limit: usize) {
        assert!(limit > 0, "{what}::limit: the limit must be at least 1 (a limit of 0 would block every spawn forever)");
        let (running, slots) = self.in_flight_now();
        assert!(
            slots & CLOSED == 0,
            "{what}::limit: the group has already been waited on"
        );
        assert!(
            running == 0,
            "{what}::limit: cannot change the limit while {running} task(s) are in flight; set it before the first spawn, or once they have ended"
        );
        self.limit.store(limit, SeqCst);
        self.high_water.store(0, Relaxed);
        let cap = self.worker_limit();
        if workers_of(self.crew.load(SeqCst)) > cap {
            // Idle workers above the new limit retire: the searching ones see it in their
            // loop, the sleeping ones once woken (and a worker about to sleep sees it in
            // `validate`, which runs under the lock that this wake-up takes).
            self.wake_workers(usize::MAX);
            while workers_of(self.crew.load(SeqCst)) > cap {
                sync::yield_now();
            }
        }
    }

    /// Jobs in flight now (accepted and not finished).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight_now().0 as usize
    }

    /// The most jobs that were in flight at once since the limit was last set.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Relaxed)
    }

    /// Worker threads serving the pool now (started, not retired, not exited).
    pub(crate) fn workers(&self) -> usize {
        workers_of(self.crew.load(SeqCst)) as usize
    }

    /// Takes a slot for one job: blocks while `limit` jobs are in flight (`block`) or refuses.
    /// With feature `diagnostics`, the count is recorded at the user's `spawn` call.
    ///
    /// A blocking `acquire` at the limit runs queued jobs of the pool itself meanwhile, up to
    /// [`SPAWN_HELPS`] at a time (see [`help`](Self::help)): each one it finishes frees a slot,
    /// so a spawner that outpaces the workers takes turns with them instead of sleeping until
    /// they catch up, as the owner of a `rayon::scope` does.
    #[track_caller]
    pub(crate) fn acquire(self: &Arc<Self>, block: bool) -> Result<Slot, Refused> {
        let limit = self.slot_limit();
        let mut yields = 0;
        let mut slots = self.spawned.slots.load(Relaxed);
        // A lower bound of the finished count: `started - seen` is at least the number of
        // jobs in flight. Acquire: a job counted in it has ended before the next one starts.
        let mut seen = self.spawned.seen.load(Acquire) as u32;
        let mut fresh = false;
        loop {
            if slots & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            let started = slots & STARTED;
            let mut in_flight = in_flight_of(started, seen);
            if in_flight >= limit && !fresh {
                // Only near the limit does a spawner look at the workers' side.
                (seen, in_flight) = self.refresh_seen(started);
                fresh = true;
            }
            if in_flight < limit {
                // SeqCst: ordered with `close`'s CAS (a slot taken before it makes it retry;
                // after it, this CAS fails on `CLOSED`).
                match self.spawned.slots.compare_exchange_weak(
                    slots,
                    (slots + 1) | BUSY,
                    SeqCst,
                    Relaxed,
                ) {
                    Ok(_) => {
                        if COUNT_EACH_JOB || slots & BUSY == 0 {
                            self.wg.add_from(1, crate::diagnostics::Origin::spawn());
                        }
                        let mut now = in_flight + 1;
                        if now as usize > self.high_water.load(Relaxed) {
                            // The bound may be above the truth: the mark takes the truth.
                            if !fresh {
                                now = self.refresh_seen(started).1 + 1;
                            }
                            self.high_water.fetch_max(now as usize, Relaxed);
                        }
                        return Ok(Slot(()));
                    }
                    Err(actual) => {
                        slots = actual;
                        fresh = false;
                        continue;
                    }
                }
            }
            if !block {
                return Err(Refused::Full);
            }
            // A queued job is one of the `limit` in flight: running it here frees its slot
            // with no thread switch (a worker would have to be scheduled to run it first).
            // Only while the queue is not empty, that is while every worker is busy: nobody
            // waits for work meanwhile.
            if self.help_with(SPAWN_HELPS) > 0 {
                slots = self.spawned.slots.load(Relaxed);
                fresh = false;
                continue;
            }
            // Short jobs free a slot faster than a park and wake-up round trip. Yield rather
            // than spin: the workers that will free the slot may be waiting for this core.
            if yields < ACQUIRE_YIELDS {
                yields += 1;
                sync::yield_now();
                slots = self.spawned.slots.load(Relaxed);
                fresh = false;
                continue;
            }
            let validate = || {
                // Under the parking lot's lock. One word, one read-modify-write: a job that
                // finishes after it sees us parked and wakes us; before it, we see it
                // finished (module docs).
                let finished = self.finished.fetch_add(1, SeqCst);
                let slots = self.spawned.slots.load(SeqCst);
                if slots & CLOSED != 0
                    || in_flight_of(slots & STARTED, finished_of(finished)) < limit
                {
                    self.finished.fetch_sub(1, SeqCst);
                    false
                } else {
                    true
                }
            };
            // Unparked: the waker took our count away; invalid: we did.
            // SAFETY: the key is the address of this pool's own `slots` word, on which only
            // this pool's `acquire`s park, and the pool outlives the call (`&self`);
            // `validate` only does atomic operations and `timed_out` is empty: neither panics
            // nor calls into the parker.
            let _: Parked = unsafe { self.full.park(self.full_key(), 0, None, validate, |_| {}) };
            yields = 0;
            slots = self.spawned.slots.load(Relaxed);
            fresh = false;
        }
    }

    /// Reads the finished count for an `acquire` that has seen `started` jobs accepted: keeps
    /// it as the spawners' bound, and returns it with the jobs in flight it gives.
    fn refresh_seen(&self, started: u64) -> (u32, u64) {
        let seen = finished_of(self.finished.load(SeqCst));
        // Another spawner may store an older count over it: still a bound (one that is off
        // by 2^31 jobs would need this thread to stall between the two lines meanwhile).
        self.spawned.seen.store(u64::from(seen), Release);
        (seen, in_flight_of(started, seen))
    }

    /// Queues `job` in the slot taken by `acquire`, and makes sure a worker will take it.
    pub(crate) fn submit(self: &Arc<Self>, _slot: Slot, job: Job) {
        self.queue.push(job);
        // Pairs with the fence of a worker that stops searching (module docs).
        fence(SeqCst);
        self.find_worker();
    }

    /// Makes sure a worker will look at the queue: unless one is searching, wakes a sleeping
    /// worker, or else starts one (below the limit). Call after a `SeqCst` fence that follows
    /// the push.
    fn find_worker(self: &Arc<Self>) {
        let mut crew = self.crew.load(SeqCst);
        loop {
            if crew & CLOSED != 0 || searching_of(crew) > 0 {
                return;
            }
            if sleeping_of(crew) > 0 {
                if self.wake_workers(1) > 0 {
                    return;
                }
                // That worker did not stay asleep (it saw work, or was woken by another
                // thread): look again.
                crew = self.crew.load(SeqCst);
                continue;
            }
            if workers_of(crew) >= self.worker_limit() {
                // Every worker is running a job; the first to finish searches.
                return;
            }
            // Raised before the decision, so that `join_workers`, which runs after the crew
            // is closed, either sees it or makes this CAS fail.
            self.unregistered.fetch_add(1, SeqCst);
            match self
                .crew
                .compare_exchange(crew, crew + WORKER + SEARCHING, SeqCst, SeqCst)
            {
                Ok(_) => {
                    self.start_worker();
                    return;
                }
                Err(actual) => {
                    self.unregistered.fetch_sub(1, SeqCst);
                    crew = actual;
                }
            }
        }
    }

    /// Wakes up to `n` sleeping workers, each moved to searching before it wakes (under the
    /// parking lot's lock, where sleepers are counted); returns how many woke.
    fn wake_workers(&self, n: usize) -> usize {
        let mut left = n;
        // SAFETY: the key is the address of this pool's own `crew` word, on which only this
        // pool's workers park; the filter only counts and does one atomic `fetch_sub`: it
        // neither panics nor calls into the parker.
        unsafe {
            self.idle.unpark_filter(
                self.idle_key(),
                |_| {
                    if left == 0 {
                        return false;
                    }
                    left -= 1;
                    self.crew.fetch_sub(SLEEPING - SEARCHING, SeqCst);
                    true
                },
                0,
            )
        }
    }

    /// Takes every sleeping worker off the crew and wakes it with [`EVICTED`]: it leaves at
    /// once, touching nothing of the pool (for `close`, once `CLOSED` is set in `crew`).
    fn evict_sleepers(&self) {
        // SAFETY: as in `wake_workers`: this pool's own key, and a filter of one atomic
        // `fetch_sub`.
        unsafe {
            self.idle.unpark_filter(
                self.idle_key(),
                |_| {
                    self.crew.fetch_sub(SLEEPING + WORKER, SeqCst);
                    true
                },
                EVICTED,
            );
        }
    }

    /// Wakes up to `n` `acquire`s parked at the limit; returns how many woke.
    fn wake_blocked(&self, n: usize) -> usize {
        let mut left = n;
        // SAFETY: the key is the address of this pool's own `slots` word, on which only this
        // pool's `acquire`s park; the filter only counts and does one atomic `fetch_sub`.
        unsafe {
            self.full.unpark_filter(
                self.full_key(),
                |_| {
                    if left == 0 {
                        return false;
                    }
                    left -= 1;
                    self.finished.fetch_sub(1, SeqCst);
                    true
                },
                0,
            )
        }
    }

    /// Starts a worker, already counted in `crew` (working and searching) and in
    /// `unregistered`: hires an idle thread from the process-wide cache ([`warm`]), or spawns
    /// one.
    fn start_worker(self: &Arc<Self>) {
        // The leak checker (`crate::leak`) lists the thread while it serves this pool.
        let life = crate::leak::Life::register(&self.wg, "task group worker");
        #[cfg(not(any(loom, miri)))]
        let life = match warm::hire(self, life) {
            Ok(()) => {
                self.unregistered.fetch_sub(1, SeqCst);
                return;
            }
            Err(life) => life,
        };
        let pool = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("headcount-worker".into())
            .spawn(move || {
                pool.work(life.start());
                drop(pool);
                #[cfg(not(any(loom, miri)))]
                warm::serve_while_hired();
            });
        match spawned {
            Ok(handle) => {
                if JOINED {
                    sync::lock(&self.handles).push(handle);
                }
                // Otherwise dropped: the thread outlives the pool, idle in the cache.
                self.unregistered.fetch_sub(1, SeqCst);
            }
            Err(_) => {
                // The jobs stay queued for the running workers; if there are none, run them
                // here rather than never.
                let prev = self.crew.fetch_sub(WORKER + SEARCHING, SeqCst);
                self.unregistered.fetch_sub(1, SeqCst);
                if workers_of(prev) == 1 {
                    while let Some(job) = self.queue.pop() {
                        self.run(job);
                    }
                }
            }
        }
    }

    /// A worker's stint in this pool, which starts out searching: run jobs until the pool is
    /// closed, or until the worker retires (above a lowered limit). `alive` (the leak
    /// checker's record) ends just before the worker leaves the crew.
    fn work(self: &Arc<Self>, alive: crate::leak::Alive) {
        let mut idle_spins = 0;
        loop {
            // Searching.
            if let Some(job) = self.queue.pop() {
                let prev = self.crew.fetch_sub(SEARCHING, SeqCst);
                // The chain (module docs): more jobs queued and no one else looking for them.
                if searching_of(prev) == 1 {
                    fence(SeqCst);
                    if !self.queue.is_empty() {
                        self.find_worker();
                    }
                }
                self.run(job);
                // Running, not searching: take the next job straight away while there is one
                // (module docs: taking a job leaves every other queued job with the worker
                // that was counted on for it).
                while let Some(job) = self.queue.pop() {
                    self.run(job);
                }
                self.crew.fetch_add(SEARCHING, SeqCst);
                // Pairs with `submit`'s fence: a job queued while we were running, by a
                // `submit` that saw no searcher, is seen by the next `pop`.
                fence(SeqCst);
                idle_spins = 0;
                continue;
            }
            let crew = self.crew.load(SeqCst);
            if crew & CLOSED != 0 {
                drop(alive);
                self.crew.fetch_sub(WORKER + SEARCHING, SeqCst);
                return;
            }
            if workers_of(crew) > self.worker_limit() {
                if self
                    .crew
                    .compare_exchange(crew, crew - WORKER - SEARCHING, SeqCst, SeqCst)
                    .is_ok()
                {
                    // Retired. A `submit` that counted on us while we searched must not be
                    // left without a worker: look once more, as a worker going to sleep does.
                    fence(SeqCst);
                    if !self.queue.is_empty() {
                        self.find_worker();
                    }
                    return;
                }
                continue;
            }
            if idle_spins < WORKER_YIELDS {
                idle_spins += 1;
                sync::yield_now();
                continue;
            }
            // Nothing to do: sleep until `find_worker`, `set_limit` or `close` wakes us.
            let validate = || {
                // Under the parking lot's lock (module docs).
                let prev = self.crew.fetch_add(SLEEPING - SEARCHING, SeqCst);
                fence(SeqCst);
                if prev & CLOSED != 0
                    || workers_of(prev) > self.worker_limit()
                    || !self.queue.is_empty()
                {
                    self.crew.fetch_sub(SLEEPING - SEARCHING, SeqCst);
                    false
                } else {
                    true
                }
            };
            // Unparked: the waker moved us back to searching, or `close` took us off the crew;
            // invalid: we moved ourselves back.
            // SAFETY: the key is the address of this pool's own `crew` word, on which only
            // this pool's workers park, and the pool outlives the call (`self: &Arc<Self>`);
            // `validate` only does atomic operations (the queue's emptiness check reads its
            // atomics) and `timed_out` is empty: neither panics nor calls into the parker.
            let parked = unsafe { self.idle.park(self.idle_key(), 0, None, validate, |_| {}) };
            if parked == Parked::Unparked(EVICTED) {
                drop(alive);
                return;
            }
            idle_spins = 0;
        }
    }

    /// Runs one job, keeps its panic, and releases its slot.
    fn run(&self, job: Job) {
        // A job that waits on its own group could never see zero: the core panics instead.
        let own = crate::diagnostics::enter_own_group(&self.wg, "a task group");
        let outer = RUNNING.try_with(|r| r.replace(self)).ok();
        let result = panic::catch_unwind(AssertUnwindSafe(|| job.run()));
        if let Some(outer) = outer {
            let _ = RUNNING.try_with(|r| r.set(outer));
        }
        drop(own);
        if let Err(payload) = result {
            sync::lock(&self.panics).push(payload);
        }
        // One read-modify-write of the `finished` word, which also holds the parked
        // `acquire`s and `WAITING`: either we see them, or they see this job finished.
        // Release: everything the job did is visible to whoever reads the count (the next
        // `acquire` at the limit, `close`).
        let prev = self.finished.fetch_add(FINISHED, SeqCst);
        if prev & PARKED != 0 {
            self.wake_blocked(1);
        }
        if COUNT_EACH_JOB {
            self.wg.done();
        }
        if prev & WAITING != 0 {
            // `close` (or `close_when_idle`) waits for the pool to go idle: if this job was
            // the last one in flight, it has.
            let slots = self.spawned.slots.load(SeqCst);
            if in_flight_of(slots & STARTED, finished_of(prev).wrapping_add(1)) == 0 {
                self.went_idle();
            }
        }
    }

    /// The pool went idle while `close` or `close_when_idle` waits for that.
    #[cold]
    fn went_idle(&self) {
        if self.close_when_idle.load(SeqCst) {
            self.close_if_idle();
        }
        // SAFETY: the key is the address of this pool's own finished count, on which only
        // this pool's `close` parks; the filter neither panics nor calls into the parker.
        unsafe { self.full.unpark_filter(self.idle_wait_key(), |_| true, 0) };
    }

    /// Whether the current thread is running one of this pool's jobs (which must not wait
    /// for the pool: it would wait for itself).
    pub(crate) fn is_current_task(&self) -> bool {
        RUNNING
            .try_with(|r| std::ptr::eq(r.get(), self))
            .unwrap_or(false)
    }

    /// Closes the pool once no job is in flight, without waiting for that here: for a job of
    /// this pool that drops the pool's owner. The job that brings the count to zero closes it
    /// (its workers go on to other pools unjoined) and reports the panics caught, as no `wait`
    /// will.
    pub(crate) fn close_when_idle(&self) {
        self.close_when_idle.store(true, SeqCst);
        // With the job's `fetch_add` in `run`, on the same word: either the job that ends the
        // last busy period sees `WAITING`, or we see it finished (or both; the CAS in
        // `close_if_idle` lets one of them close).
        self.finished.fetch_or(WAITING, SeqCst);
        self.close_if_idle();
    }

    /// Closes the pool if no job is in flight and it is not closed yet (never blocks), and
    /// reports the panics caught.
    fn close_if_idle(&self) {
        if self.try_close() == Some(true) {
            let panics = self.shut();
            super::panics::report_unraised("a task group closed by its own task", panics);
        }
    }

    /// Sets `CLOSED` if no job is in flight: `Some(true)` if this call did, `Some(false)` if
    /// the pool was closed already, `None` if jobs are in flight. Clears `BUSY` with it, and
    /// releases the count that `BUSY` held in the group.
    fn try_close(&self) -> Option<bool> {
        loop {
            let (in_flight, slots) = self.in_flight_now();
            if slots & CLOSED != 0 {
                return Some(false);
            }
            if in_flight != 0 {
                return None;
            }
            if self
                .spawned
                .slots
                .compare_exchange(slots, (slots & !BUSY) | CLOSED, SeqCst, SeqCst)
                .is_ok()
            {
                if !COUNT_EACH_JOB && slots & BUSY != 0 {
                    self.wg.done();
                }
                return Some(true);
            }
        }
    }

    /// Runs queued jobs on the calling thread (the waiter, before [`close`](Self::close)) while
    /// there are any, as the owner of a `rayon::scope` does, instead of only waiting for the
    /// workers to take them. Nothing the waiter would do is left undone meanwhile: it would
    /// only wait.
    ///
    /// The waiter joins the crew as a running worker while it helps, and only if there is room
    /// under the worker limit: at most `limit` threads ever run the pool's jobs. It takes jobs
    /// as a worker that finished one does (module docs), and leaves the crew as a retiring
    /// worker does: a `submit` that counted it among the workers all running, and so relied on
    /// the first of them to finish, gets a worker found for its job. Not from one of the
    /// pool's own jobs (which must get the self-deadlock panic of `close`), nor while the
    /// thread is unwinding.
    pub(crate) fn help(self: &Arc<Self>) {
        self.help_with(usize::MAX);
    }

    /// [`help`](Self::help), for at most `most` jobs; returns how many it ran. A spawner
    /// blocked at the limit runs them one at a time, re-checking the limit in between.
    fn help_with(self: &Arc<Self>, most: usize) -> usize {
        // (Under loom the model threads share one OS thread, and so the thread-local that
        // `is_current_task` reads: the models never wait from a task, and skip the check.)
        if (!cfg!(loom) && self.is_current_task()) || std::thread::panicking() {
            return 0;
        }
        let cap = self.worker_limit();
        let mut crew = self.crew.load(SeqCst);
        loop {
            if crew & CLOSED != 0 || workers_of(crew) >= cap || self.queue.is_empty() {
                return 0;
            }
            match self
                .crew
                .compare_exchange(crew, crew + WORKER, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => crew = actual,
            }
        }
        let mut ran = 0;
        while ran < most {
            let Some(job) = self.queue.pop() else { break };
            self.run(job);
            ran += 1;
        }
        self.crew.fetch_sub(WORKER, SeqCst);
        // Pairs with `submit`'s fence (module docs): a job queued after our last `pop`, by a
        // `submit` that counted us as a running worker, is seen here.
        fence(SeqCst);
        if !self.queue.is_empty() {
            self.find_worker();
        }
        ran
    }

    /// Blocks until no job is in flight, then closes the pool: every later `acquire` is
    /// refused, workers exit. Returns the panics caught so far. Idempotent.
    ///
    /// # Panics
    ///
    /// From one of the pool's own jobs ("self-deadlock": it would wait for itself).
    #[track_caller]
    pub(crate) fn close(&self) -> Vec<Payload> {
        if COUNT_EACH_JOB {
            // Each job is counted: the group's wait (with its stall reports) waits for them.
            self.wg.wait();
        } else {
            // The group's count stays up while the pool is open: check what its wait would.
            crate::diagnostics::check_self_wait(&self.wg);
        }
        // Spin, then yield a little (the last jobs are often about to end), then park, as the
        // group's own `wait` does.
        let mut backoff = Backoff::new();
        while self.try_close().is_none() {
            if backoff.snooze() {
                continue;
            }
            let validate = || {
                // Under the parking lot's lock, one read-modify-write of the word each job's
                // `fetch_add` in `run` writes: either the last job sees `WAITING` (and wakes
                // us, under this lock), or we see it finished.
                let finished = self.finished.fetch_or(WAITING, SeqCst);
                let slots = self.spawned.slots.load(SeqCst);
                slots & CLOSED == 0 && in_flight_of(slots & STARTED, finished_of(finished)) != 0
            };
            // SAFETY: the key is the address of this pool's own finished count, on which only
            // `close` parks, and the pool outlives the call (`&self`); `validate` only does
            // atomic operations and `timed_out` is empty: neither panics nor calls into the
            // parker.
            let _: Parked = unsafe {
                self.full
                    .park(self.idle_wait_key(), 0, None, validate, |_| {})
            };
        }
        self.shut()
    }

    /// The rest of closing, once `CLOSED` is set in `slots`: the crew is closed, sleepers
    /// evicted, parked `acquire`s refused. Returns the panics caught so far.
    fn shut(&self) -> Vec<Payload> {
        // No new worker starts (a start decided before this is counted in `unregistered` and
        // `crew`, which `join_workers` waits for); searching workers see `CLOSED` and leave;
        // sleeping ones are taken off the crew here, so that `join_workers` does not wait for
        // each to be scheduled only to leave.
        self.crew.fetch_or(CLOSED, SeqCst);
        self.evict_sleepers();
        // `acquire`s parked at the limit are refused.
        self.wake_blocked(usize::MAX);
        std::mem::take(&mut *sync::lock(&self.panics))
    }

    /// Whether [`close`](Self::close) has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.spawned.slots.load(Acquire) & CLOSED != 0
    }

    /// Waits until every worker has left the pool (call after [`close`](Self::close)): when
    /// it returns, no thread runs anything of the pool. Under Miri and loom, where threads are
    /// not kept warm, it joins them: none of the pool's threads is running.
    pub(crate) fn join_workers(&self) {
        let mut backoff = Backoff::new();
        loop {
            let handles = std::mem::take(&mut *sync::lock(&self.handles));
            let joined = !handles.is_empty();
            for handle in handles {
                // Workers catch every job's panic; a worker itself does not panic.
                let _ = handle.join();
            }
            if joined {
                continue;
            }
            // A worker leaves the crew as its last step in the pool; a worker being started
            // is counted in `unregistered` until its handle is registered.
            if self.unregistered.load(SeqCst) == 0 && workers_of(self.crew.load(SeqCst)) == 0 {
                if sync::lock(&self.handles).is_empty() {
                    return;
                }
                continue;
            }
            // Workers woken by `close` are on their way out: a short window.
            if !backoff.snooze() {
                sync::yield_now();
            }
        }
    }
}

/// The unpark token of a sleeping worker that `close` took off the crew.
const EVICTED: usize = 1;

/// Whether worker threads are joined when their pool closes (Miri and loom, which want every
/// thread joined) rather than kept warm in the process-wide cache ([`warm`]).
const JOINED: bool = cfg!(any(loom, miri));

/// The process-wide cache of idle worker threads, as rayon's global pool and Go's idle
/// threads are: a pool's worker leaves it when the pool closes (or retires) and waits here,
/// parked, to be hired by the next pool that needs a worker, instead of exiting. Creating and
/// joining a thread costs far more than a short task; a group's first task should not pay it.
///
/// Idle threads hold nothing of the pools they served. One that is not hired again within
/// [`KEEP`](warm::KEEP) exits; at most [`MAX_IDLE`](warm::MAX_IDLE) wait at once.
#[cfg(not(any(loom, miri)))]
mod warm {
    use std::sync::{Arc, Mutex};
    use std::thread::{self, Thread};
    use std::time::{Duration, Instant};

    use super::Pool;
    use crate::leak::Life;

    /// How long an idle thread waits to be hired before it exits.
    pub(super) const KEEP: Duration = Duration::from_secs(1);
    /// The most idle threads kept at once.
    pub(super) const MAX_IDLE: usize = 256;

    /// An idle thread: where its next stint is handed over, and how to wake it.
    struct Idle {
        hire: Mutex<Option<(Arc<Pool>, Life)>>,
        thread: Thread,
    }

    /// The idle threads, the most recently idle last (hired first: its caches are warmest).
    static IDLE: Mutex<Vec<Arc<Idle>>> = Mutex::new(Vec::new());

    /// Hands a stint in `pool` to an idle thread; gives `life` back when none is idle.
    pub(super) fn hire(pool: &Arc<Pool>, life: Life) -> Result<(), Life> {
        let Some(idle) = crate::sync::lock(&IDLE).pop() else {
            return Err(life);
        };
        *crate::sync::lock(&idle.hire) = Some((Arc::clone(pool), life));
        idle.thread.unpark();
        Ok(())
    }

    /// The rest of a worker thread's life once its first stint has ended: wait in the cache,
    /// serve the pool that hires it, again, until no pool hires it for [`KEEP`].
    pub(super) fn serve_while_hired() {
        while let Some((pool, life)) = wait_for_hire() {
            pool.work(life.start());
        }
    }

    fn wait_for_hire() -> Option<(Arc<Pool>, Life)> {
        let me = Arc::new(Idle {
            hire: Mutex::new(None),
            thread: thread::current(),
        });
        {
            let mut idle = crate::sync::lock(&IDLE);
            if idle.len() >= MAX_IDLE {
                return None;
            }
            idle.push(Arc::clone(&me));
        }
        let deadline = Instant::now() + KEEP;
        let mut left_the_cache = false;
        loop {
            if let Some(stint) = crate::sync::lock(&me.hire).take() {
                return Some(stint);
            }
            let now = Instant::now();
            if now < deadline || left_the_cache {
                // Unpark tokens make a hire between the check and the park wake us at once;
                // spurious wake-ups loop.
                thread::park_timeout(deadline.saturating_duration_since(now).max(KEEP / 10));
                continue;
            }
            let mut idle = crate::sync::lock(&IDLE);
            match idle.iter().position(|i| Arc::ptr_eq(i, &me)) {
                Some(at) => {
                    idle.swap_remove(at);
                    return None;
                }
                // A hirer took us out of the cache: its hand-over is on its way.
                None => left_the_cache = true,
            }
        }
    }
}

// A pool is consistent at every point a panic can cross it: no user code runs while one of
// its invariants is broken (jobs run under `catch_unwind`, between two consistent states), as
// with the `Mutex` it was once built on. Without these, the job queue's cells would make every
// group lose `UnwindSafe` (`catch_unwind(move || group.wait())`).
impl std::panic::UnwindSafe for Pool {}
impl std::panic::RefUnwindSafe for Pool {}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = self.limit();
        let mut d = f.debug_struct("Pool");
        d.field("in_flight", &self.in_flight());
        if limit == UNLIMITED {
            d.field("limit", &"none");
        } else {
            d.field("limit", &limit);
        }
        d.field("workers", &self.workers())
            .field("queued", &self.queue.len())
            .field("panicked", &sync::lock(&self.panics).len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
