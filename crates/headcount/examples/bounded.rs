//! Exercise 5: bounded concurrency: process 10,000 items with at most 100 running at once.
//!
//! Go: one goroutine per item, each waiting on a semaphore channel of capacity 100.
//! headcount: a `Group` with `limit(100)`. `spawn` blocks while 100 tasks are in flight, and the
//! tasks run on at most 100 reused worker threads (not 10,000 threads). We record the
//! high-water mark of tasks running at the same moment and assert it never exceeds 100.
//!
//! Run with `cargo run -p headcount --example bounded`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use headcount::Group;

const ITEMS: usize = 10_000;
const LIMIT: usize = 100;

fn main() {
    let running = AtomicUsize::new(0);
    let high_water = AtomicUsize::new(0);
    let processed = AtomicUsize::new(0);
    let threads = Mutex::new(HashSet::new());

    let group = Group::new().limit(LIMIT);
    group.scope(|s| {
        for item in 0..ITEMS {
            let (running, high_water, processed, threads) =
                (&running, &high_water, &processed, &threads);
            s.spawn(move || {
                // Enter: count ourselves and raise the high-water mark.
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                high_water.fetch_max(now, Ordering::SeqCst);
                threads.lock().unwrap().insert(std::thread::current().id());
                // Work: a little arithmetic and a short wait (as for I/O), so that tasks
                // overlap and the limit is what holds them back.
                let _ =
                    std::hint::black_box((0..200u64).fold(item as u64, |a, b| a ^ (a << 1) ^ b));
                std::thread::sleep(std::time::Duration::from_micros(200));
                processed.fetch_add(1, Ordering::Relaxed);
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });

    let high = high_water.load(Ordering::SeqCst);
    let threads = threads.into_inner().unwrap().len();
    println!("processed {} items", processed.load(Ordering::Relaxed));
    println!("high-water mark of tasks running at once: {high} (limit {LIMIT})");
    println!("distinct worker threads that ran a task: {threads}");
    assert_eq!(processed.load(Ordering::Relaxed), ITEMS);
    assert!(
        high <= LIMIT,
        "{high} tasks ran at once, above the limit of {LIMIT}"
    );
    assert!(high >= 1);
    assert!(
        threads <= LIMIT,
        "{threads} worker threads for a limit of {LIMIT}"
    );
}
