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
//!
//! On a busy machine the time of a thread spawn varies more than the checker costs. For a
//! figure that does not depend on the load, count instructions: with `HEADCOUNT_LEAK_COUNT`
//! set to `<unused|checking> <go|spawn|add_done|none> <n>` the bench does only that, `n`
//! times, and exits; run it under `valgrind --tool=callgrind` and divide the difference to the
//! `none` run by `n` (`cargo bench -p headcount --bench leak --no-run` prints the binary):
//!
//! ```text
//! HEADCOUNT_LEAK_COUNT="unused go 1000" valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null target/release/deps/leak-…
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::thread;

use criterion::Criterion;
use headcount::leak::LeakCheck;
use headcount::WaitGroup;

/// The `go_join` and `add_done` rows named `row`.
fn rows(c: &mut Criterion, wg: &Arc<WaitGroup>, row: &str) {
    c.benchmark_group("leak/go_join").bench_function(row, |b| {
        b.iter(|| wg.go(|| black_box(())).join().unwrap());
    });
    c.benchmark_group("leak/add_done").bench_function(row, |b| {
        b.iter(|| {
            let wg = black_box(&**wg);
            wg.add(1);
            wg.done();
        });
    });
}

/// The values `HEADCOUNT_LEAK_COUNT` takes.
const USAGE: &str = "HEADCOUNT_LEAK_COUNT=\"<unused|checking> <go|spawn|add_done|none> <n>\"";

/// [`USAGE`]: that work alone, for an instruction count (module docs).
fn fixed_work(spec: &str) {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [mode, work, n] = words[..] else {
        panic!("expected {USAGE}, got {spec:?}");
    };
    let Ok(n) = n.parse::<usize>() else {
        panic!("expected {USAGE}: {n:?} is not a count");
    };
    let check = match mode {
        "unused" => None,
        "checking" => Some(LeakCheck::new()),
        _ => panic!("expected {USAGE}: unknown mode {mode:?}"),
    };
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..n {
        match work {
            "go" => wg.go(|| black_box(())).join().unwrap(),
            "spawn" => thread::spawn(|| black_box(())).join().unwrap(),
            "add_done" => {
                black_box(&*wg).add(1);
                black_box(&*wg).done();
            }
            "none" => {}
            _ => panic!("expected {USAGE}: unknown work {work:?}"),
        }
    }
    if let Some(check) = check {
        check.check().expect("every task was joined");
    }
}

/// Every bench of this file.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion
        .benchmark_group("leak/go_join")
        .bench_function("std::thread::spawn", |b| {
            b.iter(|| thread::spawn(|| black_box(())).join().unwrap());
        });
    let wg = Arc::new(WaitGroup::new());
    rows(&mut criterion, &wg, "unused");
    let check = LeakCheck::new(); // from here on every spawn is tracked
    rows(&mut criterion, &wg, "checking");
    check.check().expect("every task was joined");
    criterion.final_summary();
}

/// `criterion_main!`, written out: the instruction count needs a run without criterion.
fn main() {
    match std::env::var("HEADCOUNT_LEAK_COUNT") {
        Ok(spec) => fixed_work(&spec),
        Err(_) => benches(),
    }
}
