//! Pattern 4, the worker pool: `workers` tasks each take jobs from a shared channel
//! until it is closed; the group waits for all of them.
//!
//! First Go's shape (a `WaitGroup` and a fixed number of worker threads ranging over a
//! jobs channel), then the headcount shape: a `Group` with `limit(workers)` *is* a worker pool.
//! Its tasks are the jobs; it starts at most `workers` threads and reuses them. Last, an
//! `ErrGroup` pool where one failing job cancels the others.
//!
//! Run with `cargo run -p headcount --example worker_pool`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headcount::{ErrGroup, Group, WaitGroup};

const JOBS: u64 = 200;
const WORKERS: usize = 4;

fn process(job: u64) -> u64 {
    (1..=job).sum()
}

fn main() {
    // --- Go's worker pool. -------------------------------------------------------------------
    let (jobs, queue) = mpsc::channel::<u64>();
    let queue = Arc::new(Mutex::new(queue));
    let total = Arc::new(AtomicUsize::new(0));
    let per_worker = Arc::new(Mutex::new(HashMap::new()));
    let wg = Arc::new(WaitGroup::new());
    for worker in 0..WORKERS {
        let (queue, total, per_worker) = (
            Arc::clone(&queue),
            Arc::clone(&total),
            Arc::clone(&per_worker),
        );
        wg.go(move || loop {
            // for job := range jobs: ends when the channel is closed and drained
            let job = match queue.lock().unwrap().recv() {
                Ok(job) => job,
                Err(_) => break,
            };
            total.fetch_add(process(job) as usize, Ordering::Relaxed);
            *per_worker.lock().unwrap().entry(worker).or_insert(0) += 1;
        });
    }
    for job in 1..=JOBS {
        jobs.send(job).unwrap();
    }
    drop(jobs); // close(jobs)
    wg.wait(); // all workers finished
    let expected: u64 = (1..=JOBS).map(process).sum();
    assert_eq!(total.load(Ordering::Relaxed) as u64, expected);
    let handled: usize = per_worker.lock().unwrap().values().sum();
    assert_eq!(handled as u64, JOBS);
    println!(
        "WaitGroup + {WORKERS} workers: {handled} jobs, per worker {:?}",
        per_worker.lock().unwrap()
    );

    // --- A limited Group is the pool. -----------------------------------------------------------
    let total = Arc::new(AtomicUsize::new(0));
    let group = Group::new().limit(WORKERS);
    for job in 1..=JOBS {
        let total = Arc::clone(&total);
        group.spawn(move || {
            total.fetch_add(process(job) as usize, Ordering::Relaxed);
        });
    }
    assert!(group.workers() <= WORKERS);
    assert!(group.max_in_flight() <= WORKERS);
    group.wait();
    assert_eq!(total.load(Ordering::Relaxed) as u64, expected);
    println!("Group::limit({WORKERS}): {JOBS} jobs on at most {WORKERS} threads");

    // --- An ErrGroup pool: the first failure cancels the rest. -------------------------------
    let started = Arc::new(AtomicUsize::new(0));
    let group = ErrGroup::new().limit(WORKERS);
    for job in 1..=JOBS {
        let started = Arc::clone(&started);
        group.spawn(move |token| {
            if token.is_cancelled() {
                return Ok(()); // skip: a sibling already failed
            }
            started.fetch_add(1, Ordering::Relaxed);
            if job == 10 {
                return Err(format!("job {job} failed"));
            }
            // "slow" work that gives up when cancelled
            token.wait_timeout(Duration::from_millis(2));
            Ok(())
        });
    }
    let err = group.wait().unwrap_err();
    let started = started.load(Ordering::Relaxed);
    println!("ErrGroup::limit({WORKERS}): {err}; {started} of {JOBS} jobs started before the cancellation stopped the rest");
    assert_eq!(err, "job 10 failed");
    assert!(started < JOBS as usize, "cancellation did not stop any job");
}
