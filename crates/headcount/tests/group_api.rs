//! One API across the group types: the same accessors, spawners that keep the group's
//! guarantees, cancellation causes, and `AsyncGroup`'s tokio-util `TaskTracker` shapes.
#![cfg(not(loom))]

mod common;
use common::quietly;

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use headcount::{CancelCause, CancelToken, ErrGroup, Group, ResultGroup, TryResultGroup};

const NEVER: Duration = Duration::from_secs(60);

#[test]
fn concurrency_limit_reads_back_the_builder_on_every_thread_group() {
    assert_eq!(Group::new().concurrency_limit(), None);
    assert_eq!(Group::new().limit(3).concurrency_limit(), Some(3));
    assert_eq!(ErrGroup::<()>::new().concurrency_limit(), None);
    assert_eq!(ErrGroup::<()>::new().limit(4).concurrency_limit(), Some(4));
    assert_eq!(ResultGroup::<u8>::new().concurrency_limit(), None);
    assert_eq!(
        ResultGroup::<u8>::new().limit(5).concurrency_limit(),
        Some(5)
    );
    assert_eq!(TryResultGroup::<u8, ()>::new().concurrency_limit(), None);
    assert_eq!(
        TryResultGroup::<u8, ()>::new().limit(6).concurrency_limit(),
        Some(6)
    );
}

/// Fills a limit of 2 with two blocked tasks, then checks the counters through `$group`.
macro_rules! counters_at_the_limit {
    ($group:expr, |$release:ident| $task:expr, $ok:expr) => {{
        let group = $group.limit(2);
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Arc::new(std::sync::Mutex::new(blocked));
        let (started, running) = mpsc::channel::<()>();
        for _ in 0..2 {
            let ($release, started) = (Arc::clone(&blocked), started.clone());
            group.spawn(move |_| {
                started.send(()).unwrap();
                $release.lock().unwrap().recv().unwrap();
                $task
            });
        }
        running.recv_timeout(NEVER).unwrap();
        running.recv_timeout(NEVER).unwrap();
        assert_eq!(group.in_flight(), 2);
        assert_eq!(group.max_in_flight(), 2);
        assert!(
            (1..=2).contains(&group.workers()),
            "{} workers",
            group.workers()
        );
        assert!(group.try_spawn(|_| $task).is_err(), "full");
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert!($ok(group.wait()));
    }};
}

#[test]
fn in_flight_max_in_flight_and_workers_on_every_thread_group() {
    counters_at_the_limit!(ErrGroup::<()>::new(), |r| Ok(()), |r: Result<(), ()>| r
        .is_ok());
    counters_at_the_limit!(TryResultGroup::<u8, ()>::new(), |r| Ok(1), |r: Result<
        Vec<u8>,
        (),
    >| r
        == Ok(vec![1, 1]));

    // The two without a token take tasks without an argument.
    let group = ResultGroup::new().limit(2);
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(blocked));
    for i in 0..2 {
        let blocked = Arc::clone(&blocked);
        group.spawn(move || {
            blocked.lock().unwrap().recv().unwrap();
            i
        });
    }
    assert!(group.try_spawn(|| 9).is_err(), "full");
    assert!(group.in_flight() <= 2 && group.max_in_flight() == 2);
    assert!(group.workers() <= 2);
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert_eq!(group.wait(), [0, 1]);
    assert_eq!(ResultGroup::<u8>::new().max_in_flight(), 0);
}

#[test]
fn err_group_spawner_work_is_waited_for_and_its_error_returned() {
    let group = ErrGroup::new();
    let spawner = group.spawner();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    group.spawn(move |_| {
        let inner = spawner.clone();
        let r2 = Arc::clone(&r);
        spawner.spawn(move |_| {
            std::thread::sleep(Duration::from_millis(20));
            r2.fetch_add(1, Ordering::SeqCst);
            inner.spawn(|_| Err("grandchild"));
            Ok(())
        });
        Ok(())
    });
    assert_eq!(group.wait(), Err("grandchild"));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the child ran before wait returned"
    );
}

#[test]
fn result_group_spawner_keeps_the_order_of_the_spawn_calls() {
    let group = ResultGroup::new();
    let spawner = group.spawner();
    // Task 0 spawns 1..=3 one after the other; each is slower than the next, so they finish
    // in reverse; task 4 is spawned by the test after task 0's spawns.
    let (spawned, all_spawned) = mpsc::channel();
    group.spawn(move || {
        for i in 1..=3_u64 {
            spawner.spawn(move || {
                std::thread::sleep(Duration::from_millis(30 - 10 * i));
                i
            });
        }
        spawned.send(()).unwrap();
        0
    });
    all_spawned.recv_timeout(NEVER).unwrap();
    group.spawn(|| 4);
    assert_eq!(group.wait(), [0, 1, 2, 3, 4]);
}

#[test]
fn try_result_group_spawner_keeps_order_and_first_error() {
    let group = TryResultGroup::new().cancel_on_error(false);
    let spawner = group.spawner();
    group.spawn(move |_| {
        spawner.spawn(|_| Err("child"));
        spawner.spawn(|_| Ok(2));
        Ok(0)
    });
    assert_eq!(group.wait_all(), [Ok(0), Err("child"), Ok(2)]);
}

#[test]
fn spawners_are_closed_after_wait() {
    let group = ErrGroup::<()>::new();
    let spawner = group.spawner();
    group.wait().unwrap();
    assert!(spawner.try_spawn(|_| Ok(())).is_err());
    let caught = quietly(|| panic::catch_unwind(|| spawner.spawn(|_| Ok(()))));
    assert!(caught.is_err());

    let group = ResultGroup::<u8>::new();
    let spawner = group.spawner();
    assert!(group.wait().is_empty());
    assert!(spawner.try_spawn(|| 1).is_err());
}

#[test]
fn child_token_follows_its_parent_only() {
    let root = CancelToken::new();
    let child = root.child_token();
    let grandchild = child.child_token();
    let sibling = root.child_token();
    child.cancel();
    assert!(child.is_cancelled() && grandchild.is_cancelled());
    assert!(!root.is_cancelled() && !sibling.is_cancelled());
    root.cancel();
    assert!(sibling.is_cancelled());
    assert!(
        root.child_token().is_cancelled(),
        "a child of a cancelled token"
    );
    // Many short-lived children of a long-lived parent: dropped ones are pruned.
    let parent = CancelToken::new();
    for _ in 0..10_000 {
        drop(parent.child_token());
    }
    let kept = parent.child_token();
    parent.cancel();
    assert!(kept.is_cancelled());
}

#[test]
fn the_token_tells_the_cause() {
    let group = ErrGroup::new();
    let token = group.token();
    assert_eq!(token.cause(), None);
    group.spawn(|_| Err(17));
    assert_eq!(group.wait(), Err(17));
    assert_eq!(token.cause(), Some(CancelCause::Failed("17".into())));

    let group = ErrGroup::<()>::new();
    let token = group.token();
    group.spawn(|_| panic!("disk on fire"));
    assert!(quietly(|| group.wait_recover()).is_err());
    assert_eq!(
        token.cause(),
        Some(CancelCause::Panicked("disk on fire".into()))
    );

    let group = TryResultGroup::<u8, &str>::new();
    let token = group.token();
    group.spawn(|_| Err("bad row"));
    assert_eq!(group.wait(), Err("bad row"));
    assert_eq!(
        token.cause(),
        Some(CancelCause::Failed("\"bad row\"".into()))
    );

    // Cancelled by the parent: the parent's cause; a clean wait: a plain cancellation.
    let parent = CancelToken::new();
    let group = ErrGroup::<()>::with_token(parent.clone());
    let token = group.token();
    parent.cancel();
    assert_eq!(token.cause(), Some(CancelCause::Cancelled));
    group.wait().unwrap();
    let group = ErrGroup::<()>::new();
    let token = group.token();
    group.wait().unwrap();
    assert_eq!(token.cause(), Some(CancelCause::Cancelled));
}

#[cfg(feature = "tokio")]
mod async_groups {
    use super::*;
    use common::runtime;
    use headcount::{AsyncErrGroup, AsyncGroup};

    #[test]
    fn spawn_returns_the_join_handle_at_once() {
        runtime().block_on(async {
            let group = AsyncGroup::new().limit(1);
            let (release, held) = tokio::sync::oneshot::channel::<()>();
            let first = group.spawn(async move {
                held.await.unwrap();
                "first"
            });
            // Returns at once although the only permit is (about to be) taken.
            let second = group.spawn(async { 2_u32 });
            tokio::task::yield_now().await;
            assert_eq!(group.in_flight(), 2);
            release.send(()).unwrap();
            assert_eq!(first.await.unwrap(), "first");
            assert_eq!(second.await.unwrap(), 2);
            assert_eq!(group.max_in_flight(), 1);
            assert_eq!(group.concurrency_limit(), Some(1));
            group.wait().await;
        });
    }

    #[test]
    fn a_panicking_task_reaches_both_its_handle_and_wait() {
        quietly(|| {
            runtime().block_on(async {
                let group = AsyncGroup::new();
                let handle = group.spawn(async { panic!("async boom") });
                let err = handle.await.unwrap_err();
                assert!(err.is_panic());
                assert_eq!(common::panic_message(&*err.into_panic()), "async boom");
                let panicked = group.wait_recover().await.unwrap_err();
                assert_eq!(panicked.message(), Some("async boom"));
            })
        });
    }

    #[test]
    fn spawn_on_runs_on_the_given_runtime_from_a_plain_thread() {
        let rt = runtime();
        let group = AsyncGroup::new().limit(2);
        let handles: Vec<_> = (0..10_u32)
            .map(|i| group.spawn_on(async move { i * i }, rt.handle()))
            .collect();
        rt.block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            assert_eq!(sum, (0..10).map(|i| i * i).sum::<u32>());
            assert!(group.max_in_flight() <= 2);
            group.wait().await;
        });
    }

    #[test]
    fn track_future_is_waited_for_until_it_completes_or_drops() {
        runtime().block_on(async {
            let group = AsyncGroup::new();
            let (release, held) = tokio::sync::oneshot::channel::<()>();
            let tracked = group.track_future(async move {
                held.await.unwrap();
                5
            });
            let dropped = group.track_future(std::future::pending::<()>());
            assert_eq!(group.in_flight(), 2);
            drop(dropped);
            assert_eq!(group.in_flight(), 1);
            let task = tokio::spawn(tracked);
            let waiting = tokio::spawn(group.wait());
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiting.is_finished(), "wait waits for the tracked future");
            release.send(()).unwrap();
            assert_eq!(task.await.unwrap(), 5);
            tokio::time::timeout(NEVER, waiting).await.unwrap().unwrap();
        });
    }

    #[test]
    fn a_dropped_async_group_detaches_its_tasks() {
        runtime().block_on(async {
            let group = AsyncGroup::new();
            let (release, held) = tokio::sync::oneshot::channel::<()>();
            let handle = group.spawn(async move {
                held.await.unwrap();
                3
            });
            drop(group); // cannot await: the task runs on
            release.send(()).unwrap();
            assert_eq!(handle.await.unwrap(), 3);
        });
    }

    #[test]
    fn async_err_group_accessors() {
        runtime().block_on(async {
            let group = AsyncErrGroup::<()>::new().limit(3);
            assert_eq!(group.concurrency_limit(), Some(3));
            for _ in 0..10 {
                group.spawn(|_| async {
                    tokio::task::yield_now().await;
                    Ok(())
                });
            }
            let handle = group.spawn(|_| async { Ok(()) });
            handle.await.unwrap();
            assert!((1..=3).contains(&group.max_in_flight()));
            group.wait().await.unwrap();
        });
    }
}
