//! Structured concurrency on the [`WaitGroup`](crate::WaitGroup): task groups that carry
//! panics and errors to the waiter, cancel siblings, bound concurrency on reused worker
//! threads, and return results in order.
//!
//! The contract, one row per group type (the crate docs show the same table, from the same
//! file, `contract.md`):
//!
#![doc = include_str!("contract.md")]
//!
//! Every thread group shares one design (`pool.rs`): `limit(n)` bounds the tasks in flight,
//! `spawn` blocks at the limit and `try_spawn` hands the task back; tasks run on worker threads
//! taken lazily up to the limit (from a process-wide cache of idle workers, or started) and
//! reused; `wait` waits for every task through the group's `WaitGroup` and for every worker to
//! leave the group, so nothing of the group runs after it; the workers then wait, idle, for the
//! next group (one not hired within a second exits); panics are caught per task and re-raised
//! by `wait` with their original payload (or returned by `wait_recover` as a [`Panicked`]).

#[allow(clippy::module_inception)] // the `Group` type, in the `group` module
mod group;

#[cfg(feature = "tokio")]
mod async_group;
mod cancel;
mod err_group;
mod job;
mod panics;
mod pool;
mod results;
mod scope;

#[cfg(feature = "tokio")]
pub use async_group::{AsyncErrGroup, AsyncGroup, TrackedFuture};
pub use cancel::{CancelCause, CancelToken};
pub use err_group::{ErrGroup, ErrGroupSpawner};
pub use group::{Group, Spawner};
pub use panics::Panicked;
pub use results::{ResultGroup, ResultGroupSpawner, TryResultGroup, TryResultGroupSpawner};
pub use scope::{scope, Scope};
