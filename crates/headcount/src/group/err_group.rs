//! [`ErrGroup`]: tasks that return `Result`; the first error cancels the siblings.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use super::cancel::CancelToken;
use super::group::{self, Group};
use super::panics::Panicked;

/// A group of fallible `'static` tasks: Go's `errgroup.WithContext`, with conc's "all errors"
/// mode and panics carried to the waiter.
///
/// - Each task gets a clone of the group's [`CancelToken`] and returns `Result<(), E>`.
/// - The first error (or panic) **cancels the token**, so siblings that check
///   [`is_cancelled`](CancelToken::is_cancelled) or sleep on
///   [`wait_timeout`](CancelToken::wait_timeout) stop early. Tasks spawned after that still run
///   (and see the token cancelled), as with errgroup. Turn this off with
///   [`cancel_on_error(false)`](Self::cancel_on_error).
/// - [`wait`](Self::wait) returns the first error (in the order the tasks failed);
///   [`wait_all`](Self::wait_all) returns every error. Either way, every task has ended first,
///   and the token is cancelled when `wait` returns (as errgroup's context).
/// - Limits, workers and panics work as for [`Group`]: a panic is re-raised by `wait` with its
///   original payload (it wins over errors); [`wait_recover`](Self::wait_recover) returns it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use headcount::ErrGroup;
///
/// let group = ErrGroup::new().limit(4);
/// group.spawn(|_token| Err("config missing"));
/// for _ in 0..3 {
///     group.spawn(|token| {
///         // long work in steps, stopping early once a sibling failed
///         while !token.wait_timeout(Duration::from_millis(5)) {}
///         Ok(())
///     });
/// }
/// assert_eq!(group.wait(), Err("config missing"));
/// ```
pub struct ErrGroup<E> {
    group: Group,
    shared: Arc<Shared<E>>,
    cancel_on_error: bool,
}

struct Shared<E> {
    token: CancelToken,
    /// In the order the tasks failed.
    errors: Mutex<Vec<E>>,
}

impl<E: Send + 'static> ErrGroup<E> {
    /// A group without a limit, with a fresh token, cancelling on the first error.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<std::io::Error>::new();
    /// group.spawn(|_| Ok(()));
    /// assert!(group.wait().is_ok());
    /// ```
    pub fn new() -> Self {
        ErrGroup::with_token(CancelToken::new())
    }

    /// A group whose token is `token`: cancelling it from outside cancels the group's tasks
    /// (a parent context, in Go's terms).
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{CancelToken, ErrGroup};
    ///
    /// let shutdown = CancelToken::new();
    /// let group = ErrGroup::<()>::with_token(shutdown.clone());
    /// group.spawn(|token| { token.wait(); Ok(()) }); // runs until shutdown
    /// shutdown.cancel();
    /// assert_eq!(group.wait(), Ok(()));
    /// ```
    pub fn with_token(token: CancelToken) -> Self {
        ErrGroup {
            group: Group::new(),
            shared: Arc::new(Shared {
                token,
                errors: Mutex::new(Vec::new()),
            }),
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
    /// let group = headcount::ErrGroup::<()>::new().limit(2);
    /// for _ in 0..10 {
    ///     group.spawn(|_| Ok(()));
    /// }
    /// assert!(group.max_in_flight() <= 2);
    /// group.wait().unwrap();
    /// ```
    #[track_caller]
    pub fn limit(self, limit: usize) -> Self {
        self.group.pool().set_limit("ErrGroup", limit);
        self
    }

    /// Whether a failing task cancels the token (default `true`). With `false`, every task
    /// runs to its end whatever its siblings return: the mode for collecting every error with
    /// [`wait_all`](Self::wait_all) (conc's default). A panic cancels the token either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::new().cancel_on_error(false);
    /// for i in 0..4 {
    ///     group.spawn(move |_| if i % 2 == 0 { Err(i) } else { Ok(()) });
    /// }
    /// let mut errors = group.wait_all().unwrap_err();
    /// errors.sort();
    /// assert_eq!(errors, [0, 2]);
    /// ```
    pub fn cancel_on_error(mut self, cancel: bool) -> Self {
        self.cancel_on_error = cancel;
        self
    }

    /// A clone of the group's token: check it, wait on it, or cancel the group from outside.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new();
    /// let token = group.token();
    /// group.spawn(|token| { token.wait(); Ok(()) });
    /// token.cancel(); // stops the task
    /// group.wait().unwrap();
    /// ```
    pub fn token(&self) -> CancelToken {
        self.shared.token.clone()
    }

    /// Runs `f` on a worker thread with a clone of the token. Blocks while the limit is reached.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::new();
    /// group.spawn(|_| "42".parse::<u32>().map(drop));
    /// group.spawn(|_| "x".parse::<u32>().map(drop));
    /// assert!(group.wait().is_err());
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        group::spawn(self.group.pool(), "ErrGroup::spawn", Box::new(self.job(f)));
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
    /// let group = headcount::ErrGroup::<()>::new().limit(1);
    /// let token = group.token();
    /// group.spawn(|token| { token.wait(); Ok(()) }); // holds the only slot
    /// assert!(group.try_spawn(|_| Ok(())).is_err());
    /// token.cancel();
    /// group.wait().unwrap();
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        group::try_spawn(self.group.pool(), f, |f| Box::new(self.job(f)))
    }

    /// Tasks in flight now, as [`Group::in_flight`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(headcount::ErrGroup::<()>::new().in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.group.in_flight()
    }

    /// The most tasks ever in flight at once, as [`Group::max_in_flight`].
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new().limit(1);
    /// group.spawn(|_| Ok(()));
    /// group.spawn(|_| Ok(()));
    /// assert_eq!(group.max_in_flight(), 1);
    /// group.wait().unwrap();
    /// ```
    pub fn max_in_flight(&self) -> usize {
        self.group.max_in_flight()
    }

    /// Waits for every task, joins the workers, cancels the token, and returns the first
    /// error (in the order the tasks failed). The other errors are dropped; see
    /// [`wait_all`](Self::wait_all).
    ///
    /// # Errors
    ///
    /// The first error a task returned.
    ///
    /// # Panics
    ///
    /// With the first task panic's original payload, if a task panicked (panics win over
    /// errors). Use [`wait_recover`](Self::wait_recover) to get panics as a value.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::new().limit(1); // one at a time: a known order
    /// group.spawn(|_| Err("first"));
    /// group.spawn(|_| Err("second"));
    /// assert_eq!(group.wait(), Err("first"));
    /// ```
    #[track_caller]
    pub fn wait(self) -> Result<(), E> {
        match self.wait_recover() {
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
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::new().limit(1).cancel_on_error(false);
    /// group.spawn(|_| Err(1));
    /// group.spawn(|_| Ok(()));
    /// group.spawn(|_| Err(3));
    /// assert_eq!(group.wait_all(), Err(vec![1, 3]));
    /// ```
    #[track_caller]
    pub fn wait_all(self) -> Result<(), Vec<E>> {
        let (panics, errors) = self.finish();
        if let Some(panicked) = Panicked::from_payloads(panics) {
            panicked.resume()
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Waits as [`wait`](Self::wait), returning panics as a value instead of re-raising them.
    ///
    /// # Errors
    ///
    /// `Err(Panicked)` when a task panicked; otherwise `Ok` of what `wait` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new();
    /// group.spawn(|_| panic!("boom"));
    /// let panicked = group.wait_recover().unwrap_err();
    /// assert_eq!(panicked.message(), Some("boom"));
    /// ```
    pub fn wait_recover(self) -> Result<Result<(), E>, Panicked> {
        let (panics, errors) = self.finish();
        match Panicked::from_payloads(panics) {
            Some(panicked) => Err(panicked),
            None => Ok(match errors.into_iter().next() {
                Some(err) => Err(err),
                None => Ok(()),
            }),
        }
    }

    fn finish(self) -> (Vec<super::pool::Payload>, Vec<E>) {
        let panics = self.group.finish();
        self.shared.token.cancel();
        let errors = std::mem::take(
            &mut *self
                .shared
                .errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        (panics, errors)
    }

    /// Wraps `f`: keeps its error, cancels the token on error (if so configured) or panic.
    fn job<F>(&self, f: F) -> impl FnOnce() + Send + 'static
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let cancel_on_error = self.cancel_on_error;
        move || {
            let token = shared.token.clone();
            match panic::catch_unwind(AssertUnwindSafe(move || f(token))) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    // Kept before the token is cancelled: a sibling that sees the cancellation
                    // and then fails itself comes after this error.
                    shared
                        .errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(err);
                    if cancel_on_error {
                        shared.token.cancel();
                    }
                }
                Err(payload) => {
                    shared.token.cancel();
                    // Caught again, and kept, by the worker.
                    panic::resume_unwind(payload)
                }
            }
        }
    }
}

impl<E: Send + 'static> Default for ErrGroup<E> {
    fn default() -> Self {
        ErrGroup::new()
    }
}

impl<E> fmt::Debug for ErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self
            .shared
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("ErrGroup")
            .field("group", &self.group)
            .field("token", &self.shared.token)
            .field("errors", &errors)
            .field("cancel_on_error", &self.cancel_on_error)
            .finish()
    }
}
