//! Self-deadlock detection, always on: a task waiting for the group that counts it.
//!
//! A task started by [`WaitGroup::go`] (or a task group's worker) holds a count of its group
//! until it returns, so a `wait` on that group from inside the task can never see zero. The task
//! wrapper marks its thread with the group's [`key`](WaitGroup::key) (a small fixed stack in a
//! thread-local: no allocation), and the *slow* path of every blocking wait (the counter is
//! above zero) checks the mark and panics instead of hanging. The fast paths do not look at it.

use std::cell::Cell;
use std::marker::PhantomData;

use crate::WaitGroup;

/// How many nested groups one thread can be a task of and still be checked. Deeper marks are
/// counted but not checked (no false positive, only a missed detection).
const OWN_GROUPS: usize = 4;

/// The groups the current thread is a task of, innermost last.
struct OwnGroups {
    keys: [Cell<usize>; OWN_GROUPS],
    who: [Cell<&'static str>; OWN_GROUPS],
    depth: Cell<usize>,
}

impl OwnGroups {
    const fn new() -> Self {
        OwnGroups {
            keys: [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)],
            who: [Cell::new(""), Cell::new(""), Cell::new(""), Cell::new("")],
            depth: Cell::new(0),
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static OWN: OwnGroups = const { OwnGroups::new() };
}

#[cfg(loom)]
loom::thread_local! {
    static OWN: OwnGroups = OwnGroups::new();
}

/// Marks the current thread as a task of a group until dropped; see [`enter_own_group`].
#[must_use = "the thread is marked only while the mark lives"]
pub(crate) struct OwnGroupMark {
    pushed: bool,
    /// Thread-bound: it pops the current thread's stack.
    _not_send: PhantomData<*const ()>,
}

/// **Hook** (task wrappers, and the group layer's worker threads): marks the current thread as
/// running a task that holds a count of `wg` until the returned mark drops. While marked, a
/// blocking wait on `wg` from this thread with the counter above zero panics ("self-deadlock")
/// instead of hanging. `who` names the spawner in the message, e.g. `"WaitGroup::go"`.
///
/// Marks nest (drop them in reverse order, as scopes do); no allocation.
#[inline]
pub(crate) fn enter_own_group(wg: &WaitGroup, who: &'static str) -> OwnGroupMark {
    let key = wg.key();
    let pushed = OWN
        .try_with(|own| {
            let depth = own.depth.get();
            if depth < OWN_GROUPS {
                own.keys[depth].set(key);
                own.who[depth].set(who);
            }
            own.depth.set(depth + 1);
        })
        .is_ok();
    OwnGroupMark {
        pushed,
        _not_send: PhantomData,
    }
}

impl Drop for OwnGroupMark {
    fn drop(&mut self) {
        if self.pushed {
            let _ = OWN.try_with(|own| own.depth.set(own.depth.get().saturating_sub(1)));
        }
    }
}

/// Called by the slow path of every blocking wait (the counter was above zero): panics if the
/// current thread is a task of `wg`.
#[inline]
#[track_caller]
pub(crate) fn check_self_wait(wg: &WaitGroup) {
    let key = wg.key();
    let who = OWN
        .try_with(|own| {
            let depth = own.depth.get().min(OWN_GROUPS);
            (0..depth)
                .rev()
                .find(|&i| own.keys[i].get() == key)
                .map(|i| own.who[i].get())
        })
        .ok()
        .flatten();
    if let Some(who) = who {
        self_deadlock(who, wg.count());
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn self_deadlock(who: &str, count: usize) -> ! {
    panic!(
        "self-deadlock: a task started by {who} is waiting for its own group (counter {count}); \
         the task's own count is released only when it returns, so this wait could never see \
         zero. Wait from outside the task, or give the task a group of its own."
    )
}
