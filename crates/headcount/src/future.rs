//! [`WaitFuture`]: waiting for a group's counter to reach zero from async code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::diagnostics::AsyncStall;
use crate::state::{self, LAST_PANICKED};
use crate::wakers;
use crate::WaitGroup;

/// A future that resolves when its group's counter is zero; returned by
/// [`WaitGroup::wait_async`].
///
/// It is runtime-agnostic (it only uses the `Waker` it is polled with) and starts waiting when
/// first polled: a round that ended before the first poll does not count, and a counter at zero
/// at the first poll resolves it at once.
///
/// # Cancel safety
///
/// Dropping a pending `WaitFuture` takes its waker out of the group, so cancelling a wait (for
/// example in `tokio::select!` or with a timeout) leaves no trace; the group may be reused freely.
///
/// # Panics
///
/// Polling panics, as [`WaitGroup::wait`] does, when the round it waited for ended with a
/// panicked [`go`](WaitGroup::go) task.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use headcount::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// let guard = wg.enter_owned();
/// std::thread::spawn(move || drop(guard));
/// futures::executor::block_on(wg.wait_async());
/// assert_eq!(wg.count(), 0);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct WaitFuture<'a> {
    wg: &'a WaitGroup,
    state: State,
    /// Feature `diagnostics`: the stall report of a future left pending (zero-sized otherwise).
    stall: AsyncStall,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Not polled yet.
    Init,
    /// Registered in the group's waker registry under this key.
    Registered(usize),
    /// Resolved.
    Done,
}

impl WaitGroup {
    /// Waits for the counter to reach zero from async code: a future, usable with any executor
    /// (tokio, smol, `futures::executor::block_on`, ...), alongside blocking waiters on the
    /// same group. One transition to zero releases sync and async waiters alike.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future deregisters its waker (see [`WaitFuture`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use headcount::WaitGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wg = Arc::new(WaitGroup::new());
    /// for _ in 0..3 {
    ///     let guard = wg.enter_owned();
    ///     tokio::spawn(async move {
    ///         let _guard = guard; // `done` when the task ends
    ///     });
    /// }
    /// wg.wait_async().await;
    /// assert_eq!(wg.count(), 0);
    /// # }
    /// ```
    #[inline]
    #[track_caller]
    pub fn wait_async(&self) -> WaitFuture<'_> {
        WaitFuture {
            wg: self,
            state: State::Init,
            stall: AsyncStall::new(),
        }
    }
}

impl Future for WaitFuture<'_> {
    type Output = ();

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let panicked = match this.state {
            State::Done => return Poll::Ready(()),
            State::Init => {
                let s = this.wg.load();
                if state::count(s) == 0 {
                    s & LAST_PANICKED != 0
                } else {
                    match this.wg.register(state::epoch(s), cx.waker()) {
                        Ok(key) => {
                            this.state = State::Registered(key);
                            this.stall.arm(this.wg);
                            return Poll::Pending;
                        }
                        Err(panicked) => panicked,
                    }
                }
            }
            State::Registered(key) => {
                let mut reg = this.wg.wakers().lock();
                let (poll, old_waker) = reg.poll(key, cx.waker());
                drop(reg);
                drop(old_waker); // executor code: outside our lock
                match poll {
                    wakers::Poll::Pending => return Poll::Pending,
                    wakers::Poll::Released { panicked } => {
                        // Pairs (Acquire) with the ending update, which the releasing thread
                        // made before it marked our entry under the registry lock.
                        let _ = this.wg.load();
                        panicked
                    }
                }
            }
        };
        this.state = State::Done;
        this.stall.disarm();
        this.wg.finish(panicked);
        Poll::Ready(())
    }
}

impl Drop for WaitFuture<'_> {
    fn drop(&mut self) {
        if let State::Registered(key) = self.state {
            let mut reg = self.wg.wakers().lock();
            let (none_waiting, waker) = reg.remove(key);
            if none_waiting {
                self.wg.clear_async();
            }
            drop(reg);
            drop(waker);
        }
    }
}
