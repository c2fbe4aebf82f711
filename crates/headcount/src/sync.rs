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
