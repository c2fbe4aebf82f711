//! The hand-written baselines besides the `Mutex<usize>`+`Condvar` wait group (which is in the
//! shared harness): Go's own algorithm (counter and waiter count packed in one `AtomicU64`,
//! waiters parked on a futex semaphore), and a counting semaphore.
//!
//! Both are written the way their authors would write them for production, not slowed down:
//! the point of a baseline is to show what the obvious design costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

/// Go's `sync.WaitGroup` (Go 1.19 – 1.24), transcribed: the high 32 bits of `state` are the
/// counter, the low 32 bits the number of waiters; waiters sleep on a semaphore.
///
/// # State table
///
/// | bits  | meaning                         |
/// |-------|---------------------------------|
/// | 63–32 | counter (signed)                |
/// | 31–0  | waiters blocked in `wait`       |
#[derive(Debug, Default)]
pub(crate) struct AtomicParkWaitGroup {
    state: AtomicU64,
    sema: sema::Semaphore,
}

const COUNTER_SHIFT: u32 = 32;
const WAITER_MASK: u64 = (1 << COUNTER_SHIFT) - 1;

impl AtomicParkWaitGroup {
    pub(crate) fn add(&self, delta: isize) {
        let delta = i32::try_from(delta).expect("WaitGroup delta overflow");
        // SeqCst, as Go's `atomic.AddUint64`: it pairs with the SeqCst load/CAS in `wait`, so
        // either the waiter sees this counter or this add sees the waiter.
        let old = self.state.fetch_add(
            ((i64::from(delta)) << COUNTER_SHIFT) as u64,
            Ordering::SeqCst,
        );
        let new = old.wrapping_add(((i64::from(delta)) << COUNTER_SHIFT) as u64);
        let counter = (new >> COUNTER_SHIFT) as i32;
        let waiters = (new & WAITER_MASK) as u32;
        assert!(counter >= 0, "sync: negative WaitGroup counter");
        if counter > 0 || waiters == 0 {
            return;
        }
        // Counter is zero and there are waiters: no one else may touch the state now (Go's
        // contract), so reset it and release every waiter.
        self.state.store(0, Ordering::SeqCst);
        for _ in 0..waiters {
            self.sema.release();
        }
    }

    pub(crate) fn done(&self) {
        self.add(-1);
    }

    pub(crate) fn wait(&self) {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            if (state >> COUNTER_SHIFT) as i32 == 0 {
                return;
            }
            // Register as a waiter; SeqCst pairs with the `fetch_add` in `add`.
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    self.sema.acquire();
                    return;
                }
                Err(now) => state = now,
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod sema {
    //! A counting semaphore on a Linux futex, like Go's runtime semaphore: no spinning, a
    //! syscall only when someone sleeps.

    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    pub(crate) struct Semaphore {
        permits: AtomicU32,
        sleepers: AtomicU32,
    }

    impl Semaphore {
        fn try_acquire(&self) -> bool {
            let mut permits = self.permits.load(Ordering::Relaxed);
            while permits > 0 {
                // Acquire pairs with the Release half of the SeqCst `fetch_add` in `release`.
                match self.permits.compare_exchange_weak(
                    permits,
                    permits - 1,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => permits = now,
                }
            }
            false
        }

        pub(crate) fn acquire(&self) {
            if self.try_acquire() {
                return;
            }
            // SeqCst with `release`: either the releaser sees this sleeper and wakes it, or the
            // `try_acquire` below sees the releaser's permit.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // Loop: futex waits return spuriously, and a woken sleeper can lose the permit.
            while !self.try_acquire() {
                futex_wait(&self.permits, 0);
            }
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }

        pub(crate) fn release(&self) {
            self.permits.fetch_add(1, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                futex_wake(&self.permits, 1);
            }
        }
    }

    fn futex_wait(word: &AtomicU32, expected: u32) {
        // SAFETY: `word` is a valid, aligned u32 for the duration of the call; FUTEX_WAIT only
        // reads it, and a null timeout means "no timeout".
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                std::ptr::null::<libc::timespec>(),
            );
        }
    }

    fn futex_wake(word: &AtomicU32, count: i32) {
        // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access memory through it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                count,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sema {
    //! Fallback off Linux: the mutex-and-condvar counting semaphore, starting with no permit.

    pub(crate) use super::CondvarSemaphore as Semaphore;
}

/// A counting semaphore from a mutex and a condition variable: the plain Rust transcription of
/// Go's "semaphore channel", used by the W6 "threads + semaphore" peer (and, off Linux, by Go's
/// algorithm). `Default` has no permit.
#[derive(Debug, Default)]
pub(crate) struct CondvarSemaphore {
    permits: Mutex<usize>,
    available: Condvar,
}

impl CondvarSemaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            permits: Mutex::new(permits),
            available: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self) {
        let mut permits = self.permits.lock().unwrap_or_else(PoisonError::into_inner);
        while *permits == 0 {
            permits = self
                .available
                .wait(permits)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *permits -= 1;
    }

    pub(crate) fn release(&self) {
        *self.permits.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.available.notify_one();
    }
}
