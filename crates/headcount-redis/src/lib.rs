//! A distributed Go-style WaitGroup on Redis, where a crashed participant is an
//! error, not a hang.
//!
//! [`RedisWaitGroup`] has the contract of the core `headcount::WaitGroup` (`add`
//! before the work starts, `done` when a piece ends, `wait` until the counter is
//! zero, reuse at will), for workers that are separate processes or hosts: a CI
//! fan-out, a batch of containers, the shards of a data job. Every call is fallible
//! and its [`Error`] says what happened.
//!
//! ```no_run
//! use std::time::Duration;
//! use headcount_redis::RedisWaitGroup;
//!
//! // Coordinator: count the work before it starts, then wait.
//! let wg = RedisWaitGroup::open_url("redis://127.0.0.1:6379", "nightly")?;
//! wg.add(2)?;
//! // Each worker (anywhere): hold a lease while working; dropping it pays the done.
//! let lease = wg.join(Duration::from_secs(10))?;
//! lease.done()?;
//! wg.done()?;
//! wg.wait_timeout(Duration::from_secs(600))?; // Err(ParticipantLost{..}) if a worker died
//! # Ok::<(), headcount_redis::Error>(())
//! ```
//!
//! # Guarantees
//!
//! | property | how |
//! |---|---|
//! | atomic updates | every operation is one Lua script ([`redis::Script`]: `EVALSHA`, reloaded on `NOSCRIPT`) |
//! | negative counter refused | the script checks before writing: [`Error::NegativeCounter`], count unchanged |
//! | retried ops applied once | each mutation runs in a client session under a sequence number and is resent unchanged after a dropped connection; the script keeps each session's last call number in the group's state, answers a resend without applying it again and refuses an older straggler; a handle ends its sessions when dropped, a lease's session ends with the lease, others are collected an hour after their last call |
//! | no missed zero | a generation number plus `XREAD` from a saved stream id (see below); on a Redis Cluster, sharded Pub/Sub subscribed before the snapshot, and a new snapshot on any change of the subscription |
//! | crashed participant = error | leases ([`RedisWaitGroup::join`]) expire on the Redis clock; waiters get [`Error::ParticipantLost`] naming it and its owed `done`s |
//! | late participant fenced | a reaped lease's `done` is refused: [`Error::Fenced`] |
//! | lost state is not zero | the group's instance id travels with every call; a missing or different state is [`Error::StateLost`] (or [`Error::NoSuchGroup`]) |
//! | rolled-back state is not zero | every reply carries the group's version, which never goes down; a handle, waiter or lease that saw a later version than the server holds (failover to a replica that missed writes, restart from an older snapshot) gets [`Error::StateLost`] |
//! | one lost key is not zero | every key of a group holds a sentinel and every call checks all seven: one evicted or deleted key is [`Error::StateLost`], never a hang or a false [`Error::ParticipantLost`] |
//! | durable acknowledgements | [`Options::min_replicas`]: each mutation waits (`WAIT`, same round trip) until that many replicas have it, else [`Error::NotReplicated`] |
//! | nothing left behind | keys expire after [`Options::expire_after`] idle (7 days by default); [`RedisWaitGroup::delete`]; memory bounded by live participants, not by calls or rounds |
//! | time | from Redis `TIME`, inside the scripts; client clocks are not used for leases |
//! | deadlines hold | a wait with a timeout returns within it + 0.25 s, any other call within the retry window ([`Options::retry_window`]), also against a server that is gone or frozen: every connect, reply and pause is cut to the time left |
//! | clear refusals | a missing or wrong password, a missing database and an ACL user lacking a command are [`Error::AuthRequired`], [`Error::AuthFailed`], [`Error::NoSuchDatabase`], [`Error::NoPermission`] (naming it), sentinels refusing their own password [`Error::SentinelAuthFailed`]; the least-privilege rule is [`ACL_RULE`] |
//! | no leaked secret | no error, `Debug` or `Display` of this crate holds a URL's password ([`redact_url`]) |
//! | Redis Cluster (Redis 7) | [`RedisWaitGroup::open_cluster`]; all keys of group `NAME` are `headcount:{NAME}:*`, and its wake channel `headcount:{NAME}:wake`: one hash slot, so every command (script, `WAIT`, shard subscription) goes to the node that owns it; `MOVED`/`ASK` redirects are followed, also while a waiter waits; a least-privilege user needs [`ACL_CLUSTER_RULE`] too |
//! | TLS | `rediss://` URLs (rustls), [`Options::tls_ca`] and [`Options::tls_client_cert`], for one server, a cluster's nodes, or sentinels and their primary; a certificate failure is [`Error::Tls`] at once |
//! | Sentinel | [`RedisWaitGroup::open_sentinel`]: every new connection asks the sentinels for the primary, so a failover is followed; the URLs' password is the primary's, [`Options::sentinel_password`] the sentinels' own |
//!
//! # Waiting
//!
//! A waiter takes an atomic snapshot (counter, round number, last event id), then
//! blocks in `XREAD` on the group's event stream from that id. The `zero` event of
//! its round releases it even if it arrives while the waiter is reconnecting and
//! even if the group was reused at once; the round number covers events trimmed
//! from the stream. The blocking read is bounded by the earliest lease expiry, so
//! the waiter itself reaps a dead participant's lease on time.
//!
//! The waiters of one process share their connection: per server, one watcher
//! thread runs every waiter's snapshots and reads the streams of every group being
//! waited on in one `XREAD BLOCK` (ended with `CLIENT UNBLOCK` from a second
//! connection when a new waiter arrives), then wakes the waiters whose events came. A thousand waiters, blocking
//! or async, hold two connections; a waiter that returns, times out or is dropped
//! leaves nothing registered ([`RedisWaitGroup::local_waiters`]). On a Redis
//! Cluster one read cannot span two hash slots: the group's script also publishes
//! each event on the group's shard channel (`SPUBLISH`), and one watcher per
//! cluster, with one connection per node, holds a shard subscription for every
//! group waited on (taken before the waiter's snapshot, followed when the slot
//! moves) and runs the snapshots: a thousand waiters on a hundred groups hold one
//! connection per node.
//!
//! # Rounds, failures and reuse
//!
//! As in the core, reaching zero releases the waiters of that moment and a later
//! `add` starts a new round. A lost or failed participant breaks the current round:
//! its waiters fail at once, the `done`s it owed are taken off the counter, and a
//! `wait` at zero keeps failing (like the core's panicked `go` task) until the next
//! `add` from zero starts a fresh round.
//!
//! # Compared with
//!
//! | | crash of a participant | missed zero after reconnect | retried decrement |
//! |---|---|---|---|
//! | Redisson `RCountDownLatch` | waits forever | possible (pub/sub) | counted twice |
//! | ZooKeeper/etcd barriers | treated as a normal leave | no (watch from revision) | n/a |
//! | `headcount-redis` | [`Error::ParticipantLost`] | no (stream from id) | counted once |

// The shared test support (`tests/support/cluster.rs`, included by a unit test)
// names this crate as its integration tests see it.
#[cfg(test)]
extern crate self as headcount_redis;

mod acl;
mod error;
mod group;
mod io;
mod keys;
mod lease;
mod script;
mod status;
mod wait;

pub use acl::{ACL_CLUSTER_RULE, ACL_RULE};
pub use error::{redact_url, Error, Result};
pub use group::{RedisWaitGroup, MAX_COUNT};
pub use io::conn::{Options, DEFAULT_EXPIRE_AFTER, MAX_RETRY_WINDOW};
pub use lease::{Lease, MAX_TTL, MIN_TTL};
pub use status::{LeaseInfo, Status};

/// Re-export of the `redis` crate this one is built on (for [`redis::Client`]).
pub use redis;

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
