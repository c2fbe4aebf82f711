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
//! The baseline and the timing skeletons are in `harness/`, shared with `headcount-bench`.
//!
//! Run: `cargo bench -p headcount --bench wait_group`.

mod harness;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::sync::WaitGroup as CrossbeamWaitGroup;
use headcount::WaitGroup;

use harness::{hammer, ping_pong, ping_pong_crossbeam, CondvarWaitGroup};

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

fn wake_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake_latency");
    // Half of each round trip: one wake-up per iteration.
    group.bench_function(HEADCOUNT, |b| {
        b.iter_custom(|n| ping_pong::<WaitGroup>(n) / 2);
    });
    group.bench_function(BenchmarkId::new(CROSSBEAM, "fresh pair per round"), |b| {
        b.iter_custom(|n| ping_pong_crossbeam(n) / 2);
    });
    group.bench_function(CONDVAR, |b| {
        b.iter_custom(|n| ping_pong::<CondvarWaitGroup>(n) / 2);
    });
    group.finish();
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
