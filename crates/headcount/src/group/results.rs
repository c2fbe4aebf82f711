//! Ordered results: [`ResultGroup`] and [`TryResultGroup`] return what their tasks produced, in
//! the order the tasks were spawned (conc's `ResultPool` and `ResultContextPool`).

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::cancel::CancelToken;
use super::group::{self, Group};
use super::panics::Panicked;
use super::pool::Payload;

/// A group of tasks that produce values: [`wait`](Self::wait) returns them **in the order the
/// tasks were spawned**, whatever order they finished in (conc's `ResultPool`).
///
/// Limits, workers and panics work as for [`Group`]. For fallible tasks with cancellation, see
/// [`TryResultGroup`].
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
    slots: Arc<Slots<T>>,
}

/// A group of fallible tasks that produce values, in spawn order, with [`ErrGroup`]'s
/// cancellation (conc's `ResultContextPool`).
///
/// Each task gets a clone of the group's [`CancelToken`] and returns `Result<T, E>`; the first
/// error cancels the token (unless [`cancel_on_error(false)`](Self::cancel_on_error)).
/// [`wait`](Self::wait) returns every value in spawn order or the first error (in the order the
/// tasks failed); [`wait_all`](Self::wait_all) returns every task's outcome, in spawn order.
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
        ResultGroup {
            group: Group::new(),
            slots: Slots::new(),
        }
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
        group::spawn(
            self.group.pool(),
            "ResultGroup::spawn",
            Box::new(self.job(f)),
        );
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
        group::try_spawn(self.group.pool(), f, |f| Box::new(self.job(f)))
    }

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
        let values = self.slots.take().values;
        match Panicked::from_payloads(panics) {
            Some(panicked) => Err(panicked),
            None => Ok(values
                .into_iter()
                .map(|v| v.expect("every task ran to its end"))
                .collect()),
        }
    }

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

impl<T: Send + 'static, E: Send + 'static> TryResultGroup<T, E> {
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
        TryResultGroup::with_token(CancelToken::new())
    }

    /// A group whose token is `token` (cancel it from outside to cancel the tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{CancelToken, TryResultGroup};
    ///
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let group = TryResultGroup::<bool, ()>::with_token(token);
    /// group.spawn(|token| Ok(token.is_cancelled()));
    /// assert_eq!(group.wait(), Ok(vec![true]));
    /// ```
    pub fn with_token(token: CancelToken) -> Self {
        TryResultGroup {
            group: Group::new(),
            slots: Slots::new(),
            token,
            cancel_on_error: true,
        }
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
        self.cancel_on_error = cancel;
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
        self.token.clone()
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
        group::spawn(
            self.group.pool(),
            "TryResultGroup::spawn",
            Box::new(self.job(f)),
        );
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
        group::try_spawn(self.group.pool(), f, |f| Box::new(self.job(f)))
    }

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
        self.token.cancel();
        (panics, self.slots.take())
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
                    token.cancel();
                    panic::resume_unwind(payload)
                }
            };
            let failed = outcome.is_err();
            {
                let mut inner = slots.lock();
                inner.values[index] = Some(outcome);
                if failed {
                    inner.failed.push(index);
                }
            }
            if failed && cancel_on_error {
                token.cancel();
            }
        }
    }
}

impl<T: Send + 'static> Default for ResultGroup<T> {
    fn default() -> Self {
        ResultGroup::new()
    }
}

impl<T: Send + 'static, E: Send + 'static> Default for TryResultGroup<T, E> {
    fn default() -> Self {
        TryResultGroup::new()
    }
}

impl<T> fmt::Debug for ResultGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultGroup")
            .field("group", &self.group)
            .field("spawned", &self.slots.lock().values.len())
            .finish()
    }
}

impl<T, E> fmt::Debug for TryResultGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.slots.lock();
        f.debug_struct("TryResultGroup")
            .field("group", &self.group)
            .field("spawned", &inner.values.len())
            .field("failed", &inner.failed.len())
            .field("token", &self.token)
            .field("cancel_on_error", &self.cancel_on_error)
            .finish()
    }
}
