//! Go's `sync.WaitGroup` for Rust threads and async tasks: allocation-free, model-checked, and
//! without Go's sharp edges.
//!
//! A [`WaitGroup`] answers one question: *have all my tasks finished?* It is a counter:
//! [`add`](WaitGroup::add) before starting work, [`done`](WaitGroup::done) when a task
//! finishes, [`wait`](WaitGroup::wait) blocks until the counter is zero.
//!
//! ```
//! use std::sync::Arc;
//! use headcount::WaitGroup;
//!
//! let wg = Arc::new(WaitGroup::new());
//! for item in 0..1000 {
//!     wg.go(move || { let _ = item * 2; }); // add(1) happens before the thread starts
//! }
//! wg.wait();                                // blocks until all 1000 are done
//! assert_eq!(wg.count(), 0);
//! ```
//!
//! # From Go
//!
//! | Go                                   | headcount                                           |
//! |--------------------------------------|-----------------------------------------------------|
//! | `var wg sync.WaitGroup`              | `WaitGroup::new()` (`const`: also in a `static`)    |
//! | `wg.Add(n)` / `wg.Done()`            | [`add(n)`](WaitGroup::add) / [`done()`](WaitGroup::done), or [`try_add`](WaitGroup::try_add) for an error instead of a panic |
//! | `wg.Add(1); go func() { defer wg.Done(); ... }()` | [`wg.go(f)`](WaitGroup::go), [`go_static`](WaitGroup::go_static), [`go_scoped`](WaitGroup::go_scoped) |
//! | `defer wg.Done()`                    | a [`Guard`] from [`enter`](WaitGroup::enter) / [`enter_owned`](WaitGroup::enter_owned) |
//! | `wg.Wait()`                          | [`wait`](WaitGroup::wait), [`wait_timeout`](WaitGroup::wait_timeout), [`wait_deadline`](WaitGroup::wait_deadline), [`wait_async`](WaitGroup::wait_async) |
//!
//! # Go's five WaitGroup bugs
//!
//! 1. **`Add` inside the goroutine.** [`go`](WaitGroup::go) and [`enter`](WaitGroup::enter)
//!    count the task before it exists; there is nothing to put in the wrong place.
//! 2. **Forgetting `Done`.** A [`Guard`] calls it on drop, also during a panic's unwinding.
//! 3. **Negative counter.** A clear panic ("negative WaitGroup counter") or an [`AddError`]
//!    from [`try_add`](WaitGroup::try_add); either way the counter is left unchanged.
//! 4. **Reuse without waiting.** Defined behaviour: a transition to zero releases exactly the
//!    waiters of that round, even if the group is reused at once (see [`WaitGroup`]'s
//!    *Semantics*); no "reused before previous Wait has returned" panic.
//! 5. **Copying.** A `WaitGroup` is neither `Clone` nor `Copy`; passing it by value moves it,
//!    so the "copy" cannot be waited on by mistake (a compile error, not a `go vet` warning).
//!
//! # Compared with
//!
//! | | headcount | crossbeam `WaitGroup` | `std::thread::scope` | tokio-util `TaskTracker` | Go `sync.WaitGroup` |
//! |---|---|---|---|---|---|
//! | size / allocation | 16 bytes, none | `Arc` to a heap block | n/a | `Arc` | 16 bytes |
//! | wait from threads and async | both, at once | threads | threads | async | goroutines |
//! | timeouts | `wait_timeout`, `wait_deadline`, drop the future | no | no | via `tokio::time` | no |
//! | reuse after zero | yes, defined | no (consumed by `wait`) | n/a | yes (`reopen`) | yes, with rules |
//! | panics reach the waiter | tasks from `go` | no | yes | no | crash |
//! | negative counter | panic or `Err`, counter intact | impossible (clones) | n/a | impossible | panic, state corrupt |
//!
//! # Waiting
//!
//! Blocking waits spin briefly, then park the thread with
//! [`parking_lot_core`](https://docs.rs/parking_lot_core) keyed on the group's address: no
//! memory in the group, timeouts built in, no allocation after a thread's first park.
//! Futures register their waker in a registry the group allocates the first time a future
//! has to wait.
//!
//! # Features
//!
//! No features are enabled by default; the core needs only `parking_lot_core` and `slab`.
//!
//! * `diagnostics`: every `add`/`enter`/`go` records its caller; `WaitGroup::outstanding`
//!   lists who still owes a `done`, and a `wait` blocked past a threshold reports it (through
//!   `tracing` or stderr; see [`diagnostics`]). Without it the group is unchanged: 16 bytes, no
//!   allocation. Self-deadlock detection and the [`leak`] checker work either way.
//! * `tokio`: `AsyncGroup` and `AsyncErrGroup`, the task groups for tokio tasks (tokio's
//!   `Semaphore` for limits, tokio-util's `CancellationToken` for cancellation).
//!
//! # Task groups
//!
//! Where a bare counter is not enough (Go's `errgroup` and `sourcegraph/conc`): [`Group`]
//! carries panics to the waiter with their original payload and bounds concurrency on reused
//! worker threads ([`Group::limit`]); [`scope`] lets tasks borrow from the stack; [`ErrGroup`]
//! returns the first (or every) error and cancels siblings through a [`CancelToken`];
//! [`ResultGroup`] and [`TryResultGroup`] return results in submission order. The table is
//! the contract of every group type:
//!
#![doc = include_str!("group/contract.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod diagnostics;
mod error;
mod future;
mod go;
mod group;
mod guard;
mod lazy_box;
pub mod leak;
mod park;
mod state;
mod sync;
mod wait_group;
mod wakers;

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::AddError;
pub use future::WaitFuture;
pub use group::{
    scope, CancelCause, CancelToken, ErrGroup, ErrGroupSpawner, Group, Panicked, ResultGroup,
    ResultGroupSpawner, Scope, Spawner, TryResultGroup, TryResultGroupSpawner,
};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use group::{AsyncErrGroup, AsyncGroup, TrackedFuture};
pub use guard::{Guard, OwnedGuard};
pub use wait_group::WaitGroup;
