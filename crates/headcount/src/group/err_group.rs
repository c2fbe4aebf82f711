//! [`ErrGroup`]: tasks that return `Result`; the first error cancels the siblings.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use super::cancel::{CancelCause, CancelToken};
use super::group::{self, Group};
use super::panics::{self, Panicked};
use super::pool::{Job, Pool};

/// A group of fallible `'static` tasks: Go's `errgroup.WithContext`, with conc's "all errors"
/// mode and panics carried to the waiter.
///
/// - Each task gets a clone of the group's [`CancelToken`] and returns `Result<(), E>`.
///   The group's token is a [child](CancelToken::child_token) of the one given to
///   [`with_token`](Self::with_token): cancelling that parent cancels the group; nothing the
///   group does (an error, `wait`) cancels the parent.
/// - The first error (or panic) **cancels the token**, so siblings that check
///   [`is_cancelled`](CancelToken::is_cancelled) or sleep on
///   [`wait_timeout`](CancelToken::wait_timeout) stop early. Tasks spawned after that still run
///   (and see the token cancelled), as with errgroup. Turn this off with
///   [`cancel_on_error(false)`](Self::cancel_on_error).
/// - [`wait`](Self::wait) returns the first error (in the order the tasks failed);
///   [`wait_all`](Self::wait_all) returns every error. Either way, every task has ended first,
///   and the token is cancelled when `wait` returns (as errgroup's context).
/// - The token's [`cause`](CancelToken::cause) tells why it fired: the first error's `Debug`
///   text, the first panic's message, or a plain cancellation (by the parent, or by `wait`).
/// - Limits, workers and panics work as for [`Group`]: a panic is re-raised by `wait` with its
///   original payload (it wins over errors); [`wait_recover`](Self::wait_recover) returns it.
/// - Tasks add work with a [`spawner`](Self::spawner); `wait` waits for that work too.
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
    spawner: ErrGroupSpawner<E>,
}

/// A cloneable handle that spawns tasks into an [`ErrGroup`], for tasks that add work to their
/// own group (as `g.Go` inside a goroutine does). Returned by [`ErrGroup::spawner`].
///
/// Tasks spawned through it before the group's `wait` returns are waited for (their errors
/// count as the group's); afterwards [`spawn`](Self::spawn) panics and
/// [`try_spawn`](Self::try_spawn) hands the task back.
///
/// # Examples
///
/// ```
/// let group = headcount::ErrGroup::new();
/// let spawner = group.spawner();
/// group.spawn(move |_| {
///     spawner.spawn(|_| Err("found in a subtask"));
///     Ok(())
/// });
/// assert_eq!(group.wait(), Err("found in a subtask"));
/// ```
pub struct ErrGroupSpawner<E> {
    pool: Arc<Pool>,
    shared: Arc<Shared<E>>,
    cancel_on_error: bool,
}

struct Shared<E> {
    token: CancelToken,
    /// In the order the tasks failed.
    errors: Mutex<Vec<E>>,
}

impl<E: fmt::Debug + Send + 'static> ErrGroup<E> {
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
        ErrGroup::with_own_token(CancelToken::new())
    }

    /// A group whose token is a [child](CancelToken::child_token) of `parent` (a parent
    /// context, in Go's terms, as `errgroup.WithContext` derives one): cancelling `parent`
    /// cancels the group's tasks; the group's first error and its `wait` cancel only the
    /// group's own token, never `parent`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{CancelToken, ErrGroup};
    ///
    /// let shutdown = CancelToken::new();
    /// let group = ErrGroup::<&str>::with_token(shutdown.clone());
    /// group.spawn(|_| Err("one request failed"));
    /// assert_eq!(group.wait(), Err("one request failed"));
    /// assert!(!shutdown.is_cancelled()); // the parent carries on
    ///
    /// let group = ErrGroup::<()>::with_token(shutdown.clone());
    /// group.spawn(|token| { token.wait(); Ok(()) }); // runs until shutdown
    /// shutdown.cancel();
    /// assert_eq!(group.wait(), Ok(()));
    /// ```
    pub fn with_token(parent: CancelToken) -> Self {
        ErrGroup::with_own_token(parent.child_token())
    }

    fn with_own_token(token: CancelToken) -> Self {
        let group = Group::new();
        let spawner = ErrGroupSpawner {
            pool: Arc::clone(group.pool()),
            shared: Arc::new(Shared {
                token,
                errors: Mutex::new(Vec::new()),
            }),
            cancel_on_error: true,
        };
        ErrGroup { group, spawner }
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
        self.spawner.cancel_on_error = cancel;
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
        self.spawner.shared.token.clone()
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
        self.spawner.spawn_as("ErrGroup::spawn", f);
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
        self.spawner.try_spawn(f)
    }

    /// A cloneable handle for spawning into this group from its tasks or other threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new();
    /// let spawner = group.spawner();
    /// group.spawn(move |_| { spawner.spawn(|_| Ok(())); Ok(()) });
    /// group.wait().unwrap(); // waits for both
    /// ```
    pub fn spawner(&self) -> ErrGroupSpawner<E> {
        self.spawner.clone()
    }

    super::group::thread_group_accessors!("headcount::ErrGroup::<()>::new()", "|_| Ok(())");

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
        let shared = &self.spawner.shared;
        shared.token.cancel();
        let errors =
            std::mem::take(&mut *shared.errors.lock().unwrap_or_else(PoisonError::into_inner));
        (panics, errors)
    }
}

impl<E: fmt::Debug + Send + 'static> ErrGroupSpawner<E> {
    /// [`ErrGroup::spawn`] through the handle.
    ///
    /// # Panics
    ///
    /// If the group has already been waited on (its `wait` returned or it was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new();
    /// let spawner = group.spawner();
    /// spawner.spawn(|_| Ok(()));
    /// group.wait().unwrap();
    /// assert!(std::panic::catch_unwind(|| spawner.spawn(|_| Ok(()))).is_err()); // closed
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        self.spawn_as("ErrGroupSpawner::spawn", f);
    }

    /// [`ErrGroup::try_spawn`] through the handle.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, when the limit is reached or the group has already been waited on.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::ErrGroup::<()>::new();
    /// let spawner = group.spawner();
    /// group.wait().unwrap();
    /// assert!(spawner.try_spawn(|_| Ok(())).is_err());
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        group::try_spawn(&self.pool, f, |f| Job::new(self.job(f)))
    }

    #[track_caller]
    fn spawn_as<F>(&self, what: &str, f: F)
    where
        F: FnOnce(CancelToken) -> Result<(), E> + Send + 'static,
    {
        group::spawn(&self.pool, what, f, |f| Job::new(self.job(f)));
    }

    /// Wraps `f`: keeps its error, cancels the token on error (if so configured) or panic,
    /// with the error or panic as the token's cause.
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
                    let cause = (cancel_on_error && !shared.token.is_cancelled())
                        .then(|| CancelCause::Failed(format!("{err:?}")));
                    // Kept before the token is cancelled: a sibling that sees the cancellation
                    // and then fails itself comes after this error.
                    shared
                        .errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(err);
                    if let Some(cause) = cause {
                        shared.token.cancel_with(cause);
                    }
                }
                Err(payload) => {
                    shared.token.cancel_with(panics::cause_of(&*payload));
                    // Caught again, and kept, by the worker.
                    panic::resume_unwind(payload)
                }
            }
        }
    }
}

impl<E> Clone for ErrGroupSpawner<E> {
    fn clone(&self) -> Self {
        ErrGroupSpawner {
            pool: Arc::clone(&self.pool),
            shared: Arc::clone(&self.shared),
            cancel_on_error: self.cancel_on_error,
        }
    }
}

impl<E> fmt::Debug for ErrGroupSpawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrGroupSpawner")
            .field("pool", &self.pool)
            .field("token", &self.shared.token)
            .finish()
    }
}

impl<E: fmt::Debug + Send + 'static> Default for ErrGroup<E> {
    fn default() -> Self {
        ErrGroup::new()
    }
}

impl<E> fmt::Debug for ErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.spawner.shared;
        let errors = shared
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("ErrGroup")
            .field("group", &self.group)
            .field("token", &shared.token)
            .field("errors", &errors)
            .field("cancel_on_error", &self.spawner.cancel_on_error)
            .finish()
    }
}
