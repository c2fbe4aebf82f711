//! Ordered results: [`ResultGroup`] and [`TryResultGroup`] return what their tasks produced, in
//! the order the tasks were spawned (conc's `ResultPool` and `ResultContextPool`).

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::cancel::{CancelCause, CancelToken};
use super::group::{self, Group};
use super::panics::{self, Panicked};
use super::pool::{Job, Payload, Pool};

/// A group of tasks that produce values: [`wait`](Self::wait) returns them **in the order the
/// tasks were spawned**, whatever order they finished in (conc's `ResultPool`).
///
/// Limits, workers and panics work as for [`Group`]. Tasks add work through a
/// [`spawner`](Self::spawner); its values take their places in the order of the spawn calls,
/// as any other's. For fallible tasks with cancellation, see [`TryResultGroup`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use headcount::ResultGroup;
///
/// let group = ResultGroup::new().limit(4);
/// for i in 0..8_u64 {
///     group.spawn(move || {
///         std::thread::sleep(Duration::from_millis(8 - i)); // later tasks finish first
///         i * i
///     });
/// }
/// assert_eq!(group.wait(), [0, 1, 4, 9, 16, 25, 36, 49]);
/// ```
pub struct ResultGroup<T> {
    group: Group,
    spawner: ResultGroupSpawner<T>,
}

/// A cloneable handle that spawns tasks into a [`ResultGroup`], for tasks that add work to
/// their own group. Returned by [`ResultGroup::spawner`].
///
/// A value produced by a task spawned through it takes the next position at the time of the
/// spawn call, as with [`ResultGroup::spawn`]; the group's `wait` waits for it.
///
/// # Examples
///
/// ```
/// let group = headcount::ResultGroup::new();
/// let spawner = group.spawner();
/// // The child's spawn call comes after the parent's: its value comes after too.
/// group.spawn(move || { spawner.spawn(|| "child"); "parent" });
/// assert_eq!(group.wait(), ["parent", "child"]);
/// ```
pub struct ResultGroupSpawner<T> {
    pool: Arc<Pool>,
    slots: Arc<Slots<T>>,
}

/// A group of fallible tasks that produce values, in spawn order, with [`ErrGroup`]'s
/// cancellation (conc's `ResultContextPool`).
///
/// Each task gets a clone of the group's [`CancelToken`] and returns `Result<T, E>`; the first
/// error cancels the token (unless [`cancel_on_error(false)`](Self::cancel_on_error)).
/// [`wait`](Self::wait) returns every value in spawn order or the first error (in the order the
/// tasks failed); [`wait_all`](Self::wait_all) returns every task's outcome, in spawn order.
/// As with [`ErrGroup`], the group's token is a child of the one given to
/// [`with_token`](Self::with_token), and tells its [`cause`](CancelToken::cause) once fired.
///
/// [`ErrGroup`]: crate::ErrGroup
///
/// # Examples
///
/// ```
/// use headcount::TryResultGroup;
///
/// let group = TryResultGroup::new().limit(2);
/// for text in ["1", "2", "3"] {
///     group.spawn(move |_token| text.parse::<u32>());
/// }
/// assert_eq!(group.wait(), Ok(vec![1, 2, 3]));
/// ```
pub struct TryResultGroup<T, E> {
    group: Group,
    spawner: TryResultGroupSpawner<T, E>,
}

/// A cloneable handle that spawns tasks into a [`TryResultGroup`], for tasks that add work to
/// their own group. Returned by [`TryResultGroup::spawner`]; outcomes keep the order of the
/// spawn calls.
///
/// # Examples
///
/// ```
/// let group = headcount::TryResultGroup::<u32, ()>::new();
/// let spawner = group.spawner();
/// group.spawn(move |_| { spawner.spawn(|_| Ok(2)); Ok(1) });
/// assert_eq!(group.wait(), Ok(vec![1, 2]));
/// ```
pub struct TryResultGroupSpawner<T, E> {
    pool: Arc<Pool>,
    slots: Arc<Slots<Result<T, E>>>,
    token: CancelToken,
    cancel_on_error: bool,
}

/// One slot per spawned task, in spawn order; and the order in which tasks failed.
struct Slots<T> {
    inner: Mutex<SlotsInner<T>>,
}

struct SlotsInner<T> {
    values: Vec<Option<T>>,
    /// Indexes of the tasks that failed, in the order they failed (`TryResultGroup` only).
    failed: Vec<usize>,
}

impl<T> Slots<T> {
    fn new() -> Arc<Self> {
        Arc::new(Slots {
            inner: Mutex::new(SlotsInner {
                values: Vec::new(),
                failed: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotsInner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves the next slot; called after the pool slot is taken, so the order of the
    /// reservations is the order of the spawns.
    fn reserve(&self) -> usize {
        let mut inner = self.lock();
        inner.values.push(None);
        inner.values.len() - 1
    }

    fn take(&self) -> SlotsInner<T> {
        std::mem::replace(
            &mut *self.lock(),
            SlotsInner {
                values: Vec::new(),
                failed: Vec::new(),
            },
        )
    }
}

impl<T: Send + 'static> ResultGroup<T> {
    /// A group without a limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new();
    /// group.spawn(|| "done");
    /// assert_eq!(group.wait(), ["done"]);
    /// ```
    pub fn new() -> Self {
        let group = Group::new();
        let spawner = ResultGroupSpawner {
            pool: Arc::clone(group.pool()),
            slots: Slots::new(),
        };
        ResultGroup { group, spawner }
    }

    /// Sets the limit, as [`Group::limit`].
    ///
    /// # Panics
    ///
    /// If `limit` is 0, or if tasks are in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new().limit(3);
    /// for i in 0..10 {
    ///     group.spawn(move || i);
    /// }
    /// assert_eq!(group.wait(), (0..10).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn limit(self, limit: usize) -> Self {
        self.group.pool().set_limit("ResultGroup", limit);
        self
    }

    /// Runs `f` on a worker thread; its value takes the next position in the results. Blocks
    /// while the limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new();
    /// group.spawn(|| 1);
    /// group.spawn(|| 2);
    /// assert_eq!(group.wait(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawner.spawn_as("ResultGroup::spawn", f);
    }

    /// Runs `f` if the limit is not reached; otherwise hands it back at once (and it takes no
    /// position in the results).
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
    /// let group = headcount::ResultGroup::new().limit(1);
    /// let (release, blocked) = mpsc::channel::<()>();
    /// group.spawn(move || { blocked.recv().unwrap(); 'a' });
    /// assert!(group.try_spawn(|| 'b').is_err());
    /// release.send(()).unwrap();
    /// assert_eq!(group.wait(), ['a']);
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawner.try_spawn(f)
    }

    /// A cloneable handle for spawning into this group from its tasks or other threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|| 1);
    /// group.spawn(|| 2);
    /// assert_eq!(group.wait(), [1, 2]);
    /// ```
    pub fn spawner(&self) -> ResultGroupSpawner<T> {
        self.spawner.clone()
    }

    super::group::thread_group_accessors!("headcount::ResultGroup::<u8>::new()", "|| 1");

    /// Waits for every task, joins the workers, and returns the values in spawn order.
    ///
    /// # Panics
    ///
    /// With the first task panic's original payload, if a task panicked. Use
    /// [`wait_recover`](Self::wait_recover) to get panics as a value.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new();
    /// for word in ["x", "yy"] {
    ///     group.spawn(move || word.len());
    /// }
    /// assert_eq!(group.wait(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn wait(self) -> Vec<T> {
        match self.wait_recover() {
            Ok(values) => values,
            Err(panicked) => panicked.resume(),
        }
    }

    /// Waits as [`wait`](Self::wait), returning panics as a value.
    ///
    /// # Errors
    ///
    /// [`Panicked`] when a task panicked (the values of the others are dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::<u8>::new();
    /// group.spawn(|| panic!("boom"));
    /// assert!(group.wait_recover().is_err());
    /// ```
    pub fn wait_recover(self) -> Result<Vec<T>, Panicked> {
        let panics = self.group.finish();
        let values = self.spawner.slots.take().values;
        match Panicked::from_payloads(panics) {
            Some(panicked) => Err(panicked),
            None => Ok(values
                .into_iter()
                .map(|v| v.expect("every task ran to its end"))
                .collect()),
        }
    }
}

impl<T: Send + 'static> ResultGroupSpawner<T> {
    /// [`ResultGroup::spawn`] through the handle.
    ///
    /// # Panics
    ///
    /// If the group has already been waited on (its `wait` returned or it was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|| 'a');
    /// assert_eq!(group.wait(), ['a']);
    /// assert!(std::panic::catch_unwind(|| spawner.spawn(|| 'b')).is_err()); // closed
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn_as("ResultGroupSpawner::spawn", f);
    }

    /// [`ResultGroup::try_spawn`] through the handle.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached or the group has already been waited on.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ResultGroup::<u8>::new();
    /// let spawner = group.spawner();
    /// group.wait();
    /// assert!(spawner.try_spawn(|| 1).is_err());
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        group::try_spawn(&self.pool, f, |f| Job::new(self.job(f)))
    }

    #[track_caller]
    fn spawn_as<F>(&self, what: &str, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        group::spawn(&self.pool, what, f, |f| Job::new(self.job(f)));
    }

    /// Reserves the next position (the pool slot is taken already) and wraps `f` to fill it.
    fn job<F>(&self, f: F) -> impl FnOnce() + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let slots = Arc::clone(&self.slots);
        let index = slots.reserve();
        move || {
            let value = f();
            slots.lock().values[index] = Some(value);
        }
    }
}

impl<T: Send + 'static, E: fmt::Debug + Send + 'static> TryResultGroup<T, E> {
    /// A group without a limit, with a fresh token, cancelling on the first error.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<u8, ()>::new();
    /// group.spawn(|_| Ok(7));
    /// assert_eq!(group.wait(), Ok(vec![7]));
    /// ```
    pub fn new() -> Self {
        TryResultGroup::with_own_token(CancelToken::new())
    }

    /// A group whose token is a [child](CancelToken::child_token) of `parent`: cancelling
    /// `parent` cancels the tasks; the group's errors and its `wait` never cancel `parent`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{CancelToken, TryResultGroup};
    ///
    /// let shutdown = CancelToken::new();
    /// shutdown.cancel();
    /// let group = TryResultGroup::<bool, ()>::with_token(shutdown.clone());
    /// group.spawn(|token| Ok(token.is_cancelled()));
    /// assert_eq!(group.wait(), Ok(vec![true]));
    ///
    /// let parent = CancelToken::new();
    /// let group = TryResultGroup::<(), &str>::with_token(parent.clone());
    /// group.spawn(|_| Err("bad row"));
    /// assert_eq!(group.wait(), Err("bad row"));
    /// assert!(!parent.is_cancelled());
    /// ```
    pub fn with_token(parent: CancelToken) -> Self {
        TryResultGroup::with_own_token(parent.child_token())
    }

    fn with_own_token(token: CancelToken) -> Self {
        let group = Group::new();
        let spawner = TryResultGroupSpawner {
            pool: Arc::clone(group.pool()),
            slots: Slots::new(),
            token,
            cancel_on_error: true,
        };
        TryResultGroup { group, spawner }
    }

    /// Sets the limit, as [`Group::limit`].
    ///
    /// # Panics
    ///
    /// If `limit` is 0, or if tasks are in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<usize, ()>::new().limit(2);
    /// for i in 0..5 {
    ///     group.spawn(move |_| Ok(i));
    /// }
    /// assert_eq!(group.wait(), Ok(vec![0, 1, 2, 3, 4]));
    /// ```
    #[track_caller]
    pub fn limit(self, limit: usize) -> Self {
        self.group.pool().set_limit("TryResultGroup", limit);
        self
    }

    /// Whether a failing task cancels the token (default `true`), as
    /// [`ErrGroup::cancel_on_error`](crate::ErrGroup::cancel_on_error).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::new().limit(1).cancel_on_error(false);
    /// group.spawn(|_| Err("bad"));
    /// group.spawn(|token| Ok(token.is_cancelled()));
    /// assert_eq!(group.wait_all(), [Err("bad"), Ok(false)]);
    /// ```
    pub fn cancel_on_error(mut self, cancel: bool) -> Self {
        self.spawner.cancel_on_error = cancel;
        self
    }

    /// A clone of the group's token.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<(), ()>::new();
    /// assert!(!group.token().is_cancelled());
    /// ```
    pub fn token(&self) -> CancelToken {
        self.spawner.token.clone()
    }

    /// Runs `f` on a worker thread with a clone of the token; its outcome takes the next
    /// position. Blocks while the limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::new();
    /// group.spawn(|_| "12".parse::<i32>());
    /// group.spawn(|_| "-3".parse::<i32>());
    /// assert_eq!(group.wait(), Ok(vec![12, -3]));
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        self.spawner.spawn_as("TryResultGroup::spawn", f);
    }

    /// Runs `f` if the limit is not reached; otherwise hands it back at once.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<(), ()>::new().limit(1);
    /// let token = group.token();
    /// group.spawn(|token| { token.wait(); Ok(()) });
    /// assert!(group.try_spawn(|_| Ok(())).is_err());
    /// token.cancel();
    /// assert_eq!(group.wait(), Ok(vec![()]));
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        self.spawner.try_spawn(f)
    }

    /// A cloneable handle for spawning into this group from its tasks or other threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<u8, ()>::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|_| Ok(1));
    /// assert_eq!(group.wait(), Ok(vec![1]));
    /// ```
    pub fn spawner(&self) -> TryResultGroupSpawner<T, E> {
        self.spawner.clone()
    }

    super::group::thread_group_accessors!(
        "headcount::TryResultGroup::<u8, ()>::new()",
        "|_| Ok(1)"
    );

    /// Waits for every task, joins the workers, cancels the token; returns every value in
    /// spawn order, or the first error (in the order the tasks failed).
    ///
    /// # Errors
    ///
    /// The first error a task returned.
    ///
    /// # Panics
    ///
    /// With the first task panic's original payload, if a task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::new();
    /// group.spawn(|_| "1".parse::<u8>());
    /// group.spawn(|_| "x".parse::<u8>());
    /// assert!(group.wait().is_err());
    /// ```
    #[track_caller]
    pub fn wait(self) -> Result<Vec<T>, E> {
        match self.wait_recover() {
            Ok(result) => result,
            Err(panicked) => panicked.resume(),
        }
    }

    /// Waits as [`wait`](Self::wait), and returns every task's outcome in spawn order.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::new().cancel_on_error(false);
    /// group.spawn(|_| Ok(1));
    /// group.spawn(|_| Err("two"));
    /// group.spawn(|_| Ok(3));
    /// assert_eq!(group.wait_all(), [Ok(1), Err("two"), Ok(3)]);
    /// ```
    #[track_caller]
    pub fn wait_all(self) -> Vec<Result<T, E>> {
        let (panics, slots) = self.finish();
        if let Some(panicked) = Panicked::from_payloads(panics) {
            panicked.resume()
        }
        slots
            .values
            .into_iter()
            .map(|v| v.expect("every task ran to its end"))
            .collect()
    }

    /// Waits as [`wait`](Self::wait), returning panics as a value.
    ///
    /// # Errors
    ///
    /// `Err(Panicked)` when a task panicked; otherwise `Ok` of what `wait` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<(), ()>::new();
    /// group.spawn(|_| panic!("boom"));
    /// assert_eq!(group.wait_recover().unwrap_err().message(), Some("boom"));
    /// ```
    pub fn wait_recover(self) -> Result<Result<Vec<T>, E>, Panicked> {
        let (panics, mut slots) = self.finish();
        if let Some(panicked) = Panicked::from_payloads(panics) {
            return Err(panicked);
        }
        if let Some(&first) = slots.failed.first() {
            let err = slots.values[first]
                .take()
                .and_then(Result::err)
                .expect("a failed slot holds its error");
            return Ok(Err(err));
        }
        Ok(Ok(slots
            .values
            .into_iter()
            .map(|v| match v {
                Some(Ok(value)) => value,
                _ => unreachable!("no task failed or panicked"),
            })
            .collect()))
    }

    fn finish(self) -> (Vec<Payload>, SlotsInner<Result<T, E>>) {
        let panics = self.group.finish();
        self.spawner.token.cancel();
        (panics, self.spawner.slots.take())
    }
}

impl<T: Send + 'static, E: fmt::Debug + Send + 'static> TryResultGroupSpawner<T, E> {
    /// [`TryResultGroup::spawn`] through the handle.
    ///
    /// # Panics
    ///
    /// If the group has already been waited on (its `wait` returned or it was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<u8, ()>::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|_| Ok(1));
    /// assert_eq!(group.wait(), Ok(vec![1]));
    /// assert!(std::panic::catch_unwind(|| spawner.spawn(|_| Ok(2))).is_err()); // closed
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        self.spawn_as("TryResultGroupSpawner::spawn", f);
    }

    /// [`TryResultGroup::try_spawn`] through the handle.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached or the group has already been waited on.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::TryResultGroup::<u8, ()>::new();
    /// let spawner = group.spawner();
    /// group.wait().unwrap();
    /// assert!(spawner.try_spawn(|_| Ok(1)).is_err());
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        group::try_spawn(&self.pool, f, |f| Job::new(self.job(f)))
    }

    #[track_caller]
    fn spawn_as<F>(&self, what: &str, f: F)
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        group::spawn(&self.pool, what, f, |f| Job::new(self.job(f)));
    }

    fn job<F>(&self, f: F) -> impl FnOnce() + Send + 'static
    where
        F: FnOnce(CancelToken) -> Result<T, E> + Send + 'static,
    {
        let slots = Arc::clone(&self.slots);
        let index = slots.reserve();
        let token = self.token.clone();
        let cancel_on_error = self.cancel_on_error;
        move || {
            let task_token = token.clone();
            let outcome = match panic::catch_unwind(AssertUnwindSafe(move || f(task_token))) {
                Ok(outcome) => outcome,
                Err(payload) => {
                    token.cancel_with(panics::cause_of(&*payload));
                    panic::resume_unwind(payload)
                }
            };
            let failed = outcome.is_err();
            let cause = match &outcome {
                Err(err) if cancel_on_error && !token.is_cancelled() => {
                    Some(CancelCause::Failed(format!("{err:?}")))
                }
                _ => None,
            };
            {
                let mut inner = slots.lock();
                inner.values[index] = Some(outcome);
                if failed {
                    inner.failed.push(index);
                }
            }
            if let Some(cause) = cause {
                token.cancel_with(cause);
            }
        }
    }
}

impl<T: Send + 'static> Default for ResultGroup<T> {
    fn default() -> Self {
        ResultGroup::new()
    }
}

impl<T: Send + 'static, E: fmt::Debug + Send + 'static> Default for TryResultGroup<T, E> {
    fn default() -> Self {
        TryResultGroup::new()
    }
}

impl<T> fmt::Debug for ResultGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultGroup")
            .field("group", &self.group)
            .field("spawned", &self.spawner.slots.lock().values.len())
            .finish()
    }
}

impl<T, E> fmt::Debug for TryResultGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.spawner.slots.lock();
        f.debug_struct("TryResultGroup")
            .field("group", &self.group)
            .field("spawned", &inner.values.len())
            .field("failed", &inner.failed.len())
            .field("token", &self.spawner.token)
            .field("cancel_on_error", &self.spawner.cancel_on_error)
            .finish()
    }
}

impl<T> Clone for ResultGroupSpawner<T> {
    fn clone(&self) -> Self {
        ResultGroupSpawner {
            pool: Arc::clone(&self.pool),
            slots: Arc::clone(&self.slots),
        }
    }
}

impl<T, E> Clone for TryResultGroupSpawner<T, E> {
    fn clone(&self) -> Self {
        TryResultGroupSpawner {
            pool: Arc::clone(&self.pool),
            slots: Arc::clone(&self.slots),
            token: self.token.clone(),
            cancel_on_error: self.cancel_on_error,
        }
    }
}

impl<T> fmt::Debug for ResultGroupSpawner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResultGroupSpawner")
            .field(&self.pool)
            .finish()
    }
}

impl<T, E> fmt::Debug for TryResultGroupSpawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryResultGroupSpawner")
            .field("pool", &self.pool)
            .field("token", &self.token)
            .finish()
    }
}
