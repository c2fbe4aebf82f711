//! [`WaitGroup`]: the counter, its blocking waits, and the end of a round.

use std::fmt;
use std::time::{Duration, Instant};

use crate::diagnostics::{self, Origin, Stall};
use crate::lazy_box::LazyBox;
use crate::leak;
use crate::park::{expired, Backoff, Parked, Parker};
use crate::state::{self, ASYNC, FAST_ADD_MAX, LAST_PANICKED, MAX_COUNT, ONE, PANICKED, PARKED};
use crate::sync::{AtomicU64, Ordering::*};
use crate::wakers::Wakers;
use crate::AddError;

/// A counter-based completion barrier: Go's `sync.WaitGroup`, made safe and complete for Rust.
///
/// [`add`](Self::add) before starting work, [`done`](Self::done) when a task finishes,
/// [`wait`](Self::wait) (or [`wait_timeout`](Self::wait_timeout),
/// [`wait_async`](Self::wait_async), ...) until the counter is zero. [`enter`](Self::enter)
/// returns a guard that calls `done` when dropped, and [`go`](Self::go) spawns a thread with the
/// `add` already done, so Go's two most common WaitGroup bugs cannot be written.
///
/// A `WaitGroup` is 16 bytes, allocates nothing on its sync paths, and is neither `Clone` nor
/// `Copy`: share it by reference (`std::thread::scope`), `Arc`, or a `static`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use headcount::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// for i in 0..4 {
///     wg.go(move || println!("task {i}"));
/// }
/// wg.wait();
/// assert_eq!(wg.count(), 0);
/// ```
///
/// Copying a group, Go's bug 5 ("passes lock by value"), does not compile:
///
/// ```compile_fail
/// let wg = headcount::WaitGroup::new();
/// let copy = wg.clone(); // error: no method named `clone`
/// ```
///
/// ```compile_fail
/// fn do_work(wg: headcount::WaitGroup) { wg.done(); }
/// let wg = headcount::WaitGroup::new();
/// wg.add(1);
/// do_work(wg);  // moves the group...
/// wg.wait();    // error[E0382]: borrow of moved value: `wg`
/// ```
///
/// # Semantics
///
/// * **Happens-before.** Everything a task did before its `done` (or before its guard dropped)
///   is visible to a thread whose `wait` that `done` released.
/// * **Rounds and reuse.** A transition of the counter to zero ends a *round* and releases
///   exactly the waiters waiting at that moment, even if the group is reused (`add` from zero)
///   before they wake. A wait that starts at zero returns at once. A group may be reused at any
///   time: Go's misuse panics "WaitGroup is reused before previous Wait has returned" and "Add
///   called concurrently with Wait" are defined here. An `add` that races with a `wait` whose
///   counter is above zero joins the round that `wait` waits for; an `add` from zero starts a
///   new round that only later waits see.
/// * **Timeouts.** A waiter that gives up ([`wait_timeout`](Self::wait_timeout),
///   [`wait_deadline`](Self::wait_deadline), a dropped [`WaitFuture`](crate::WaitFuture)) takes
///   its registration back: reuse stays safe (Go rejected timed waits, golang/go#40916, because
///   its waiter count cannot be taken back).
/// * **Panics.** When a task started by [`go`](Self::go) panics, the round it belongs to ends
///   "poisoned": every wait that round releases, and every wait that starts while the counter
///   is still at that zero, panics (as `std::thread::scope` does). The next `add` from zero
///   starts a clean round.
/// * **Counter.** Between 0 and [`MAX_COUNT`](Self::MAX_COUNT); a delta that would leave that
///   range panics ([`add`](Self::add)) or is returned as an error ([`try_add`](Self::try_add)),
///   with the counter unchanged.
pub struct WaitGroup {
    /// The packed state word: `COUNT`, `EPOCH` and four flags, laid out in the
    /// [state table](crate::state) next to their constants in `state.rs`.
    ///
    /// Threads park on this word's address ([`key`](Self::key)); only the zero transition's slow
    /// path wakes them.
    state: AtomicU64,
    /// Wakers of pending futures, allocated the first time a future has to wait.
    wakers: LazyBox<Wakers>,
    /// The blocking backend (zero-sized, except under loom).
    parker: Parker,
}

impl WaitGroup {
    /// The largest value the counter can hold: `i32::MAX`, like Go's 32-bit counter.
    pub const MAX_COUNT: usize = MAX_COUNT as usize;

    /// A group with a counter of zero. `const`, so a group can live in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::WaitGroup;
    ///
    /// static WG: WaitGroup = WaitGroup::new();
    /// WG.add(1);
    /// WG.done();
    /// WG.wait();
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        WaitGroup {
            state: AtomicU64::new(0),
            wakers: LazyBox::new(),
            parker: Parker::new(),
        }
    }

    /// A group with a counter of zero.
    #[cfg(loom)]
    pub fn new() -> Self {
        WaitGroup {
            state: AtomicU64::new(0),
            wakers: LazyBox::new(),
            parker: Parker::new(),
        }
    }

    /// Adds `delta` (which may be negative) to the counter: Go's `Add`. Call it *before*
    /// starting the work it counts (or use [`enter`](Self::enter) / [`go`](Self::go)).
    ///
    /// When the counter reaches zero, every waiter of the round is released.
    ///
    /// # Panics
    ///
    /// If the counter would go below zero ("negative WaitGroup counter") or above
    /// [`MAX_COUNT`](Self::MAX_COUNT) ("overflow"). The counter is left unchanged, so a group
    /// stays usable after the panic is caught. Use [`try_add`](Self::try_add) for an error value.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// wg.add(-3);
    /// assert_eq!(wg.count(), 0);
    ///
    /// let caught = std::panic::catch_unwind(|| wg.add(-1));
    /// assert!(caught.is_err());
    /// assert_eq!(wg.count(), 0); // unchanged
    /// ```
    #[inline]
    #[track_caller]
    pub fn add(&self, delta: isize) {
        self.add_from(delta, Origin::add())
    }

    /// [`add`](Self::add), recording `origin` (feature `diagnostics`; nothing otherwise).
    #[inline]
    #[track_caller]
    pub(crate) fn add_from(&self, delta: isize, origin: Origin) {
        if let Err(err) = self.update_from(delta, false, origin) {
            add_failed(err)
        }
    }

    /// Adds `delta` to the counter, or returns why it would leave `0..=MAX_COUNT` (the counter
    /// is then unchanged). Otherwise the same as [`add`](Self::add).
    ///
    /// # Errors
    ///
    /// [`AddError::Negative`] below zero, [`AddError::Overflow`] above
    /// [`MAX_COUNT`](Self::MAX_COUNT).
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount::{AddError, WaitGroup};
    ///
    /// let wg = WaitGroup::new();
    /// assert_eq!(wg.try_add(2), Ok(()));
    /// assert_eq!(wg.try_add(-3), Err(AddError::Negative { count: 2, delta: -3 }));
    /// assert_eq!(wg.count(), 2);
    /// ```
    #[inline]
    #[cfg_attr(feature = "diagnostics", track_caller)]
    pub fn try_add(&self, delta: isize) -> Result<(), AddError> {
        self.update_from(delta, false, Origin::add())
    }

    /// Decrements the counter by one: Go's `Done`, the same as `add(-1)`.
    ///
    /// # Panics
    ///
    /// If the counter is already zero ("negative WaitGroup counter"); it stays zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn done(&self) {
        self.add(-1)
    }

    /// A snapshot of the counter. It may change as soon as it is read; when it reads zero, the
    /// tasks of the round that ended are visible as with [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// let _guard = wg.enter();
    /// assert_eq!(wg.count(), 1);
    /// ```
    #[inline]
    pub fn count(&self) -> usize {
        // Acquire pairs with the AcqRel update of the last `done`, as in `wait`.
        state::count(self.state.load(Acquire)).min(MAX_COUNT) as usize
    }

    /// Blocks until the counter is zero; returns at once if it already is. Any number of threads
    /// may wait at once; one transition to zero releases them all.
    ///
    /// The waiter spins briefly (bounded, with backoff) before it parks, so a `done` that comes
    /// within microseconds is seen without a trip through the kernel, and a long wait burns no
    /// CPU.
    ///
    /// # Panics
    ///
    /// If a task started by [`go`](Self::go) panicked in the round this wait saw end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use headcount::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// let sum = AtomicUsize::new(0);
    /// std::thread::scope(|s| {
    ///     for i in 1..=10 {
    ///         wg.go_scoped(s, { let sum = &sum; move || { sum.fetch_add(i, Ordering::Relaxed); } });
    ///     }
    ///     wg.wait();
    ///     assert_eq!(sum.load(Ordering::Relaxed), 55);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the counter is zero or `timeout` has passed; returns `true` when the counter
    /// reached zero. A waiter that times out leaves no trace in the group.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait), when it returns `true` for a round with a panicked `go` task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let wg = headcount::WaitGroup::new();
    /// let guard = wg.enter();
    /// assert!(!wg.wait_timeout(Duration::from_millis(10)));
    /// drop(guard);
    /// assert!(wg.wait_timeout(Duration::from_millis(10)));
    /// ```
    #[inline]
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // A timeout too large for `Instant` is no timeout at all.
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Blocks until the counter is zero or `deadline` has passed; returns `true` when the
    /// counter reached zero (also when it already is zero and the deadline has passed).
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait), when it returns `true` for a round with a panicked `go` task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let wg = headcount::WaitGroup::new();
    /// wg.add(1);
    /// assert!(!wg.wait_deadline(Instant::now() + Duration::from_millis(5)));
    /// wg.done();
    /// assert!(wg.wait_deadline(Instant::now()));
    /// ```
    #[inline]
    #[track_caller]
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    /// Changes the counter by `delta`; `panicked` marks the round as having a panicked task.
    /// This is the only writer of the counter.
    #[inline]
    pub(crate) fn update(&self, delta: isize, panicked: bool) -> Result<(), AddError> {
        if delta > 0 && delta <= FAST_ADD_MAX && !panicked {
            // A positive add cannot end a round nor go negative: one `fetch_add`, which never
            // retries under contention. Relaxed: an add publishes nothing to waiters (a later
            // wait that must see it is ordered after it by whatever made it "later"), and as a
            // read-modify-write it continues the release sequences of earlier `done`s.
            let prev = self.state.fetch_add(delta as u64 * ONE, Relaxed);
            if state::count(prev) + delta as u64 > MAX_COUNT {
                return self.add_overshot(delta);
            }
            return Ok(());
        }
        if delta == -1 && !panicked {
            return self.done_one();
        }
        self.update_slow(delta, panicked)
    }

    /// `update(-1, false)`, the `done` of every guard and task: [`update_slow`](Self::update_slow)
    /// specialised to one unit, so the loop body is a compare and a subtraction, or
    /// [`state::end_round_from_one`] when it ends the round. Same orderings, same reasons.
    #[inline]
    fn done_one(&self) -> Result<(), AddError> {
        // Relaxed: only a guess for the compare-exchange below, which validates it.
        let mut s = self.state.load(Relaxed);
        loop {
            let new = if s >= 2 * ONE {
                s - ONE // (also while an overshooting add is undone: the count stays above 1)
            } else if s >= ONE {
                state::end_round_from_one(s)
            } else {
                return Err(AddError::Negative {
                    count: 0,
                    delta: -1,
                });
            };
            match self.state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
                Ok(_) => {
                    if s < 2 * ONE && s & (PARKED | ASYNC) != 0 {
                        self.release_waiters(s, new);
                    }
                    return Ok(());
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes back a fast-path add that overshot `MAX_COUNT` (see the state table), then lets
    /// the checking loop decide: the overshoot may be another thread's, being undone, and then
    /// this add is legal once that undo lands. Only this cold branch pays; `add`'s fast path is
    /// still one `fetch_add`.
    #[cold]
    #[inline(never)]
    fn add_overshot(&self, delta: isize) -> Result<(), AddError> {
        // Relaxed, as the `fetch_add` it takes back: the pair publishes nothing.
        self.state.fetch_sub(delta as u64 * ONE, Relaxed);
        self.update_slow(delta, false)
    }

    /// Every update that may decrease the counter (or is large): a compare-and-swap loop that
    /// checks the result before writing, so a refused delta leaves no trace.
    #[inline]
    fn update_slow(&self, delta: isize, panicked: bool) -> Result<(), AddError> {
        // Relaxed: only a guess for the compare-exchange below, which validates it.
        let mut s = self.state.load(Relaxed);
        loop {
            let count = state::count(s);
            if delta > 0 && count > MAX_COUNT {
                // Another thread's fast-path add overshot and is being undone (state table):
                // the count it shows is not one this add can be judged against. Wait for the
                // undo, which follows at once, rather than refuse a legal add as overflow.
                crate::sync::yield_now();
                s = self.state.load(Relaxed);
                continue;
            }
            let new_count = count as i128 + delta as i128;
            if new_count < 0 {
                return Err(AddError::Negative {
                    count: count as usize,
                    delta,
                });
            }
            // Only a positive delta can overflow. (A negative one applied while an
            // overshooting add is being undone leaves the count above MAX_COUNT for that
            // instant; the undo brings it back.)
            if delta > 0 && new_count > MAX_COUNT as i128 {
                return Err(AddError::Overflow {
                    count: count.min(MAX_COUNT) as usize,
                    delta,
                });
            }
            let mut new = state::with_count(s, new_count as u64);
            if panicked {
                new |= PANICKED;
            }
            let ends_round = new_count == 0 && count != 0;
            if ends_round {
                new = state::end_round(new);
            } else if new == s {
                return Ok(()); // add(0): nothing to write.
            }
            // Release: everything this task did happens-before any Acquire read of this or a
            // later value of the word (all writes are read-modify-writes, so each one continues
            // the release sequence): the waiter's load in `wait_until`/`released`, or `count`.
            // Acquire: a round's end reads the `PARKED`/`ASYNC` bits set by waiters and then
            // touches the registry those waiters published before setting them.
            match self.state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
                Ok(_) => {
                    if ends_round && s & (PARKED | ASYNC) != 0 {
                        self.release_waiters(s, new);
                    }
                    return Ok(());
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Slow path of the transition to zero: wake the parked threads and futures of the round
    /// that `old` belonged to. `new` is the state the transition wrote.
    #[cold]
    fn release_waiters(&self, old: u64, new: u64) {
        let epoch = state::epoch(old);
        let panicked = new & LAST_PANICKED != 0;
        if old & PARKED != 0 {
            // Wake exactly the threads that parked in this round: their token is its epoch.
            // (A round that already restarted has parked its own waiters under the next epoch.)
            // SAFETY: `self.key()` is the address of this group's state word, which only this
            // group parks on or unparks (no two live objects share an address, and the group
            // cannot move or drop while a waiter borrows it). The filter compares two integers:
            // it cannot panic and does not call into the parker.
            unsafe {
                self.parker.unpark_filter(
                    self.key(),
                    |token| token == epoch as usize,
                    panicked as usize,
                );
            }
        }
        if old & ASYNC != 0 {
            if let Some(wakers) = self.wakers.get() {
                wakers.release(epoch, panicked);
            }
        }
    }

    /// The group's identity while it stays in place: the address of its state word. The key
    /// threads park on, and the key of the group's records in [`diagnostics`] and [`leak`].
    #[inline]
    pub(crate) fn key(&self) -> usize {
        &self.state as *const AtomicU64 as usize
    }

    /// [`update`](Self::update) with the diagnostics' bookkeeping around it: every change of the
    /// counter by `add`, `done`, a guard or a task goes through here, so this and `Drop` are
    /// the only places the group calls the [`diagnostics`] and [`leak`] hooks. (Without the
    /// `diagnostics` feature the hooks are empty and this is `update`.)
    #[inline]
    pub(crate) fn update_from(
        &self,
        delta: isize,
        panicked: bool,
        origin: Origin,
    ) -> Result<(), AddError> {
        if delta > 0 {
            // Recorded before the counter rises, so that a `done` racing ahead finds the entry.
            diagnostics::record_add(self, delta.unsigned_abs(), origin);
            let result = self.update(delta, panicked);
            if result.is_err() {
                diagnostics::add_refused(self, delta.unsigned_abs(), origin);
            }
            return result;
        }
        let result = self.update(delta, panicked);
        if result.is_ok() && delta < 0 {
            self.on_release(delta.unsigned_abs(), origin);
        }
        result
    }

    /// The release hook: `n` counts were released by `origin` (a `done`, a negative `add`, a
    /// guard or a task ending). Recorded after the counter fell.
    #[inline]
    fn on_release(&self, n: usize, origin: Origin) {
        diagnostics::record_release(self, n, origin);
        leak::released(self, origin.location());
    }

    /// All blocking waits. Returns `false` only when `deadline` passed first.
    #[inline]
    #[track_caller]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // Acquire pairs with the AcqRel update that set the counter to zero: the tasks' writes
        // are visible once we see zero.
        let s = self.state.load(Acquire);
        if state::count(s) == 0 {
            self.finish(s & LAST_PANICKED != 0);
            return true;
        }
        self.wait_slow(state::epoch(s), deadline)
    }

    #[cold]
    #[track_caller]
    fn wait_slow(&self, epoch: u32, deadline: Option<Instant>) -> bool {
        // A task of this group waiting for it could never see zero: panic instead of hanging.
        diagnostics::check_self_wait(self);
        // Feature `diagnostics`: the stall report's timer (nothing otherwise).
        let mut stall = Stall::start(self);
        // Phase 1: spin. Our round has ended exactly when the epoch is no longer `epoch`.
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            let s = self.state.load(Acquire); // pairs with the ending update, as in `wait_until`
            if state::epoch(s) != epoch {
                return self.released(s);
            }
            if expired(deadline) {
                return false;
            }
        }
        // Phase 2: park. Wake-ups can be spurious (another primitive's unpark on our address
        // cannot happen, but we do not rely on it): loop until the epoch moves or time is up.
        loop {
            let validate = || {
                // Runs under the park queue lock. Register as a parked waiter of `epoch`,
                // unless the round has already ended. Relaxed suffices: the queue lock orders
                // this with the `unpark_filter` of the round's end, and the compare-exchange
                // makes the bit visible to the ending update (one modification order).
                let mut s = self.state.load(Relaxed);
                loop {
                    if state::epoch(s) != epoch {
                        return false;
                    }
                    if s & PARKED != 0 {
                        return true;
                    }
                    match self
                        .state
                        .compare_exchange_weak(s, s | PARKED, Relaxed, Relaxed)
                    {
                        Ok(_) => return true,
                        Err(actual) => s = actual,
                    }
                }
            };
            let timed_out = |was_last_thread: bool| {
                // Runs under the park queue lock. Take our registration back: when nobody else
                // is parked here, clear `PARKED` if it still belongs to our round (every thread
                // that sets it does so under this lock, so none can be missed).
                if was_last_thread {
                    let mut s = self.state.load(Relaxed);
                    while state::epoch(s) == epoch && s & PARKED != 0 {
                        match self
                            .state
                            .compare_exchange_weak(s, s & !PARKED, Relaxed, Relaxed)
                        {
                            Ok(_) => break,
                            Err(actual) => s = actual,
                        }
                    }
                }
            };
            // SAFETY: `self.key()` is the address of this group's state word, which only this
            // group parks on or unparks (no two live objects share an address, and the group
            // cannot move or drop while we borrow it). `validate` and `timed_out` only load and
            // compare-exchange that word and compare epochs (masks and shifts, no arithmetic
            // that can overflow): they cannot panic and do not call into the parker.
            let parked = unsafe {
                self.parker.park(
                    self.key(),
                    epoch as usize,
                    stall.park_deadline(deadline),
                    validate,
                    timed_out,
                )
            };
            // Acquire pairs with the ending update (the tasks' writes become visible).
            let s = self.state.load(Acquire);
            match parked {
                Parked::Unparked(panicked) if state::epoch(s) != epoch => {
                    self.finish(panicked != 0);
                    return true;
                }
                _ if state::epoch(s) != epoch => return self.released(s),
                // The stall report's deadline, not the wait's (only with `diagnostics`).
                Parked::TimedOut if stall.timed_out(self, deadline) => {}
                Parked::TimedOut => return false,
                Parked::Unparked(_) | Parked::Invalid => {} // spurious: park again
            }
        }
    }

    /// A waiter found the word at `s`, in a later epoch than its own: its round ended.
    #[track_caller]
    fn released(&self, s: u64) -> bool {
        // `LAST_PANICKED` describes the round that ended last. If one more round has already
        // ended since ours (the epoch moved by two or more), it is the best we know.
        self.finish(s & LAST_PANICKED != 0);
        true
    }

    /// The end of every wait: report a round whose `go` task panicked.
    #[inline]
    #[track_caller]
    pub(crate) fn finish(&self, panicked: bool) {
        if panicked {
            panic_in_round();
        }
    }

    // --- for `WaitFuture` ---

    /// The state word, for the future's fast path.
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        // Acquire: as in `wait_until`.
        self.state.load(Acquire)
    }

    /// Registers a future waiting for the end of round `epoch`. Returns the registry key, or
    /// `Err(panicked)` when the round has already ended.
    pub(crate) fn register(&self, epoch: u32, waker: &std::task::Waker) -> Result<usize, bool> {
        let waker = waker.clone(); // executor code: run it before taking our lock
        let wakers = self.wakers.get_or_init(Wakers::default);
        let mut reg = wakers.lock();
        // Set `ASYNC` while the round is still `epoch`, under the registry lock: the round's
        // end either happens before (we see the new epoch) or sees the bit and then takes the
        // lock after us, finding our entry. Release pairs with the Acquire of the ending update,
        // which then sees the registry allocated.
        let mut s = self.state.load(Acquire);
        loop {
            if state::epoch(s) != epoch {
                drop(reg);
                return Err(s & LAST_PANICKED != 0);
            }
            if s & ASYNC != 0 {
                break;
            }
            match self
                .state
                .compare_exchange_weak(s, s | ASYNC, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        Ok(reg.insert(epoch, waker))
    }

    /// The registry; exists once a future has registered.
    pub(crate) fn wakers(&self) -> &Wakers {
        self.wakers
            .get()
            .expect("a registered future implies an allocated registry")
    }

    /// Clears `ASYNC` after the last waiting future left (called under the registry lock, so no
    /// registration can race with it).
    pub(crate) fn clear_async(&self) {
        self.state.fetch_and(!ASYNC, Relaxed);
    }
}

impl Drop for WaitGroup {
    /// Forgets the group's records in the [`diagnostics`] registry and the [`leak`] checker
    /// (nothing to forget without the `diagnostics` feature), so that a later group at the same
    /// address starts clean.
    fn drop(&mut self) {
        diagnostics::forget_group(self);
        leak::forget_group(self);
    }
}

impl Default for WaitGroup {
    /// The same as [`WaitGroup::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::default();
    /// assert_eq!(wg.count(), 0);
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WaitGroup {
    /// Shows the counter: `WaitGroup { count: 2 }`.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// wg.add(2);
    /// assert_eq!(format!("{wg:?}"), "WaitGroup { count: 2 }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn add_failed(err: AddError) -> ! {
    panic!("{err}")
}

#[cold]
#[inline(never)]
#[track_caller]
fn panic_in_round() -> ! {
    panic!("a task started by WaitGroup::go panicked; the WaitGroup's round ended with a panic")
}
