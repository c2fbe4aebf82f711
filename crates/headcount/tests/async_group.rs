//! `AsyncGroup` and `AsyncErrGroup` (feature `tokio`): panics carried from `JoinError`, limits
//! through a semaphore, cancellation through tokio-util's `CancellationToken`.
#![cfg(all(feature = "tokio", not(loom)))]

mod common;
use common::runtime;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headcount::{AsyncErrGroup, AsyncGroup};

#[derive(Debug, PartialEq)]
struct Boom(u32);

fn quiet_hook() -> impl Drop {
    static HOOK: Mutex<()> = Mutex::new(());
    struct Restore(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = panic::take_hook();
        }
    }
    let guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    panic::set_hook(Box::new(|_| {}));
    Restore(guard)
}

#[test]
fn runs_every_future() {
    runtime().block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let group = AsyncGroup::new();
        for _ in 0..500 {
            let count = Arc::clone(&count);
            group.spawn(async move {
                tokio::task::yield_now().await;
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
        group.wait().await;
        assert_eq!(count.load(Ordering::SeqCst), 500);
    });
}

#[test]
fn panic_payload_is_carried_from_join_error() {
    let _quiet = quiet_hook();
    runtime().block_on(async {
        let slow_done = Arc::new(AtomicBool::new(false));
        let group = AsyncGroup::new();
        let s = Arc::clone(&slow_done);
        group.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.store(true, Ordering::SeqCst);
        });
        group.spawn(async { panic::panic_any(Boom(11)) });
        // `wait` re-raises: run it as a task to catch the panic as a JoinError in turn.
        let payload = tokio::spawn(group.wait()).await.unwrap_err().into_panic();
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(11)));
        assert!(
            slow_done.load(Ordering::SeqCst),
            "wait re-raised before every task ended"
        );
    });
}

#[test]
fn wait_recover_keeps_every_panic() {
    let _quiet = quiet_hook();
    runtime().block_on(async {
        let group = AsyncGroup::new();
        for i in 0..3 {
            group.spawn(async move { panic::panic_any(Boom(i)) });
        }
        group.spawn(async {});
        let panicked = group.wait_recover().await.unwrap_err();
        assert_eq!(panicked.len(), 3);
        let mut codes: Vec<u32> = panicked
            .into_payloads()
            .into_iter()
            .map(|p| p.downcast::<Boom>().unwrap().0)
            .collect();
        codes.sort();
        assert_eq!(codes, [0, 1, 2]);
    });
}

#[test]
fn the_limit_holds_under_stress() {
    runtime().block_on(async {
        let limit = 7;
        let running = Arc::new(AtomicUsize::new(0));
        let high = Arc::new(AtomicUsize::new(0));
        let group = AsyncGroup::new().limit(limit);
        assert_eq!(group.concurrency_limit(), Some(limit));
        for _ in 0..2000 {
            let (running, high) = (Arc::clone(&running), Arc::clone(&high));
            group.spawn(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        group.wait().await;
        let high = high.load(Ordering::SeqCst);
        assert!(
            (1..=limit).contains(&high),
            "{high} futures ran at once, limit {limit}"
        );
    });
}

#[test]
fn try_spawn_hands_the_future_back_at_the_limit() {
    runtime().block_on(async {
        let group = AsyncGroup::new().limit(1);
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        assert!(group
            .try_spawn(async move {
                started_tx.send(()).unwrap();
                let _ = held.await;
            })
            .is_ok());
        started.await.unwrap();
        assert!(group.try_spawn(async {}).is_err());
        assert_eq!(group.in_flight(), 1);
        release.send(()).unwrap();
        group.wait().await;
    });
}

#[test]
fn limit_misuse_panics() {
    let _quiet = quiet_hook();
    assert!(panic::catch_unwind(|| AsyncGroup::new().limit(0)).is_err());
    runtime().block_on(async {
        let group = AsyncGroup::new();
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        group.spawn(async move {
            let _ = held.await;
        });
        let result = panic::catch_unwind(AssertUnwindSafe(|| group.limit(2)));
        assert!(result.is_err(), "changing the limit with a task in flight");
        release.send(()).unwrap();
    });
}

#[test]
fn err_group_first_error_cancels_siblings() {
    runtime().block_on(async {
        let group = AsyncErrGroup::new().limit(10);
        let cancelled = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let cancelled = Arc::clone(&cancelled);
            group.spawn(move |token| async move {
                tokio::select! {
                    _ = token.cancelled() => { cancelled.fetch_add(1, Ordering::SeqCst); }
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
                Ok(())
            });
        }
        group.spawn(|_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Err("upstream failed")
        });
        let token = group.token();
        assert_eq!(group.wait().await, Err("upstream failed"));
        assert_eq!(cancelled.load(Ordering::SeqCst), 5);
        assert!(token.is_cancelled());
    });
}

#[test]
fn err_group_wait_all_and_no_cancel() {
    runtime().block_on(async {
        let group = AsyncErrGroup::new().cancel_on_error(false);
        let saw_cancel = Arc::new(AtomicBool::new(false));
        for i in 0..6_u32 {
            let saw = Arc::clone(&saw_cancel);
            group.spawn(move |token| async move {
                tokio::task::yield_now().await;
                if token.is_cancelled() {
                    saw.store(true, Ordering::SeqCst);
                }
                if i % 2 == 0 {
                    Err(i)
                } else {
                    Ok(())
                }
            });
        }
        let mut errors = group.wait_all().await.unwrap_err();
        errors.sort();
        assert_eq!(errors, [0, 2, 4]);
        assert!(!saw_cancel.load(Ordering::SeqCst));
    });
}

#[test]
fn err_group_panic_cancels_and_reaches_wait() {
    let _quiet = quiet_hook();
    runtime().block_on(async {
        let group = AsyncErrGroup::<()>::new().cancel_on_error(false);
        let seen = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&seen);
        group.spawn(move |token| async move {
            token.cancelled().await;
            s.store(true, Ordering::SeqCst);
            Ok(())
        });
        group.spawn(|_| async { panic::panic_any(Boom(5)) });
        let payload = tokio::spawn(group.wait()).await.unwrap_err().into_panic();
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)));
        assert!(seen.load(Ordering::SeqCst));
    });
}

#[test]
fn err_group_try_spawn_and_outside_token() {
    runtime().block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let group = AsyncErrGroup::<()>::with_token(shutdown.child_token()).limit(1);
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        group.spawn(|token| async move {
            started_tx.send(()).unwrap();
            token.cancelled().await;
            Ok(())
        });
        started.await.unwrap(); // it holds the only permit now
        assert!(group.try_spawn(|_| async { Ok(()) }).is_err());
        shutdown.cancel();
        assert_eq!(group.wait().await, Ok(()));
    });
}

#[test]
fn err_group_wait_recover_returns_the_error() {
    runtime().block_on(async {
        let group = AsyncErrGroup::new();
        group.spawn(|_| async { Err(3) });
        assert_eq!(group.wait_recover().await.unwrap(), Err(3));
    });
}

#[test]
fn debug_and_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<AsyncGroup>();
    send_sync::<AsyncErrGroup<String>>();
    assert!(format!("{:?}", AsyncGroup::new()).contains("AsyncGroup"));
    assert!(format!("{:?}", AsyncErrGroup::<u8>::new()).contains("AsyncErrGroup"));
}
