//! The synchronization facade: every atomic, lock and spin hint the crate uses comes from here.
//!
//! Under `--cfg loom` the same names resolve to [loom]'s model-checked versions, so the state
//! machine in [`crate::wait_group`] is explored by the model checker exactly as it ships. (The
//! pattern is crossbeam-utils' `primitive` module.)
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicPtr, AtomicU64, Ordering},
    Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicPtr, AtomicU64, Ordering},
    Mutex, MutexGuard,
};

/// Spin-loop hint (`PAUSE` on x86); a preemption point under loom.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Gives the rest of this time slice to another thread.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Locks `mutex`, ignoring poisoning: no code that could panic runs while the crate's locks are
/// held, and a poisoned registry is still consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// What the task groups' worker pool (`group/pool.rs`) needs beyond the core.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize};

/// Threads: the pool's workers are spawned through here, so that under loom they are model
/// threads.
pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, JoinHandle};
    #[cfg(not(loom))]
    pub(crate) use std::thread::{Builder, JoinHandle};
}

/// Pads and aligns a value to a cache line, so that two hot atomics do not share one
/// (crossbeam-utils' `CachePadded`; under loom a plain wrapper, since layout is not modelled).
#[cfg(not(loom))]
pub(crate) use crossbeam_utils::CachePadded;

/// Under loom: layout is not modelled, so a plain wrapper.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct CachePadded<T>(T);

#[cfg(loom)]
impl<T> CachePadded<T> {
    pub(crate) const fn new(value: T) -> Self {
        CachePadded(value)
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A multi-producer multi-consumer FIFO queue: crossbeam-deque's lock-free `Injector` (the
/// global queue of rayon and tokio-style schedulers).
///
/// Under loom, a `Mutex<VecDeque>` stands in for it (crossbeam's atomics are not loom's): the
/// queue is then a linearizable FIFO with the same contract, and what the model checks is the
/// pool's own protocol of counters, parking and wake-ups around it.
pub(crate) struct Queue<T> {
    #[cfg(not(loom))]
    inner: crossbeam_deque::Injector<T>,
    #[cfg(loom)]
    inner: Mutex<std::collections::VecDeque<T>>,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            #[cfg(not(loom))]
            inner: crossbeam_deque::Injector::new(),
            #[cfg(loom)]
            inner: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Appends `value` at the back.
    #[inline]
    pub(crate) fn push(&self, value: T) {
        #[cfg(not(loom))]
        self.inner.push(value);
        #[cfg(loom)]
        lock(&self.inner).push_back(value);
    }

    /// Takes the value at the front, if any. Lock-free; linearizable: `None` means the queue
    /// was empty at some moment during the call.
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        #[cfg(not(loom))]
        loop {
            match self.inner.steal() {
                crossbeam_deque::Steal::Success(value) => return Some(value),
                crossbeam_deque::Steal::Empty => return None,
                // Another thread took the front value meanwhile: try again.
                crossbeam_deque::Steal::Retry => spin_loop(),
            }
        }
        #[cfg(loom)]
        lock(&self.inner).pop_front()
    }

    /// Whether the queue is empty (a snapshot).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(loom))]
        return self.inner.is_empty();
        #[cfg(loom)]
        lock(&self.inner).is_empty()
    }

    /// How many values are queued (a snapshot).
    pub(crate) fn len(&self) -> usize {
        #[cfg(not(loom))]
        return self.inner.len();
        #[cfg(loom)]
        lock(&self.inner).len()
    }
}
