//! [`AsyncGroup`] and [`AsyncErrGroup`]: the group semantics for tokio tasks (feature `tokio`).
//!
//! Each spawned future runs as one tokio task, which holds the group's count (an
//! [`OwnedGuard`](crate::OwnedGuard)) and, with a limit, a semaphore permit for as long as the
//! future runs. A panic is caught around each poll of the future, so its original payload is
//! kept for the waiter without a second task per spawn; the task's `JoinHandle` gets a copy of
//! the message. `wait` is the core's [`wait_async`](crate::WaitGroup::wait_async) on the count,
//! then the kept panics.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::panics::{self as panics_mod, Panicked};
use super::pool::Payload;
use crate::diagnostics::Origin;
use crate::WaitGroup;

/// A group of tokio tasks: [`spawn`](Self::spawn) futures, then [`wait`](Self::wait)`.await`
/// for all of them; a panic reaches the waiter with its original payload. With
/// [`limit(n)`](Self::limit), at most `n` of the futures run at once (a tokio `Semaphore`);
/// the others wait for a permit as cheap tasks, as in Go's semaphore-channel pattern.
///
/// Unlike tokio-util's `TaskTracker`, panics are not swallowed; unlike `JoinSet`, waiting needs
/// no `&mut` and works through the core [`WaitGroup`].
///
/// Its shapes are tokio-util `TaskTracker`'s: [`spawn`](Self::spawn) returns at once with the
/// task's `JoinHandle<T>` (with a limit, the task waits for its permit before the future
/// runs), [`spawn_on`](Self::spawn_on) takes a runtime `Handle`, and
/// [`track_future`](Self::track_future) counts a future the caller runs itself.
///
/// `spawn` must be called from within a tokio runtime.
///
/// **Dropping** the group without waiting *detaches* its tasks, as `TaskTracker` does: they
/// keep running on the runtime, and each `JoinHandle` still gives its task's output. A drop
/// cannot wait: it cannot `.await`, and blocking a runtime thread until the tasks end would
/// stall that thread's other tasks (and hang a current-thread runtime for good). Panics are
/// still never silent: those caught before the drop, and those of the detached tasks, are
/// reported on stderr (or through `tracing` with feature `diagnostics`), besides reaching the
/// task's `JoinHandle`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use headcount::AsyncGroup;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let fetched = Arc::new(AtomicUsize::new(0));
/// let group = AsyncGroup::new().limit(10);
/// for _ in 0..100 {
///     let fetched = Arc::clone(&fetched);
///     group.spawn(async move { fetched.fetch_add(1, Ordering::Relaxed); });
/// }
/// group.wait().await;
/// assert_eq!(fetched.load(Ordering::Relaxed), 100);
/// # });
/// ```
pub struct AsyncGroup {
    shared: Arc<Shared>,
    limit: Option<Arc<Semaphore>>,
    /// The permits `limit` was created with.
    max: Option<usize>,
}

struct Shared {
    /// One count per spawned (or tracked) future, from `spawn` until its task ends.
    wg: WaitGroup,
    panics: Mutex<Vec<Payload>>,
    /// Cancelled when a task panics (set by [`AsyncErrGroup`]).
    cancel_on_panic: Option<CancellationToken>,
    /// Futures running now, past their permit: counted with a limit only (without one, every
    /// future in flight runs, and the group's count tells how many).
    running: AtomicUsize,
    /// The most futures that ever ran at once.
    high_water: AtomicUsize,
    /// Set when the group is dropped without `wait`: later panics are reported, not kept.
    detached: AtomicBool,
}

impl Shared {
    fn panics(&self) -> MutexGuard<'_, Vec<Payload>> {
        self.panics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a task's panic for `wait`, or reports it when no `wait` will come.
    fn keep_panic(&self, payload: Payload) {
        let mut panics = self.panics();
        // Read under the lock that `Drop for AsyncGroup` takes after setting it: a payload is
        // either kept before the drop takes the list (and reported by it), or reported here.
        if self.detached.load(Ordering::Relaxed) {
            drop(panics);
            panics_mod::report_unraised("a task of a dropped AsyncGroup", vec![payload]);
        } else {
            panics.push(payload);
        }
    }
}

pin_project_lite::pin_project! {
    /// A spawned future with its group's count and permit: catches a panic around each poll
    /// (keeping the payload for the waiter, and unwinding on with a copy of its message for
    /// the task's `JoinHandle`), releases the permit as soon as the future ends, and the count
    /// when the task drops it (also when the runtime drops it unfinished: that is not a
    /// failure of the task).
    struct Tracked<F> {
        #[pin]
        future: F,
        // The permit (`None` without a limit), returned as soon as the future ends.
        permit: Option<OwnedSemaphorePermit>,
        // Counts the task in flight, and running until the future ends.
        count: Count,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // While the future is polled, this thread runs a task of the group: a `wait` on the
        // group from inside panics as a self-deadlock instead of never finishing.
        let own = crate::diagnostics::enter_own_group(&this.count.shared.wg, "AsyncGroup::spawn");
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| this.future.poll(cx)));
        drop(own);
        match outcome {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                this.permit.take();
                this.count.stop_running();
                Poll::Ready(output)
            }
            Err(payload) => {
                this.permit.take();
                this.count.stop_running();
                let shared = &this.count.shared;
                if let Some(token) = &shared.cancel_on_panic {
                    token.cancel();
                }
                let stand_in = stand_in(&*payload);
                // Kept before the count is released (when the runtime drops this task), so
                // the waiter that count releases sees it.
                shared.keep_panic(payload);
                panic::resume_unwind(stand_in)
            }
        }
    }
}

/// The payload a panicked task's `JoinHandle` gets (the original goes to the group's `wait`):
/// the same message when the panic had one.
fn stand_in(payload: &(dyn std::any::Any + Send)) -> Payload {
    match panics_mod::message(payload) {
        Some(msg) => Box::new(msg.to_owned()),
        None => Box::new(
            "a task of an AsyncGroup panicked with a non-string payload; the group's `wait` re-raises it",
        ),
    }
}

pin_project_lite::pin_project! {
    /// A future counted by an [`AsyncGroup`] until it completes or is dropped: returned by
    /// [`AsyncGroup::track_future`] (tokio-util's `TrackedFuture`). Its output is the inner
    /// future's.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new();
    /// let tracked = group.track_future(async { 6 * 7 });
    /// assert_eq!(group.in_flight(), 1);
    /// assert_eq!(tracked.await, 42);
    /// assert_eq!(group.in_flight(), 0);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled; the group counts this one until it is dropped"]
    pub struct TrackedFuture<F> {
        #[pin]
        future: F,
        count: Option<Count>,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = std::task::ready!(this.future.poll(cx));
        // Released as soon as the future completes, not when the caller drops it.
        this.count.take();
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for TrackedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedFuture")
            .field("done", &self.count.is_none())
            .finish_non_exhaustive()
    }
}

/// How a spawned task gets its place under the limit.
enum Permit {
    /// No limit.
    Unlimited,
    /// Taken by `try_spawn` before spawning.
    Held(OwnedSemaphorePermit),
    /// To be awaited by the task itself (`spawn` does not block).
    Acquire(Arc<Semaphore>),
}

/// One count of the group's `WaitGroup`, held by a task and released when it drops (also when
/// the runtime drops the task unfinished). Like an [`OwnedGuard`](crate::OwnedGuard), but
/// sharing the `Arc` the task needs anyway for its panic.
struct Count {
    shared: Arc<Shared>,
    origin: Origin,
    /// Also counted in `running` (a spawned future past its permit, until it ends): one count
    /// holds both, so that a task pays for one `Arc` clone, not two.
    running: bool,
}

impl Count {
    #[track_caller]
    fn new(shared: &Arc<Shared>) -> Self {
        let origin = Origin::spawn();
        shared.wg.add_from(1, origin);
        Count {
            shared: Arc::clone(shared),
            origin,
            running: false,
        }
    }

    /// Counts the task running too (its future is past its permit; `limited`: there is a
    /// permit, and the task is counted in `running` until [`stop_running`](Self::stop_running)
    /// or the drop), and raises the high-water mark.
    fn start_running(mut self, limited: bool) -> Self {
        let shared = &self.shared;
        let now = if limited {
            self.running = true;
            shared.running.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            // Every future in flight runs: no second counter to keep on every task's path.
            shared.wg.count()
        };
        // Read first: a read-modify-write only when the mark moves.
        if now > shared.high_water.load(Ordering::Relaxed) {
            shared.high_water.fetch_max(now, Ordering::Relaxed);
        }
        self
    }

    /// The future ended: no longer running (still in flight until the task drops it).
    fn stop_running(&mut self) {
        if std::mem::take(&mut self.running) {
            self.shared.running.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Count {
    fn drop(&mut self) {
        // A task dropped unfinished (the runtime shut down, or it was aborted).
        self.stop_running();
        self.shared.wg.release_guard(self.origin);
    }
}

impl AsyncGroup {
    /// A group without a limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new();
    /// group.spawn(async { println!("hello from a task") });
    /// group.wait().await;
    /// # });
    /// ```
    pub fn new() -> Self {
        AsyncGroup::with_cancel_on_panic(None)
    }

    fn with_cancel_on_panic(cancel_on_panic: Option<CancellationToken>) -> Self {
        AsyncGroup {
            shared: Arc::new(Shared {
                wg: WaitGroup::new(),
                panics: Mutex::new(Vec::new()),
                cancel_on_panic,
                running: AtomicUsize::new(0),
                high_water: AtomicUsize::new(0),
                detached: AtomicBool::new(false),
            }),
            limit: None,
            max: None,
        }
    }

    /// Sets the limit: at most `limit` of the group's futures run at once. A builder method;
    /// call it before the first spawn.
    ///
    /// # Panics
    ///
    /// If `limit` is 0 or above tokio's `Semaphore::MAX_PERMITS`, or if tasks are in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::AsyncGroup::new().limit(4);
    /// assert_eq!(group.concurrency_limit(), Some(4));
    /// assert!(std::panic::catch_unwind(|| headcount::AsyncGroup::new().limit(0)).is_err());
    /// ```
    #[track_caller]
    pub fn limit(mut self, limit: usize) -> Self {
        assert!(
            limit > 0,
            "AsyncGroup::limit: the limit must be at least 1 (a limit of 0 would block every task forever)"
        );
        assert!(
            limit <= Semaphore::MAX_PERMITS,
            "AsyncGroup::limit: {limit} is above tokio's Semaphore::MAX_PERMITS"
        );
        let running = self.shared.wg.count();
        assert!(
            running == 0,
            "AsyncGroup::limit: cannot change the limit while {running} task(s) are in flight; set it before the first spawn"
        );
        self.limit = Some(Arc::new(Semaphore::new(limit)));
        self.max = Some(limit);
        self
    }

    /// The limit set by [`limit`](Self::limit), `None` for a group without one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::AsyncGroup::new().concurrency_limit(), None);
    /// ```
    pub fn concurrency_limit(&self) -> Option<usize> {
        self.max
    }

    /// Spawns `future` on the current tokio runtime, counted by the group, and returns its
    /// `JoinHandle` at once, as `tokio::spawn` and `TaskTracker::spawn` do. With a limit, the
    /// task waits for a permit before the future runs; `spawn` itself never blocks.
    ///
    /// A panic in the future reaches [`wait`](Self::wait) with its original payload; the
    /// handle's `JoinError` carries a copy of the panic message.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime (as `tokio::spawn`).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new().limit(2);
    /// let handles: Vec<_> = (0..5).map(|i| group.spawn(async move { i * 2 })).collect();
    /// let mut doubled = Vec::new();
    /// for handle in handles {
    ///     doubled.push(handle.await.unwrap());
    /// }
    /// assert_eq!(doubled, [0, 2, 4, 6, 8]);
    /// group.wait().await;
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let permit = self.permit();
        self.supervise(future, permit, None)
    }

    /// [`spawn`](Self::spawn) on the runtime of `handle` (`TaskTracker::spawn_on`); callable
    /// from any thread, also outside a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// let group = headcount::AsyncGroup::new();
    /// let handle = group.spawn_on(async { "from a plain thread" }, runtime.handle());
    /// runtime.block_on(async {
    ///     assert_eq!(handle.await.unwrap(), "from a plain thread");
    ///     group.wait().await;
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let permit = self.permit();
        self.supervise(future, permit, Some(handle))
    }

    /// Counts `future` until it completes or is dropped, without spawning it: the caller
    /// polls it (`TaskTracker::track_future`). [`wait`](Self::wait) waits for it too. It takes
    /// no permit (the group does not decide when it runs), and a panic in it reaches whoever
    /// polls it, not the group.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new();
    /// let answer = tokio::spawn(group.track_future(async { 42 }));
    /// group.wait().await; // also waits for the tracked future
    /// assert_eq!(answer.await.unwrap(), 42);
    /// # });
    /// ```
    #[track_caller]
    pub fn track_future<F: Future>(&self, future: F) -> TrackedFuture<F> {
        TrackedFuture {
            future,
            count: Some(Count::new(&self.shared)),
        }
    }

    /// Spawns `future` if a permit is free now (always, without a limit) and returns its
    /// `JoinHandle`; otherwise hands the future back at once.
    ///
    /// # Errors
    ///
    /// `Err(future)`, not spawned, when `limit` futures are running.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new().limit(1);
    /// let (release, held) = tokio::sync::oneshot::channel::<()>();
    /// group.spawn(async move { let _ = held.await; }); // takes the only permit...
    /// tokio::task::yield_now().await;                 // ...once it has started
    /// assert!(group.try_spawn(async {}).is_err());
    /// release.send(()).unwrap();
    /// group.wait().await;
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_permit() {
            Some(permit) => Ok(self.supervise(future, permit, None)),
            None => Err(future),
        }
    }

    /// How a task spawned now gets its permit.
    fn permit(&self) -> Permit {
        match &self.limit {
            Some(semaphore) => Permit::Acquire(Arc::clone(semaphore)),
            None => Permit::Unlimited,
        }
    }

    /// A permit taken now (always, without a limit), or `None` when all are taken.
    fn try_permit(&self) -> Option<Permit> {
        match &self.limit {
            Some(semaphore) => Arc::clone(semaphore)
                .try_acquire_owned()
                .ok()
                .map(Permit::Held),
            None => Some(Permit::Unlimited),
        }
    }

    /// Counts `future` and spawns one task (on `handle`'s runtime, else the current one) that
    /// takes the permit, runs `future` and keeps its panic.
    ///
    /// The panic is caught around each poll of `future` (one tokio task per future, like
    /// `TaskTracker`).
    #[track_caller]
    fn supervise<F>(
        &self,
        future: F,
        permit: Permit,
        handle: Option<&Handle>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let count = Count::new(&self.shared);
        match permit {
            // The common cases spawn the tracked future itself: no extra state machine.
            Permit::Unlimited => spawn_task(
                Tracked {
                    future,
                    permit: None,
                    count: count.start_running(false),
                },
                handle,
            ),
            Permit::Held(permit) => spawn_task(
                Tracked {
                    future,
                    permit: Some(permit),
                    count: count.start_running(true),
                },
                handle,
            ),
            Permit::Acquire(semaphore) => {
                spawn_task(
                    async move {
                        // The count is held while the task waits for its permit.
                        let permit = semaphore
                            .acquire_owned()
                            .await
                            .expect("the semaphore is never closed");
                        Tracked {
                            future,
                            permit: Some(permit),
                            count: count.start_running(true),
                        }
                        .await
                    },
                    handle,
                )
            }
        }
    }

    /// Futures spawned and not finished (including those waiting for a permit): a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::AsyncGroup::new().in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.shared.wg.count()
    }

    /// The most futures that ever *ran* at once (past their permit): never above the limit.
    /// Without a limit every future in flight runs, and this is the most that were in flight
    /// at once (futures counted by [`track_future`](Self::track_future) included).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new().limit(3);
    /// for _ in 0..20 {
    ///     group.spawn(tokio::task::yield_now());
    /// }
    /// tokio::task::yield_now().await;
    /// assert!(group.max_in_flight() <= 3);
    /// group.wait().await;
    /// # });
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.shared.high_water.load(Ordering::Relaxed)
    }

    /// Waits until every future has ended, then re-raises the first panic, if any, with its
    /// original payload (the others are dropped).
    ///
    /// # Panics
    ///
    /// With the first task panic's payload. Use [`wait_recover`](Self::wait_recover) to get
    /// panics as a value. Awaited from one of the group's own tasks (which could never see
    /// the group end), it panics with a "self-deadlock" message instead of never finishing.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in the sense of losing nothing: dropping the future drops the group,
    /// which detaches the tasks (they keep running; see the type's docs).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new();
    /// group.spawn(async { std::panic::panic_any(7_u8) });
    /// let group_done = tokio::spawn(group.wait());
    /// let payload = group_done.await.unwrap_err().into_panic();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    /// # });
    /// ```
    pub async fn wait(self) {
        if let Err(panicked) = self.wait_recover().await {
            panicked.resume()
        }
    }

    /// Waits as [`wait`](Self::wait), returning the panics as a value.
    ///
    /// # Errors
    ///
    /// [`Panicked`], with every payload, when at least one task panicked.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncGroup::new();
    /// group.spawn(async { panic!("boom") });
    /// assert_eq!(group.wait_recover().await.unwrap_err().message(), Some("boom"));
    /// # });
    /// ```
    pub async fn wait_recover(self) -> Result<(), Panicked> {
        if self.shared.wg.count() > 0 {
            // From inside one of the group's own tasks: a clear panic, not a hang.
            crate::diagnostics::check_self_wait(&self.shared.wg);
        }
        self.shared.wg.wait_async().await;
        let panics = std::mem::take(&mut *self.shared.panics());
        match Panicked::from_payloads(panics) {
            Some(panicked) => Err(panicked),
            None => Ok(()),
        }
    }
}

/// [`ErrGroup`](crate::ErrGroup) for tokio tasks: each task gets a tokio-util
/// `CancellationToken` and returns `Result<(), E>`; the first error (or panic) cancels the
/// token; [`wait`](Self::wait) returns the first error, [`wait_all`](Self::wait_all) all of
/// them. Limits (a tokio `Semaphore`), panics and drop as for [`AsyncGroup`]. The group's
/// token is a `child_token` of the one given to [`with_token`](Self::with_token): the group
/// never cancels its parent. (tokio-util's token carries no cause; the first error is what
/// [`wait`](Self::wait) returns.)
///
/// # Examples
///
/// ```
/// use headcount::AsyncErrGroup;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let group = AsyncErrGroup::new().limit(8);
/// group.spawn(|_token| async { Err("upstream timed out") });
/// group.spawn(|token| async move {
///     token.cancelled().await; // stops when the sibling fails
///     Ok(())
/// });
/// assert_eq!(group.wait().await, Err("upstream timed out"));
/// # });
/// ```
pub struct AsyncErrGroup<E> {
    group: AsyncGroup,
    token: CancellationToken,
    errors: Arc<Mutex<Vec<E>>>,
    cancel_on_error: bool,
}

impl<E: Send + 'static> AsyncErrGroup<E> {
    /// A group without a limit, with a fresh token, cancelling on the first error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::<()>::new();
    /// group.spawn(|_| async { Ok(()) });
    /// assert_eq!(group.wait().await, Ok(()));
    /// # });
    /// ```
    pub fn new() -> Self {
        AsyncErrGroup::with_own_token(CancellationToken::new())
    }

    /// A group whose token is `parent.child_token()`: cancelling `parent` cancels the group's
    /// tasks; the group's errors and its `wait` cancel only its own token, never `parent`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let shutdown = CancellationToken::new();
    /// let group = headcount::AsyncErrGroup::with_token(shutdown.clone());
    /// group.spawn(|_| async { Err("one request failed") });
    /// assert_eq!(group.wait().await, Err("one request failed"));
    /// assert!(!shutdown.is_cancelled()); // the parent carries on
    ///
    /// let group = headcount::AsyncErrGroup::<()>::with_token(shutdown.clone());
    /// group.spawn(|token| async move { token.cancelled().await; Ok(()) });
    /// shutdown.cancel();
    /// assert_eq!(group.wait().await, Ok(()));
    /// # });
    /// ```
    pub fn with_token(parent: CancellationToken) -> Self {
        AsyncErrGroup::with_own_token(parent.child_token())
    }

    fn with_own_token(token: CancellationToken) -> Self {
        AsyncErrGroup {
            group: AsyncGroup::with_cancel_on_panic(Some(token.clone())),
            token,
            errors: Arc::new(Mutex::new(Vec::new())),
            cancel_on_error: true,
        }
    }

    /// Sets the limit, as [`AsyncGroup::limit`].
    ///
    /// # Panics
    ///
    /// As [`AsyncGroup::limit`].
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::AsyncErrGroup::<()>::new().limit(3);
    /// ```
    #[track_caller]
    pub fn limit(mut self, limit: usize) -> Self {
        self.group = self.group.limit(limit);
        self
    }

    /// Whether a failing task cancels the token (default `true`); `false` for collecting every
    /// error with [`wait_all`](Self::wait_all). A panic cancels the token either way.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::new().cancel_on_error(false);
    /// group.spawn(|_| async { Err(1) });
    /// group.spawn(|token| async move { assert!(!token.is_cancelled()); Ok(()) });
    /// assert_eq!(group.wait_all().await, Err(vec![1]));
    /// # });
    /// ```
    pub fn cancel_on_error(mut self, cancel: bool) -> Self {
        self.cancel_on_error = cancel;
        self
    }

    /// A clone of the group's token.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::AsyncErrGroup::<()>::new();
    /// assert!(!group.token().is_cancelled());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Calls `f` with a clone of the token and spawns the future it returns, as
    /// [`AsyncGroup::spawn`]; the `JoinHandle` ends when the task does (its error goes to the
    /// group).
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::new();
    /// group.spawn(|_| async { "7".parse::<u8>().map(drop) });
    /// assert!(group.wait().await.is_ok());
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut>(&self, f: F) -> JoinHandle<()>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let task = self.task(f(self.token.clone()));
        self.group.spawn(task)
    }

    /// Spawns as [`spawn`](Self::spawn) if a permit is free now; otherwise hands `f` back,
    /// uncalled.
    ///
    /// # Errors
    ///
    /// `Err(f)` when `limit` tasks are running.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::<()>::new().limit(1);
    /// group.spawn(|token| async move { token.cancelled().await; Ok(()) });
    /// tokio::task::yield_now().await;
    /// assert!(group.try_spawn(|_| async { Ok(()) }).is_err());
    /// group.token().cancel();
    /// group.wait().await.unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<F, Fut>(&self, f: F) -> Result<JoinHandle<()>, F>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let permit = match self.group.try_permit() {
            Some(permit) => permit,
            None => return Err(f),
        };
        let task = self.task(f(self.token.clone()));
        Ok(self.group.supervise(task, permit, None))
    }

    fn task<Fut>(&self, future: Fut) -> impl Future<Output = ()> + Send + 'static
    where
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let errors = Arc::clone(&self.errors);
        let token = self.token.clone();
        let cancel_on_error = self.cancel_on_error;
        async move {
            if let Err(err) = future.await {
                errors
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(err);
                if cancel_on_error {
                    token.cancel();
                }
            }
        }
    }

    /// Futures spawned and not finished: a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::AsyncErrGroup::<()>::new().in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.group.in_flight()
    }

    /// The most futures that ever ran at once, as [`AsyncGroup::max_in_flight`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::AsyncErrGroup::<()>::new().max_in_flight(), 0);
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.group.max_in_flight()
    }

    /// The limit set by [`limit`](Self::limit), `None` for a group without one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::AsyncErrGroup::<()>::new().limit(5).concurrency_limit(), Some(5));
    /// ```
    pub fn concurrency_limit(&self) -> Option<usize> {
        self.group.concurrency_limit()
    }

    /// Waits for every task, cancels the token, and returns the first error (in the order the
    /// tasks failed).
    ///
    /// # Errors
    ///
    /// The first error a task returned.
    ///
    /// # Panics
    ///
    /// With the first task panic's original payload (panics win over errors).
    ///
    /// # Cancel safety
    ///
    /// As [`AsyncGroup::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::new();
    /// group.spawn(|_| async { Err("no") });
    /// assert_eq!(group.wait().await, Err("no"));
    /// # });
    /// ```
    pub async fn wait(self) -> Result<(), E> {
        match self.wait_recover().await {
            Ok(result) => result,
            Err(panicked) => panicked.resume(),
        }
    }

    /// Waits as [`wait`](Self::wait), and returns every error, in the order the tasks failed.
    ///
    /// # Errors
    ///
    /// Every error returned, when there is at least one.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// As [`AsyncGroup::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::<u8>::new().cancel_on_error(false);
    /// group.spawn(|_| async { Err(1) });
    /// group.spawn(|_| async { Err(2) });
    /// assert_eq!(group.wait_all().await.unwrap_err().len(), 2);
    /// # });
    /// ```
    pub async fn wait_all(self) -> Result<(), Vec<E>> {
        let errors = Arc::clone(&self.errors);
        let token = self.token.clone();
        let panics = self.group.wait_recover().await;
        token.cancel();
        if let Err(panicked) = panics {
            panicked.resume()
        }
        let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Waits as [`wait`](Self::wait), returning panics as a value.
    ///
    /// # Errors
    ///
    /// `Err(Panicked)` when a task panicked; otherwise `Ok` of what `wait` returns.
    ///
    /// # Cancel safety
    ///
    /// As [`AsyncGroup::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let group = headcount::AsyncErrGroup::<()>::new();
    /// let token = group.token();
    /// group.spawn(|_| async { panic!("boom") });
    /// assert!(group.wait_recover().await.is_err());
    /// assert!(token.is_cancelled());
    /// # });
    /// ```
    pub async fn wait_recover(self) -> Result<Result<(), E>, Panicked> {
        let errors = Arc::clone(&self.errors);
        let token = self.token.clone();
        let panics = self.group.wait_recover().await;
        token.cancel();
        panics?;
        let first = errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .next();
        Ok(match first {
            Some(err) => Err(err),
            None => Ok(()),
        })
    }
}

/// `handle.spawn(task)`, or `tokio::spawn(task)` without a handle.
#[track_caller]
fn spawn_task<F>(task: F, handle: Option<&Handle>) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match handle {
        Some(handle) => handle.spawn(task),
        None => tokio::spawn(task),
    }
}

impl Drop for AsyncGroup {
    /// Detaches the tasks (see the type's docs): they run on; panics caught so far, and those
    /// of the tasks still running, are reported instead of re-raised.
    fn drop(&mut self) {
        let kept = {
            let mut panics = self.shared.panics();
            self.shared.detached.store(true, Ordering::Relaxed);
            std::mem::take(&mut *panics)
        };
        panics_mod::report_unraised("an AsyncGroup dropped without `wait`", kept);
    }
}

impl Default for AsyncGroup {
    fn default() -> Self {
        AsyncGroup::new()
    }
}

impl<E: Send + 'static> Default for AsyncErrGroup<E> {
    fn default() -> Self {
        AsyncErrGroup::new()
    }
}

impl fmt::Debug for AsyncGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncGroup")
            .field("in_flight", &self.shared.wg.count())
            .field(
                "permits_free",
                &self.limit.as_ref().map(|s| s.available_permits()),
            )
            .field("panicked", &self.shared.panics().len())
            .finish()
    }
}

impl<E> fmt::Debug for AsyncErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("AsyncErrGroup")
            .field("group", &self.group)
            .field("cancelled", &self.token.is_cancelled())
            .field("errors", &errors)
            .field("cancel_on_error", &self.cancel_on_error)
            .finish()
    }
}
