//! Exercise 4: the e-commerce goroutine-leak incident (a goroutine blocked on an unbuffered
//! channel after `Done()`), and its two fixes.
//!
//! The tasks call `Done` and *then* block forever sending their result on an unbuffered
//! channel that nobody reads. `Wait` returns (every `Done` was called), but the goroutines
//! never exit. A `WaitGroup` counts calls to `Done`, not living tasks.
//!
//! Here the same shape with threads and a rendezvous channel (`sync_channel(0)`), detected by
//! counting this process's threads in `/proc/self/task` (Go's `runtime.NumGoroutine()`). Then:
//!
//! - how headcount's `Group` prevents it: a group counts a task until its closure *returns*
//!   and joins its worker threads in `wait`, so a task that cannot exit is still in flight
//!   (`in_flight()` says so) instead of being silently forgotten;
//! - fix 1: a buffered channel, so the sends never block;
//! - fix 2: consume the results while a helper closes the channel after `wait`.
//!
//! Each step asserts the thread count. Run with `cargo run -p headcount --example goroutine_leak`.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headcount::{Group, WaitGroup};

const ORDERS: usize = 20;

/// Threads of this process now (`/proc/self/task` on Linux; `None` elsewhere).
fn live_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|dir| dir.count())
}

/// Polls until the thread count is `expected` (a thread that was joined or that returned may
/// take a moment to leave `/proc`); `false` after 10 s.
fn settles_at(expected: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match live_threads() {
            None => return true, // not Linux: nothing to check
            Some(n) if n == expected => return true,
            Some(_) if Instant::now() > deadline => return false,
            Some(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn process_order(order: usize) -> usize {
    order * 10
}

fn main() {
    let baseline = live_threads();
    println!("threads at start: {baseline:?}");

    // --- The leak. ---------------------------------------------------------------------------
    let wg = Arc::new(WaitGroup::new());
    let (results, unread) = mpsc::sync_channel::<usize>(0); // unbuffered!
    let mut handles = Vec::new();
    for order in 0..ORDERS {
        let guard = wg.enter_owned(); // Add(1), before the thread starts
        let results = results.clone();
        handles.push(std::thread::spawn(move || {
            let result = process_order(order);
            drop(guard); // defer wg.Done()
            let _ = results.send(result); // blocks: nobody receives
        }));
    }
    drop(results);
    wg.wait(); // returns: every Done was called...
    println!("wg.wait() returned");
    if let Some(base) = baseline {
        // ...but every thread is still alive, blocked in `send`.
        assert!(
            settles_at(base + ORDERS),
            "expected {ORDERS} leaked threads"
        );
        println!(
            "leak detected: {} threads alive after wait ({ORDERS} leaked)",
            live_threads().unwrap()
        );
    }
    // In Go they would stay forever. Here we end the demonstration: dropping the receiver makes
    // every blocked `send` fail, so the threads return.
    drop(unread);
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(
        baseline.map_or(true, settles_at),
        "the leaked threads did not exit"
    );

    // --- headcount's Group: a task counts until it returns. ---------------------------------
    let group = Group::new().limit(ORDERS);
    let (results, unread) = mpsc::sync_channel::<usize>(0);
    for order in 0..ORDERS {
        let results = results.clone();
        group.spawn(move || {
            let _ = results.send(process_order(order));
        });
    }
    drop(results);
    // The tasks are blocked, and the group knows: they are still in flight, so `wait` would
    // not return (a visible hang you can debug, not a silent leak).
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(group.in_flight(), ORDERS);
    println!(
        "Group: {} tasks still in flight: the leak is visible, wait() would block",
        group.in_flight()
    );
    drop(unread); // unblock them
    group.wait(); // joins the workers too
    assert!(
        baseline.map_or(true, settles_at),
        "a worker outlived Group::wait"
    );
    println!(
        "Group::wait returned and joined its workers: threads back to {:?}",
        live_threads()
    );

    // --- Fix 1: a buffered channel. ----------------------------------------------------------
    let group = Group::new();
    let (results, collected) = mpsc::sync_channel::<usize>(ORDERS); // room for every result
    for order in 0..ORDERS {
        let results = results.clone();
        group.spawn(move || results.send(process_order(order)).unwrap());
    }
    drop(results);
    group.wait();
    assert!(
        baseline.map_or(true, settles_at),
        "fix 1 left threads behind"
    );
    let total: usize = collected.iter().sum();
    assert_eq!(total, (0..ORDERS).map(process_order).sum());
    println!("fix 1 (buffered channel): all {ORDERS} results, no thread left");

    // --- Fix 2: consume while a helper closes the channel after wait. ----------------------
    let group = Group::new();
    let (results, consume) = mpsc::sync_channel::<usize>(0); // unbuffered again
    for order in 0..ORDERS {
        let results = results.clone();
        group.spawn(move || results.send(process_order(order)).unwrap());
    }
    let closer = std::thread::spawn(move || {
        group.wait(); // wg.Wait()
        drop(results); // close(results): the last sender goes away
    });
    let mut count = 0;
    for _result in consume {
        // ends when the helper has closed the channel
        count += 1;
    }
    closer.join().unwrap();
    assert_eq!(count, ORDERS);
    assert!(
        baseline.map_or(true, settles_at),
        "fix 2 left threads behind"
    );
    println!("fix 2 (consume, close after wait): all {ORDERS} results, no thread left");
}
