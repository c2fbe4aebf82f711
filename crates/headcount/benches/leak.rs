//! What the leak checker costs a `go` spawn: nothing until the first `LeakCheck` of the process.
//!
//! Rows of `leak/go_join`, in this order in one run (the checker is switched on for good by the
//! first `LeakCheck`, so the order matters):
//!
//! - `std::thread::spawn`: spawn and join an empty thread, the floor every `go` pays;
//! - `unused`: `WaitGroup::go` and join, before any `LeakCheck` exists (no registration);
//! - `checking`: the same after a `LeakCheck` was created (every task is registered in the
//!   checker's registry when spawned and unregistered when it ends).
//!
//! `unused` should match `std::thread::spawn` plus an `add`/`done` pair; `checking` shows what
//! tracking costs. A thread spawn takes tens of microseconds, so these rows mostly show that
//! nothing got worse; the next group shows the registry's cost undiluted.
//!
//! `leak/add_done` (the same order): an `add(1)`+`done()` pair on a plain thread. With the
//! `diagnostics` feature the checker also tracks every thread that releases a count, so while
//! it is in use each `done` updates its registry; `unused` must stay at the cost of the pair.
//! Without the feature both rows are the same code.
//!
//! Run: `cargo bench -p headcount --bench leak`, and again with `--features diagnostics`.

use std::hint::black_box;
use std::sync::Arc;
use std::thread;

use criterion::{criterion_main, Criterion};
use headcount::leak::LeakCheck;
use headcount::WaitGroup;

/// The rows before the first `LeakCheck`; the returned check switches tracking on.
fn unused(c: &mut Criterion, wg: &Arc<WaitGroup>) -> LeakCheck {
    let mut group = c.benchmark_group("leak/go_join");
    group.bench_function("std::thread::spawn", |b| {
        b.iter(|| thread::spawn(|| black_box(())).join().unwrap());
    });
    group.bench_function("unused", |b| {
        b.iter(|| wg.go(|| black_box(())).join().unwrap());
    });
    group.finish();
    let mut group = c.benchmark_group("leak/add_done");
    group.bench_function("unused", |b| {
        b.iter(|| {
            let wg = black_box(&**wg);
            wg.add(1);
            wg.done();
        });
    });
    group.finish();
    LeakCheck::new()
}

/// The same rows while a `LeakCheck` is in use.
fn checking(c: &mut Criterion, wg: &Arc<WaitGroup>) {
    let mut group = c.benchmark_group("leak/go_join");
    group.bench_function("checking", |b| {
        b.iter(|| wg.go(|| black_box(())).join().unwrap());
    });
    group.finish();
    let mut group = c.benchmark_group("leak/add_done");
    group.bench_function("checking", |b| {
        b.iter(|| {
            let wg = black_box(&**wg);
            wg.add(1);
            wg.done();
        });
    });
    group.finish();
}

/// Every bench of this file.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    let wg = Arc::new(WaitGroup::new());
    let check = unused(&mut criterion, &wg);
    checking(&mut criterion, &wg);
    check.check().expect("every task was joined");
    criterion.final_summary();
}

criterion_main!(benches);
