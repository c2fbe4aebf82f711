//! `ErrGroup` and `CancelToken`: first error, all errors, cancellation seen by siblings,
//! panics, limits.
#![cfg(not(loom))]

mod common;
use common::quietly;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use headcount::{CancelToken, ErrGroup};

/// Far longer than any test needs: a wait that times out means cancellation never came.
const NEVER: Duration = Duration::from_secs(60);

#[derive(Debug, PartialEq)]
struct Boom(u32);

#[test]
fn ok_when_every_task_succeeds() {
    let group = ErrGroup::<String>::new().limit(3);
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..30 {
        let count = Arc::clone(&count);
        group.spawn(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    let token = group.token();
    assert_eq!(group.wait(), Ok(()));
    assert_eq!(count.load(Ordering::SeqCst), 30);
    assert!(
        token.is_cancelled(),
        "the token is cancelled when wait returns"
    );
}

#[test]
fn wait_returns_the_first_error_in_failure_order() {
    let group = ErrGroup::new().limit(1);
    group.spawn(|_| Ok(()));
    group.spawn(|_| Err("first"));
    group.spawn(|_| Err("second"));
    assert_eq!(group.wait(), Err("first"));
}

#[test]
fn siblings_observe_cancellation() {
    const SIBLINGS: usize = 4;
    let group = ErrGroup::new();
    let stopped_by_cancel = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(SIBLINGS + 1));
    for _ in 0..SIBLINGS {
        let (stopped, ready) = (Arc::clone(&stopped_by_cancel), Arc::clone(&ready));
        group.spawn(move |token: CancelToken| {
            ready.wait();
            // Without cancellation this would run for a minute and the count stays short.
            if token.wait_timeout(NEVER) {
                stopped.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        });
    }
    let r = Arc::clone(&ready);
    group.spawn(move |_| {
        r.wait(); // every sibling is running
        Err("failed")
    });
    assert_eq!(group.wait(), Err("failed"));
    assert_eq!(stopped_by_cancel.load(Ordering::SeqCst), SIBLINGS);
}

#[test]
fn is_cancelled_polling_stops_a_loop() {
    let group = ErrGroup::new();
    let steps = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&steps);
    let (started, is_started) = mpsc::channel();
    group.spawn(move |token| {
        started.send(()).unwrap();
        // The loop only ends when the sibling's error cancels the token (a do-while: the
        // cancellation may already be visible at the first check).
        loop {
            s.fetch_add(1, Ordering::Relaxed);
            if token.is_cancelled() {
                break;
            }
            thread::yield_now();
        }
        Ok(())
    });
    is_started.recv().unwrap();
    group.spawn(|_| Err(()));
    assert_eq!(group.wait(), Err(()));
    assert!(steps.load(Ordering::Relaxed) >= 1);
}

#[test]
fn wait_all_collects_every_error_without_cancelling() {
    let group = ErrGroup::new().limit(1).cancel_on_error(false);
    let token = group.token();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    for i in 0..6_u32 {
        let saw = Arc::clone(&saw_cancel);
        group.spawn(move |token| {
            if token.is_cancelled() {
                saw.store(true, Ordering::SeqCst);
            }
            if i % 2 == 1 {
                Err(i)
            } else {
                Ok(())
            }
        });
    }
    assert_eq!(group.wait_all(), Err(vec![1, 3, 5]));
    assert!(
        !saw_cancel.load(Ordering::SeqCst),
        "errors cancelled the token"
    );
    assert!(token.is_cancelled(), "cancelled once wait returned");
}

#[test]
fn wait_all_is_ok_without_errors() {
    let group = ErrGroup::<u8>::new();
    group.spawn(|_| Ok(()));
    assert_eq!(group.wait_all(), Ok(()));
}

#[test]
fn a_panic_cancels_siblings_and_reaches_wait_with_its_payload() {
    let group = ErrGroup::<&str>::new();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    group.spawn(move |token| {
        c.store(token.wait_timeout(NEVER), Ordering::SeqCst);
        Ok(())
    });
    group.spawn(|_| Err("an error"));
    quietly(|| group.spawn(|_| panic::panic_any(Boom(9))));
    let payload =
        quietly(|| panic::catch_unwind(AssertUnwindSafe(move || group.wait()))).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<Boom>(),
        Some(&Boom(9)),
        "panics win over errors"
    );
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn a_panic_cancels_even_without_cancel_on_error() {
    let group = ErrGroup::<()>::new().cancel_on_error(false);
    let token = group.token();
    let seen = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&seen);
    group.spawn(move |token| {
        s.store(token.wait_timeout(NEVER), Ordering::SeqCst);
        Ok(())
    });
    quietly(|| group.spawn(|_| panic!("boom")));
    let panicked = quietly(|| group.wait_recover()).unwrap_err();
    assert_eq!(panicked.message(), Some("boom"));
    assert!(seen.load(Ordering::SeqCst));
    assert!(token.is_cancelled());
}

#[test]
fn wait_recover_returns_the_error_when_nothing_panicked() {
    let group = ErrGroup::new();
    group.spawn(|_| Err(5));
    assert_eq!(group.wait_recover().unwrap(), Err(5));
}

#[test]
fn try_spawn_hands_the_task_back_at_the_limit() {
    let group = ErrGroup::<()>::new().limit(1);
    let token = group.token();
    group.spawn(|token| {
        token.wait();
        Ok(())
    });
    let task = |_: CancelToken| Ok(());
    assert!(group.try_spawn(task).is_err());
    token.cancel();
    assert_eq!(group.wait(), Ok(()));
}

#[test]
fn the_limit_holds_under_stress() {
    let limit = 5;
    let running = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    let group = ErrGroup::<()>::new().limit(limit);
    for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
        let (running, high) = (Arc::clone(&running), Arc::clone(&high));
        group.spawn(move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            high.fetch_max(now, Ordering::SeqCst);
            thread::yield_now();
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    assert!(group.max_in_flight() <= limit);
    group.wait().unwrap();
    assert!(high.load(Ordering::SeqCst) <= limit);
}

#[test]
fn an_outside_token_cancels_the_group() {
    let shutdown = CancelToken::new();
    let group = ErrGroup::<()>::with_token(shutdown.clone());
    for _ in 0..3 {
        group.spawn(|token| {
            assert!(token.wait_timeout(NEVER), "shutdown never arrived");
            Ok(())
        });
    }
    shutdown.cancel();
    assert_eq!(group.wait(), Ok(()));
}

#[test]
fn limit_zero_panics() {
    let result = quietly(|| panic::catch_unwind(|| ErrGroup::<()>::new().limit(0)));
    assert!(result.is_err());
}

#[test]
fn debug_shows_the_state() {
    let group = ErrGroup::<()>::new().limit(2);
    let text = format!("{group:?}");
    assert!(
        text.contains("ErrGroup") && text.contains("limit: 2"),
        "{text}"
    );
    assert_eq!(group.in_flight(), 0);
}

// --- CancelToken. ------------------------------------------------------------------------------

#[test]
fn token_cancel_is_once_and_visible_to_clones() {
    let token = CancelToken::new();
    let clone = token.clone();
    assert!(!clone.is_cancelled());
    assert!(token.cancel());
    assert!(!clone.cancel());
    assert!(clone.is_cancelled());
    assert!(format!("{clone:?}").contains("cancelled: true"));
}

#[test]
fn token_wait_timeout_expires_then_sees_the_cancel() {
    let token = CancelToken::new();
    assert!(!token.wait_timeout(Duration::from_millis(5)));
    assert!(!token.wait_deadline(Instant::now()));
    let t = token.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        t.cancel();
    });
    assert!(token.wait_timeout(NEVER));
    canceller.join().unwrap();
    token.wait(); // returns at once
}

#[test]
fn token_wakes_many_waiters() {
    let token = CancelToken::new();
    let woken = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (token, woken) = (token.clone(), Arc::clone(&woken));
            thread::spawn(move || {
                if token.wait_timeout(NEVER) {
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    token.cancel();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 8);
}

#[test]
fn token_cancelled_future() {
    let token = CancelToken::new();
    let t = token.clone();
    let canceller = thread::spawn(move || t.cancel());
    futures::executor::block_on(token.cancelled());
    assert!(token.is_cancelled());
    canceller.join().unwrap();
}
