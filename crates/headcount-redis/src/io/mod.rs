//! All of the crate's Redis I/O, and nothing else: how a connection is made to a single
//! server, a Redis Cluster or the primary that Redis Sentinel names ([`topology`]); how a
//! call runs, is resent in its session and is bounded by its deadline ([`conn`]); and the
//! reads that all waiters of a process share ([`watch`]). The other modules decide what to
//! send and what a reply means; only these talk to Redis.

pub(crate) mod conn;
pub(crate) mod topology;
pub(crate) mod watch;
pub(crate) mod watch_cluster;
