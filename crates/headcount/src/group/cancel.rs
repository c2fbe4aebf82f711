//! [`CancelToken`]: a one-shot cancellation signal that tasks can poll, block on, or await.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Set once by `cancel`; decides which `cancel` calls `done`.
    cancelled: AtomicBool,
    /// One count until cancelled.
    wg: WaitGroup,
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
        let inner = Inner {
            cancelled: AtomicBool::new(false),
            wg: WaitGroup::new(),
        };
        inner.wg.add(1);
        CancelToken {
            inner: Arc::new(inner),
        }
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
        // AcqRel: the Release half pairs with the Acquire in `is_cancelled` (what the canceller
        // did before is visible to whoever sees the flag); the swap decides the one `done`.
        let first = !self.inner.cancelled.swap(true, Ordering::AcqRel);
        if first {
            // The flag is set before the waiters are released, so a released waiter sees it.
            self.inner.wg.done();
        }
        first
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
        // Acquire pairs with the AcqRel swap in `cancel`.
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
