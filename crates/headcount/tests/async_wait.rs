//! `wait_async` under tokio, smol and `futures::executor`, cancellation, and many futures.

#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use headcount::WaitGroup;

const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        n / 100 + 2
    } else {
        n
    }
}

/// A waker that counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker(Default::default()));
    (w.clone(), Waker::from(w))
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[cfg(not(miri))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_tasks_and_wait_async() {
    let wg = Arc::new(WaitGroup::new());
    let sum = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..1000 {
        let guard = wg.enter_owned();
        let sum = sum.clone();
        tokio::spawn(async move {
            let _guard = guard;
            tokio::task::yield_now().await;
            sum.fetch_add(i, std::sync::atomic::Ordering::Relaxed);
        });
    }
    wg.wait_async().await;
    assert_eq!(
        sum.load(std::sync::atomic::Ordering::Relaxed),
        999 * 1000 / 2
    );
}

#[cfg(not(miri))]
#[tokio::test]
async fn tokio_timeout_cancels_cleanly_then_reuse() {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    for _ in 0..10 {
        let r = tokio::time::timeout(Duration::from_millis(2), wg.wait_async()).await;
        assert!(r.is_err(), "nobody called done");
    }
    let waiter = {
        let wg = wg.clone();
        tokio::spawn(async move { wg.wait_async().await })
    };
    tokio::task::yield_now().await;
    wg.done();
    tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .unwrap()
        .unwrap();
}

#[cfg(not(miri))]
#[test]
fn smol_runtime() {
    let wg = Arc::new(WaitGroup::new());
    smol::block_on(async {
        for _ in 0..10 {
            let guard = wg.enter_owned();
            smol::spawn(async move {
                smol::Timer::after(Duration::from_millis(1)).await;
                drop(guard);
            })
            .detach();
        }
        wg.wait_async().await;
    });
    assert_eq!(wg.count(), 0);
}

#[test]
fn futures_block_on_released_from_another_thread() {
    let wg = Arc::new(WaitGroup::new());
    let g = wg.enter_owned();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        drop(g);
    });
    futures::executor::block_on(wg.wait_async());
    h.join().unwrap();
}

#[test]
fn pending_future_is_woken_once_and_resolves() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (count, waker) = counting_waker();
    let mut fut = wg.wait_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert!(
        poll_once(&mut fut, &waker).is_pending(),
        "re-poll stays pending"
    );
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    wg.done();
    assert_eq!(
        count.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "woken by the done"
    );
    assert!(poll_once(&mut fut, &waker).is_ready());
    assert!(poll_once(&mut fut, &waker).is_ready(), "stays ready");
}

/// A future released by its round stays released even if the group is reused before the
/// future is polled again.
#[test]
fn released_future_survives_reuse() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (_c, waker) = counting_waker();
    let mut fut = wg.wait_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    wg.done();
    wg.add(1); // next round
    assert!(poll_once(&mut fut, &waker).is_ready());
    // A new future waits for the new round.
    let mut fut2 = wg.wait_async();
    assert!(poll_once(&mut fut2, &waker).is_pending());
    wg.done();
    assert!(poll_once(&mut fut2, &waker).is_ready());
}

/// Thousands of pending futures dropped: nothing is woken, the group is reusable, and a new
/// waiter is still released.
#[test]
fn thousands_of_pending_futures_dropped() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (count, waker) = counting_waker();
    let n = scaled(5000);
    let mut futs: Vec<_> = (0..n).map(|_| wg.wait_async()).collect();
    for f in &mut futs {
        assert!(poll_once(f, &waker).is_pending());
    }
    // Drop every other one, then the rest in reverse order.
    let mut keep = Vec::new();
    for (i, f) in futs.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(f);
        } else {
            keep.push(f);
        }
    }
    while let Some(f) = keep.pop() {
        drop(f);
    }
    wg.done();
    assert_eq!(
        count.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "dropped futures are not woken"
    );
    assert_eq!(wg.count(), 0);
    // Reuse with a live future.
    wg.add(1);
    let mut fut = wg.wait_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    wg.done();
    assert!(poll_once(&mut fut, &waker).is_ready());
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// More pending futures than one wake batch: all are woken by one `done`.
#[test]
fn many_pending_futures_all_woken() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (count, waker) = counting_waker();
    let n = if cfg!(miri) { 70 } else { 1000 };
    let mut futs: Vec<_> = (0..n).map(|_| wg.wait_async()).collect();
    for f in &mut futs {
        assert!(poll_once(f, &waker).is_pending());
    }
    wg.done();
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), n);
    for f in &mut futs {
        assert!(poll_once(f, &waker).is_ready());
    }
}

/// The waker passed by the latest poll is the one woken.
#[test]
fn latest_waker_is_used() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (first, w1) = counting_waker();
    let (second, w2) = counting_waker();
    let mut fut = wg.wait_async();
    assert!(poll_once(&mut fut, &w1).is_pending());
    assert!(poll_once(&mut fut, &w2).is_pending());
    wg.done();
    assert_eq!(first.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(second.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A future created but not polled starts waiting at its first poll.
#[test]
fn future_starts_waiting_at_first_poll() {
    let wg = WaitGroup::new();
    let mut fut = wg.wait_async();
    wg.add(1);
    let (_c, waker) = counting_waker();
    assert!(poll_once(&mut fut, &waker).is_pending());
    wg.done();
    assert!(poll_once(&mut fut, &waker).is_ready());
}
