//! The worker pool under every thread group: a queue of jobs, at most `limit` of them in
//! flight, run by worker threads that are started lazily (up to the limit) and reused.
//!
//! One lock guards the whole state. The [`WaitGroup`] counts the jobs in flight (accepted and
//! not yet finished): it is changed only while the lock is held, so under the lock its count is
//! exact, and it is what [`Pool::wait`] blocks on.
//!
//! # Life cycle
//!
//! 1. [`Pool::acquire`] takes a slot (`add(1)`), blocking or refusing at the limit.
//! 2. [`Pool::submit`] queues the job and hands it to an idle worker, or asks the caller to
//!    start a new one (returns `true`), or leaves it for a busy worker, which takes it as soon
//!    as it finishes its current job.
//! 3. A worker runs the job under `catch_unwind`, keeps the payload of a panic, then `done()`.
//! 4. [`Pool::close`] (from `wait`, once the count is zero) refuses further jobs and lets idle
//!    workers exit; the owner then joins them.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::WaitGroup;

/// A job: a boxed task with its lifetime erased to `'static` by the scoped form (see
/// `scope.rs` for why that is sound).
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A panic payload, as `std::thread::JoinHandle::join` and `catch_unwind` return it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The limit of a group built without [`limit`](crate::Group::limit): no limit.
pub(crate) const UNLIMITED: usize = usize::MAX;

/// How many times a worker with nothing to do checks the queue (yielding in between) before it
/// sleeps on the condition variable. Short tasks arrive faster than a sleep-and-wake round
/// trip; this turns most hand-offs into a queue pop instead of a futex wake.
const IDLE_SPINS: u32 = 8;

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
    /// Idle workers sleep here; signalled by `submit` (one job, one wake-up) and `close` (all).
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
    /// Workers asleep on `work` that no one has woken yet.
    sleeping: usize,
    /// Wake-ups sent and not yet taken by a worker (a worker woken spuriously may take one; any
    /// worker serves as well as another).
    wakeups: usize,
    /// Workers checking the queue between jobs, not yet asleep: a job submitted now is seen by
    /// one of them without a wake-up.
    spinning: usize,
    /// `acquire`s blocked at the limit.
    blocked: usize,
    /// Set by `close`: no more jobs; workers exit.
    closed: bool,
    /// Panics caught in jobs, in the order they were caught.
    panics: Vec<Payload>,
    /// Join handles of the workers started by the owner, joined by `join_workers`.
    handles: Vec<JoinHandle<()>>,
    /// The most jobs ever in flight at once (for `Debug` and tests of the limit).
    high_water: usize,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
        Pool {
            wg: WaitGroup::new(),
            state: Mutex::new(State {
                limit,
                queue: VecDeque::new(),
                workers: 0,
                sleeping: 0,
                wakeups: 0,
                spinning: 0,
                blocked: 0,
                closed: false,
                panics: Vec::new(),
                handles: Vec::new(),
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
    pub(crate) fn acquire(&self, block: bool) -> Result<Slot, Refused> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(Refused::Closed);
            }
            let in_flight = self.wg.count();
            if in_flight < state.limit {
                // Under the lock, like every change of the count (module docs). Cannot overflow
                // before the limit does, except for an unlimited pool with 2^32 jobs queued.
                self.wg.add(1);
                state.high_water = state.high_water.max(in_flight + 1);
                return Ok(Slot(()));
            }
            if !block {
                return Err(Refused::Full);
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

    /// Queues `job` in the slot taken by `acquire`. Returns `true` when the caller must start a
    /// new worker (which runs [`Pool::work`]) and register it with [`Pool::add_handle`] if it
    /// is to be joined.
    pub(crate) fn submit(&self, _slot: Slot, job: Job) -> bool {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.spinning >= state.queue.len() {
            // Enough workers are between jobs and will find it.
            false
        } else if state.sleeping > 0 {
            state.sleeping -= 1;
            state.wakeups += 1;
            self.work.notify_one();
            false
        } else if state.workers < state.limit {
            state.workers += 1;
            true
        } else {
            // Every worker is busy; the first to finish takes the job.
            false
        }
    }

    /// Registers the join handle of a worker started after `submit` returned `true`.
    pub(crate) fn add_handle(&self, handle: JoinHandle<()>) {
        self.lock().handles.push(handle);
    }

    /// Undoes the `workers += 1` of a `submit` whose worker could not be started. The job stays
    /// queued for the other workers; if there are none, it is run by the caller.
    pub(crate) fn worker_failed(&self) {
        let mut state = self.lock();
        state.workers -= 1;
        let orphan = if state.workers == 0 {
            state.queue.pop_front()
        } else {
            None
        };
        drop(state);
        if let Some(job) = orphan {
            self.run(job);
        }
    }

    /// The body of a worker thread: run jobs until the pool is closed.
    pub(crate) fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                self.run(job);
                state = self.lock();
                continue;
            }
            if state.closed {
                state.workers -= 1;
                return;
            }
            // Nothing queued: check a few times before sleeping (see `IDLE_SPINS`).
            state.spinning += 1;
            for _ in 0..IDLE_SPINS {
                drop(state);
                std::thread::yield_now();
                state = self.lock();
                if !state.queue.is_empty() || state.closed {
                    break;
                }
            }
            state.spinning -= 1;
            if !state.queue.is_empty() || state.closed {
                continue;
            }
            state.sleeping += 1;
            loop {
                // In a loop: wake-ups can be spurious.
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                if state.wakeups > 0 {
                    state.wakeups -= 1;
                    break;
                }
                if state.closed {
                    state.sleeping -= 1;
                    break;
                }
            }
        }
    }

    /// Runs one job, keeps its panic, and releases its slot.
    fn run(&self, job: Job) {
        let result = panic::catch_unwind(AssertUnwindSafe(job));
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
        state.closed = true;
        self.work.notify_all();
        self.slot.notify_all();
        std::mem::take(&mut state.panics)
    }

    /// Whether [`close`](Self::close) has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Joins every worker started so far (call after [`close`](Self::close)): when it returns,
    /// none of the pool's threads is running.
    pub(crate) fn join_workers(&self) {
        let handles = std::mem::take(&mut self.lock().handles);
        for handle in handles {
            // Workers catch every job's panic; a worker itself does not panic.
            let _ = handle.join();
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
