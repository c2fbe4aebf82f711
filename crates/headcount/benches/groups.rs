//! Exercise 5, bounded processing, as a benchmark: 10,000 items, at most 100 running at once.
//!
//! - `headcount::Group::limit(100)`: `spawn` per item, reused workers.
//! - `headcount::scope` with a limit, tasks borrowing the items.
//! - `std::thread::scope` + a counting semaphore (Mutex + Condvar), 100 scoped threads taking
//!   items from a shared index: the best plain-std shape (a thread per item would be 10,000
//!   threads).
//! - `std::thread::scope`, a thread per item, each acquiring the semaphore: Go's usual shape
//!   (a goroutine per item) transcribed literally: 10,000 OS threads, the slow baseline.
//! - rayon: `par_iter` over the items on a pool of 100 threads (a data-parallel fit, not a
//!   task group), and `rayon::scope` on the global pool, a `spawn` per item (the task-group
//!   shape; its pool of one thread per core bounds it).
//!
//! Also `fan_out`: 1,000 empty tasks on a `Group` and on `rayon::scope`.
//!
//! Go's version is `go/bounded` (`go test -bench .`). Run:
//! `cargo bench -p headcount --bench groups` (it then runs `go test -bench` in `go/bounded` and
//! prints the ratio; `HEADCOUNT_BENCH_GO=0` skips that).
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rayon::prelude::*;

const ITEMS: usize = 10_000;
const LIMIT: usize = 100;

/// The work for one item; `go/bounded/main.go`'s `process` does the same arithmetic.
#[inline(never)]
fn process(item: u64) -> u64 {
    let mut x = item | 1;
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// A counting semaphore from a `Mutex` and a `Condvar`.
struct Semaphore {
    permits: Mutex<usize>,
    freed: Condvar,
}

impl Semaphore {
    fn new(permits: usize) -> Self {
        Semaphore {
            permits: Mutex::new(permits),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut permits = self.permits.lock().unwrap();
        while *permits == 0 {
            permits = self.freed.wait(permits).unwrap();
        }
        *permits -= 1;
    }

    fn release(&self) {
        *self.permits.lock().unwrap() += 1;
        self.freed.notify_one();
    }
}

fn expected() -> u64 {
    (0..ITEMS as u64).map(process).fold(0, u64::wrapping_add)
}

fn headcount_group() -> u64 {
    let sum = Arc::new(AtomicU64::new(0));
    let group = headcount::Group::new().limit(LIMIT);
    for item in 0..ITEMS as u64 {
        let sum = Arc::clone(&sum);
        group.spawn(move || {
            sum.fetch_add(process(item), Ordering::Relaxed);
        });
    }
    group.wait();
    sum.load(Ordering::Relaxed)
}

fn headcount_scope(items: &[u64]) -> u64 {
    let sum = AtomicU64::new(0);
    headcount::Group::new().limit(LIMIT).scope(|s| {
        for item in items {
            let sum = &sum;
            s.spawn(move || {
                sum.fetch_add(process(*item), Ordering::Relaxed);
            });
        }
    });
    sum.into_inner()
}

fn std_scope_semaphore_workers() -> u64 {
    let sum = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..LIMIT {
            s.spawn(|| loop {
                let item = next.fetch_add(1, Ordering::Relaxed);
                if item >= ITEMS {
                    break;
                }
                sum.fetch_add(process(item as u64), Ordering::Relaxed);
            });
        }
    });
    sum.into_inner()
}

fn std_scope_thread_per_item() -> u64 {
    let sum = AtomicU64::new(0);
    let semaphore = Semaphore::new(LIMIT);
    std::thread::scope(|s| {
        for item in 0..ITEMS as u64 {
            let (sum, semaphore) = (&sum, &semaphore);
            s.spawn(move || {
                semaphore.acquire();
                sum.fetch_add(process(item), Ordering::Relaxed);
                semaphore.release();
            });
        }
    });
    sum.into_inner()
}

fn rayon_par_iter(pool: &rayon::ThreadPool, items: &[u64]) -> u64 {
    pool.install(|| {
        items
            .par_iter()
            .map(|&i| process(i))
            .reduce(|| 0, u64::wrapping_add)
    })
}

fn rayon_scope(items: &[u64]) -> u64 {
    let sum = AtomicU64::new(0);
    rayon::scope(|s| {
        for item in items {
            let sum = &sum;
            s.spawn(move |_| {
                sum.fetch_add(process(*item), Ordering::Relaxed);
            });
        }
    });
    sum.into_inner()
}

/// Fan-out: 1,000 empty tasks, then wait (`headcount-bench`'s W5), on the pooled `Group` and
/// on `rayon::scope`'s warm global pool.
fn fan_out(c: &mut Criterion) {
    const TASKS: usize = 1000;
    let mut g = c.benchmark_group("fan_out_1000_empty_tasks");
    g.sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("headcount_group", |b| {
        b.iter(|| {
            let group = headcount::Group::new();
            for _ in 0..TASKS {
                group.spawn(|| {});
            }
            group.wait();
        })
    });
    g.bench_function("rayon_scope", |b| {
        b.iter(|| {
            rayon::scope(|s| {
                for _ in 0..TASKS {
                    s.spawn(|_| {});
                }
            })
        })
    });
    g.finish();
}

fn bounded(c: &mut Criterion) {
    let want = expected();
    let items: Vec<u64> = (0..ITEMS as u64).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(LIMIT)
        .build()
        .unwrap();
    // Check every contender once before timing it.
    assert_eq!(headcount_group(), want);
    assert_eq!(headcount_scope(&items), want);
    assert_eq!(std_scope_semaphore_workers(), want);
    assert_eq!(std_scope_thread_per_item(), want);
    assert_eq!(rayon_par_iter(&pool, &items), want);
    assert_eq!(rayon_scope(&items), want);

    let mut g = c.benchmark_group("bounded_10000_items_limit_100");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("headcount_group", |b| {
        b.iter(|| black_box(headcount_group()))
    });
    g.bench_function("headcount_scope", |b| {
        b.iter(|| black_box(headcount_scope(&items)))
    });
    g.bench_function("std_scope_100_workers", |b| {
        b.iter(|| black_box(std_scope_semaphore_workers()))
    });
    g.bench_function("std_scope_thread_per_item_semaphore", |b| {
        b.iter(|| black_box(std_scope_thread_per_item()))
    });
    g.bench_function("rayon_par_iter_100_threads", |b| {
        b.iter(|| black_box(rayon_par_iter(&pool, &items)))
    });
    g.bench_function("rayon_scope_global_pool", |b| {
        b.iter(|| black_box(rayon_scope(&items)))
    });
    g.finish();
}

/// The Go comparison, in the same run: time `headcount_group` here (median of `ROUNDS`
/// runs), run `go test -bench` on `go/bounded`, time `headcount_group` again, and print the
/// ratio against Go's ns/op. Skipped when `go` is missing or `HEADCOUNT_BENCH_GO=0`.
fn compare_with_go() {
    const ROUNDS: usize = 30;
    if std::env::var("HEADCOUNT_BENCH_GO").as_deref() == Ok("0") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../go/bounded");
    let median_ms = |f: &dyn Fn() -> u64| {
        let mut times: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[ROUNDS / 2]
    };
    let before = median_ms(&headcount_group);
    let output = Command::new("go")
        .args([
            "test",
            "-run",
            "^$",
            "-bench",
            "BenchmarkBounded",
            "-count",
            "1",
        ])
        .arg(format!("-benchtime={ROUNDS}x"))
        .current_dir(&dir)
        .output();
    let after = median_ms(&headcount_group);
    let output = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => {
            println!(
                "go test failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        Err(err) => {
            println!("Go comparison skipped: cannot run `go` ({err})");
            return;
        }
    };
    let go_ns: Option<f64> = output
        .lines()
        .find(|l| l.starts_with("BenchmarkBounded"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok());
    let Some(go_ns) = go_ns else {
        println!("Go comparison: cannot parse `go test` output:\n{output}");
        return;
    };
    let go_ms = go_ns / 1e6;
    let ours = before.max(after); // the slower of the two: the conservative figure
    println!();
    println!("Go comparison (10,000 items, limit 100, median of {ROUNDS} runs each):");
    println!("  Go sync.WaitGroup + semaphore channel: {go_ms:.3} ms/op");
    println!("  headcount Group::limit(100):           {ours:.3} ms/op (before Go: {before:.3}, after: {after:.3})");
    println!(
        "  ratio headcount / Go:                  {:.2}x",
        ours / go_ms
    );
}

criterion_group!(benches, fan_out, bounded);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        compare_with_go();
    }
}
