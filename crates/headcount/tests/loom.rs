//! loom models of the WaitGroup's interleavings. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p headcount --test loom --release`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;

use headcount::WaitGroup;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// add/done/wait: the tasks' (Relaxed) writes are visible after `wait`, and `wait` returns.
#[test]
fn add_done_wait_happens_before() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        let data = Arc::new(AtomicUsize::new(0));
        wg.add(2);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (wg, data) = (wg.clone(), data.clone());
                thread::spawn(move || {
                    data.fetch_add(1, Relaxed);
                    wg.done();
                })
            })
            .collect();
        wg.wait();
        assert_eq!(
            data.load(Relaxed),
            2,
            "wait returned before both tasks were done"
        );
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// Two blocking waiters and one `done`: both are released (no lost wake-up).
#[test]
fn two_waiters_one_done() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        let data = Arc::new(AtomicUsize::new(0));
        wg.add(1);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (wg, data) = (wg.clone(), data.clone());
                thread::spawn(move || {
                    wg.wait();
                    assert_eq!(data.load(Relaxed), 1);
                })
            })
            .collect();
        data.store(1, Relaxed);
        wg.done();
        for w in waiters {
            w.join().unwrap();
        }
    });
}

/// A timed wait racing the last `done`: `true` means the task's write is visible; `false`
/// leaves no trace, so a later blocking wait (after reuse) is still released.
#[test]
fn timeout_races_last_done() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        let data = Arc::new(AtomicUsize::new(0));
        wg.add(1);
        let t = {
            let (wg, data) = (wg.clone(), data.clone());
            thread::spawn(move || {
                data.store(1, Relaxed);
                wg.done();
            })
        };
        if wg.wait_timeout(Duration::from_millis(1)) {
            assert_eq!(data.load(Relaxed), 1);
        }
        t.join().unwrap();
        assert_eq!(wg.count(), 0);
        // Reuse after a timeout: a blocking waiter is released by the next round's done.
        wg.add(1);
        let w = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        wg.done();
        w.join().unwrap();
    });
}

/// A timed waiter and a blocking waiter at once: the timeout of one must not lose the other.
#[test]
fn timeout_does_not_lose_another_waiter() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let timed = {
            let wg = wg.clone();
            thread::spawn(move || {
                let _ = wg.wait_timeout(Duration::from_millis(1));
            })
        };
        let blocking = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        wg.done();
        timed.join().unwrap();
        blocking.join().unwrap();
    });
}

/// Async waker registration racing `done`, and a pending future dropped concurrently: the
/// live future is woken and resolves; nothing hangs.
#[test]
fn async_registration_races_done_and_drop() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        let data = Arc::new(AtomicUsize::new(0));
        wg.add(1);
        let live = {
            let (wg, data) = (wg.clone(), data.clone());
            thread::spawn(move || {
                loom::future::block_on(wg.wait_async());
                assert_eq!(data.load(Relaxed), 1);
            })
        };
        let dropped = {
            let wg = wg.clone();
            thread::spawn(move || {
                let waker = futures_noop_waker();
                let mut fut = wg.wait_async();
                let _ = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
                drop(fut);
            })
        };
        data.store(1, Relaxed);
        wg.done();
        live.join().unwrap();
        dropped.join().unwrap();
    });
}

/// Reuse: the round's end releases its waiter even when the next round starts at once, and a
/// waiter of the next round is not released early by the first round's (late) wake-up.
#[test]
fn reuse_releases_old_round_and_holds_new_round() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        let second_started = Arc::new(AtomicBool::new(false));
        let second_done = Arc::new(AtomicBool::new(false));
        wg.add(1);
        let first = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        wg.done();
        wg.add(1);
        second_started.store(true, Release);
        let second = {
            let (wg, second_done) = (wg.clone(), second_done.clone());
            thread::spawn(move || {
                wg.wait();
                assert!(
                    second_done.load(Relaxed),
                    "a waiter of round 2 returned before its done"
                );
            })
        };
        second_done.store(true, Relaxed);
        wg.done();
        first.join().unwrap();
        second.join().unwrap();
        assert!(second_started.load(Acquire));
    });
}

/// A sync and an async waiter released by the same `done`.
#[test]
fn sync_and_async_waiters_one_done() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let a = {
            let wg = wg.clone();
            thread::spawn(move || loom::future::block_on(wg.wait_async()))
        };
        let s = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        wg.done();
        a.join().unwrap();
        s.join().unwrap();
    });
}

fn futures_noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}

/// Near the maximum, a `try_add` that overshoots (refused, undone) races a legal `try_add(1)`:
/// the small add is never refused as overflow, whatever the interleaving, and the counter ends
/// where the legal adds put it.
#[test]
fn overshoot_undo_does_not_refuse_a_legal_add() {
    model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(WaitGroup::MAX_COUNT as isize - 1);
        let big = {
            let wg = wg.clone();
            thread::spawn(move || wg.try_add(65536))
        };
        assert_eq!(wg.try_add(1), Ok(()), "a legal add was refused");
        assert!(
            matches!(
                big.join().unwrap(),
                Err(headcount::AddError::Overflow { .. })
            ),
            "the overshooting add is refused"
        );
        assert_eq!(wg.count(), WaitGroup::MAX_COUNT);
    });
}

// ---------------------------------------------------------------------------------------------
// The task groups' worker pool (`src/group/pool.rs`): acquire, submit, worker sleep, close.
// Under loom the pool's workers are model threads, its job queue is a model stand-in, and
// its counters, fences and parking are explored as they ship.

mod pool {
    use super::model;
    use headcount::Group;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
    use loom::sync::Arc;
    use loom::thread;

    /// A job submitted while the only worker goes to sleep: the worker is woken (or never
    /// sleeps), both jobs run, and `wait` returns after both.
    #[test]
    fn pool_submit_races_worker_sleep() {
        model(|| {
            let group = Group::new().limit(1);
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..2 {
                let ran = ran.clone();
                group.spawn(move || {
                    ran.fetch_add(1, Relaxed);
                });
            }
            group.wait();
            assert_eq!(ran.load(Relaxed), 2, "wait returned before both jobs ran");
        });
    }

    /// `spawn` at the limit parks until the running job gives its slot back: never a lost
    /// wake-up, never two jobs in flight at once.
    #[test]
    fn pool_acquire_at_the_limit_is_woken() {
        model(|| {
            let group = Group::new().limit(1);
            let running = Arc::new(AtomicBool::new(false));
            for _ in 0..2 {
                let running = running.clone();
                group.spawn(move || {
                    assert!(!running.swap(true, SeqCst), "two jobs in flight at limit 1");
                    running.store(false, SeqCst);
                });
            }
            assert!(group.max_in_flight() <= 1);
            group.wait();
        });
    }

    /// A `spawn` at the limit runs queued jobs itself (the worker started for them has not
    /// taken them yet): still never more than `limit` jobs running, every job runs once.
    #[test]
    fn pool_blocked_spawn_runs_queued_jobs_within_the_limit() {
        model(|| {
            let group = Group::new().limit(2);
            let running = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..3 {
                let (running, ran) = (running.clone(), ran.clone());
                group.spawn(move || {
                    assert!(
                        running.fetch_add(1, SeqCst) < 2,
                        "three jobs running at limit 2"
                    );
                    running.fetch_sub(1, SeqCst);
                    ran.fetch_add(1, SeqCst);
                });
            }
            group.wait();
            assert_eq!(ran.load(SeqCst), 3);
        });
    }

    /// A spawn from another thread races `wait`'s close: it is either accepted and waited
    /// for, or refused (handed back); never accepted and lost.
    #[test]
    fn pool_spawn_races_close() {
        model(|| {
            let group = Group::new().limit(1);
            let spawner = group.spawner();
            let ran = Arc::new(AtomicBool::new(false));
            let other = {
                let ran = ran.clone();
                thread::spawn(move || spawner.try_spawn(move || ran.store(true, Relaxed)).is_ok())
            };
            group.wait();
            let seen_by_wait = ran.load(Relaxed);
            let accepted = other.join().unwrap();
            assert_eq!(
                accepted, seen_by_wait,
                "accepted: {accepted}, ran before wait returned: {seen_by_wait}"
            );
        });
    }

    /// The limit lowered once the first jobs have ended: workers above it retire (a sleeping
    /// one is woken to do so), and the next job runs within the new limit.
    #[test]
    fn pool_limit_lowered_retires_workers() {
        model(|| {
            let group = Group::new().limit(2);
            for _ in 0..2 {
                group.spawn(|| {});
            }
            while group.in_flight() > 0 {
                thread::yield_now();
            }
            let group = group.limit(1);
            assert!(
                group.workers() <= 1,
                "{} workers after limit(1)",
                group.workers()
            );
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            group.spawn(move || flag.store(true, Relaxed));
            assert!(group.workers() <= 1);
            group.wait();
            assert!(ran.load(Relaxed));
        });
    }

    /// `wait` runs queued jobs itself, as one of the limit's workers, while a job it runs adds
    /// another: the added job is run (by the waiter, or by a worker found when the waiter
    /// leaves the crew), never two jobs beyond the limit at once, and `wait` waits for it.
    #[test]
    fn pool_waiter_helping_leaves_no_job_behind() {
        model(|| {
            let group = Group::new().limit(2);
            let spawner = group.spawner();
            let ran = Arc::new(AtomicUsize::new(0));
            let (first, child) = (ran.clone(), ran.clone());
            group.spawn(move || {
                first.fetch_add(1, Relaxed);
                spawner.spawn(move || {
                    child.fetch_add(1, Relaxed);
                });
            });
            assert!(group.workers() <= 2);
            group.wait();
            assert_eq!(
                ran.load(Relaxed),
                2,
                "wait returned before the added job ran"
            );
        });
    }

    /// Two threads spawn at limit 1: a spawner that last looked at the finished count long
    /// ago (or read another spawner's look at it) still never lets two jobs run at once, and
    /// `wait` waits for both.
    #[test]
    fn pool_two_spawners_share_the_limit() {
        model(|| {
            let group = Group::new().limit(1);
            let spawner = group.spawner();
            let running = Arc::new(AtomicBool::new(false));
            let ran = Arc::new(AtomicUsize::new(0));
            let job = |running: Arc<AtomicBool>, ran: Arc<AtomicUsize>| {
                move || {
                    assert!(!running.swap(true, SeqCst), "two jobs in flight at limit 1");
                    running.store(false, SeqCst);
                    ran.fetch_add(1, Relaxed);
                }
            };
            let other = {
                let job = job(running.clone(), ran.clone());
                thread::spawn(move || spawner.spawn(job))
            };
            group.spawn(job(running.clone(), ran.clone()));
            other.join().unwrap();
            assert!(group.max_in_flight() <= 1);
            group.wait();
            assert_eq!(ran.load(Relaxed), 2, "wait returned before both jobs ran");
        });
    }

    /// A task drops its own group (it cannot wait for itself): the job that ends the last
    /// busy period closes the pool, so the workers leave (a worker left asleep would end the
    /// model as a deadlock) and a later spawn is refused.
    #[test]
    fn pool_group_dropped_by_its_own_task_closes_when_idle() {
        model(|| {
            let group = Group::new().limit(2);
            let spawner = group.spawner();
            let (dropped, ran) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let flag = ran.clone();
            spawner.spawn(move || flag.store(true, Relaxed));
            let done = dropped.clone();
            spawner.spawn(move || {
                drop(group);
                done.store(true, SeqCst);
            });
            while !dropped.load(SeqCst) {
                thread::yield_now();
            }
            // Closed once both jobs have ended: from then on every spawn is refused.
            while !spawner.is_closed() {
                thread::yield_now();
            }
            assert!(spawner.try_spawn(|| ()).is_err());
            assert!(ran.load(Relaxed));
        });
    }

    /// A task adds work through a spawner while `wait` runs: the added job is waited for.
    #[test]
    fn pool_job_added_by_a_job_is_waited_for() {
        model(|| {
            let group = Group::new();
            let spawner = group.spawner();
            let ran = Arc::new(AtomicBool::new(false));
            let child = ran.clone();
            group.spawn(move || spawner.spawn(move || child.store(true, Relaxed)));
            group.wait();
            assert!(ran.load(Relaxed), "wait returned before the added job ran");
        });
    }
}
