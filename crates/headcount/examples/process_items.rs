//! Exercise 1: process 1000 items concurrently and verify that all of them completed.
//!
//! Go:
//! ```go
//! for _, item := range items {
//!     wg.Add(1)
//!     go func(it Item) { defer wg.Done(); process(it) }(item)
//! }
//! wg.Wait()
//! ```
//!
//! The headcount way, twice: first Go's shape (one thread per item, counted by a
//! `WaitGroup` whose `go` does the `Add(1)` before the thread exists and the `Done` when it
//! ends), then a bounded `Group` whose tasks borrow the items and run on a few reused workers.
//!
//! Run with `cargo run -p headcount --example process_items`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use headcount::{Group, WaitGroup};

const ITEMS: usize = 1000;

/// The work done for one item: a little arithmetic, and a mark that this item was processed.
fn process(item: usize, done: &[AtomicBool], processed: &AtomicUsize) -> u64 {
    let value = (0..100).fold(item as u64, |acc, i| acc.wrapping_mul(31).wrapping_add(i));
    let first_time = !done[item].swap(true, Ordering::Relaxed);
    assert!(first_time, "item {item} was processed twice");
    processed.fetch_add(1, Ordering::Relaxed);
    value
}

fn check(done: &[AtomicBool], processed: &AtomicUsize, how: &str) {
    assert_eq!(
        processed.load(Ordering::Relaxed),
        ITEMS,
        "{how}: not every item was processed"
    );
    assert!(
        done.iter().all(|d| d.load(Ordering::Relaxed)),
        "{how}: an item was skipped"
    );
    println!("{how}: all {ITEMS} items processed");
}

fn main() {
    // 1. Go's shape: one thread per item. `wg.go` counts the task before it starts (Go's bug 1,
    //    `Add` inside the goroutine, cannot be written) and calls `done` when it ends, also on
    //    panic (Go's bug 2, a forgotten `Done`, cannot be written either).
    let done: Arc<Vec<AtomicBool>> = Arc::new((0..ITEMS).map(|_| AtomicBool::new(false)).collect());
    let processed = Arc::new(AtomicUsize::new(0));
    let wg = Arc::new(WaitGroup::new());
    for item in 0..ITEMS {
        let (done, processed) = (Arc::clone(&done), Arc::clone(&processed));
        wg.go(move || {
            process(item, &done, &processed);
        });
    }
    wg.wait(); // every task's writes are visible after this returns
    check(&done, &processed, "WaitGroup::go, one thread per item");

    // 2. A bounded group: the tasks borrow `items` and the counters from this stack frame, run
    //    on at most 8 reused worker threads, and `scope` returns only when all have ended.
    let items: Vec<usize> = (0..ITEMS).collect();
    let done: Vec<AtomicBool> = (0..ITEMS).map(|_| AtomicBool::new(false)).collect();
    let processed = AtomicUsize::new(0);
    let checksum = AtomicUsize::new(0);
    let group = Group::new().limit(8);
    group.scope(|s| {
        for &item in &items {
            let (done, processed, checksum) = (&done, &processed, &checksum);
            s.spawn(move || {
                let value = process(item, done, processed);
                checksum.fetch_add(value as usize & 0xff, Ordering::Relaxed);
            });
        }
    });
    check(&done, &processed, "Group::scope, limit 8");
    println!("checksum {}", checksum.load(Ordering::Relaxed));
    println!("All items processed");
}
