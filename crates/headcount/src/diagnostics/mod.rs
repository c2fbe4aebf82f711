//! Diagnostics for the bugs a `WaitGroup` cannot prevent: a task waiting for its own group, and
//! a `done` that never comes. (Threads that outlive their `wait` are [`crate::leak`]'s.)
//!
//! Three parts, each in a file of its own, chosen here and nowhere else:
//!
//! * **Self-deadlock detection, always on** (`self_wait.rs`). A task started by
//!   [`WaitGroup::go`](crate::WaitGroup::go) (or a task group's worker) holds a count of its
//!   group until it returns, so a `wait` on that group from inside the task can never see zero.
//!   The task wrapper marks its thread with the group's address (a small fixed stack in a
//!   thread-local: no allocation), and the *slow* path of every blocking wait (the counter is
//!   above zero) checks the mark and panics instead of hanging. The fast paths do not look at
//!   it.
//! * **The call-site registry behind `WaitGroup::outstanding`** (`call_sites.rs`) **and stall
//!   reports** (`stall.rs`), feature `diagnostics`. Every `add`, `enter`, `enter_owned` and
//!   `go*` records its caller's [`Location`](std::panic::Location) in a registry *outside* the
//!   group (a sharded global map keyed by the group's address, emptied when the counter reaches
//!   zero and when the group is dropped), and a blocking wait that stays blocked past a
//!   threshold reports once who still owes a `done`:
//!
//!   ```text
//!   wait blocked for 5.0 s on a group at src/main.rs:10; still outstanding: 2 x src/worker.rs:40 (enter), 1 x src/main.rs:22 (go)
//!   ```
//!
//!   An async wait ([`WaitGroup::wait_async`](crate::WaitGroup::wait_async)) that stays
//!   pending past the threshold is reported the same way, naming the line that called
//!   `wait_async`: a pending future is not polled until it is woken, so one watchdog thread per
//!   process (started by the first async wait that stays pending, asleep while none is) sends
//!   those reports. It keeps each pending wait's group *address* only, never a reference, so a
//!   leaked future cannot make it read a dropped group; its report lists the registry's entries
//!   for that address.
//!
//!   The report goes to the sink set with `set_report_sink` if any, else through
//!   `tracing::warn!` (target `headcount`) when a subscriber wants it, else to stderr.
//!   Without the feature every hook is an empty `#[inline(always)]` function over zero-sized
//!   types (`off.rs`): the group stays 16 bytes and its sync paths allocate nothing and compile
//!   to the same code (`benches/diagnostics.rs` measures it).
//!
//! The group calls the hooks from two places in `wait_group.rs`: its one update path (every
//! `add`, `done`, guard and task end) and its `Drop`.
//!
//! # Attribution of a `done`
//!
//! A `done` does not say which `add` it answers. With the feature on, the registry keeps one
//! entry per (location, kind) with a count and the time it last rose from zero. A count released
//! by a [`Guard`](crate::Guard) or a `go` task goes back to its own entry (the guard and the task
//! remember their location, in a field that is zero-sized without the feature). A plain `done` or
//! negative `add` releases first-in-first-out: the oldest `add` entry first, then the oldest
//! entry of any kind. An `add` is recorded just before the counter changes and a release just
//! after it (without holding the registry lock across the update, which may run the wake-ups of
//! a round's end), so the totals follow the counter except in the instant of a race between the
//! last `done` of a round and the first `add` of the next; counts without an entry are listed
//! as `unknown location`.
//!
//! A group that is *moved* while its counter is above zero leaves its entries behind under its
//! old address; they go when a group at that address next reaches zero or is dropped, and the
//! moved group lists its counts as `unknown location`.

mod self_wait;

#[cfg(feature = "diagnostics")]
mod call_sites;
#[cfg(feature = "diagnostics")]
mod stall;

#[cfg(not(feature = "diagnostics"))]
mod off;

pub(crate) use self_wait::{check_self_wait, enter_own_group};

#[cfg(feature = "diagnostics")]
pub use call_sites::{Kind, Outstanding};
#[cfg(feature = "diagnostics")]
pub use stall::{set_report_sink, set_stall_threshold, stall_threshold};

#[cfg(feature = "diagnostics")]
pub(crate) use call_sites::{add_refused, forget_group, record_add, record_release, Origin};
#[cfg(feature = "diagnostics")]
pub(crate) use stall::{AsyncStall, Stall};

#[cfg(not(feature = "diagnostics"))]
pub(crate) use off::{
    add_refused, forget_group, record_add, record_release, AsyncStall, Origin, Stall,
};
