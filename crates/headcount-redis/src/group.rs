//! [`RedisWaitGroup`]: the handle, its blocking methods and their async twins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::io::conn::{Inner, Options};
use crate::io::topology::Target;
use crate::keys::validate_name;
use crate::lease::{default_participant, Lease};
use crate::script::field;
use crate::status::Status;
use crate::wait;

/// Largest counter value (and largest `|delta|`): 2^53 - 1, exact in Redis's Lua.
pub const MAX_COUNT: i64 = (1 << 53) - 1;

/// A Go-style WaitGroup whose counter lives in Redis, shared by every process that
/// opens the same group name.
///
/// The contract is the core [`headcount::WaitGroup`]'s (add before starting work,
/// `done` when it ends, `wait` until zero; a group is reusable), made fallible: each
/// call returns a [`Result`] whose [`Error`] names what happened. A group comes into
/// existence with its first `add`; until then every other call reports
/// [`Error::NoSuchGroup`] (a missing group is never taken for a zero counter).
///
/// The handle is cheap to share across threads (`&self` everywhere; it is
/// `Send + Sync`). Each blocking call uses a pooled connection; each wait uses its
/// own.
///
/// [`headcount::WaitGroup`]: https://docs.rs/headcount
///
/// # Examples
///
/// ```no_run
/// use headcount_redis::RedisWaitGroup;
///
/// let wg = RedisWaitGroup::open_url("redis://127.0.0.1:6379", "shards")?;
/// wg.add(3)?;                 // before the work starts (Go: wg.Add(3))
/// for _ in 0..3 {
///     wg.done()?;             // in each worker, wherever it runs
/// }
/// wg.wait()?;                 // returns once the counter is zero
/// # Ok::<(), headcount_redis::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedisWaitGroup {
    inner: Arc<Inner>,
}

impl RedisWaitGroup {
    /// Opens the group `name` on `client`, with default [`Options`]. Nothing is sent
    /// to Redis yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] unless `name` is 1 to 128 bytes of `[A-Za-z0-9_.:-]`.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let wg = headcount_redis::RedisWaitGroup::open(client, "etl-2024-06-01")?;
    /// assert_eq!(wg.name(), "etl-2024-06-01");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(client: redis::Client, name: &str) -> Result<RedisWaitGroup> {
        RedisWaitGroup::open_with(client, name, Options::default())
    }

    /// Opens the group `name` on the server at `url`
    /// (`redis://[USER:PASSWORD@]host[:port][/db]`). Nothing is sent to Redis yet:
    /// a wrong password, user or database is reported by the first call
    /// ([`Error::AuthRequired`], [`Error::AuthFailed`], [`Error::NoSuchDatabase`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if the URL does not parse (it holds the URL with its
    /// password replaced by `***`); [`Error::InvalidName`].
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// assert!(headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "a b").is_err());
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn open_url(url: &str, name: &str) -> Result<RedisWaitGroup> {
        RedisWaitGroup::open_url_with(url, name, Options::default())
    }

    /// [`open_url`](Self::open_url) with explicit [`Options`]. A `rediss://` URL
    /// (TLS) uses the certificates of [`Options::tls_ca`] and
    /// [`Options::tls_client_cert`], or the system's roots.
    ///
    /// # Errors
    ///
    /// As [`open_url`](Self::open_url); [`Error::InvalidUrl`] for certificates
    /// given with a `redis://` URL; [`Error::Tls`] for a certificate or key that
    /// cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// let opts = Options::new().min_replicas(1);
    /// let wg = RedisWaitGroup::open_url_with("redis://127.0.0.1:6379", "job", opts)?;
    /// assert_eq!(wg.name(), "job");
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn open_url_with(url: &str, name: &str, options: Options) -> Result<RedisWaitGroup> {
        validate_name(name)?;
        let client = redis::Client::open(url).map_err(|e| Error::InvalidUrl {
            url: crate::error::redact_url(url),
            reason: crate::error::redact_url(&e.to_string()),
        })?;
        RedisWaitGroup::open_with(client, name, options)
    }

    /// Opens the group `name` on a Redis Cluster, given the URLs of one or more of
    /// its nodes (seeds; the user and password are the first URL's; `rediss://`
    /// URLs, for a cluster whose nodes speak TLS, use the certificates of
    /// `options` for every node). Nothing is sent to Redis yet.
    /// Every key of the group is in one hash slot (`headcount:{NAME}:*`): each
    /// command goes to the node that owns it, and `MOVED`/`ASK` redirects (a slot
    /// migrated or failed over, also while a waiter waits) are followed. A durable
    /// mutation's `WAIT` ([`Options::min_replicas`]) runs on that same node.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for an empty list or a URL that does not parse;
    /// [`Error::InvalidName`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// let seeds = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
    /// let wg = RedisWaitGroup::open_cluster(&seeds, "job", Options::new())?;
    /// wg.add(1)?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn open_cluster(urls: &[&str], name: &str, options: Options) -> Result<RedisWaitGroup> {
        validate_name(name)?;
        let target = Target::cluster(urls, &options)?;
        Ok(RedisWaitGroup {
            inner: Arc::new(Inner::new(target, name, options)),
        })
    }

    /// Opens the group `name` on the primary that Redis Sentinel names `master`,
    /// given the URLs of one or more sentinels. Every new connection asks the
    /// sentinels for the current primary, so after a failover (a connection error,
    /// or `READONLY` from a demoted primary) the next attempt reaches the new one.
    /// Use [`Options::min_replicas`] so that an acknowledged `add` or `done`
    /// survives the failover; a waiter whose round was lost in it gets
    /// [`Error::StateLost`], never a false zero. While no sentinel names a
    /// reachable primary (a failover, or a master name they do not know) calls
    /// are retried; after the retry window they fail with [`Error::Unreachable`]
    /// saying the master was not found.
    ///
    /// The user, password and database of the first URL are the primary's (and
    /// its replicas'), as in `redis://USER:PASSWORD@sentinel-1:26379/DB`; the
    /// sentinels' own password, if they need one, is
    /// [`Options::sentinel_password`] (and [`Options::sentinel_user`]).
    /// `rediss://` URLs reach the sentinels and the primary over TLS, with the
    /// certificates of [`Options::tls_ca`] and [`Options::tls_client_cert`].
    /// Nothing is sent to Redis yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for an empty list, a URL that does not parse, a mix
    /// of `redis://` and `rediss://`, or certificates with `redis://` URLs;
    /// [`Error::InvalidArgument`] for an empty master name or a sentinel user
    /// without a sentinel password; [`Error::InvalidName`]. The first call
    /// reports refused credentials: [`Error::SentinelAuthFailed`] (the
    /// sentinels'), [`Error::AuthRequired`] or [`Error::AuthFailed`] (the
    /// primary's).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// // The primary needs `primary-secret` (for user `hc`); the sentinels theirs.
    /// let sentinels = ["redis://hc:primary-secret@10.0.0.1:26379", "redis://10.0.0.2:26379"];
    /// let opts = Options::new().min_replicas(1).sentinel_password("sentinel-secret");
    /// let wg = RedisWaitGroup::open_sentinel(&sentinels, "mymaster", "job", opts)?;
    /// wg.add(1)?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn open_sentinel(
        urls: &[&str],
        master: &str,
        name: &str,
        options: Options,
    ) -> Result<RedisWaitGroup> {
        validate_name(name)?;
        let target = Target::sentinel(urls, master, &options)?;
        Ok(RedisWaitGroup {
            inner: Arc::new(Inner::new(target, name, options)),
        })
    }

    /// [`open`](Self::open) with explicit [`Options`] (for a `rediss://` client,
    /// its certificates).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; as [`open_url_with`](Self::open_url_with) for
    /// certificates.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let wg = RedisWaitGroup::open_with(client, "job", Options::new())?;
    /// # let _ = wg;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(
        client: redis::Client,
        name: &str,
        options: Options,
    ) -> Result<RedisWaitGroup> {
        validate_name(name)?;
        let target = Target::node(client, &options)?;
        Ok(RedisWaitGroup {
            inner: Arc::new(Inner::new(target, name, options)),
        })
    }

    /// The group's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// assert_eq!(wg.name(), "job");
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn check_delta(&self, delta: i64) -> Result<()> {
        if delta.unsigned_abs() > MAX_COUNT as u64 {
            return Err(Error::Overflow {
                group: self.inner.name.clone(),
                delta,
            });
        }
        Ok(())
    }

    fn add_call(&self, delta: i64) -> Result<crate::script::Call> {
        self.check_delta(delta)?;
        self.inner.call("add", true, vec![delta.to_string()])
    }

    /// Adds `delta` (which may be negative) to the counter, applied exactly once
    /// even if the call is retried after a dropped connection. A positive `add` on a
    /// group that does not exist creates it. Reaching zero releases the waiters of
    /// the round; leaving zero starts a new round (reuse, as in the core).
    ///
    /// # Errors
    ///
    /// [`Error::NegativeCounter`] if the counter would go below zero (nothing is
    /// written), [`Error::Overflow`] past [`MAX_COUNT`], [`Error::NoSuchGroup`] for a
    /// non-positive delta on a missing group, [`Error::StateLost`] (also when the
    /// server holds an older state than this handle saw, or only some of the
    /// group's keys), [`Error::Unreachable`], [`Error::NotReplicated`] under
    /// [`Options::min_replicas`] (applied, but not confirmed by enough replicas).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.add(2)?;
    /// assert!(wg.add(-3).is_err()); // refused: the counter stays at 2
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn add(&self, delta: i64) -> Result<()> {
        self.inner.run(&self.add_call(delta)?).map(drop)
    }

    /// `add(-1)`: one unit of work finished.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add); [`Error::NegativeCounter`] when the counter is zero.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.add(1)?;
    /// wg.done()?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn done(&self) -> Result<()> {
        self.add(-1)
    }

    /// Blocks until the counter of the current round reaches zero; returns at once
    /// when it is zero already. Never hangs on a lost server: once Redis has not
    /// answered for the retry window ([`Options::retry_window`]) it gives up.
    ///
    /// # Errors
    ///
    /// [`Error::ParticipantLost`] / [`Error::ParticipantFailed`] as soon as the round
    /// is broken (also when it is at zero after a broken round, until the next `add`
    /// starts a new one), [`Error::StateLost`], [`Error::NoSuchGroup`],
    /// [`Error::Unreachable`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.wait()?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        wait::wait_blocking(&self.inner, None)
    }

    /// [`wait`](Self::wait) for at most `timeout`. A waiter that times out leaves no
    /// trace in Redis.
    ///
    /// Returns within `timeout` plus about 0.25 s (its last snapshot), whatever the
    /// server does: every connect, reply and retry is cut to the time left. A
    /// timeout too long for an [`Instant`] (such as [`Duration::MAX`]) is no
    /// timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`], also when Redis did not answer in time (slow or frozen);
    /// [`Error::Unreachable`] when it refused or dropped the connection, or was
    /// never reached; and those of [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// match wg.wait_timeout(Duration::from_secs(600)) {
    ///     Ok(()) => println!("done"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        // A timeout too long for an `Instant` (`Duration::MAX`) is no timeout.
        wait::wait_blocking(&self.inner, Instant::now().checked_add(timeout))
    }

    /// [`wait`](Self::wait) until `deadline` at the latest: returns by the deadline
    /// plus about 0.25 s, as [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::{Duration, Instant};
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.wait_deadline(Instant::now() + Duration::from_secs(60))?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> Result<()> {
        wait::wait_blocking(&self.inner, Some(deadline))
    }

    /// How many waiters of this process are blocked on this group's events right
    /// now: registered with the process's watcher of the server, which reads the
    /// events of every waited-on group on one connection. A waiter that returned,
    /// timed out or was dropped is not counted. Runs no command.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// assert_eq!(wg.local_waiters(), 0); // nobody waits in this process
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn local_waiters(&self) -> usize {
        crate::io::watch::watcher(&self.inner).watching(self.inner.keys.events())
    }

    /// The counter now (after reaping expired leases).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchGroup`], [`Error::StateLost`], [`Error::Unreachable`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// println!("{} left", wg.count()?);
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn count(&self) -> Result<u64> {
        let reply = self.inner.run(&self.inner.call("check", false, vec![])?)?;
        reply.number(field::COUNT)
    }

    /// A snapshot for people: counter, round, failure, live leases, failures.
    ///
    /// # Errors
    ///
    /// As [`count`](Self::count).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// println!("{}", wg.status()?);
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn status(&self) -> Result<Status> {
        let reply = self.inner.run(&self.inner.call("status", false, vec![])?)?;
        let mut status = Status::from_reply(&self.inner.name, &reply)?;
        status.warnings = self.inner.eviction_warning().into_iter().collect();
        Ok(status)
    }

    /// Deletes every key of the group. Its waiters (and every other handle that
    /// saw it) get [`Error::StateLost`] at their next step; a later `add` on a new
    /// handle starts a new group of the same name. Also removes what is left of a
    /// group whose state was partly lost. This handle reports
    /// [`Error::StateLost`] afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchGroup`] when no key of the group exists, [`Error::Unreachable`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.add(1)?;
    /// wg.delete()?;
    /// assert!(wg.count().is_err());
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn delete(&self) -> Result<()> {
        let r = self.inner.run(&self.delete_call());
        self.inner.set_lost();
        r.map(drop)
    }

    fn delete_call(&self) -> crate::script::Call {
        let known = self.inner.instance().unwrap_or_default();
        self.inner.call_expecting("delete", false, known, vec![])
    }

    /// Joins as a participant owing one `done`, with a lease of `ttl` kept alive by a
    /// background heartbeat (every `ttl / 3`). The `done` it owes must already be
    /// counted by an earlier `add` (Go's rule: `Add` before `go`); `join` does not
    /// add. See [`Lease`] for what happens when the participant dies or stalls.
    ///
    /// The participant is named `host:pid:random`; use [`join_as`](Self::join_as)
    /// to choose the name.
    ///
    /// # Errors
    ///
    /// [`Error::NothingToJoin`] when every counted `done` is already claimed by a
    /// lease, [`Error::InvalidArgument`] for a `ttl` outside [`MIN_TTL`] (100 ms) to
    /// [`MAX_TTL`] (24 h), before anything is sent, [`Error::NotReplicated`] under
    /// [`Options::min_replicas`] (the lease is then failed at once), and those of
    /// [`count`](Self::count).
    ///
    /// [`MIN_TTL`]: crate::MIN_TTL
    /// [`MAX_TTL`]: crate::MAX_TTL
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// // ... do the work; if this process dies, waiters get ParticipantLost ...
    /// lease.done()?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn join(&self, ttl: Duration) -> Result<Lease> {
        self.join_as(&default_participant(), ttl, 1)
    }

    /// [`join`](Self::join) with a chosen participant name owing `owed` `done`s.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join); [`Error::InvalidArgument`] if `participant` is empty
    /// or `owed` is zero or already joined; [`Error::Fenced`] if this participant was
    /// already reaped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.add(2)?;
    /// let mut lease = wg.join_as("shard-7", Duration::from_secs(5), 2)?;
    /// lease.done_one()?;
    /// lease.done()?; // pays the rest
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn join_as(&self, participant: &str, ttl: Duration, owed: u64) -> Result<Lease> {
        Lease::join(self.inner.clone(), participant, ttl, owed)
    }

    // ---- async twins (tokio) ----

    /// Async [`add`](Self::add) (tokio).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.add_async(4).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_async(&self, delta: i64) -> Result<()> {
        let call = self.add_call(delta)?;
        self.inner.run_async(&call).await.map(drop)
    }

    /// Async [`done`](Self::done) (tokio).
    ///
    /// # Errors
    ///
    /// As [`done`](Self::done).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.done_async().await?;
    /// # Ok(()) }
    /// ```
    pub async fn done_async(&self) -> Result<()> {
        self.add_async(-1).await
    }

    /// Async [`wait`](Self::wait) (tokio).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a wait changes nothing in Redis; a read in flight is dropped
    /// with its connection.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.wait_async().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_async(&self) -> Result<()> {
        wait::wait_async(&self.inner, None).await
    }

    /// Async [`wait_timeout`](Self::wait_timeout) (tokio), with the same bound:
    /// `timeout` plus about 0.25 s.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// use std::time::Duration;
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.wait_timeout_async(Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<()> {
        wait::wait_async(&self.inner, Instant::now().checked_add(timeout)).await
    }

    /// Async [`wait_deadline`](Self::wait_deadline) (tokio).
    ///
    /// # Errors
    ///
    /// As [`wait_deadline`](Self::wait_deadline).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// use std::time::{Duration, Instant};
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.wait_deadline_async(Instant::now() + Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_deadline_async(&self, deadline: Instant) -> Result<()> {
        wait::wait_async(&self.inner, Some(deadline)).await
    }

    /// Async [`delete`](Self::delete) (tokio).
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// wg.delete_async().await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_async(&self) -> Result<()> {
        let r = self.inner.run_async(&self.delete_call()).await;
        self.inner.set_lost();
        r.map(drop)
    }

    /// Async [`count`](Self::count) (tokio).
    ///
    /// # Errors
    ///
    /// As [`count`](Self::count).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), headcount_redis::Error> {
    /// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let left = wg.count_async().await?;
    /// # let _ = left; Ok(()) }
    /// ```
    pub async fn count_async(&self) -> Result<u64> {
        let call = self.inner.call("check", false, vec![])?;
        let reply = self.inner.run_async(&call).await?;
        reply.number(field::COUNT)
    }
}
