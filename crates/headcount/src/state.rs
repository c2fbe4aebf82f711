//! The packed state word of a [`WaitGroup`](crate::WaitGroup).
//!
//! # State table
//!
//! | bits    | name            | meaning                                                          |
//! |---------|-----------------|------------------------------------------------------------------|
//! | `0..32` | `COUNT`         | the counter (Go's counter): tasks still owed a `done`            |
//! | `32..60`| `EPOCH`         | number of transitions of `COUNT` to zero, modulo 2^28            |
//! | `60`    | `PARKED`        | a thread may be parked on this group (set under the park lock)   |
//! | `61`    | `ASYNC`         | a future may have a registered waker (set under the waker lock)  |
//! | `62`    | `PANICKED`      | a task started by `go` panicked in the current round             |
//! | `63`    | `LAST_PANICKED` | the round that last ended (`COUNT` reached zero) had a panic     |
//!
//! Every change to the word is one read-modify-write. A transition of `COUNT` to zero happens in
//! the same read-modify-write as: `EPOCH += 1`, `LAST_PANICKED = PANICKED`, and clearing
//! `PANICKED`, `PARKED` and `ASYNC`. That makes each zero transition a single event in the
//! word's modification order, which is what lets waiters tell "my round ended" apart from "the
//! group was reused", without Go's rule that `Add` must not race with `Wait`:
//!
//! * A waiter reads `EPOCH = e` while `COUNT > 0`. It is released exactly when the word's epoch
//!   is no longer `e`: the round it waited for has ended, even if the group is already counting
//!   again for the next round.
//! * Waiters only need a wake-up call when they actually block: `PARKED`/`ASYNC` tell the thread
//!   that makes the transition whether to take the slow path at all. When nobody waits, `add` and
//!   `done` are one compare-and-swap.
//! * The epoch wraps after 2^28 rounds. A waiter that sleeps through exactly a multiple of 2^28
//!   complete rounds of the same group would not notice its release and would wait for the next
//!   round instead; it can never return early.

/// Bits of the counter.
pub(crate) const COUNT_MASK: u64 = (1 << 32) - 1;
/// The largest value the counter can hold.
pub(crate) const MAX_COUNT: u64 = COUNT_MASK;
/// Shift of the epoch field.
const EPOCH_SHIFT: u32 = 32;
/// Width of the epoch field.
const EPOCH_BITS: u32 = 28;
/// Bits of the epoch field (unshifted).
pub(crate) const EPOCH_MAX: u32 = (1 << EPOCH_BITS) - 1;
/// Bits of the epoch field (in place).
const EPOCH_MASK: u64 = (EPOCH_MAX as u64) << EPOCH_SHIFT;
/// A thread may be parked on the group.
pub(crate) const PARKED: u64 = 1 << 60;
/// A future may have a registered waker.
pub(crate) const ASYNC: u64 = 1 << 61;
/// A `go` task panicked in the current round.
pub(crate) const PANICKED: u64 = 1 << 62;
/// The last completed round had a panicked `go` task.
pub(crate) const LAST_PANICKED: u64 = 1 << 63;

/// The counter of `state`.
#[inline]
pub(crate) const fn count(state: u64) -> u64 {
    state & COUNT_MASK
}

/// The epoch of `state`.
#[inline]
pub(crate) const fn epoch(state: u64) -> u32 {
    ((state & EPOCH_MASK) >> EPOCH_SHIFT) as u32
}

/// The epoch that follows `epoch`.
#[inline]
pub(crate) const fn next_epoch(epoch: u32) -> u32 {
    epoch.wrapping_add(1) & EPOCH_MAX
}

/// `state` with a new counter value.
#[inline]
pub(crate) const fn with_count(state: u64, count: u64) -> u64 {
    (state & !COUNT_MASK) | count
}

/// The state after the counter of `state` (already set to zero) ended a round: next epoch,
/// `LAST_PANICKED` taken from `PANICKED`, and the waiter and panic flags cleared.
#[inline]
pub(crate) const fn end_round(state: u64) -> u64 {
    let last = if state & PANICKED != 0 {
        LAST_PANICKED
    } else {
        0
    };
    let epoch = (next_epoch(epoch(state)) as u64) << EPOCH_SHIFT;
    count(state) | epoch | last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let fields = [
            COUNT_MASK,
            EPOCH_MASK,
            PARKED,
            ASYNC,
            PANICKED,
            LAST_PANICKED,
        ];
        let mut seen = 0u64;
        for f in fields {
            assert_eq!(seen & f, 0, "field {f:#x} overlaps");
            seen |= f;
        }
        assert_eq!(seen, u64::MAX, "every bit has a meaning");
    }

    #[test]
    fn end_round_moves_the_panic_flag_and_wraps_the_epoch() {
        let s = with_count(
            PANICKED | PARKED | ASYNC | ((EPOCH_MAX as u64) << EPOCH_SHIFT),
            0,
        );
        let e = end_round(s);
        assert_eq!(epoch(e), 0, "the epoch wraps");
        assert_eq!(e & (PARKED | ASYNC | PANICKED), 0);
        assert_ne!(e & LAST_PANICKED, 0);
        let clean = end_round(with_count(LAST_PANICKED, 0));
        assert_eq!(
            clean & LAST_PANICKED,
            0,
            "a clean round clears LAST_PANICKED"
        );
        assert_eq!(epoch(clean), 1);
    }
}
