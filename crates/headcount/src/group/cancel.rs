//! [`CancelToken`]: a one-shot cancellation signal that tasks can poll, block on, or await.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::{WaitFuture, WaitGroup};

/// A cancellation signal shared by the tasks of an [`ErrGroup`](crate::ErrGroup) (Go's
/// `ctx.Done()` for errgroup's `WithContext`). Cheap to clone; all clones see the same signal.
///
/// Cancellation is one-way and happens at most once. Tasks check it with
/// [`is_cancelled`](Self::is_cancelled) between steps, sleep on it with
/// [`wait_timeout`](Self::wait_timeout) instead of `thread::sleep`, or `.await`
/// [`cancelled`](Self::cancelled) from async code.
///
/// Tokens form a tree, as Go's contexts and tokio-util's `CancellationToken` do:
/// [`child_token`](Self::child_token) makes a token that is cancelled with its parent, and
/// whose own cancellation leaves the parent alone. Once cancelled, a token tells why
/// ([`cause`](Self::cause), Go 1.20's `context.Cause`): a `cancel` call, or the first error or
/// panic of the group that cancelled it; a child cancelled by its parent has the parent's cause.
///
/// It is built on a [`WaitGroup`] holding one count: [`cancel`](Self::cancel) is its `done`,
/// so every kind of waiter the core supports (blocking, timed, async) works here too.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use headcount::CancelToken;
///
/// let token = CancelToken::new();
/// let worker = {
///     let token = token.clone();
///     std::thread::spawn(move || {
///         let mut rounds = 0;
///         // "sleep 10 ms between rounds, unless cancelled"
///         while !token.wait_timeout(Duration::from_millis(10)) {
///             rounds += 1;
///         }
///         rounds
///     })
/// };
/// token.cancel();
/// worker.join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    /// Set once, by the `cancel` that set the cause (under the `tree` lock); read lock-free.
    cancelled: AtomicBool,
    /// One count until cancelled.
    wg: WaitGroup,
    tree: Mutex<Tree>,
}

/// What a cancellation changes besides the flag.
struct Tree {
    /// Why the token was cancelled; `Some` exactly once it is. Whoever sets it is the one
    /// `cancel` that calls `done` and cancels the children.
    cause: Option<CancelCause>,
    /// Children to cancel with this token. Weak: a dropped child costs a slot until the next
    /// prune, nothing more.
    children: Vec<Weak<Inner>>,
}

/// Why a [`CancelToken`] was cancelled (Go 1.20's `context.Cause`): read it with
/// [`CancelToken::cause`].
///
/// # Examples
///
/// ```
/// use headcount::{CancelCause, ErrGroup};
///
/// let group = ErrGroup::new();
/// let token = group.token();
/// group.spawn(|_| Err("disk full"));
/// assert_eq!(group.wait(), Err("disk full"));
/// assert_eq!(token.cause(), Some(CancelCause::Failed("\"disk full\"".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelCause {
    /// [`cancel`](CancelToken::cancel) was called, or the group's `wait` returned without a
    /// task failing (errgroup cancels its context when `Wait` returns).
    Cancelled,
    /// A task of the group returned an error: the error's `Debug` text.
    Failed(String),
    /// A task of the group panicked: its message (`"<non-string payload>"` when the payload
    /// is not a string).
    Panicked(String),
}

impl fmt::Display for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelCause::Cancelled => f.write_str("cancelled"),
            CancelCause::Failed(err) => write!(f, "a task failed: {err}"),
            CancelCause::Panicked(msg) => write!(f, "a task panicked: {msg}"),
        }
    }
}

impl Inner {
    fn new() -> Self {
        let inner = Inner {
            cancelled: AtomicBool::new(false),
            wg: WaitGroup::new(),
            tree: Mutex::new(Tree {
                cause: None,
                children: Vec::new(),
            }),
        };
        inner.wg.add(1);
        inner
    }

    fn tree(&self) -> MutexGuard<'_, Tree> {
        // No code that can panic runs while it is held.
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels with `cause` unless already cancelled; then its children, with the same cause.
    fn cancel(&self, cause: CancelCause) -> bool {
        let children = {
            let mut tree = self.tree();
            if tree.cause.is_some() {
                return false;
            }
            tree.cause = Some(cause.clone());
            // Release pairs with the Acquire in `is_cancelled`: what the canceller did before
            // is visible to whoever sees the flag. Set under the lock, so exactly one `cancel`
            // gets here.
            self.cancelled.store(true, Ordering::Release);
            std::mem::take(&mut tree.children)
        };
        // The flag is set before the waiters are released, so a released waiter sees it.
        self.wg.done();
        for child in children.iter().filter_map(Weak::upgrade) {
            child.cancel(cause.clone());
        }
        true
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!headcount::CancelToken::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        CancelToken {
            inner: Arc::new(Inner::new()),
        }
    }

    /// A new token that is cancelled when this one is (with this one's cause), and whose own
    /// cancellation does not touch this one: Go's `context.WithCancel(parent)`, tokio-util's
    /// `CancellationToken::child_token`. A child of a cancelled token starts cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = headcount::CancelToken::new();
    /// let request = shutdown.child_token();
    /// request.cancel();                  // the child alone
    /// assert!(!shutdown.is_cancelled());
    ///
    /// let other = shutdown.child_token();
    /// shutdown.cancel();                 // the parent, and with it every child
    /// assert!(other.is_cancelled());
    /// ```
    pub fn child_token(&self) -> CancelToken {
        let child = Arc::new(Inner::new());
        let cause = {
            let mut tree = self.inner.tree();
            match &tree.cause {
                Some(cause) => Some(cause.clone()),
                None => {
                    // Prune dropped children when the list would grow: amortized O(1), and
                    // the list stays within twice the live children.
                    if tree.children.len() == tree.children.capacity() {
                        tree.children.retain(|c| c.strong_count() > 0);
                    }
                    tree.children.push(Arc::downgrade(&child));
                    None
                }
            }
        };
        if let Some(cause) = cause {
            child.cancel(cause);
        }
        CancelToken { inner: child }
    }

    /// Cancels the token, waking every waiter. Only the first call has an effect; returns
    /// whether this call was it.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = headcount::CancelToken::new();
    /// assert!(token.cancel());
    /// assert!(!token.cancel()); // already cancelled
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.cancel(CancelCause::Cancelled)
    }

    /// Cancels the token with `cause` (as [`cancel`](Self::cancel) does with
    /// [`CancelCause::Cancelled`]); only the first cancellation's cause is kept.
    pub(crate) fn cancel_with(&self, cause: CancelCause) -> bool {
        // Cheap check first: after the first error, every later one only reads the flag.
        !self.is_cancelled() && self.inner.cancel(cause)
    }

    /// Why the token was cancelled; `None` while it is not (Go's `context.Cause`).
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{CancelCause, CancelToken};
    ///
    /// let parent = CancelToken::new();
    /// let child = parent.child_token();
    /// assert_eq!(child.cause(), None);
    /// parent.cancel();
    /// assert_eq!(child.cause(), Some(CancelCause::Cancelled));
    /// ```
    pub fn cause(&self) -> Option<CancelCause> {
        if !self.is_cancelled() {
            return None;
        }
        self.inner.tree().cause.clone()
    }

    /// Whether the token has been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = headcount::CancelToken::new();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release store in `Inner::cancel`.
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Blocks until the token is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = headcount::CancelToken::new();
    /// let t = token.clone();
    /// std::thread::spawn(move || t.cancel());
    /// token.wait();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn wait(&self) {
        self.inner.wg.wait();
    }

    /// Blocks until the token is cancelled or `timeout` has passed; returns whether it is
    /// cancelled. A cancellable sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let token = headcount::CancelToken::new();
    /// assert!(!token.wait_timeout(Duration::from_millis(1)));
    /// token.cancel();
    /// assert!(token.wait_timeout(Duration::from_secs(60))); // at once
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.wg.wait_timeout(timeout)
    }

    /// Blocks until the token is cancelled or `deadline` has passed; returns whether it is
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let token = headcount::CancelToken::new();
    /// assert!(!token.wait_deadline(Instant::now()));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.inner.wg.wait_deadline(deadline)
    }

    /// A future that resolves when the token is cancelled (runtime-agnostic).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves leaves no trace (see [`WaitFuture`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let token = headcount::CancelToken::new();
    /// token.cancel();
    /// futures::executor::block_on(token.cancelled());
    /// ```
    pub fn cancelled(&self) -> WaitFuture<'_> {
        self.inner.wg.wait_async()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
