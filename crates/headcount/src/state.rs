//! The packed state word of a [`WaitGroup`](crate::WaitGroup).
//!
//! # State table
//!
//! | bits     | name            | meaning                                                         |
//! |----------|-----------------|-----------------------------------------------------------------|
//! | `0`      | `PARKED`        | a thread may be parked on this group (set under the park lock)  |
//! | `1`      | `ASYNC`         | a future may have a registered waker (set under the waker lock) |
//! | `2`      | `PANICKED`      | a task started by `go` panicked in the current round            |
//! | `3`      | `LAST_PANICKED` | the round that last ended (`COUNT` reached zero) had a panic    |
//! | `4..32`  | `EPOCH`         | number of transitions of `COUNT` to zero, modulo 2^28           |
//! | `32..64` | `COUNT`         | the counter (Go's): tasks still owed a `done`, at most 2^31 - 1 |
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
//!   `done` are one read-modify-write each.
//! * `COUNT` sits in the top bits and its top bit is a guard: a small positive `add` is a single
//!   `fetch_add` (no retry loop under contention, like Go's `Add`), and one that overshoots
//!   [`MAX_COUNT`] is undone at once. While it is undone, other threads see a count above
//!   `MAX_COUNT`. A decrease treats it as "above zero" (it is) and goes ahead. A positive add
//!   never judges it: one whose own `fetch_add` lands above `MAX_COUNT` takes itself back and
//!   retries in the checking loop, which waits (yielding) until no overshoot is pending, so a
//!   legal add is never refused as overflow because of another thread's overshoot. The carry
//!   out of bit 63 cannot reach the other fields. Everything that can *decrease* the counter
//!   (and so end a round, or be refused as negative) is a compare-and-swap that checks first.
//! * The epoch wraps after 2^28 rounds. A waiter that sleeps through exactly a multiple of 2^28
//!   complete rounds of the same group would not notice its release and would wait for the next
//!   round instead; it can never return early.

/// A thread may be parked on the group.
pub(crate) const PARKED: u64 = 1 << 0;
/// A future may have a registered waker.
pub(crate) const ASYNC: u64 = 1 << 1;
/// A `go` task panicked in the current round.
pub(crate) const PANICKED: u64 = 1 << 2;
/// The last completed round had a panicked `go` task.
pub(crate) const LAST_PANICKED: u64 = 1 << 3;
/// Shift of the epoch field.
const EPOCH_SHIFT: u32 = 4;
/// Width of the epoch field.
const EPOCH_BITS: u32 = 28;
/// Bits of the epoch field (unshifted).
pub(crate) const EPOCH_MAX: u32 = (1 << EPOCH_BITS) - 1;
/// Bits of the epoch field (in place).
const EPOCH_MASK: u64 = (EPOCH_MAX as u64) << EPOCH_SHIFT;
/// Shift of the counter field.
pub(crate) const COUNT_SHIFT: u32 = 32;
/// The largest value the counter can hold (Go's counter is an `int32` too). The field's top bit
/// is the overshoot guard of the `fetch_add` fast path.
pub(crate) const MAX_COUNT: u64 = (1 << 31) - 1;
/// The largest delta that takes the `fetch_add` fast path. Keeping it small means the guard bit
/// could only be carried out of the word by 2^15 adds all in flight at once.
pub(crate) const FAST_ADD_MAX: isize = 1 << 16;
/// One unit of the counter, in place.
pub(crate) const ONE: u64 = 1 << COUNT_SHIFT;
/// Everything but the counter.
const LOW_MASK: u64 = ONE - 1;

/// The counter of `state`. Transiently above [`MAX_COUNT`] while an overshooting add is undone.
#[inline]
pub(crate) const fn count(state: u64) -> u64 {
    state >> COUNT_SHIFT
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
    (state & LOW_MASK) | (count << COUNT_SHIFT)
}

/// `end_round(with_count(state, 0))` for a `state` whose counter is one, without branches: the
/// hot path of the `done` that ends a round. The epoch's carry out of its field is masked off,
/// and `PANICKED` (bit 2) moves to `LAST_PANICKED` (bit 3) by a shift.
#[inline]
pub(crate) const fn end_round_from_one(state: u64) -> u64 {
    (state.wrapping_add(1 << EPOCH_SHIFT) & EPOCH_MASK) | ((state & PANICKED) << 1)
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
    with_count(epoch | last, count(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let count_field = u64::MAX << COUNT_SHIFT;
        let fields = [
            PARKED,
            ASYNC,
            PANICKED,
            LAST_PANICKED,
            EPOCH_MASK,
            count_field,
        ];
        let mut seen = 0u64;
        for f in fields {
            assert_eq!(seen & f, 0, "field {f:#x} overlaps");
            seen |= f;
        }
        assert_eq!(seen, u64::MAX, "every bit has a meaning");
        assert!(
            MAX_COUNT < count_field >> COUNT_SHIFT,
            "the guard bit is above MAX_COUNT"
        );
    }

    /// The state table in the module docs is the only description of the layout: it must say
    /// what the constants say.
    #[test]
    fn the_state_table_matches_the_constants() {
        let mut described = 0u64;
        for row in include_str!("state.rs").lines() {
            let cells: Vec<&str> = row.split('|').map(|c| c.trim().trim_matches('`')).collect();
            if !row.starts_with("//! | `") || cells.len() < 4 {
                continue;
            }
            let (lo, hi) = match cells[1].split_once("..") {
                Some((lo, hi)) => (lo.parse::<u32>().unwrap(), hi.parse::<u32>().unwrap()),
                None => {
                    let bit = cells[1].parse::<u32>().unwrap();
                    (bit, bit + 1)
                }
            };
            let mask = (u64::MAX >> (64 - (hi - lo))) << lo;
            let constant = match cells[2] {
                "PARKED" => PARKED,
                "ASYNC" => ASYNC,
                "PANICKED" => PANICKED,
                "LAST_PANICKED" => LAST_PANICKED,
                "EPOCH" => EPOCH_MASK,
                "COUNT" => u64::MAX << COUNT_SHIFT,
                other => panic!("the state table names an unknown field {other}"),
            };
            assert_eq!(mask, constant, "the table's row for {}", cells[2]);
            described |= mask;
        }
        assert_eq!(described, u64::MAX, "the table describes every bit");
    }

    #[test]
    fn end_round_moves_the_panic_flag_and_wraps_the_epoch() {
        let s = with_count(PANICKED | PARKED | ASYNC | EPOCH_MASK, 0);
        let e = end_round(s);
        assert_eq!(epoch(e), 0, "the epoch wraps");
        assert_eq!(count(e), 0);
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

    #[test]
    fn end_round_from_one_is_end_round_of_zero() {
        let epochs = [0, 1, 2, 12345, EPOCH_MAX - 1, EPOCH_MAX];
        for epoch in epochs {
            for flags in 0..16u64 {
                let s = ONE | ((epoch as u64) << EPOCH_SHIFT) | flags;
                assert_eq!(
                    end_round_from_one(s),
                    end_round(with_count(s, 0)),
                    "epoch {epoch} flags {flags:#b}"
                );
            }
        }
    }

    #[test]
    fn count_overflow_leaves_the_low_fields_alone() {
        let s = with_count(PARKED | (5 << EPOCH_SHIFT), MAX_COUNT);
        let over = s.wrapping_add(ONE * FAST_ADD_MAX as u64);
        assert_eq!(over & LOW_MASK, s & LOW_MASK);
        assert!(count(over) > MAX_COUNT);
        assert_eq!(over.wrapping_sub(ONE * FAST_ADD_MAX as u64), s);
    }
}
