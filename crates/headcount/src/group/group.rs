//! [`Group`] and [`Spawner`]: spawn `'static` tasks, wait for all of them, get their panics.

use std::fmt;
use std::sync::Arc;

use super::panics::Panicked;
use super::pool::{Job, Pool, Refused, Slot, UNLIMITED};

/// A group of `'static` tasks run on worker threads: [`spawn`](Self::spawn) them, then
/// [`wait`](Self::wait) for all of them. A panic in any task reaches the waiter with its
/// original payload.
///
/// It is Go's `WaitGroup` + `go` + `recover` in one (conc's `WaitGroup`/`Pool`, errgroup
/// without errors; see [`ErrGroup`](crate::ErrGroup) for those).
///
/// - **Workers.** Tasks run on worker threads that the group starts on demand, when a queued
///   task finds no worker free, and reuses afterwards. With [`limit(n)`](Self::limit) there
///   are never more than `n` of them, however many tasks are spawned: 10,000 tasks at a limit
///   of 100 start at most 100 threads (short tasks, far fewer). Every task that is spawned
///   gets a worker while fewer than `n` run, so tasks that wait for each other do not starve.
///   The thread that calls [`wait`](Self::wait) (or drops the group) runs tasks still queued
///   then itself, as the owner of a `rayon::scope` does, instead of only waiting for them,
///   counted as one of the `n` while it does.
///   When [`wait`](Self::wait) returns, every worker has left the group; the threads wait,
///   idle, in a process-wide cache for the next group that needs a worker (as rayon's global
///   pool does), and one that no group hires within a second exits.
/// - **Limit.** With [`limit(n)`](Self::limit), at most `n` tasks are *in flight* (spawned and
///   not finished); [`spawn`](Self::spawn) blocks while `n` are (running a few of the queued
///   tasks itself meanwhile, when every worker is busy, as `wait` does), and
///   [`try_spawn`](Self::try_spawn) hands the task back instead (errgroup's `SetLimit` and
///   `TryGo`).
/// - **Panics.** A task's panic is caught on its worker. [`wait`](Self::wait) re-raises the
///   *first* one (in the order they were caught) with its original payload, after every task
///   has ended; the others are dropped. [`wait_recover`](Self::wait_recover) returns all of
///   them as a [`Panicked`] instead.
/// - **Borrowing.** Tasks of a `Group` are `'static`; for tasks that borrow from the stack, see
///   [`Group::scope`] and [`scope`](crate::scope()).
/// - **Dropping** a group without waiting waits for its tasks and joins its workers, then
///   re-raises the first panic, as `std::thread::scope` does (reported on stderr or through
///   `tracing` instead when the thread is already panicking). Never silent.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use headcount::Group;
///
/// let done = Arc::new(AtomicUsize::new(0));
/// let group = Group::new().limit(4); // at most 4 at once, on at most 4 threads
/// for _ in 0..100 {
///     let done = Arc::clone(&done);
///     group.spawn(move || { done.fetch_add(1, Ordering::Relaxed); });
/// }
/// group.wait();
/// assert_eq!(done.load(Ordering::Relaxed), 100);
/// ```
pub struct Group {
    pool: Arc<Pool>,
}

/// A cloneable handle that spawns tasks into a [`Group`], for tasks that spawn more tasks
/// (dynamic work) or for other threads. Returned by [`Group::spawner`].
///
/// Tasks spawned through a `Spawner` while the group's [`wait`](Group::wait) runs are waited
/// for too. Once `wait` has returned, the group is closed: [`spawn`](Self::spawn) panics and
/// [`try_spawn`](Self::try_spawn) hands the task back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use headcount::Group;
///
/// // Walk a tree of depth 3 and fan-out 3: every task spawns its children.
/// fn visit(spawner: headcount::Spawner, depth: u32, seen: Arc<AtomicUsize>) {
///     seen.fetch_add(1, Ordering::Relaxed);
///     if depth < 3 {
///         for _ in 0..3 {
///             let (s, seen) = (spawner.clone(), Arc::clone(&seen));
///             spawner.spawn(move || visit(s, depth + 1, seen));
///         }
///     }
/// }
///
/// let group = Group::new();
/// let seen = Arc::new(AtomicUsize::new(0));
/// let (s, seen2) = (group.spawner(), Arc::clone(&seen));
/// group.spawn(move || visit(s, 0, seen2));
/// group.wait();
/// assert_eq!(seen.load(Ordering::Relaxed), 1 + 3 + 9 + 27);
/// ```
#[derive(Clone)]
pub struct Spawner {
    pool: Arc<Pool>,
}

impl Group {
    /// A group without a limit: every task that finds no idle worker gets a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// group.spawn(|| println!("hello from a worker"));
    /// group.wait();
    /// ```
    pub fn new() -> Self {
        Group {
            pool: Arc::new(Pool::new(UNLIMITED)),
        }
    }

    /// Sets the limit: at most `limit` tasks in flight, on at most `limit` worker threads.
    /// A builder method; call it before the first spawn, or again once every task has ended:
    /// the new limit holds from then on (workers above it retire, and
    /// [`max_in_flight`](Self::max_in_flight) starts again).
    ///
    /// A task that [`spawn`](Self::spawn)s into its own limited group blocks while the group
    /// is full; if every running task does that, they wait for each other forever (as with
    /// errgroup). Such tasks should use [`try_spawn`](Self::try_spawn), or an unlimited group.
    ///
    /// # Panics
    ///
    /// If `limit` is 0, or if tasks are in flight ("cannot change the limit while ...").
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new().limit(2);
    /// assert_eq!(group.concurrency_limit(), Some(2));
    ///
    /// assert!(std::panic::catch_unwind(|| headcount::Group::new().limit(0)).is_err());
    /// ```
    #[track_caller]
    pub fn limit(self, limit: usize) -> Self {
        self.pool.set_limit("Group", limit);
        self
    }

    /// The limit set by [`limit`](Self::limit), `None` for a group without one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::Group::new().concurrency_limit(), None);
    /// assert_eq!(headcount::Group::new().limit(8).concurrency_limit(), Some(8));
    /// ```
    pub fn concurrency_limit(&self) -> Option<usize> {
        Some(self.pool.limit()).filter(|&n| n != UNLIMITED)
    }

    /// Runs `f` on a worker thread, counted by the group. Blocks while the limit is reached.
    ///
    /// A panic *in* `f` does not panic here; it reaches [`wait`](Self::wait). If the operating
    /// system refuses to start a worker thread, queued tasks run on the workers already
    /// running, or on the calling thread when there are none. A task still queued when the
    /// group is waited on may run on the waiting thread (see *Workers* above).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let group = headcount::Group::new();
    /// let (tx, rx) = mpsc::channel();
    /// group.spawn(move || tx.send(6 * 7).unwrap());
    /// group.wait();
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        spawn(&self.pool, "Group::spawn", f, Job::new);
    }

    /// Runs `f` on a worker thread if fewer than `limit` tasks are in flight; otherwise hands
    /// it back at once (errgroup's `TryGo`).
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let group = headcount::Group::new().limit(1);
    /// let (release, blocked) = mpsc::channel::<()>();
    /// group.spawn(move || blocked.recv().unwrap()); // holds the only slot
    /// assert!(group.try_spawn(|| ()).is_err());     // handed back
    /// release.send(()).unwrap();
    /// group.wait();
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce() + Send + 'static,
    {
        try_spawn(&self.pool, f, Job::new)
    }

    /// A cloneable handle for spawning into this group from tasks or other threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// let spawner = group.spawner();
    /// group.spawn(move || spawner.spawn(|| println!("spawned by a task")));
    /// group.wait(); // waits for both
    /// ```
    pub fn spawner(&self) -> Spawner {
        Spawner {
            pool: Arc::clone(&self.pool),
        }
    }

    /// Tasks in flight now (spawned and not finished): a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// assert_eq!(group.in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.pool.in_flight()
    }

    /// The most tasks that were in flight at once since the limit was last set (never above
    /// the limit).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new().limit(3);
    /// for _ in 0..20 {
    ///     group.spawn(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    /// }
    /// assert!(group.max_in_flight() <= 3);
    /// group.wait();
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.pool.high_water()
    }

    /// Worker threads serving the group now (never above the limit).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new().limit(2);
    /// for _ in 0..50 {
    ///     group.spawn(|| ());
    /// }
    /// assert!(group.workers() <= 2);
    /// group.wait();
    /// ```
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// Waits until every task has ended (also those spawned meanwhile by tasks) and every
    /// worker has left the group, then re-raises the first panic of a task, if any, with its
    /// original payload (`resume_unwind`); the other panics are dropped.
    ///
    /// # Panics
    ///
    /// With the first task panic's payload. Use [`wait_recover`](Self::wait_recover) to get
    /// panics as a value. Called from one of the group's own tasks (it would wait for itself
    /// forever), it panics with a "self-deadlock" message instead, once: the task can catch
    /// it, and the group then closes when its last task ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::Group;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct DiskFull(u32);
    ///
    /// let group = Group::new();
    /// group.spawn(|| std::panic::panic_any(DiskFull(3)));
    /// let payload = std::panic::catch_unwind(move || group.wait()).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<DiskFull>(), Some(&DiskFull(3)));
    /// ```
    #[track_caller]
    pub fn wait(self) {
        if let Err(panicked) = self.wait_recover() {
            panicked.resume()
        }
    }

    /// Waits as [`wait`](Self::wait) does, and returns the tasks' panics instead of re-raising
    /// the first (conc's `WaitAndRecover`).
    ///
    /// # Errors
    ///
    /// [`Panicked`], with every payload, when at least one task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// group.spawn(|| panic!("boom"));
    /// group.spawn(|| ());
    /// let panicked = group.wait_recover().unwrap_err();
    /// assert_eq!(panicked.message(), Some("boom"));
    /// ```
    pub fn wait_recover(self) -> Result<(), Panicked> {
        match Panicked::from_payloads(self.finish()) {
            Some(panicked) => Err(panicked),
            None => Ok(()),
        }
    }

    /// Waits for every task, closes the group and joins its workers; returns the panics.
    pub(crate) fn finish(&self) -> Vec<super::pool::Payload> {
        self.pool.help();
        let panics = self.pool.close();
        self.pool.join_workers();
        panics
    }

    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Spawner {
    /// [`Group::spawn`] through the handle.
    ///
    /// # Panics
    ///
    /// If the group has already been waited on (its `wait` returned or it was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|| ());
    /// group.wait();
    /// assert!(std::panic::catch_unwind(|| spawner.spawn(|| ())).is_err()); // closed
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        spawn(&self.pool, "Spawner::spawn", f, Job::new);
    }

    /// [`Group::try_spawn`] through the handle.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached or the group has already been waited on.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// let spawner = group.spawner();
    /// group.wait();
    /// assert!(spawner.try_spawn(|| ()).is_err());
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce() + Send + 'static,
    {
        try_spawn(&self.pool, f, Job::new)
    }

    /// Whether the group has been waited on (then every spawn is refused).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// let spawner = group.spawner();
    /// assert!(!spawner.is_closed());
    /// group.wait();
    /// assert!(spawner.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// The accessors the wrapping thread groups share, delegated to their inner [`Group`] (the
/// field `group`). `$new` builds the group and `$task` is a task of it, for the doc examples.
macro_rules! thread_group_accessors {
    ($new:literal, $task:literal) => {
        /// The limit set by [`limit`](Self::limit), `None` for a group without one.
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("assert_eq!(", $new, ".concurrency_limit(), None);")]
        #[doc = concat!("assert_eq!(", $new, ".limit(3).concurrency_limit(), Some(3));")]
        /// ```
        pub fn concurrency_limit(&self) -> Option<usize> {
            self.group.concurrency_limit()
        }

        /// Tasks in flight now (spawned and not finished), as
        /// [`Group::in_flight`](crate::Group::in_flight): a snapshot.
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("assert_eq!(", $new, ".in_flight(), 0);")]
        /// ```
        pub fn in_flight(&self) -> usize {
            self.group.in_flight()
        }

        /// The most tasks that were ever in flight at once (never above the limit), as
        /// [`Group::max_in_flight`](crate::Group::max_in_flight).
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("let group = ", $new, ".limit(1);")]
        #[doc = concat!("group.spawn(", $task, ");")]
        #[doc = concat!("group.spawn(", $task, ");")]
        /// assert_eq!(group.max_in_flight(), 1);
        /// let _ = group.wait();
        /// ```
        pub fn max_in_flight(&self) -> usize {
            self.group.max_in_flight()
        }

        /// Worker threads started and not yet exited (never above the limit), as
        /// [`Group::workers`](crate::Group::workers).
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("let group = ", $new, ".limit(2);")]
        /// for _ in 0..10 {
        #[doc = concat!("    group.spawn(", $task, ");")]
        /// }
        /// assert!(group.workers() <= 2);
        /// let _ = group.wait();
        /// ```
        pub fn workers(&self) -> usize {
            self.group.workers()
        }
    };
}
pub(crate) use thread_group_accessors;

/// Blocks for a slot, then queues `f` made into a job by `job` (after the slot is taken: an
/// ordered group reserves its result's position there, so a refused spawn reserves nothing).
#[track_caller]
pub(crate) fn spawn<F>(pool: &Arc<Pool>, what: &str, f: F, job: impl FnOnce(F) -> Job) {
    match pool.acquire(true) {
        Ok(slot) => submit(pool, slot, job(f)),
        Err(Refused::Closed) => {
            panic!("{what}: the group has already been waited on; spawn before `wait`, or use a new group")
        }
        Err(Refused::Full) => unreachable!("a blocking acquire is never refused as full"),
    }
}

/// Takes a slot if there is one, then queues `f` made into a job by `job`; hands `f` back,
/// untouched, otherwise (the limit is reached, or the group was waited on).
#[track_caller]
pub(crate) fn try_spawn<F>(pool: &Arc<Pool>, f: F, job: impl FnOnce(F) -> Job) -> Result<(), F> {
    match pool.acquire(false) {
        Ok(slot) => {
            submit(pool, slot, job(f));
            Ok(())
        }
        Err(_) => Err(f),
    }
}

/// Queues `job` in `slot` (the pool starts or wakes a worker as needed).
pub(crate) fn submit(pool: &Arc<Pool>, slot: Slot, job: Job) {
    pool.submit(slot, job);
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl Drop for Group {
    /// Waits for every task and joins the workers, as [`wait`](Group::wait), then re-raises
    /// the first task panic with its original payload (as `std::thread::scope` does); when
    /// this thread is already panicking, the panics are reported instead (through `tracing`
    /// with feature `diagnostics`, else on stderr), since a second panic would abort.
    ///
    /// Dropped by one of its own tasks (for example while that task unwinds from the
    /// self-deadlock panic of waiting on its own group), it cannot wait for itself: the group
    /// closes when its last task ends, and the panics caught are reported then.
    fn drop(&mut self) {
        if self.pool.is_closed() {
            return;
        }
        if self.pool.is_current_task() {
            self.pool.close_when_idle();
            return;
        }
        let panics = self.finish();
        if std::thread::panicking() {
            super::panics::report_unraised("a task group dropped during a panic", panics);
        } else if let Some(panicked) = Panicked::from_payloads(panics) {
            panicked.resume()
        }
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Group").field(&self.pool).finish()
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Spawner").field(&self.pool).finish()
    }
}
