//! The blocking backend: where a thread sleeps while its group's counter is above zero.
//!
//! This is the one place the backend is chosen.
//!
//! * Normally: [`parking_lot_core`]'s address-keyed parking lot. A group parks its waiters on the
//!   address of its own state word, so the group needs **no memory** for a wait queue (it stays
//!   16 bytes, like Go's), `park` takes an optional deadline, and the queue lock lets us run a
//!   `validate` check atomically with enqueuing (no lost wake-ups) and a `timed_out` callback
//!   atomically with dequeuing (a timed-out waiter leaves no trace). The only allocation is
//!   parking_lot's one-time per-thread data. `event-listener` was the alternative; it allocates
//!   a node on each fresh event's first wait, which the allocation-free sync paths rule out.
//! * Under `--cfg loom`: a model of the same contract built from loom's `Mutex` and `Condvar`,
//!   so the model checker explores our protocol on top of it. A timed park there may time out
//!   at any moment, which lets loom explore a timeout racing the last `done`.

use std::time::{Duration, Instant};

/// How a [`Parker::park`] call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Woken by [`Parker::unpark_filter`], which passed this token.
    Unparked(usize),
    /// `validate` returned `false`; the thread never slept.
    Invalid,
    /// The deadline passed first; `timed_out` has run.
    TimedOut,
}

pub(crate) use imp::Parker;

#[cfg(not(loom))]
mod imp {
    use super::Parked;
    use std::time::Instant;

    use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkToken};

    /// Address-keyed parking through `parking_lot_core`: a zero-sized handle.
    #[derive(Debug, Default)]
    pub(crate) struct Parker;

    impl Parker {
        pub(crate) const fn new() -> Self {
            Parker
        }

        /// Parks the current thread on `key` with `token` unless `validate` (run under the
        /// queue lock) returns `false`. `timed_out(was_last_thread)` runs under the queue lock
        /// when the deadline passes first.
        ///
        /// # Safety
        ///
        /// As for [`parking_lot_core::park`], whose obligations the caller takes on:
        ///
        /// * `key` is an address the caller owns for as long as threads may be parked on it,
        ///   so that no other synchronization primitive parks on or unparks the same key;
        /// * `validate` and `timed_out` run while the queue lock is held: they must not panic
        ///   and must not call into the parker (or anything else built on `parking_lot`).
        #[inline]
        pub(crate) unsafe fn park(
            &self,
            key: usize,
            token: usize,
            deadline: Option<Instant>,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(bool),
        ) -> Parked {
            // SAFETY: the caller upholds `park`'s contract for `key`, `validate` and
            // `timed_out` (see `# Safety`); our `timed_out` adapter only forwards, and
            // `before_sleep` is empty.
            let result = unsafe {
                parking_lot_core::park(
                    key,
                    validate,
                    || {},
                    |_, was_last_thread| timed_out(was_last_thread),
                    ParkToken(token),
                    deadline,
                )
            };
            match result {
                ParkResult::Unparked(UnparkToken(token)) => Parked::Unparked(token),
                ParkResult::Invalid => Parked::Invalid,
                ParkResult::TimedOut => Parked::TimedOut,
            }
        }

        /// Wakes every thread parked on `key` whose park token passes `filter`, handing each
        /// `token`. Returns how many woke.
        ///
        /// # Safety
        ///
        /// As for [`parking_lot_core::unpark_filter`]: `key` is an address the caller owns
        /// (see [`park`](Self::park)), and `filter` runs while the queue lock is held: it must
        /// not panic and must not call into the parker (or anything built on `parking_lot`).
        #[inline]
        pub(crate) unsafe fn unpark_filter(
            &self,
            key: usize,
            mut filter: impl FnMut(usize) -> bool,
            token: usize,
        ) -> usize {
            // SAFETY: the caller upholds the contract for `key` and `filter` (see `# Safety`);
            // our adapters only call `filter` and build tokens, and do not panic.
            let result = unsafe {
                parking_lot_core::unpark_filter(
                    key,
                    |ParkToken(t)| {
                        if filter(t) {
                            FilterOp::Unpark
                        } else {
                            FilterOp::Skip
                        }
                    },
                    |_| UnparkToken(token),
                )
            };
            result.unparked_threads
        }
    }
}

#[cfg(loom)]
mod imp {
    use super::Parked;
    use std::time::Instant;

    use loom::sync::{Arc, Condvar, Mutex};

    /// A loom model of address-keyed parking for one key.
    #[derive(Debug)]
    pub(crate) struct Parker {
        queue: Mutex<Vec<Waiter>>,
        wake: Condvar,
    }

    #[derive(Debug)]
    struct Waiter {
        token: usize,
        /// `None` while parked; the unpark token once woken.
        woken: Arc<Mutex<Option<usize>>>,
    }

    impl Parker {
        pub(crate) fn new() -> Self {
            Parker {
                queue: Mutex::new(Vec::new()),
                wake: Condvar::new(),
            }
        }

        /// The model of `parking_lot_core::park` for one key.
        ///
        /// # Safety
        ///
        /// The same contract as the real backend's, so that the callers are checked against
        /// it: `validate` and `timed_out` run under the queue lock, must not panic and must
        /// not call into the parker.
        pub(crate) unsafe fn park(
            &self,
            _key: usize,
            token: usize,
            deadline: Option<Instant>,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(bool),
        ) -> Parked {
            let mut queue = self.queue.lock().unwrap();
            if !validate() {
                return Parked::Invalid;
            }
            let woken = Arc::new(Mutex::new(None));
            queue.push(Waiter {
                token,
                woken: woken.clone(),
            });
            if deadline.is_some() {
                // The deadline may pass at any moment: let other threads run (and perhaps
                // unpark us), then time out if nobody did.
                drop(queue);
                let mut queue = self.queue.lock().unwrap();
                if let Some(t) = *woken.lock().unwrap() {
                    return Parked::Unparked(t);
                }
                queue.retain(|w| !Arc::ptr_eq(&w.woken, &woken));
                timed_out(queue.is_empty());
                return Parked::TimedOut;
            }
            loop {
                if let Some(t) = *woken.lock().unwrap() {
                    return Parked::Unparked(t);
                }
                queue = self.wake.wait(queue).unwrap();
            }
        }

        /// The model of `parking_lot_core::unpark_filter` for one key.
        ///
        /// # Safety
        ///
        /// The same contract as the real backend's: `filter` runs under the queue lock, must
        /// not panic and must not call into the parker.
        pub(crate) unsafe fn unpark_filter(
            &self,
            _key: usize,
            mut filter: impl FnMut(usize) -> bool,
            token: usize,
        ) -> usize {
            let mut queue = self.queue.lock().unwrap();
            let mut woke = 0;
            queue.retain(|w| {
                if filter(w.token) {
                    *w.woken.lock().unwrap() = Some(token);
                    woke += 1;
                    false
                } else {
                    true
                }
            });
            drop(queue);
            if woke > 0 {
                self.wake.notify_all();
            }
            woke
        }
    }
}

/// Bounded spinning before a waiter parks (parking_lot's `SpinWait`, crossbeam's `Backoff`).
///
/// A `done` that arrives within some tens of microseconds of `wait` is then seen without a trip
/// through the kernel (a futex wake-up costs 5-20 µs on a virtual machine), which is what makes
/// wake-up latency low; past the bound the waiter parks and burns no CPU.
///
/// The spin doubles from 1 to 64 `PAUSE`s (a few microseconds), then the waiter *yields* its
/// time slice until [`YIELD_BUDGET`](Self::YIELD_BUDGET) has passed. Yielding rather than
/// spinning matters on a busy machine: the thread that will call `done` may be waiting for our
/// core, and a pure spin would hold it hostage for the whole budget; when nothing else wants
/// the core, `sched_yield` returns at once and the loop still reacts within a microsecond.
/// Under loom the waiter does not spin: each spin would only be one more interleaving.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: u32,
    yielding_since: Option<Instant>,
}

impl Backoff {
    /// Steps whose spin doubles, from `2^0` to `2^(SPIN_STEPS - 1)` `PAUSE`s.
    const SPIN_STEPS: u32 = if cfg!(loom) { 0 } else { 7 };
    /// How long to keep yielding after the spin before parking.
    const YIELD_BUDGET: Duration = Duration::from_micros(if cfg!(loom) { 0 } else { 50 });

    pub(crate) const fn new() -> Self {
        Backoff {
            step: 0,
            yielding_since: None,
        }
    }

    /// Waits a little; returns `false` once the budget is spent (the caller should park).
    #[inline]
    pub(crate) fn snooze(&mut self) -> bool {
        if self.step < Self::SPIN_STEPS {
            for _ in 0..(1u32 << self.step) {
                crate::sync::spin_loop();
            }
            self.step += 1;
            return true;
        }
        if Self::YIELD_BUDGET.is_zero() {
            return false;
        }
        let since = *self.yielding_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= Self::YIELD_BUDGET {
            return false;
        }
        crate::sync::yield_now();
        true
    }
}

/// A deadline that has passed.
#[inline]
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}
