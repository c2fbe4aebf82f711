//! The timing harness shared by the criterion benches (`benches/wait_group.rs`) and the
//! side-by-side tool (`crates/headcount-bench`, which includes this file with `#[path]`):
//! the `Mutex`+`Condvar` baseline, the ping-pong and two-thread skeletons, written once so
//! that both report the same measurement.

use std::hint::black_box;
use std::sync::{Barrier, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The textbook wait group: a counter under a mutex, and a condition variable.
#[derive(Debug, Default)]
pub(crate) struct CondvarWaitGroup {
    count: Mutex<usize>,
    zero: Condvar,
}

impl CondvarWaitGroup {
    pub(crate) fn add(&self, delta: isize) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count
            .checked_add_signed(delta)
            .expect("negative WaitGroup counter");
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    pub(crate) fn done(&self) {
        self.add(-1);
    }

    pub(crate) fn wait(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        // Loop: condition variables wake spuriously.
        while *count > 0 {
            count = self
                .zero
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A wait group that can be counted up and down, waited on, and reused, behind one small
/// trait, so a skeleton is written once and monomorphised per peer (no dynamic dispatch inside
/// a timed loop). Each method is the call the peer's documentation shows for that step.
pub(crate) trait CountingGroup: Send + Sync + 'static {
    /// A fresh group at zero.
    fn fresh() -> Self;
    /// Go's `Add(1)`.
    fn add_one(&self);
    /// Go's `Done()`.
    fn done_one(&self);
    /// Go's `Wait()`, blocking the thread.
    fn wait_zero(&self);
}

/// Implements [`CountingGroup`] for groups whose own `add(1)`, `done()` and `wait()` are the
/// steps, and whose `Default` is a group at zero. (`headcount-bench` declares this module
/// with `#[macro_use]` for its own peers.)
macro_rules! counting_group {
    ($($group:ty),+ $(,)?) => {$(
        impl $crate::harness::CountingGroup for $group {
            fn fresh() -> Self {
                <$group>::default()
            }
            #[inline]
            fn add_one(&self) {
                self.add(1);
            }
            #[inline]
            fn done_one(&self) {
                self.done();
            }
            #[inline]
            fn wait_zero(&self) {
                self.wait();
            }
        }
    )+};
}
counting_group!(headcount::WaitGroup, CondvarWaitGroup);

/// `n` calls of `op` split over two threads started together; wall time from the first
/// thread's start to the last thread's end (Go's `RunParallel` accounting).
pub(crate) fn hammer<S: Sync>(state: &S, n: u64, op: impl Fn(&S) + Sync) -> Duration {
    // Rounded up (not `div_ceil`: the core, which shares this file, supports Rust 1.70).
    let per_thread = n / 2 + n % 2;
    let start_line = Barrier::new(2);
    // Each worker stamps its own start and end: a timestamp taken by a third thread could be
    // late when both workers hold the two cores.
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    start_line.wait();
                    let start = Instant::now();
                    for _ in 0..per_thread {
                        op(black_box(state));
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("hammer thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two workers");
    let end = spans.iter().map(|s| s.1).max().expect("two workers");
    // Scale to exactly `n` operations.
    (end - start).mul_f64(n as f64 / (2 * per_thread) as f64)
}

/// Ping-pong over two reusable groups: `n` round trips (two wake-ups each); the time they took.
pub(crate) fn ping_pong<G: CountingGroup>(n: u64) -> Duration {
    let ping = G::fresh();
    let pong = G::fresh();
    ping.add_one();
    pong.add_one();
    let ready = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            ready.wait();
            for _ in 0..n {
                ping.wait_zero();
                ping.add_one(); // re-armed by its only waiter, after its wait returned
                pong.done_one();
            }
        });
        ready.wait();
        let start = Instant::now();
        for _ in 0..n {
            ping.done_one();
            pong.wait_zero();
            pong.add_one();
        }
        start.elapsed()
    })
}

/// Ping-pong with crossbeam's single-use groups: one pair per round, made before the clock
/// starts (its `wait` consumes the group, so it cannot be re-armed); `n` round trips.
pub(crate) fn ping_pong_crossbeam(n: u64) -> Duration {
    use crossbeam_utils::sync::WaitGroup;
    let rounds = usize::try_from(n).expect("round count fits in usize");
    let mut a_side = Vec::with_capacity(rounds);
    let mut b_side = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // A drops its ping clone and waits on pong; B waits on ping and drops its pong clone.
        let ping = WaitGroup::new();
        let pong = WaitGroup::new();
        let pong_clone = pong.clone();
        a_side.push((ping.clone(), pong));
        b_side.push((ping, pong_clone));
    }
    let ready = Barrier::new(2);
    thread::scope(|s| {
        let ready = &ready;
        s.spawn(move || {
            ready.wait();
            for (ping, pong_clone) in b_side {
                ping.wait();
                drop(pong_clone);
            }
        });
        ready.wait();
        let start = Instant::now();
        for (ping_clone, pong) in a_side {
            drop(ping_clone);
            pong.wait();
        }
        start.elapsed()
    })
}
