//! The worker pool under every thread group: a queue of jobs, at most `limit` of them in
//! flight, run by worker threads that are started lazily (up to the limit) and reused.
//!
//! One lock guards the whole state. The [`WaitGroup`] counts the jobs in flight (accepted and
//! not yet finished): it is changed only while the lock is held, so under the lock its count is
//! exact, and it is what [`Pool::close`] blocks on.
//!
//! # Life cycle
//!
//! 1. [`Pool::acquire`] takes a slot (`add(1)`), blocking or refusing at the limit.
//! 2. [`Pool::submit`] queues the job and makes sure a worker will come for it (below).
//! 3. A worker runs the job under `catch_unwind`, keeps the payload of a panic, then `done()`.
//! 4. [`Pool::close`] (from `wait`, once the count is zero) refuses further jobs and lets the
//!    workers exit; the owner then joins them ([`Pool::join_workers`]). When the owner is
//!    dropped by one of the pool's own jobs, which cannot wait for itself,
//!    [`Pool::close_when_idle`] leaves the closing to the job that brings the count to zero;
//!    the workers then exit unjoined.
//!
//! # Worker states
//!
//! A worker is *running* a job, *searching* (just started, just woken, between two jobs, or
//! checking the queue a few times before sleeping), or *sleeping* on `work`. The rule that
//! keeps every queued job served, and starts threads only when they are needed:
//!
//! - `submit` does nothing more when a worker is searching: that worker will take the job.
//!   Otherwise it wakes a sleeping worker, or else starts a new one (below the limit).
//! - A searching worker that takes a job and sees more jobs queued, with no other worker
//!   searching, first wakes or starts one more (a chain), so a burst of jobs that block still
//!   gets a worker each, up to the limit; short jobs end the chain early, because the workers
//!   free themselves faster than threads start: 10,000 short tasks may need only a few threads.
//!
//! There is always a worker for a queued job: the queue holds jobs in flight, and fewer than
//! `limit` jobs in flight means fewer than `limit` workers are running; if all workers run,
//! the first to finish searches and finds the job.

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crate::WaitGroup;

/// A job: a boxed task with its lifetime erased to `'static` by the scoped form (see
/// `scope.rs` for why that is sound).
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A panic payload, as `std::thread::JoinHandle::join` and `catch_unwind` return it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The limit of a group built without [`limit`](crate::Group::limit): no limit.
pub(crate) const UNLIMITED: usize = usize::MAX;

/// How many times a searching worker checks the queue (yielding in between) before it sleeps.
/// Short tasks arrive faster than a sleep-and-wake round trip; this turns most hand-offs into a
/// queue pop instead of a futex wake.
const WORKER_SPINS: u32 = 16;

/// How many times a blocked `acquire` re-checks for a free slot (yielding in between) before it
/// sleeps on `slot`: short tasks free slots faster than a sleep-and-wake round trip.
const ACQUIRE_SPINS: u32 = 16;

thread_local! {
    /// The pool whose job this thread is running (null outside jobs): only compared, never
    /// dereferenced.
    static RUNNING: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

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

pub(crate) struct Pool {
    /// Jobs in flight; changed only with `state` locked (see the module docs).
    wg: WaitGroup,
    state: Mutex<State>,
    /// Sleeping workers wait here; signalled once per wake-up decided under the lock, and by
    /// `close` (all).
    work: Condvar,
    /// Blocked `acquire`s sleep here; signalled when a job finishes.
    slot: Condvar,
}

struct State {
    /// At most this many jobs in flight; `UNLIMITED` for none.
    limit: usize,
    queue: VecDeque<Job>,
    /// Workers started and not yet exited.
    workers: usize,
    /// Workers searching for a job (module docs): started or woken and not yet running a job.
    searching: usize,
    /// Workers asleep on `work` that no one has decided to wake.
    sleeping: usize,
    /// Wake-ups decided and not yet taken by a worker (a worker woken spuriously may take one;
    /// any worker serves as well as another).
    wakeups: usize,
    /// `acquire`s asleep at the limit.
    blocked: usize,
    /// Set by `close`: no more jobs; workers exit.
    closed: bool,
    /// Panics caught in jobs, in the order they were caught.
    panics: Vec<Payload>,
    /// Set by `close_when_idle`: the job that brings the count to zero closes the pool.
    close_when_idle: bool,
    /// Join handles of the workers, joined by `join_workers`.
    handles: Vec<JoinHandle<()>>,
    /// Workers decided on whose handle is not in `handles` yet: `join_workers` waits for them
    /// (a worker started for a job can run it, and the count reach zero, before its starter
    /// registers the handle).
    unregistered: usize,
    /// The most jobs ever in flight at once.
    high_water: usize,
}

impl State {
    /// Makes sure one more worker will search: wakes a sleeper, or returns `true` when the
    /// caller must start a new worker (with [`Pool::start_worker`], after unlocking).
    fn add_searcher(&mut self, work: &Condvar) -> bool {
        if self.sleeping > 0 {
            self.sleeping -= 1;
            self.wakeups += 1;
            self.searching += 1;
            work.notify_one();
            false
        } else if self.workers < self.limit {
            self.workers += 1;
            self.searching += 1;
            self.unregistered += 1;
            true
        } else {
            // Every worker is running a job; the first to finish searches.
            false
        }
    }
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
        Pool {
            wg: WaitGroup::new(),
            state: Mutex::new(State {
                limit,
                queue: VecDeque::new(),
                workers: 0,
                searching: 0,
                sleeping: 0,
                wakeups: 0,
                blocked: 0,
                closed: false,
                panics: Vec::new(),
                close_when_idle: false,
                handles: Vec::new(),
                unregistered: 0,
                high_water: 0,
            }),
            work: Condvar::new(),
            slot: Condvar::new(),
        }
    }

    /// Locks the state, ignoring poisoning: no user code runs while it is held.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current limit (`UNLIMITED` for none).
    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Changes the limit.
    ///
    /// # Panics
    ///
    /// If `limit` is 0, or if jobs are in flight.
    #[track_caller]
    pub(crate) fn set_limit(&self, what: &str, limit: usize) {
        assert!(limit > 0, "{what}::limit: the limit must be at least 1 (a limit of 0 would block every spawn forever)");
        let mut state = self.lock();
        let running = self.wg.count();
        assert!(
            running == 0,
            "{what}::limit: cannot change the limit while {running} task(s) are in flight; set it before the first spawn"
        );
        assert!(
            !state.closed,
            "{what}::limit: the group has already been waited on"
        );
        state.limit = limit;
    }

    /// Jobs in flight now (accepted and not finished).
    pub(crate) fn in_flight(&self) -> usize {
        let _state = self.lock();
        self.wg.count()
    }

    /// The most jobs that were ever in flight at once.
    pub(crate) fn high_water(&self) -> usize {
        self.lock().high_water
    }

    /// Worker threads started and not yet exited.
    pub(crate) fn workers(&self) -> usize {
        self.lock().workers
    }

    /// Takes a slot for one job: blocks while `limit` jobs are in flight (`block`) or refuses.
    /// With feature `diagnostics`, the count is recorded at the user's `spawn` call.
    #[track_caller]
    pub(crate) fn acquire(&self, block: bool) -> Result<Slot, Refused> {
        let mut state = self.lock();
        let mut spins = 0;
        loop {
            if state.closed {
                return Err(Refused::Closed);
            }
            let in_flight = self.wg.count();
            if in_flight < state.limit {
                // Under the lock, like every change of the count (module docs).
                self.wg.add_from(1, crate::diagnostics::Origin::spawn());
                state.high_water = state.high_water.max(in_flight + 1);
                return Ok(Slot(()));
            }
            if !block {
                return Err(Refused::Full);
            }
            if spins < ACQUIRE_SPINS {
                spins += 1;
                drop(state);
                thread::yield_now();
                state = self.lock();
                continue;
            }
            state.blocked += 1;
            // In a loop: condition variables wake spuriously, and another `acquire` may take
            // the slot first.
            state = self
                .slot
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.blocked -= 1;
        }
    }

    /// Queues `job` in the slot taken by `acquire`, and makes sure a worker will take it.
    pub(crate) fn submit(self: &Arc<Self>, _slot: Slot, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        let start = state.searching == 0 && state.add_searcher(&self.work);
        drop(state);
        if start {
            self.start_worker();
        }
    }

    /// Starts a worker thread, already counted in `workers` and `searching`.
    fn start_worker(self: &Arc<Self>) {
        let pool = Arc::clone(self);
        // The leak checker (`crate::leak`) lists this thread while it runs.
        let life = crate::leak::Life::register(&self.wg, "task group worker");
        let spawned = thread::Builder::new()
            .name("headcount-worker".into())
            .spawn(move || {
                let _alive = life.start();
                pool.work()
            });
        match spawned {
            Ok(handle) => {
                let mut state = self.lock();
                state.handles.push(handle);
                state.unregistered -= 1;
            }
            Err(_) => {
                // The jobs stay queued for the running workers; if there are none, run them
                // here rather than never.
                let mut state = self.lock();
                state.unregistered -= 1;
                state.workers -= 1;
                state.searching -= 1;
                if state.workers == 0 {
                    while let Some(job) = state.queue.pop_front() {
                        drop(state);
                        self.run(job);
                        state = self.lock();
                    }
                }
            }
        }
    }

    /// The body of a worker thread, which starts out searching: run jobs until the pool is
    /// closed.
    fn work(self: &Arc<Self>) {
        let mut state = self.lock();
        let mut spins = 0;
        loop {
            // Searching.
            if let Some(job) = state.queue.pop_front() {
                state.searching -= 1;
                // The chain (module docs): more jobs queued and no one else looking for them.
                let start = !state.queue.is_empty()
                    && state.searching == 0
                    && state.add_searcher(&self.work);
                drop(state);
                if start {
                    self.start_worker();
                }
                self.run(job);
                state = self.lock();
                state.searching += 1;
                spins = 0;
                continue;
            }
            if state.closed {
                state.searching -= 1;
                state.workers -= 1;
                return;
            }
            if spins < WORKER_SPINS {
                spins += 1;
                drop(state);
                thread::yield_now();
                state = self.lock();
                continue;
            }
            // Nothing to do: sleep until woken by `add_searcher` or `close`.
            state.searching -= 1;
            state.sleeping += 1;
            loop {
                // In a loop: wake-ups can be spurious.
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                if state.wakeups > 0 {
                    // `add_searcher` counted us as searching already.
                    state.wakeups -= 1;
                    break;
                }
                if state.closed {
                    state.sleeping -= 1;
                    state.searching += 1;
                    break;
                }
            }
            spins = 0;
        }
    }

    /// Runs one job, keeps its panic, and releases its slot.
    fn run(&self, job: Job) {
        // A job that waits on its own group could never see zero: the core panics instead.
        let own = crate::diagnostics::enter_own_group(&self.wg, "a task group");
        let outer = RUNNING.try_with(|r| r.replace(self)).ok();
        let result = panic::catch_unwind(AssertUnwindSafe(job));
        if let Some(outer) = outer {
            let _ = RUNNING.try_with(|r| r.set(outer));
        }
        drop(own);
        let mut state = self.lock();
        if let Err(payload) = result {
            state.panics.push(payload);
        }
        // Under the lock (module docs). Release: everything the job did is visible to whoever
        // `wait`s and sees the count this `done` lowers (the core's Release/Acquire pairing).
        self.wg.done();
        if state.blocked > 0 {
            self.slot.notify_one();
        }
        if state.close_when_idle && !state.closed && self.wg.count() == 0 {
            let panics = self.close_locked(&mut state);
            drop(state);
            super::panics::report_unraised("a task group closed by its own task", panics);
        }
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
    /// (the workers then exit unjoined) and reports the panics caught, as no `wait` will.
    pub(crate) fn close_when_idle(&self) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if self.wg.count() == 0 {
            let panics = self.close_locked(&mut state);
            drop(state);
            super::panics::report_unraised("a task group closed by its own task", panics);
        } else {
            state.close_when_idle = true;
        }
    }

    /// Marks the pool closed (refusing every later `acquire`, letting the workers exit) and
    /// takes the panics; `state` is this pool's, locked, with no job in flight.
    fn close_locked(&self, state: &mut State) -> Vec<Payload> {
        state.closed = true;
        self.work.notify_all();
        self.slot.notify_all();
        std::mem::take(&mut state.panics)
    }

    /// Blocks until no job is in flight, then closes the pool: every later `acquire` is
    /// refused, workers exit once the queue is empty. Returns the panics caught so far. Idempotent.
    pub(crate) fn close(&self) -> Vec<Payload> {
        let mut state = loop {
            self.wg.wait();
            let state = self.lock();
            // Another handle may have taken a slot between `wait` and `lock`: wait again.
            if self.wg.count() == 0 {
                break state;
            }
        };
        self.close_locked(&mut state)
    }

    /// Whether [`close`](Self::close) has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Joins every worker started so far (call after [`close`](Self::close)): when it returns,
    /// none of the pool's threads is running.
    pub(crate) fn join_workers(&self) {
        loop {
            let (handles, unregistered) = {
                let mut state = self.lock();
                (std::mem::take(&mut state.handles), state.unregistered)
            };
            if handles.is_empty() && unregistered == 0 {
                return;
            }
            if handles.is_empty() {
                // A starter is between `spawn` and registering the handle: a short window.
                thread::yield_now();
            }
            for handle in handles {
                // Workers catch every job's panic; a worker itself does not panic.
                let _ = handle.join();
            }
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let mut d = f.debug_struct("Pool");
        d.field("in_flight", &self.wg.count());
        if state.limit == UNLIMITED {
            d.field("limit", &"none");
        } else {
            d.field("limit", &state.limit);
        }
        d.field("workers", &state.workers)
            .field("queued", &state.queue.len())
            .field("panicked", &state.panics.len())
            .field("closed", &state.closed)
            .finish()
    }
}
