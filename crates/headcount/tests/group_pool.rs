//! The worker pool under the thread groups: a limit set again between two batches holds from
//! then on, every task gets a worker below the limit, workers are reused across batches and
//! groups, and racing spawns, waits and closes lose nothing.
#![cfg(not(loom))]

mod common;
use common::{n, quietly};

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use headcount::{ErrGroup, Group};

/// Spins (yielding) until `cond` holds.
fn until(cond: impl Fn() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

/// Runs `tasks` tasks that each note how many run at once and on which thread.
fn batch(group: &Group, tasks: usize) -> (Arc<AtomicUsize>, Arc<Mutex<HashSet<thread::ThreadId>>>) {
    let running = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    for _ in 0..tasks {
        let (running, high, threads) = (
            Arc::clone(&running),
            Arc::clone(&high),
            Arc::clone(&threads),
        );
        group.spawn(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            high.fetch_max(now, Ordering::SeqCst);
            threads.lock().unwrap().insert(thread::current().id());
            thread::sleep(Duration::from_millis(1));
            running.fetch_sub(1, Ordering::SeqCst);
        });
    }
    (high, threads)
}

/// Six tasks that can only finish together: they need six workers at once.
fn six_at_once(group: &Group) {
    let meet = Arc::new(Barrier::new(6));
    for _ in 0..6 {
        let meet = Arc::clone(&meet);
        group.spawn(move || {
            meet.wait();
        });
    }
    until(|| group.in_flight() == 0);
}

#[test]
fn limit_lowered_after_tasks_have_ended_holds_from_then_on() {
    let group = Group::new();
    six_at_once(&group);
    assert_eq!(group.max_in_flight(), 6);

    let group = group.limit(2);
    assert!(
        group.workers() <= 2,
        "{} workers after limit(2)",
        group.workers()
    );
    assert_eq!(group.max_in_flight(), 0, "the high-water mark restarts");
    let (high, threads) = batch(&group, n(24, 6));
    assert!(group.workers() <= 2, "{} workers", group.workers());
    assert!(
        group.max_in_flight() <= 2,
        "{} in flight",
        group.max_in_flight()
    );
    group.wait();
    let high = high.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&high),
        "{high} tasks ran at once after limit(2)"
    );
    let distinct = threads.lock().unwrap().len();
    assert!(distinct <= 2, "the next tasks ran on {distinct} threads");
}

#[test]
fn limit_raised_after_tasks_have_ended_holds_from_then_on() {
    let group = Group::new().limit(1);
    let (high, _) = batch(&group, n(5, 2));
    until(|| group.in_flight() == 0);
    assert_eq!(high.load(Ordering::SeqCst), 1);
    let group = group.limit(6);
    six_at_once(&group); // would never finish on one worker
    assert_eq!(group.max_in_flight(), 6);
    group.wait();
}

#[test]
fn limit_set_again_on_the_other_thread_groups_holds_too() {
    let group: ErrGroup<()> = ErrGroup::new();
    let meet = Arc::new(Barrier::new(4));
    for _ in 0..4 {
        let meet = Arc::clone(&meet);
        group.spawn(move |_| {
            meet.wait();
            Ok(())
        });
    }
    until(|| group.in_flight() == 0);
    let group = group.limit(1);
    let running = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    for _ in 0..n(8, 3) {
        let (running, high) = (Arc::clone(&running), Arc::clone(&high));
        group.spawn(move |_| {
            high.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(1));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    group.wait().unwrap();
    assert_eq!(high.load(Ordering::SeqCst), 1);
}

#[test]
fn limit_while_tasks_are_in_flight_still_panics() {
    let group = Group::new();
    let (release, held) = std::sync::mpsc::channel::<()>();
    group.spawn(move || held.recv().unwrap());
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        release.send(()).unwrap();
    });
    let payload = quietly(|| panic::catch_unwind(AssertUnwindSafe(|| group.limit(1)))).unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("while 1 task(s) are in flight"),
        "{message}"
    );
    releaser.join().unwrap();
}

/// Tasks that wait for each other: each of `limit` tasks needs all the others running, so
/// every one of them must get a worker of its own, batch after batch.
#[test]
fn every_task_below_the_limit_gets_a_worker_in_every_batch() {
    let limit = n(16, 4);
    let group = Group::new().limit(limit);
    for _ in 0..n(20, 2) {
        let meet = Arc::new(Barrier::new(limit));
        for _ in 0..limit {
            let meet = Arc::clone(&meet);
            group.spawn(move || {
                meet.wait();
            });
        }
        until(|| group.in_flight() == 0);
        assert!(group.workers() <= limit);
    }
    group.wait();
}

/// Many threads spawn into one group through spawners while tasks spawn more: every task runs
/// exactly once, `wait` sees all of them, and nothing is in flight afterwards.
#[test]
fn racing_spawners_lose_no_task() {
    for limit in [None, Some(1), Some(3)] {
        let group = match limit {
            Some(l) => Group::new().limit(l),
            None => Group::new(),
        };
        let ran = Arc::new(AtomicUsize::new(0));
        let per_thread = n(500, 10);
        let spawners: Vec<_> = (0..3)
            .map(|_| {
                let (spawner, ran) = (group.spawner(), Arc::clone(&ran));
                thread::spawn(move || {
                    for i in 0..per_thread {
                        let ran = Arc::clone(&ran);
                        let child = spawner.clone();
                        spawner.spawn(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                            if i % 50 == 0 {
                                // A task adding work may be refused at the limit; never lost.
                                let again = Arc::clone(&ran);
                                if child
                                    .try_spawn(move || {
                                        again.fetch_add(1, Ordering::SeqCst);
                                    })
                                    .is_err()
                                {
                                    ran.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        });
                    }
                })
            })
            .collect();
        for s in spawners {
            s.join().unwrap();
        }
        group.wait();
        let extra = 3 * per_thread.div_ceil(50);
        assert_eq!(ran.load(Ordering::SeqCst), 3 * per_thread + extra);
    }
}

/// Groups one after another reuse the same idle workers (they are not started anew per group,
/// and a group never has more at once than its limit).
#[test]
fn back_to_back_groups_share_workers() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    for _ in 0..n(50, 3) {
        let group = Group::new().limit(2);
        for _ in 0..4 {
            let threads = Arc::clone(&threads);
            group.spawn(move || {
                threads.lock().unwrap().insert(thread::current().id());
            });
        }
        assert!(group.workers() <= 2);
        group.wait();
    }
    let distinct = threads.lock().unwrap().len();
    assert!(distinct >= 1);
    if !cfg!(miri) {
        // Other tests of this binary run at the same time and take idle workers too; 50
        // groups that each started their own would be far above this.
        assert!(
            distinct < 50,
            "{distinct} distinct worker threads for 50 groups"
        );
    }
}

/// A limited group whose spawner blocks at the limit, while another thread waits: the wait
/// returns only once the blocked spawn's task has run too.
#[test]
fn wait_covers_a_spawn_blocked_at_the_limit() {
    let group = Group::new().limit(1);
    let spawner = group.spawner();
    let (release, held) = std::sync::mpsc::channel::<()>();
    group.spawn(move || held.recv().unwrap());
    let ran = Arc::new(AtomicUsize::new(0));
    let blocked = {
        let ran = Arc::clone(&ran);
        thread::spawn(move || {
            spawner.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        })
    };
    thread::sleep(Duration::from_millis(10));
    release.send(()).unwrap();
    blocked.join().unwrap();
    group.wait();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// The groups can cross `catch_unwind` (`catch_unwind(move || group.wait())`), whatever the
/// pool under them is built from.
#[test]
fn groups_are_unwind_safe() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Group>();
    unwind_safe::<headcount::Spawner>();
    unwind_safe::<ErrGroup<String>>();
    unwind_safe::<headcount::ResultGroup<u32>>();
    let group = Group::new();
    group.spawn(|| panic!("boom"));
    assert!(quietly(|| panic::catch_unwind(move || group.wait())).is_err());
}

/// Tasks that run one after the other, each spawned once the one before has ended: the
/// high-water mark is 1 and `in_flight` drops to 0 between them, with or without a limit
/// (a spawner checks the limit against a finished count it read earlier; the mark and
/// `in_flight` must not take that bound for the truth).
#[test]
fn one_task_at_a_time_is_one_in_flight() {
    for group in [Group::new(), Group::new().limit(8)] {
        for _ in 0..n(200, 20) {
            let (done, ended) = std::sync::mpsc::channel();
            group.spawn(move || done.send(()).unwrap());
            ended.recv().unwrap();
            until(|| group.in_flight() == 0);
        }
        assert_eq!(group.max_in_flight(), 1);
        group.wait();
    }
}

/// Two threads spawn many short tasks at limit 3: the spawners share the limit (never more
/// than 3 tasks in flight, nor running by the tasks' own count), and every task runs.
#[test]
fn two_spawners_share_the_limit() {
    let group = Group::new().limit(3);
    let spawner = group.spawner();
    let running = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let task = {
        let (running, high, ran) = (running.clone(), high.clone(), ran.clone());
        move || {
            let (running, high, ran) = (running.clone(), high.clone(), ran.clone());
            move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_micros(200));
                running.fetch_sub(1, Ordering::SeqCst);
                ran.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let tasks = n(200, 20);
    let other = {
        let task = task.clone();
        thread::spawn(move || {
            for _ in 0..tasks {
                spawner.spawn(task());
            }
        })
    };
    for _ in 0..tasks {
        group.spawn(task());
        let in_flight = group.in_flight();
        assert!(in_flight <= 3, "{in_flight} in flight, limit 3");
    }
    other.join().unwrap();
    assert!(group.max_in_flight() <= 3, "{}", group.max_in_flight());
    group.wait();
    assert!((1..=3).contains(&high.load(Ordering::SeqCst)));
    assert_eq!(ran.load(Ordering::SeqCst), 2 * tasks);
}
