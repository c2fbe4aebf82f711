//! The `diagnostics` feature costs nothing when it is off.
//!
//! Run twice and compare the `off` and `on` rows:
//!
//! ```text
//! cargo bench -p headcount --bench diagnostics
//! cargo bench -p headcount --bench diagnostics --features diagnostics
//! ```
//!
//! Without the feature the hooks are empty `#[inline(always)]` functions over zero-sized types,
//! so `add`+`done`, an `enter` guard and `wait` at zero must match the core bench
//! (`benches/wait_group.rs`) and the plain-atomic reference measured in the same run; with it,
//! every `add`/`done` pays a (sharded) registry update. The benchmark ids carry `off`/`on`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_main, Criterion};
use headcount::WaitGroup;

/// `off` or `on`: which build this is.
const FEATURE: &str = if cfg!(feature = "diagnostics") {
    "on"
} else {
    "off"
};

fn add_done(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnostics/add_done");
    let wg = WaitGroup::new();
    group.bench_function(FEATURE, |b| {
        b.iter(|| {
            let wg = black_box(&wg);
            wg.add(1);
            wg.done();
        });
    });
    // The floor, in the same run: one atomic increment and one decrement.
    let counter = AtomicU64::new(0);
    group.bench_function("atomic-reference", |b| {
        b.iter(|| {
            let c = black_box(&counter);
            c.fetch_add(1, Ordering::Relaxed);
            c.fetch_sub(1, Ordering::AcqRel);
        });
    });
    group.finish();
}

fn enter_guard(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnostics/enter_drop");
    let wg = WaitGroup::new();
    group.bench_function(FEATURE, |b| b.iter(|| drop(black_box(&wg).enter())));
    group.finish();
}

fn wait_at_zero(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnostics/wait_at_zero");
    let wg = WaitGroup::new();
    group.bench_function(FEATURE, |b| b.iter(|| black_box(&wg).wait()));
    group.finish();
}

/// Every bench of this file.
fn benches() {
    // Not a timing: the group stays 16 bytes with or without the feature.
    assert_eq!(std::mem::size_of::<WaitGroup>(), 16);
    let mut criterion = Criterion::default().configure_from_args();
    add_done(&mut criterion);
    enter_guard(&mut criterion);
    wait_at_zero(&mut criterion);
    criterion.final_summary();
}

criterion_main!(benches);
