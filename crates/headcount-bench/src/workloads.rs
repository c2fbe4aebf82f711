//! The workloads W1–W7 and CPU, each with its rows: headcount first, then its peers,
//! each used the way its documentation shows.

use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::baselines::{AtomicParkWaitGroup, CondvarSemaphore};
use crate::harness::{hammer, ping_pong, ping_pong_crossbeam, CondvarWaitGroup, CountingGroup};
use crate::model::{Case, Pace, Target, Workload};

/// W1.
pub(crate) static W1: Workload = Workload {
    id: "W1",
    title: "uncontended add(1)+done() pair",
    pace: Pace::Micro,
};
/// W2.
pub(crate) static W2: Workload = Workload {
    id: "W2",
    title: "wait() when the counter is already zero",
    pace: Pace::Micro,
};
/// W3.
pub(crate) static W3: Workload = Workload {
    id: "W3",
    title: "two threads hammering one group with add(1)+done() (wall time per pair)",
    pace: Pace::Micro,
};
/// W4.
pub(crate) static W4: Workload = Workload {
    id: "W4",
    title: "wake-up latency: ping-pong over two groups, half the round trip",
    pace: Pace::Micro,
};
/// W5.
pub(crate) static W5: Workload = Workload {
    id: "W5",
    title: "fan-out: 1000 threads (Go: goroutines), each done(), then wait()",
    pace: Pace::Macro,
};
/// W6.
pub(crate) static W6: Workload = Workload {
    id: "W6",
    title: "10,000 items, at most 100 at once (exercise 5: bounded processing)",
    pace: Pace::Macro,
};
/// W7.
pub(crate) static W7: Workload = Workload {
    id: "W7",
    title: "10,000 tokio tasks and an async wait",
    pace: Pace::Macro,
};
/// CPU.
pub(crate) static CPU: Workload = Workload {
    id: "CPU",
    title: "CPU time a waiter burns while blocked (getrusage, per blocked wait)",
    pace: Pace::Cpu,
};

/// Every workload, in table order.
pub(crate) static ALL: [&Workload; 8] = [&W1, &W2, &W3, &W4, &W5, &W6, &W7, &CPU];

/// Tasks in W5.
pub(crate) const FAN_OUT: usize = 1000;
/// Items in W6 and tasks in W7.
pub(crate) const ITEMS: u64 = 10_000;
/// The bound of W6.
pub(crate) const LIMIT: usize = 100;

/// Peer names used in several workloads.
pub(crate) mod name {
    pub(crate) const HEADCOUNT: &str = "headcount WaitGroup";
    pub(crate) const CROSSBEAM: &str = "crossbeam-utils WaitGroup";
    pub(crate) const WG: &str = "wg::WaitGroup";
    pub(crate) const WG_FUTURE: &str = "wg::future::WaitGroup";
    pub(crate) const CONDVAR: &str = "Mutex<usize>+Condvar";
    pub(crate) const ATOMIC_PARK: &str = "AtomicU64+park (Go's algorithm)";
    pub(crate) const SCOPE: &str = "std::thread::scope";
    pub(crate) const TASK_TRACKER: &str = "tokio-util TaskTracker";
    pub(crate) const JOIN_SET: &str = "tokio JoinSet";
}

/// What the workloads need from the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long the CPU workload's waiter stays blocked.
    pub(crate) block: Duration,
}

/// Builds every row of the selected workloads.
pub(crate) fn build(settings: Settings, selected: &dyn Fn(&Workload) -> bool) -> Vec<Case> {
    let mut cases = Vec::new();
    if selected(&W1) {
        cases.extend(w1());
    }
    if selected(&W2) {
        cases.extend(w2());
    }
    if selected(&W3) {
        cases.extend(w3());
    }
    if selected(&W4) {
        cases.extend(w4());
    }
    if selected(&W5) {
        cases.extend(w5());
    }
    if selected(&W6) {
        cases.extend(w6());
    }
    if selected(&W7) {
        cases.extend(w7());
    }
    if selected(&CPU) {
        cases.extend(cpu(settings.block));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// Timing skeletons.

/// `n` calls of `op` on one thread.
fn serial<S>(state: &S, n: u64, op: impl Fn(&S)) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        op(black_box(state));
    }
    start.elapsed()
}

/// Polls a future once with a no-op waker; it must be ready.
fn poll_ready<F: std::future::Future>(future: F) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        matches!(future.as_mut().poll(&mut cx), Poll::Ready(_)),
        "a wait at zero must be ready at once"
    );
}

/// `n` executions of `once`.
pub(crate) fn repeat(n: u64, mut once: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        once();
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------------
// W1–W3: the operations themselves.

fn w1() -> Vec<Case> {
    let w = &W1;
    vec![
        Case::rust(
            w,
            name::HEADCOUNT,
            Box::new(|n| {
                let group = headcount::WaitGroup::new();
                serial(&group, n, |g| {
                    g.add(1);
                    g.done();
                })
            }),
        )
        .subject(),
        Case::go(w, "W1AddDone").target(Target::RatioAtMost(1.05)),
        Case::rust(
            w,
            format!("{} (clone+drop)", name::CROSSBEAM),
            Box::new(|n| {
                let group = crossbeam_utils::sync::WaitGroup::new();
                serial(&group, n, |g| drop(black_box(g.clone())))
            }),
        )
        .target(Target::RatioAtMost(0.6)),
        Case::rust(
            w,
            format!("{} (add(1) handle, done)", name::WG),
            Box::new(|n| {
                let group = wg::WaitGroup::new();
                serial(&group, n, |g| {
                    let task = g.add(1);
                    task.done();
                })
            }),
        ),
        Case::rust(
            w,
            format!("{} (add(1) handle, done)", name::WG_FUTURE),
            Box::new(|n| {
                let group = wg::future::WaitGroup::new();
                serial(&group, n, |g| {
                    let task = g.add(1);
                    task.done();
                })
            }),
        ),
        Case::rust(
            w,
            name::CONDVAR,
            Box::new(|n| serial(&CondvarWaitGroup::default(), n, pair)),
        ),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            Box::new(|n| serial(&AtomicParkWaitGroup::default(), n, pair)),
        ),
        Case::rust(
            w,
            format!("{} (token+drop)", name::TASK_TRACKER),
            Box::new(|n| {
                let tracker = tokio_util::task::TaskTracker::new();
                serial(&tracker, n, |t| drop(black_box(t.token())))
            }),
        ),
    ]
}

#[inline]
fn pair<G: CountingGroup>(group: &G) {
    group.add_one();
    group.done_one();
}

fn w2() -> Vec<Case> {
    let w = &W2;
    vec![
        Case::rust(
            w,
            format!("{} (wait)", name::HEADCOUNT),
            Box::new(|n| serial(&headcount::WaitGroup::new(), n, |g| g.wait())),
        )
        .subject(),
        Case::go(w, "W2WaitAtZero").target(Target::RatioAtMost(1.1)),
        Case::rust(
            w,
            format!("{} (wait_async, polled once)", name::HEADCOUNT),
            Box::new(|n| {
                serial(&headcount::WaitGroup::new(), n, |g| {
                    poll_ready(g.wait_async());
                })
            }),
        ),
        Case::rust(
            w,
            format!("{} (new()+wait(): wait consumes it)", name::CROSSBEAM),
            Box::new(|n| repeat(n, || crossbeam_utils::sync::WaitGroup::new().wait())),
        ),
        Case::rust(
            w,
            name::WG,
            Box::new(|n| serial(&wg::WaitGroup::new(), n, |g| g.wait())),
        ),
        Case::rust(
            w,
            format!("{} (wait().await, polled once)", name::WG_FUTURE),
            Box::new(|n| {
                serial(&wg::future::WaitGroup::new(), n, |g| {
                    poll_ready(g.wait());
                })
            }),
        ),
        Case::rust(
            w,
            name::CONDVAR,
            Box::new(|n| serial(&CondvarWaitGroup::default(), n, |g| g.wait())),
        ),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            Box::new(|n| serial(&AtomicParkWaitGroup::default(), n, |g| g.wait())),
        ),
        Case::rust(
            w,
            format!("{} (closed, empty; wait polled once)", name::TASK_TRACKER),
            Box::new(|n| {
                let tracker = tokio_util::task::TaskTracker::new();
                tracker.close();
                serial(&tracker, n, |t| poll_ready(t.wait()))
            }),
        ),
    ]
}

fn w3() -> Vec<Case> {
    let w = &W3;
    vec![
        Case::rust(
            w,
            name::HEADCOUNT,
            Box::new(|n| hammer(&headcount::WaitGroup::new(), n, pair)),
        )
        .subject(),
        Case::go(w, "W3Hammer").target(Target::RatioAtMost(1.0)),
        Case::rust(
            w,
            format!("{} (clone+drop)", name::CROSSBEAM),
            Box::new(|n| {
                hammer(&crossbeam_utils::sync::WaitGroup::new(), n, |g| {
                    drop(black_box(g.clone()));
                })
            }),
        ),
        Case::rust(
            w,
            format!("{} (add(1) handle, done)", name::WG),
            Box::new(|n| {
                hammer(&wg::WaitGroup::new(), n, |g| {
                    let task = g.add(1);
                    task.done();
                })
            }),
        ),
        Case::rust(
            w,
            format!("{} (add(1) handle, done)", name::WG_FUTURE),
            Box::new(|n| {
                hammer(&wg::future::WaitGroup::new(), n, |g| {
                    let task = g.add(1);
                    task.done();
                })
            }),
        ),
        Case::rust(
            w,
            name::CONDVAR,
            Box::new(|n| hammer(&CondvarWaitGroup::default(), n, pair)),
        ),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            Box::new(|n| hammer(&AtomicParkWaitGroup::default(), n, pair)),
        ),
        Case::rust(
            w,
            format!("{} (token+drop)", name::TASK_TRACKER),
            Box::new(|n| {
                hammer(&tokio_util::task::TaskTracker::new(), n, |t| {
                    drop(black_box(t.token()));
                })
            }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// W4: wake-up latency.

fn w4() -> Vec<Case> {
    let w = &W4;
    vec![
        Case::rust(
            w,
            name::HEADCOUNT,
            Box::new(ping_pong::<headcount::WaitGroup>),
        )
        .subject()
        .divisor(2.0),
        Case::go(w, "W4PingPong").divisor(2.0),
        Case::rust(
            w,
            format!("{} (a fresh pair per round)", name::CROSSBEAM),
            Box::new(ping_pong_crossbeam),
        )
        .divisor(2.0),
        Case::rust(w, name::WG, Box::new(ping_pong::<wg::WaitGroup>)).divisor(2.0),
        Case::rust(w, name::CONDVAR, Box::new(ping_pong::<CondvarWaitGroup>))
            .divisor(2.0)
            .target(Target::RatioAtMost(0.1)),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            Box::new(ping_pong::<AtomicParkWaitGroup>),
        )
        .divisor(2.0),
    ]
}

// ---------------------------------------------------------------------------------------------
// W5: fan-out over threads.

fn fan_out_generic<G: CountingGroup>(n: u64) -> Duration {
    repeat(n, || {
        let group = Arc::new(G::fresh());
        for _ in 0..FAN_OUT {
            group.add_one();
            let group = Arc::clone(&group);
            thread::spawn(move || group.done_one());
        }
        group.wait_zero();
    })
}

fn w5() -> Vec<Case> {
    let w = &W5;
    vec![
        Case::rust(
            w,
            format!("{} (go)", name::HEADCOUNT),
            Box::new(|n| {
                repeat(n, || {
                    let group = Arc::new(headcount::WaitGroup::new());
                    for _ in 0..FAN_OUT {
                        group.go(|| {});
                    }
                    group.wait();
                })
            }),
        )
        .subject(),
        Case::go(w, "W5FanOut")
            .label("Go sync.WaitGroup (goroutines)")
            .target(Target::RowRatioAtMost(crate::groups::W5_GROUP, 1.0)),
        crate::groups::fan_out_group_case(w),
        crate::groups::fan_out_rayon_case(w),
        Case::rust(
            w,
            format!("{} (clone per thread)", name::CROSSBEAM),
            Box::new(|n| {
                repeat(n, || {
                    let group = crossbeam_utils::sync::WaitGroup::new();
                    for _ in 0..FAN_OUT {
                        let task = group.clone();
                        thread::spawn(move || drop(task));
                    }
                    group.wait();
                })
            }),
        ),
        Case::rust(
            w,
            name::WG,
            Box::new(|n| {
                repeat(n, || {
                    let group = wg::WaitGroup::new();
                    for _ in 0..FAN_OUT {
                        let task = group.add(1);
                        thread::spawn(move || {
                            task.done();
                        });
                    }
                    group.wait();
                })
            }),
        ),
        Case::rust(
            w,
            name::CONDVAR,
            Box::new(fan_out_generic::<CondvarWaitGroup>),
        ),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            Box::new(fan_out_generic::<AtomicParkWaitGroup>),
        ),
        Case::rust(
            w,
            format!("{} (joins every thread)", name::SCOPE),
            Box::new(|n| {
                repeat(n, || {
                    thread::scope(|s| {
                        for _ in 0..FAN_OUT {
                            s.spawn(|| {});
                        }
                    });
                })
            }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// W6: bounded concurrency.

/// The work of one item: fold it into a checksum.
#[inline]
pub(crate) fn process(item: u64, sum: &AtomicU64) {
    sum.fetch_add(black_box(item), Ordering::Relaxed);
}

/// Asserts every item was processed exactly once.
pub(crate) fn check_sum(sum: &AtomicU64) {
    assert_eq!(
        sum.load(Ordering::Relaxed),
        ITEMS * (ITEMS - 1) / 2,
        "every item must be processed exactly once"
    );
}

fn w6() -> Vec<Case> {
    let w = &W6;
    let mut cases = vec![crate::groups::bounded_group_case(w).subject()];
    cases.push(
        Case::go(w, "W6Bounded")
            .label("Go goroutines + semaphore channel + WaitGroup")
            .target(Target::RatioAtMost(1.0)),
    );
    cases.push(crate::groups::bounded_rayon_case(w));
    cases.push(crate::groups::bounded_group_scope_case(w));
    cases.push(crate::groups::bounded_group_arc_case(w));
    cases.push(Case::rust(
        w,
        format!("a thread per item + semaphore({LIMIT}) + {}", name::SCOPE),
        Box::new(|n| {
            repeat(n, || {
                let sum = AtomicU64::new(0);
                let semaphore = CondvarSemaphore::new(LIMIT);
                thread::scope(|s| {
                    for item in 0..ITEMS {
                        semaphore.acquire();
                        let (sum, semaphore) = (&sum, &semaphore);
                        s.spawn(move || {
                            process(item, sum);
                            semaphore.release();
                        });
                    }
                });
                check_sum(&sum);
            })
        }),
    ));
    cases.push(Case::rust(
        w,
        format!(
            "a {LIMIT}-thread pool over a shared index ({})",
            name::SCOPE
        ),
        Box::new(|n| {
            repeat(n, || {
                let sum = AtomicU64::new(0);
                let next = AtomicUsize::new(0);
                thread::scope(|s| {
                    for _ in 0..LIMIT {
                        s.spawn(|| loop {
                            let item = next.fetch_add(1, Ordering::Relaxed) as u64;
                            if item >= ITEMS {
                                break;
                            }
                            process(item, &sum);
                        });
                    }
                });
                check_sum(&sum);
            })
        }),
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// W7: async.

/// The multi-thread tokio runtime every W7 row shares (as `#[tokio::main]` builds it).
fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .build()
            .expect("a tokio runtime"),
    )
}

fn w7() -> Vec<Case> {
    let w = &W7;
    let rt = runtime();
    let mut cases = vec![crate::groups::async_group_case(w, Arc::clone(&rt)).subject()];
    cases.push(Case::go(w, "W7Goroutines").label("Go goroutines + WaitGroup (reference)"));
    let on = Arc::clone(&rt);
    cases.push(Case::rust(
        w,
        format!(
            "{} (enter_owned + tokio::spawn + wait_async)",
            name::HEADCOUNT
        ),
        Box::new(move |n| {
            repeat(n, || {
                on.block_on(async {
                    let sum = Arc::new(AtomicU64::new(0));
                    let group = Arc::new(headcount::WaitGroup::new());
                    for item in 0..ITEMS {
                        let guard = group.enter_owned();
                        let sum = Arc::clone(&sum);
                        tokio::spawn(async move {
                            process(item, &sum);
                            drop(guard);
                        });
                    }
                    group.wait_async().await;
                    check_sum(&sum);
                });
            })
        }),
    ));
    let on = Arc::clone(&rt);
    cases.push(
        Case::rust(
            w,
            name::TASK_TRACKER,
            Box::new(move |n| {
                repeat(n, || {
                    on.block_on(async {
                        let sum = Arc::new(AtomicU64::new(0));
                        let tracker = tokio_util::task::TaskTracker::new();
                        for item in 0..ITEMS {
                            let sum = Arc::clone(&sum);
                            tracker.spawn(async move { process(item, &sum) });
                        }
                        tracker.close();
                        tracker.wait().await;
                        check_sum(&sum);
                    });
                })
            }),
        )
        .target(Target::RatioAtMost(1.0)),
    );
    let on = Arc::clone(&rt);
    cases.push(Case::rust(
        w,
        format!("{} (join_all)", name::JOIN_SET),
        Box::new(move |n| {
            repeat(n, || {
                on.block_on(async {
                    let sum = Arc::new(AtomicU64::new(0));
                    let mut set = tokio::task::JoinSet::new();
                    for item in 0..ITEMS {
                        let sum = Arc::clone(&sum);
                        set.spawn(async move { process(item, &sum) });
                    }
                    set.join_all().await;
                    check_sum(&sum);
                });
            })
        }),
    ));
    let on = rt;
    cases.push(Case::rust(
        w,
        format!("{} (add(1) handle + tokio::spawn)", name::WG_FUTURE),
        Box::new(move |n| {
            repeat(n, || {
                on.block_on(async {
                    let sum = Arc::new(AtomicU64::new(0));
                    let group = wg::future::WaitGroup::new();
                    for item in 0..ITEMS {
                        let task = group.add(1);
                        let sum = Arc::clone(&sum);
                        tokio::spawn(async move {
                            process(item, &sum);
                            task.done();
                        });
                    }
                    group.wait().await;
                    check_sum(&sum);
                });
            })
        }),
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// CPU: a blocked waiter's cost.

/// The CPU time (user + system) of the calling thread, from `getrusage(RUSAGE_THREAD)`.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD is supported on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD) failed");
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Blocks a waiter thread for `block` and returns the CPU time it used while in `wait`.
#[cfg(target_os = "linux")]
fn blocked_waiter(
    block: Duration,
    wait: impl FnOnce() + Send + 'static,
    release: impl FnOnce(),
) -> Duration {
    let started = Arc::new(std::sync::Barrier::new(2));
    let waiter = {
        let started = Arc::clone(&started);
        thread::spawn(move || {
            started.wait();
            let before = thread_cpu_time();
            wait();
            thread_cpu_time() - before
        })
    };
    started.wait();
    thread::sleep(block);
    release();
    waiter.join().expect("the waiter panicked")
}

#[cfg(target_os = "linux")]
fn blocked_generic<G: CountingGroup>(block: Duration) -> crate::model::RunFn {
    Box::new(move |n| {
        let mut total = Duration::ZERO;
        for _ in 0..n {
            let group = Arc::new(G::fresh());
            group.add_one();
            let waiter = Arc::clone(&group);
            total += blocked_waiter(block, move || waiter.wait_zero(), || group.done_one());
        }
        total
    })
}

#[cfg(target_os = "linux")]
fn cpu(block: Duration) -> Vec<Case> {
    let w = &CPU;
    let go = Case::go(w, "CPUBlockedWaiter").label("Go sync.WaitGroup (whole process)");
    let go = match go.runner {
        crate::model::Runner::Go { bench, .. } => Case {
            runner: crate::model::Runner::Go {
                bench,
                metric: "cpu-ns/op",
                benchtime: Some("1x"),
            },
            ..go
        },
        _ => go,
    };
    vec![
        Case::rust(
            w,
            name::HEADCOUNT,
            blocked_generic::<headcount::WaitGroup>(block),
        )
        .subject()
        .target(Target::BelowFractionOfBlock(0.01)),
        go,
        Case::rust(
            w,
            name::CROSSBEAM,
            Box::new(move |n| {
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    let group = crossbeam_utils::sync::WaitGroup::new();
                    let task = group.clone();
                    total += blocked_waiter(block, move || group.wait(), || drop(task));
                }
                total
            }),
        ),
        Case::rust(w, name::WG, blocked_generic::<wg::WaitGroup>(block)),
        Case::rust(
            w,
            format!("{} (wait_blocking)", name::WG_FUTURE),
            blocked_generic::<wg::future::WaitGroup>(block),
        ),
        Case::rust(w, name::CONDVAR, blocked_generic::<CondvarWaitGroup>(block)),
        Case::rust(
            w,
            name::ATOMIC_PARK,
            blocked_generic::<AtomicParkWaitGroup>(block),
        ),
    ]
}

#[cfg(not(target_os = "linux"))]
fn cpu(_block: Duration) -> Vec<Case> {
    let mut case = Case::go(&CPU, "CPUBlockedWaiter").label(name::HEADCOUNT);
    case.runner = crate::model::Runner::NotRun("not run: needs getrusage(RUSAGE_THREAD)".into());
    vec![case.subject()]
}
