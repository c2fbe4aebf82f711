//! `go`: Go 1.25's `wg.Go(f)`: count the task, then start it.

use std::ops::Deref;
use std::sync::Arc;
use std::thread::{self, JoinHandle, Scope, ScopedJoinHandle};

use crate::diagnostics::{self, Origin};
use crate::leak::Life;
use crate::WaitGroup;

/// The count a `go` task holds: `done` when the task ends, marking the round as panicked when
/// it ends by unwinding.
struct Task<W: Deref<Target = WaitGroup>> {
    wg: W,
    /// Where the task was started (feature `diagnostics`; zero-sized otherwise).
    origin: Origin,
}

impl<W: Deref<Target = WaitGroup>> Task<W> {
    #[inline]
    #[track_caller]
    fn new(wg: W) -> Self {
        let origin = Origin::go();
        wg.add_from(1, origin); // before the thread exists: Go's bug 1 cannot be written
        Task { wg, origin }
    }
}

/// The body of every `go` thread: marks the thread as a task of its group (a `wait` on it from
/// here panics as a self-deadlock instead of hanging), runs `f`, releases the count, and keeps
/// the leak registry's record (`life`) up to date until the thread ends.
fn run<W: Deref<Target = WaitGroup>>(
    task: Task<W>,
    life: Life,
    who: &'static str,
    f: impl FnOnce(),
) {
    let alive = life.start();
    {
        let _own = diagnostics::enter_own_group(&task.wg, who);
        let _task = task; // dropped first: `done`, also when `f` panics
        f()
    }
    alive.count_released();
}

impl<W: Deref<Target = WaitGroup>> Drop for Task<W> {
    fn drop(&mut self) {
        let panicked = thread::panicking();
        if let Err(err) = self.wg.update_from(-1, panicked, self.origin) {
            if !panicked {
                panic!("{err} (when a WaitGroup::go task ended)");
            }
        }
    }
}

impl WaitGroup {
    /// Runs `f` on a new thread, counted by this group: `add(1)` happens *before* the thread is
    /// spawned and `done()` when `f` returns or panics (Go 1.25's `wg.Go(f)`).
    ///
    /// If `f` panics, the panic is not lost: the wait that sees this round end panics (see
    /// [`wait`](Self::wait)), and the returned handle's `join` returns the payload.
    ///
    /// For a group in a `static`, use [`go_static`](Self::go_static); for tasks that borrow
    /// from the stack, [`go_scoped`](Self::go_scoped).
    ///
    /// # `go` or a [`Group`](crate::Group)?
    ///
    /// Unlike a goroutine, every `go` call starts an **OS thread** (and the thread ends with the
    /// task): tens of microseconds and a stack each, so 1,000 short tasks cost hundreds of
    /// times what Go's goroutines do. Use `go` for a few long-lived or blocking tasks that
    /// each deserve a thread of their own. For many tasks, short tasks, or a bound on how many
    /// run at once, use a [`Group`](crate::Group) (or [`ErrGroup`](crate::ErrGroup),
    /// [`ResultGroup`](crate::ResultGroup), [`scope`](crate::scope())): it runs tasks on
    /// reused worker threads, which wait warm between groups, and its
    /// [`limit(n)`](crate::Group::limit) bounds both the tasks in flight and the threads.
    /// `headcount-bench`'s W5 and W6 measure both against Go and `rayon::scope`.
    ///
    /// # Panics
    ///
    /// If the operating system cannot create a thread (as `std::thread::spawn`); the counter is
    /// then restored. If the counter is at [`WaitGroup::MAX_COUNT`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use headcount::WaitGroup;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let results = Arc::new(Mutex::new(Vec::new()));
    /// for i in 0..8 {
    ///     let results = Arc::clone(&results);
    ///     wg.go(move || results.lock().unwrap().push(i * i));
    /// }
    /// wg.wait();
    /// assert_eq!(results.lock().unwrap().len(), 8);
    /// ```
    #[track_caller]
    pub fn go<F>(self: &Arc<Self>, f: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Task::new(Arc::clone(self));
        let life = Life::register(self, "WaitGroup::go");
        spawn(move || run(task, life, "WaitGroup::go", f))
    }

    /// [`go`](Self::go) for a group in a `static`.
    ///
    /// # Panics
    ///
    /// As [`go`](Self::go).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use headcount::WaitGroup;
    ///
    /// static WG: WaitGroup = WaitGroup::new();
    /// static HITS: AtomicUsize = AtomicUsize::new(0);
    /// for _ in 0..4 {
    ///     WG.go_static(|| { HITS.fetch_add(1, Ordering::Relaxed); });
    /// }
    /// WG.wait();
    /// assert_eq!(HITS.load(Ordering::Relaxed), 4);
    /// ```
    #[track_caller]
    pub fn go_static<F>(&'static self, f: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let task = Task::new(self);
        let life = Life::register(self, "WaitGroup::go_static");
        spawn(move || run(task, life, "WaitGroup::go_static", f))
    }

    /// [`go`](Self::go) inside [`std::thread::scope`]: the task may borrow from the stack.
    ///
    /// The scope joins its threads anyway; the group lets you wait for a *subset* of them, or
    /// wait earlier than the end of the scope, or from another thread.
    ///
    /// # Panics
    ///
    /// As [`go`](Self::go). Like every scoped thread, a panicking task also makes
    /// `std::thread::scope` panic when the scope ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::WaitGroup;
    ///
    /// let data = vec![1, 2, 3];
    /// let wg = WaitGroup::new();
    /// std::thread::scope(|s| {
    ///     wg.go_scoped(s, || assert_eq!(data.len(), 3));
    ///     wg.wait();
    /// });
    /// ```
    #[track_caller]
    pub fn go_scoped<'scope, 'env, F>(
        &'scope self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> ScopedJoinHandle<'scope, ()>
    where
        F: FnOnce() + Send + 'scope,
    {
        let task = Task::new(self);
        let life = Life::register(self, "WaitGroup::go_scoped");
        scope.spawn(move || run(task, life, "WaitGroup::go_scoped", f))
    }
}

/// `std::thread::spawn`; if the thread cannot be created, the closure (and the task's count
/// with it) is dropped before we panic, so the counter is restored.
#[track_caller]
fn spawn(f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    match thread::Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("WaitGroup::go failed to spawn a thread: {err}"),
    }
}
