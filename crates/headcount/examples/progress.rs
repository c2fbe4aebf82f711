//! A progress bar while waiting for 10,000 tasks: `wait_timeout` in a loop, `count()` for the
//! position.
//!
//! `cargo run -p headcount --example progress`
//!
//! The pattern needs nothing but the group: wake every 100 ms (`wait_timeout` returns `true` as
//! soon as the counter reaches zero, so the last task is not kept waiting for a tick), and draw
//! `total - count()` as the position. Each task holds an [`OwnedGuard`], so a task that panics
//! still counts as finished and the bar cannot hang at 99 %.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use headcount::leak::LeakCheck;
use headcount::{OwnedGuard, WaitGroup};
use indicatif::{ProgressBar, ProgressStyle};

const TASKS: u64 = 10_000;
const WORKERS: usize = 8;

fn main() {
    // Tracks the threads started below; checked at the end.
    let leaks = LeakCheck::new();
    let tasks = Arc::new(WaitGroup::new());
    let (queue, jobs) = mpsc::channel::<(u64, OwnedGuard)>();
    let jobs = Arc::new(Mutex::new(jobs));

    // A fixed pool of workers, themselves counted by a group of their own.
    let workers = Arc::new(WaitGroup::new());
    for _ in 0..WORKERS {
        let jobs = Arc::clone(&jobs);
        workers.go(move || loop {
            let job = jobs.lock().unwrap().recv();
            let Ok((n, _guard)) = job else { break }; // the queue closed: no more tasks
                                                      // The "work": a little sleep, longer for some tasks.
            thread::sleep(Duration::from_micros(200 + (n % 7) * 100));
        }); // `_guard` drops at the end of each iteration: that task's `done`
    }

    // Count every task before it is queued (the guard travels with it).
    for n in 0..TASKS {
        queue.send((n, tasks.enter_owned())).unwrap();
    }
    drop(queue);

    let bar = ProgressBar::new(TASKS);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos:>5}/{len} tasks ({per_sec}, eta {eta})",
        )
        .unwrap(),
    );
    while !tasks.wait_timeout(Duration::from_millis(100)) {
        bar.set_position(TASKS - tasks.count() as u64);
    }
    bar.set_position(TASKS);
    bar.finish();

    workers.wait();
    // Nothing that headcount started outlives the run.
    leaks.check().expect("no worker left running");
    println!("all {TASKS} tasks done");
}
