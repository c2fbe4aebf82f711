//! `Group`, `Spawner` and the scoped form: panics, limits, workers, misuse.
#![cfg(not(loom))]

mod common;
use common::{n, quietly};

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use headcount::{scope, Group};

/// A panic payload of our own type, to check that the waiter gets the very value.
#[derive(Debug, PartialEq)]
struct Boom {
    code: u32,
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn runs_every_task() {
    let count = Arc::new(AtomicUsize::new(0));
    let group = Group::new();
    for _ in 0..n(200, 10) {
        let count = Arc::clone(&count);
        group.spawn(move || {
            count.fetch_add(1, Ordering::Relaxed);
        });
    }
    group.wait();
    assert_eq!(count.load(Ordering::Relaxed), n(200, 10));
}

#[test]
fn task_writes_are_visible_after_wait() {
    let data = Arc::new(Mutex::new(Vec::new()));
    let flag = Arc::new(AtomicBool::new(false));
    let group = Group::new().limit(2);
    for i in 0..n(50, 5) {
        let data = Arc::clone(&data);
        group.spawn(move || data.lock().unwrap().push(i));
    }
    let f = Arc::clone(&flag);
    // A Relaxed store: only `wait`'s happens-before edge makes it visible below.
    group.spawn(move || f.store(true, Ordering::Relaxed));
    group.wait();
    assert!(flag.load(Ordering::Relaxed));
    assert_eq!(data.lock().unwrap().len(), n(50, 5));
}

#[test]
fn wait_resumes_the_original_payload_after_every_task_ended() {
    let slow_done = Arc::new(AtomicBool::new(false));
    let group = Group::new();
    let (go, started) = mpsc::channel::<()>();
    {
        let slow_done = Arc::clone(&slow_done);
        group.spawn(move || {
            started.recv().unwrap(); // ends only after the panic below
            thread::sleep(Duration::from_millis(20));
            slow_done.store(true, Ordering::SeqCst);
        });
    }
    group.spawn(move || {
        go.send(()).unwrap();
        panic::panic_any(Boom { code: 7 });
    });
    let payload = quietly(|| panic::catch_unwind(AssertUnwindSafe(move || group.wait())))
        .expect_err("wait must re-raise the task's panic");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom { code: 7 }));
    assert!(
        slow_done.load(Ordering::SeqCst),
        "wait re-raised before every task had ended"
    );
}

#[test]
fn wait_recover_keeps_every_panic_in_order() {
    let group = Group::new().limit(1); // one at a time: the order is the spawn order
    quietly(|| {
        for code in 0..5 {
            group.spawn(move || panic::panic_any(Boom { code }));
        }
        group.spawn(|| ());
    });
    let panicked = quietly(|| group.wait_recover()).unwrap_err();
    assert_eq!(panicked.len(), 5);
    assert_eq!(
        panicked.first().downcast_ref::<Boom>(),
        Some(&Boom { code: 0 })
    );
    let codes: Vec<u32> = panicked
        .into_payloads()
        .into_iter()
        .map(|p| p.downcast::<Boom>().unwrap().code)
        .collect();
    assert_eq!(codes, [0, 1, 2, 3, 4]);
}

#[test]
fn wait_recover_is_ok_without_panics() {
    let group = Group::new();
    group.spawn(|| ());
    assert!(group.wait_recover().is_ok());
}

#[test]
fn panicked_message_and_display() {
    let group = Group::new();
    quietly(|| group.spawn(|| panic!("disk full")));
    let panicked = quietly(|| group.wait_recover()).unwrap_err();
    assert_eq!(panicked.message(), Some("disk full"));
    assert!(panicked.to_string().contains("disk full"));
    assert!(format!("{panicked:?}").contains("disk full"));
}

#[test]
fn try_spawn_hands_the_task_back_at_the_limit() {
    let group = Group::new().limit(2);
    let release = Arc::new(Barrier::new(3));
    for _ in 0..2 {
        let release = Arc::clone(&release);
        group.spawn(move || {
            release.wait();
        });
    }
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let task = move || r.store(true, Ordering::SeqCst);
    let task = group
        .try_spawn(task)
        .expect_err("two tasks are in flight at a limit of 2");
    assert_eq!(group.in_flight(), 2);
    release.wait(); // the two tasks end
                    // A slot frees up soon; the handed-back task is the same closure and still runnable.
    let mut task = Some(task);
    while let Some(t) = task.take() {
        if let Err(t) = group.try_spawn(t) {
            task = Some(t);
            thread::yield_now();
        }
    }
    group.wait();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn spawn_blocks_while_the_limit_is_reached() {
    let group = Arc::new(Group::new().limit(1));
    let (release, held) = mpsc::channel::<()>();
    group.spawn(move || held.recv().unwrap());
    let spawned = Arc::new(AtomicBool::new(false));
    let spawner = {
        let (group, spawned) = (Arc::clone(&group), Arc::clone(&spawned));
        thread::spawn(move || {
            group.spawn(|| ());
            spawned.store(true, Ordering::SeqCst);
        })
    };
    // If `spawn` did not block, this would see `true` (after any delay; no false failures).
    thread::sleep(Duration::from_millis(50));
    assert!(
        !spawned.load(Ordering::SeqCst),
        "spawn returned while the only slot was held"
    );
    release.send(()).unwrap();
    spawner.join().unwrap();
    assert!(spawned.load(Ordering::SeqCst));
    Arc::try_unwrap(group).unwrap().wait();
}

/// Stress: many tasks, each marking itself running, under several limits; the high-water mark
/// of tasks running at once must never exceed the limit, nor the worker count.
macro_rules! high_water_tests {
    ($($name:ident: $limit:expr, $tasks:expr;)*) => {$(
        #[test]
        fn $name() {
            let limit: usize = $limit;
            let running = Arc::new(AtomicUsize::new(0));
            let high = Arc::new(AtomicUsize::new(0));
            let group = Group::new().limit(limit);
            for i in 0..n($tasks, 20) {
                let (running, high) = (Arc::clone(&running), Arc::clone(&high));
                group.spawn(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    high.fetch_max(now, Ordering::SeqCst);
                    if i % 3 == 0 {
                        thread::yield_now();
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                });
                assert!(group.workers() <= limit);
            }
            let max_in_flight = group.max_in_flight();
            group.wait();
            let high = high.load(Ordering::SeqCst);
            assert!(high >= 1 && high <= limit, "{high} tasks ran at once, limit {limit}");
            assert!(max_in_flight <= limit, "{max_in_flight} in flight, limit {limit}");
        }
    )*};
}

high_water_tests! {
    high_water_limit_1: 1, 500;
    high_water_limit_2: 2, 2000;
    high_water_limit_7: 7, 2000;
    high_water_limit_100: 100, 10_000;
}

#[test]
fn ten_thousand_items_at_limit_100_use_at_most_100_threads() {
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let group = Group::new().limit(100);
    for _ in 0..n(10_000, 50) {
        let threads = Arc::clone(&threads);
        group.spawn(move || {
            threads.lock().unwrap().insert(thread::current().id());
        });
    }
    assert!(group.workers() <= 100);
    group.wait();
    let distinct = threads.lock().unwrap().len();
    assert!(
        (1..=100).contains(&distinct),
        "{distinct} distinct worker threads"
    );
}

#[test]
fn workers_are_reused_one_at_a_time() {
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let group = Group::new().limit(1);
    for _ in 0..n(100, 5) {
        let threads = Arc::clone(&threads);
        group.spawn(move || {
            threads.lock().unwrap().insert(thread::current().id());
        });
    }
    group.wait();
    assert_eq!(threads.lock().unwrap().len(), 1);
}

#[test]
fn limit_zero_panics_with_a_clear_message() {
    let payload = quietly(|| panic::catch_unwind(|| Group::new().limit(0))).unwrap_err();
    assert!(
        message(&*payload).contains("at least 1"),
        "{}",
        message(&*payload)
    );
}

#[test]
fn changing_the_limit_while_tasks_run_panics() {
    let group = Group::new();
    let (release, held) = mpsc::channel::<()>();
    group.spawn(move || held.recv().unwrap());
    // The failed builder call drops the group during unwinding, and dropping waits for the
    // task: release it a little later from another thread.
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
    });
    let payload = quietly(|| panic::catch_unwind(AssertUnwindSafe(|| group.limit(3)))).unwrap_err();
    assert!(
        message(&*payload).contains("cannot change the limit while 1 task(s) are in flight"),
        "{}",
        message(&*payload)
    );
    releaser.join().unwrap();
}

#[test]
fn spawning_on_a_waited_group_panics_or_hands_back() {
    let group = Group::new();
    let spawner = group.spawner();
    spawner.spawn(|| ());
    group.wait();
    assert!(spawner.is_closed());
    let payload =
        quietly(|| panic::catch_unwind(AssertUnwindSafe(|| spawner.spawn(|| ())))).unwrap_err();
    assert!(
        message(&*payload).contains("already been waited on"),
        "{}",
        message(&*payload)
    );
    assert!(spawner.try_spawn(|| ()).is_err());
}

#[test]
fn tasks_spawned_by_tasks_during_wait_are_waited_for() {
    let count = Arc::new(AtomicUsize::new(0));
    let group = Group::new();
    let spawner = group.spawner();
    let c = Arc::clone(&count);
    group.spawn(move || {
        for _ in 0..10 {
            let (s, c) = (spawner.clone(), Arc::clone(&c));
            spawner.spawn(move || {
                thread::sleep(Duration::from_millis(1));
                let c2 = Arc::clone(&c);
                s.spawn(move || {
                    c2.fetch_add(1, Ordering::SeqCst);
                });
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    group.wait();
    assert_eq!(count.load(Ordering::SeqCst), 20);
}

#[test]
fn dropping_a_group_waits_for_its_tasks() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let group = Group::new().limit(3);
        for _ in 0..10 {
            let done = Arc::clone(&done);
            group.spawn(move || {
                thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 10);
}

#[test]
fn debug_shows_the_state() {
    let group = Group::new().limit(3);
    let text = format!("{group:?}");
    assert!(text.contains("limit: 3"), "{text}");
    assert_eq!(group.concurrency_limit(), Some(3));
    assert!(format!("{:?}", group.spawner()).contains("Spawner"));
}

// --- The scoped form. -------------------------------------------------------------------------

#[test]
fn scope_tasks_borrow_from_the_stack() {
    let items: Vec<u64> = (1..=n(1000, 20) as u64).collect();
    let mut outputs = vec![0u64; items.len()];
    scope(|s| {
        for (item, out) in items.iter().zip(outputs.iter_mut()) {
            s.spawn(move || *out = item * 2);
        }
    });
    assert!(outputs.iter().zip(&items).all(|(o, i)| *o == i * 2));
}

#[test]
fn scope_returns_the_closure_value() {
    let value = scope(|s| {
        s.spawn(|| ());
        42
    });
    assert_eq!(value, 42);
}

#[test]
fn scope_resumes_the_original_payload() {
    let payload = quietly(|| {
        panic::catch_unwind(|| {
            scope(|s| {
                s.spawn(|| panic::panic_any(Boom { code: 3 }));
            })
        })
    })
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom { code: 3 }));
}

#[test]
fn scope_closure_panic_comes_first_and_tasks_still_finish() {
    let finished = AtomicBool::new(false);
    let result = quietly(|| {
        Group::new().scope_recover(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(20));
                finished.store(true, Ordering::SeqCst);
            });
            s.spawn(|| panic::panic_any(Boom { code: 2 }));
            panic::panic_any(Boom { code: 1 });
        })
    });
    let panicked: headcount::Panicked = result.unwrap_err();
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(panicked.len(), 2);
    assert_eq!(
        panicked.first().downcast_ref::<Boom>(),
        Some(&Boom { code: 1 })
    );
}

#[test]
fn scope_respects_the_limit_and_try_spawn() {
    let running = AtomicUsize::new(0);
    let high = AtomicUsize::new(0);
    Group::new().limit(3).scope(|s| {
        for _ in 0..n(300, 10) {
            s.spawn(|| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(now, Ordering::SeqCst);
                thread::yield_now();
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    assert!(high.load(Ordering::SeqCst) <= 3);

    let barrier = Barrier::new(2);
    Group::new().limit(1).scope(|s| {
        s.spawn(|| {
            barrier.wait();
        });
        assert!(s.try_spawn(|| ()).is_err());
        barrier.wait();
    });
}

#[test]
fn scope_tasks_can_spawn_subtasks() {
    let count = AtomicUsize::new(0);
    scope(|s| {
        for _ in 0..4 {
            let (s2, count) = (s.clone(), &count);
            s.spawn(move || {
                for _ in 0..4 {
                    s2.spawn(move || {
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        }
    });
    assert_eq!(count.load(Ordering::SeqCst), 16);
}

#[test]
fn a_scope_kept_past_its_call_refuses_spawns() {
    let kept = Mutex::new(None);
    scope(|s| {
        *kept.lock().unwrap() = Some(s.clone());
    });
    let s = kept.lock().unwrap().take().unwrap();
    assert!(s.try_spawn(|| ()).is_err());
    let payload = quietly(|| panic::catch_unwind(AssertUnwindSafe(|| s.spawn(|| ())))).unwrap_err();
    assert!(message(&*payload).contains("already been waited on"));
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Group>();
    send_sync::<headcount::Spawner>();
    send_sync::<headcount::Scope<'static>>();
    send_sync::<headcount::ErrGroup<String>>();
    send_sync::<headcount::CancelToken>();
    send_sync::<headcount::ResultGroup<u8>>();
    send_sync::<headcount::TryResultGroup<u8, String>>();
    fn send<T: Send>() {}
    send::<headcount::Panicked>();
}

/// `limit` tasks that can only finish together (a rendezvous) must all get a worker at once,
/// in every round: the first round starts the workers (a chain of starts), later rounds find
/// them asleep (a chain of wake-ups). A worker missing would leave the rendezvous short until
/// its deadline.
#[test]
fn every_task_gets_a_worker_below_the_limit() {
    for limit in [2, 5, 16] {
        let group = Group::new().limit(limit);
        for round in 0..n(5, 2) {
            let arrived = Arc::new(AtomicUsize::new(0));
            let met = Arc::new(AtomicUsize::new(0));
            for _ in 0..limit {
                let (arrived, met) = (Arc::clone(&arrived), Arc::clone(&met));
                group.spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let deadline = std::time::Instant::now() + Duration::from_secs(30);
                    while arrived.load(Ordering::SeqCst) < limit {
                        if std::time::Instant::now() > deadline {
                            return; // not all `limit` tasks ran at once
                        }
                        thread::yield_now();
                    }
                    met.fetch_add(1, Ordering::SeqCst);
                });
            }
            // Wait for the round, then let the workers fall asleep before the next one.
            while group.in_flight() > 0 {
                thread::yield_now();
            }
            assert_eq!(
                met.load(Ordering::SeqCst),
                limit,
                "limit {limit}, round {round}"
            );
            thread::sleep(Duration::from_millis(5));
        }
        assert!(group.workers() <= limit);
        group.wait();
    }
}
