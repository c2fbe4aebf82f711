//! Every group type under misuse: a task waiting on its own group, a parent token handed to a
//! group, a group dropped with panics inside, a `Panicked` crossing into error types.
#![cfg(not(loom))]

mod common;
use common::{panic_message, quietly};

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use headcount::{CancelToken, ErrGroup, Group, Panicked, ResultGroup, TryResultGroup};

/// Far longer than any test needs.
const NEVER: Duration = Duration::from_secs(60);

// --- a task waiting on its own group: one clean, catchable panic, never an abort ---

/// Builds a group, hands it to one of its own tasks, which waits on it; returns the message of
/// the panic that wait raised (caught inside the task).
macro_rules! own_wait_message {
    ($ty:ty, $task_result:expr) => {{
        let group = <$ty>::new();
        let (give, take) = mpsc::channel::<$ty>();
        let (report, reported) = mpsc::channel();
        group.spawn(move |_| {
            let group = take.recv().unwrap();
            let caught = panic::catch_unwind(AssertUnwindSafe(move || {
                let _ = group.wait();
            }));
            report.send(caught.map_err(|p| panic_message(&*p))).unwrap();
            $task_result
        });
        give.send(group).unwrap();
        reported.recv_timeout(NEVER).expect("the task reported")
    }};
}

fn assert_self_deadlock(outcome: Result<(), String>) {
    let msg = outcome.expect_err("waiting on its own group panics");
    assert!(
        msg.starts_with("self-deadlock: a task started by"),
        "unexpected message: {msg}"
    );
}

#[test]
fn group_task_waiting_on_its_own_group_panics_once() {
    let outcome = quietly(|| {
        let group = Group::new();
        let (give, take) = mpsc::channel::<Group>();
        let (report, reported) = mpsc::channel();
        group.spawn(move || {
            let group = take.recv().unwrap();
            let caught = panic::catch_unwind(AssertUnwindSafe(move || group.wait()));
            report.send(caught.map_err(|p| panic_message(&*p))).unwrap();
        });
        give.send(group).unwrap();
        reported.recv_timeout(NEVER).expect("the task reported")
    });
    assert_self_deadlock(outcome);
}

#[test]
fn err_group_task_waiting_on_its_own_group_panics_once() {
    let outcome = quietly(|| own_wait_message!(ErrGroup<()>, Ok(())));
    assert_self_deadlock(outcome);
}

#[test]
fn result_group_task_waiting_on_its_own_group_panics_once() {
    let outcome = quietly(|| {
        let group = ResultGroup::<u8>::new();
        let (give, take) = mpsc::channel::<ResultGroup<u8>>();
        let (report, reported) = mpsc::channel();
        group.spawn(move || {
            let group = take.recv().unwrap();
            let caught = panic::catch_unwind(AssertUnwindSafe(move || group.wait()));
            report
                .send(caught.map(drop).map_err(|p| panic_message(&*p)))
                .unwrap();
            7
        });
        give.send(group).unwrap();
        reported.recv_timeout(NEVER).expect("the task reported")
    });
    assert_self_deadlock(outcome);
}

#[test]
fn try_result_group_task_waiting_on_its_own_group_panics_once() {
    let outcome = quietly(|| own_wait_message!(TryResultGroup<u8, ()>, Ok(1)));
    assert_self_deadlock(outcome);
}

#[test]
fn a_task_dropping_its_own_group_does_not_hang_or_abort() {
    let group = Group::new();
    let (give, take) = mpsc::channel::<Group>();
    let (done, finished) = mpsc::channel();
    group.spawn(move || {
        drop(take.recv().unwrap()); // its own group: the drop cannot wait for this task
        done.send(()).unwrap();
    });
    give.send(group).unwrap();
    finished.recv_timeout(NEVER).expect("the task ended");
}

#[cfg(feature = "tokio")]
mod async_groups {
    use super::*;
    use headcount::{AsyncErrGroup, AsyncGroup};

    use common::runtime;

    /// The message a task's `JoinHandle` reports after the task awaited its own group's
    /// `wait`: `$spawn` spawns into `group` a task that awaits the group it receives.
    macro_rules! own_wait_message {
        ($ty:ty, |$group:ident, $take:ident| $spawn:expr) => {
            quietly(|| {
                runtime().block_on(async {
                    let $group = <$ty>::new();
                    let (give, $take) = tokio::sync::oneshot::channel::<$ty>();
                    let task = $spawn;
                    give.send($group).unwrap();
                    let joined = tokio::time::timeout(NEVER, task).await.expect("no hang");
                    panic_message(&*joined.unwrap_err().into_panic())
                })
            })
        };
    }

    fn assert_async_self_deadlock(msg: String) {
        assert!(
            msg.starts_with("self-deadlock: a task started by AsyncGroup::spawn"),
            "{msg}"
        );
    }

    #[test]
    fn async_group_task_awaiting_its_own_group_panics_once() {
        assert_async_self_deadlock(own_wait_message!(AsyncGroup, |group, take| group
            .spawn(async move { take.await.unwrap().wait().await })));
    }

    #[test]
    fn async_err_group_task_awaiting_its_own_group_panics_once() {
        assert_async_self_deadlock(own_wait_message!(AsyncErrGroup<()>, |group, take| group
            .spawn(|_| async move { take.await.unwrap().wait().await })));
    }

    #[test]
    fn async_err_group_never_cancels_its_parent() {
        runtime().block_on(async {
            let shutdown = tokio_util::sync::CancellationToken::new();
            let group = AsyncErrGroup::with_token(shutdown.clone());
            let token = group.token();
            group.spawn(|_| async { Err("failed") });
            assert_eq!(group.wait().await, Err("failed"));
            assert!(token.is_cancelled(), "the group's own token is cancelled");
            assert!(!shutdown.is_cancelled(), "the parent is not");

            let group = AsyncErrGroup::<()>::with_token(shutdown.clone());
            group.spawn(|token| async move {
                token.cancelled().await;
                Ok(())
            });
            shutdown.cancel();
            assert_eq!(tokio::time::timeout(NEVER, group.wait()).await, Ok(Ok(())));
        });
    }
}

// --- `with_token(parent)`: a child token; the group never cancels the parent ---

#[test]
fn err_group_never_cancels_its_parent() {
    let shutdown = CancelToken::new();
    let group = ErrGroup::<()>::with_token(shutdown.clone());
    group.spawn(|_| Ok(()));
    assert_eq!(group.wait(), Ok(()));
    assert!(!shutdown.is_cancelled(), "wait cancelled the parent");

    let group = ErrGroup::with_token(shutdown.clone());
    let token = group.token();
    group.spawn(|_| Err("first"));
    assert_eq!(group.wait(), Err("first"));
    assert!(token.is_cancelled());
    assert!(!shutdown.is_cancelled(), "an error cancelled the parent");
}

#[test]
fn cancelling_the_parent_cancels_the_group() {
    let shutdown = CancelToken::new();
    let group = ErrGroup::<()>::with_token(shutdown.clone());
    let (started, running) = mpsc::channel();
    group.spawn(move |token| {
        started.send(()).unwrap();
        assert!(
            token.wait_timeout(NEVER),
            "the parent's cancel reached the task"
        );
        Ok(())
    });
    running.recv().unwrap();
    shutdown.cancel();
    assert_eq!(group.wait(), Ok(()));
}

#[test]
fn try_result_group_never_cancels_its_parent() {
    let shutdown = CancelToken::new();
    let group = TryResultGroup::<u8, &str>::with_token(shutdown.clone());
    group.spawn(|_| Ok(1));
    group.spawn(|_| Err("bad"));
    assert_eq!(group.wait(), Err("bad"));
    assert!(!shutdown.is_cancelled());
}

// --- a dropped group never loses its panics silently ---

#[derive(Debug, PartialEq)]
struct Boom(u32);

#[test]
fn a_dropped_group_reraises_the_first_panic() {
    let payload = quietly(|| {
        panic::catch_unwind(|| {
            let group = Group::new();
            group.spawn(|| panic::panic_any(Boom(4)));
            drop(group);
        })
        .expect_err("the drop re-raised the task's panic")
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(4)));
}

#[test]
fn a_dropped_err_group_reraises_the_first_panic() {
    let payload = quietly(|| {
        panic::catch_unwind(|| {
            let group = ErrGroup::<()>::new();
            group.spawn(|_| panic::panic_any(Boom(5)));
        })
        .expect_err("the drop re-raised the task's panic")
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)));
}

#[test]
fn a_group_dropped_while_panicking_does_not_abort() {
    let payload = quietly(|| {
        panic::catch_unwind(|| {
            let group = Group::new();
            group.spawn(|| panic::panic_any(Boom(6)));
            // The task's panic is reported (stderr), not raised a second time.
            panic::panic_any(Boom(7));
        })
        .unwrap_err()
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
}

// --- `Panicked` crosses into the usual error types ---

#[test]
fn panicked_is_send_sync_and_keeps_its_payload() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<Panicked>();

    let group = Group::new();
    group.spawn(|| panic::panic_any(Boom(9)));
    let panicked = quietly(|| group.wait_recover()).unwrap_err();
    let err: Box<dyn std::error::Error + Send + Sync> = Box::new(panicked);
    let panicked = err
        .downcast::<Panicked>()
        .expect("the same type comes back");
    assert_eq!(panicked.first().downcast_ref::<Boom>(), Some(&Boom(9)));
    let shared = std::sync::Arc::new(*panicked);
    let other = std::sync::Arc::clone(&shared);
    std::thread::spawn(move || assert_eq!(other.len(), 1))
        .join()
        .unwrap();
}
