//! Criterion benches: the regression guard of the core `WaitGroup`.
//!
//! Every group measures headcount against crossbeam-utils' `WaitGroup` and a
//! `Mutex<usize>`+`Condvar` baseline in the same run, so the ratios are from one run:
//!
//! - `add_done`: an uncontended `add(1)`+`done()` pair (crossbeam: `clone`+`drop`);
//! - `wait_at_zero`: `wait()` when the counter is already zero (crossbeam: `new()`+`wait()`,
//!   since its `wait` consumes the group);
//! - `wake_latency`: ping-pong between two threads over two groups, reported per one-way
//!   wake-up (half the round trip);
//! - `hammer_two_threads`: two threads doing `add(1)`+`done()` on one group, wall time per pair.
//!
//! Targets: `add_done` at most 0.6x crossbeam; `wake_latency` no worse than the
//! `Mutex`+`Condvar` baseline. The side-by-side comparison with Go and the other peers is the
//! `headcount-bench` tool (`cargo run --release -p headcount-bench`).
//!
//! Run: `cargo bench -p headcount --bench wait_group`.

use std::hint::black_box;
use std::sync::{Barrier, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::sync::WaitGroup as CrossbeamWaitGroup;
use headcount::WaitGroup;

/// The textbook baseline: a counter under a mutex, and a condition variable.
#[derive(Debug, Default)]
struct CondvarWaitGroup {
    count: Mutex<usize>,
    zero: Condvar,
}

impl CondvarWaitGroup {
    fn add(&self, delta: isize) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count
            .checked_add_signed(delta)
            .expect("negative WaitGroup counter");
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    fn done(&self) {
        self.add(-1);
    }

    fn wait(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        // Loop: condition variables wake spuriously.
        while *count > 0 {
            count = self
                .zero
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A reusable group for the ping-pong and hammer benches.
trait Reusable: Default + Sync {
    fn add_one(&self);
    fn done_one(&self);
    fn wait_zero(&self);
}

impl Reusable for WaitGroup {
    #[inline]
    fn add_one(&self) {
        self.add(1);
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}

impl Reusable for CondvarWaitGroup {
    #[inline]
    fn add_one(&self) {
        self.add(1);
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}

const HEADCOUNT: &str = "headcount";
const CROSSBEAM: &str = "crossbeam-utils";
const CONDVAR: &str = "mutex+condvar";

fn add_done(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_done");
    let wg = WaitGroup::new();
    group.bench_function(HEADCOUNT, |b| {
        b.iter(|| {
            let wg = black_box(&wg);
            wg.add(1);
            wg.done();
        });
    });
    let crossbeam = CrossbeamWaitGroup::new();
    group.bench_function(CROSSBEAM, |b| {
        b.iter(|| drop(black_box(crossbeam.clone())));
    });
    let condvar = CondvarWaitGroup::default();
    group.bench_function(CONDVAR, |b| {
        b.iter(|| {
            let wg = black_box(&condvar);
            wg.add(1);
            wg.done();
        });
    });
    group.finish();
}

fn wait_at_zero(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_at_zero");
    let wg = WaitGroup::new();
    group.bench_function(HEADCOUNT, |b| b.iter(|| black_box(&wg).wait()));
    group.bench_function(BenchmarkId::new(CROSSBEAM, "new+wait"), |b| {
        b.iter(|| black_box(CrossbeamWaitGroup::new()).wait());
    });
    let condvar = CondvarWaitGroup::default();
    group.bench_function(CONDVAR, |b| b.iter(|| black_box(&condvar).wait()));
    group.finish();
}

/// `rounds` ping-pong round trips over two reusable groups; returns half the elapsed time
/// (one wake-up per iteration).
fn ping_pong<G: Reusable>(rounds: u64) -> Duration {
    let ping = G::default();
    let pong = G::default();
    ping.add_one();
    pong.add_one();
    let ready = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            ready.wait();
            for _ in 0..rounds {
                ping.wait_zero();
                ping.add_one(); // re-armed by its only waiter, after its wait returned
                pong.done_one();
            }
        });
        ready.wait();
        let start = Instant::now();
        for _ in 0..rounds {
            ping.done_one();
            pong.wait_zero();
            pong.add_one();
        }
        start.elapsed() / 2
    })
}

/// Ping-pong with crossbeam's single-use groups: a fresh pair per round, made before the clock
/// starts (its `wait` consumes the group).
fn ping_pong_crossbeam(rounds: u64) -> Duration {
    let rounds = usize::try_from(rounds).expect("round count fits in usize");
    let mut a_side = Vec::with_capacity(rounds);
    let mut b_side = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let ping = CrossbeamWaitGroup::new();
        let pong = CrossbeamWaitGroup::new();
        let pong_clone = pong.clone();
        a_side.push((ping.clone(), pong));
        b_side.push((ping, pong_clone));
    }
    let ready = Barrier::new(2);
    thread::scope(|s| {
        let ready = &ready;
        s.spawn(move || {
            ready.wait();
            for (ping, pong_clone) in b_side {
                ping.wait();
                drop(pong_clone);
            }
        });
        ready.wait();
        let start = Instant::now();
        for (ping_clone, pong) in a_side {
            drop(ping_clone);
            pong.wait();
        }
        start.elapsed() / 2
    })
}

fn wake_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake_latency");
    group.bench_function(HEADCOUNT, |b| b.iter_custom(ping_pong::<WaitGroup>));
    group.bench_function(BenchmarkId::new(CROSSBEAM, "fresh pair per round"), |b| {
        b.iter_custom(ping_pong_crossbeam);
    });
    group.bench_function(CONDVAR, |b| {
        b.iter_custom(ping_pong::<CondvarWaitGroup>);
    });
    group.finish();
}

/// `iters` operations split over two threads started together; wall time.
fn hammer<S: Sync>(state: &S, iters: u64, op: impl Fn(&S) + Sync) -> Duration {
    let per_thread = iters.div_ceil(2);
    let start_line = Barrier::new(2);
    // Each worker stamps its own start and end: a timestamp taken by a third thread could be
    // late when both workers hold the two cores.
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    let start = Instant::now();
                    for _ in 0..per_thread {
                        op(black_box(state));
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("hammer thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two workers");
    let end = spans.iter().map(|s| s.1).max().expect("two workers");
    // Scale to exactly `iters` operations.
    (end - start).mul_f64(iters as f64 / (2 * per_thread) as f64)
}

fn hammer_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("hammer_two_threads");
    group.bench_function(HEADCOUNT, |b| {
        b.iter_custom(|iters| {
            hammer(&WaitGroup::new(), iters, |wg| {
                wg.add(1);
                wg.done();
            })
        });
    });
    group.bench_function(BenchmarkId::new(CROSSBEAM, "clone+drop"), |b| {
        b.iter_custom(|iters| {
            hammer(&CrossbeamWaitGroup::new(), iters, |wg| {
                drop(black_box(wg.clone()));
            })
        });
    });
    group.bench_function(CONDVAR, |b| {
        b.iter_custom(|iters| {
            hammer(&CondvarWaitGroup::default(), iters, |wg| {
                wg.add(1);
                wg.done();
            })
        });
    });
    group.finish();
}

fn config() -> Criterion {
    // A shared 2-core machine: shorter runs, many samples, the same settings for every peer.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Every bench of this file, with [`config`] and the command line's options (what
/// `criterion_group!` expands to, written out so that it carries a doc comment).
fn benches() {
    let mut criterion = config().configure_from_args();
    add_done(&mut criterion);
    wait_at_zero(&mut criterion);
    wake_latency(&mut criterion);
    hammer_two_threads(&mut criterion);
}

criterion_main!(benches);
