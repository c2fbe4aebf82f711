//! Connections, retries and client sessions: the only code that talks to Redis.
//!
//! A mutation runs in a client session (a random id, taken from the handle's pool
//! for the length of one call) under the session's next sequence number. When the
//! connection fails mid-call (the reply may or may not have been lost), the same
//! call, with the same session and number, is sent again on a new connection until
//! the retry window closes. The script keeps the number of the last applied call of
//! each session in the group's state hash, so a resend of a call that was applied
//! is answered `ok` again and changes nothing: each operation is applied exactly
//! once. Sessions idle for an hour are collected by the script.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::{Error, Result};
use crate::io::topology::{AsyncConn, Conn, Target};
use crate::keys::Keys;
use crate::script::{field, interpret, Call, Reply, Session};

/// The longest [`Options::retry_window`]: half the idle time after which the
/// server forgets a client session (one hour, in `group.lua`).
pub const MAX_RETRY_WINDOW: Duration = Duration::from_secs(30 * 60);

/// Connection settings of a [`RedisWaitGroup`](crate::RedisWaitGroup).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use headcount_redis::{Options, RedisWaitGroup};
///
/// let opts = Options::new().retry_window(Duration::from_secs(30));
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let wg = RedisWaitGroup::open_with(client, "deploy", opts)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) retry_window: Duration,
    /// Replicas that must confirm each mutation (`WAIT`); 0: none.
    pub(crate) min_replicas: usize,
    /// How long `WAIT` may take.
    pub(crate) replica_timeout: Duration,
    /// Idle period after which every key of the group expires.
    pub(crate) expire_after: Duration,
    /// The CA certificate(s) a `rediss://` server's certificate must chain to
    /// (PEM); `None`: the system's roots.
    pub(crate) tls_ca: Option<Pem>,
    /// The client certificate chain and private key (PEM) for mutual TLS.
    pub(crate) tls_client: Option<(Pem, Pem)>,
    /// The sentinels' own ACL user (Sentinel only).
    pub(crate) sentinel_user: Option<String>,
    /// The sentinels' own password (Sentinel only).
    pub(crate) sentinel_password: Option<Secret>,
}

/// A password; `Debug` shows `***`.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// PEM bytes; `Debug` shows only their length (a private key is a secret).
#[derive(Clone)]
pub(crate) struct Pem(pub(crate) Vec<u8>);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes of PEM>", self.0.len())
    }
}

/// The default [`Options::expire_after`]: 7 days.
pub const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(5),
            retry_window: Duration::from_secs(10),
            min_replicas: 0,
            replica_timeout: Duration::from_secs(1),
            expire_after: DEFAULT_EXPIRE_AFTER,
            tls_ca: None,
            tls_client: None,
            sentinel_user: None,
            sentinel_password: None,
        }
    }
}

impl Options {
    /// The defaults: connect timeout 2 s, reply timeout 5 s, retry window 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = headcount_redis::Options::new();
    /// # let _ = opts;
    /// ```
    pub fn new() -> Options {
        Options::default()
    }

    /// How long one connection attempt may take, including its setup (`AUTH`,
    /// `SELECT`); at least 10 ms. A call with a deadline shortens it to fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = headcount_redis::Options::new().connect_timeout(Duration::from_millis(500));
    /// # let _ = opts;
    /// ```
    pub fn connect_timeout(mut self, d: Duration) -> Options {
        self.connect_timeout = d.max(MIN_ATTEMPT);
        self
    }

    /// How long a reply may take before the connection is considered dead; at least
    /// 10 ms. A call with a deadline shortens it to fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = headcount_redis::Options::new().io_timeout(Duration::from_secs(2));
    /// # let _ = opts;
    /// ```
    pub fn io_timeout(mut self, d: Duration) -> Options {
        self.io_timeout = d.max(MIN_ATTEMPT);
        self
    }

    /// How long an operation keeps retrying (resending the same call, so that it is
    /// applied once) when the connection fails or times out: the bound of every
    /// call without a deadline, which then fails with [`Error::Unreachable`]. Each
    /// attempt's connect and reply timeouts are cut to what is left of it (and of a
    /// wait's deadline). A server that refuses the very first connection of a
    /// handle fails at once.
    ///
    /// At most [`MAX_RETRY_WINDOW`] (30 minutes; longer values are clamped): the
    /// server forgets a client session after an hour idle, and a resend after that
    /// would be applied again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = headcount_redis::Options::new().retry_window(Duration::from_secs(60));
    /// # let _ = opts;
    /// ```
    pub fn retry_window(mut self, d: Duration) -> Options {
        self.retry_window = d.min(MAX_RETRY_WINDOW);
        self
    }

    /// Durable acknowledgements: every mutation (`add`, `done`, a lease's `join`,
    /// `done` and `fail`) is acknowledged only once `n` replicas confirm they have
    /// it (Redis `WAIT n`, sent in the same round trip as the script), so an
    /// acknowledged write survives the failover to any of them. When fewer confirm
    /// within [`replica_timeout`](Self::replica_timeout) the call fails with
    /// [`Error::NotReplicated`]: the write was applied on the primary (do not repeat
    /// it) and may or may not survive a failover. A lease's `done` that fails so
    /// counts as paid; a `join` that fails so fails its lease at once (waiters get
    /// [`Error::ParticipantFailed`], detail "its join was not confirmed by N
    /// replica(s)"). 0 (the default) waits for no replica.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = headcount_redis::Options::new().min_replicas(1);
    /// # let _ = opts;
    /// ```
    pub fn min_replicas(mut self, n: usize) -> Options {
        self.min_replicas = n;
        self
    }

    /// How long a mutation waits for [`min_replicas`](Self::min_replicas) to
    /// confirm it (default 1 s; at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = headcount_redis::Options::new().min_replicas(2).replica_timeout(Duration::from_secs(3));
    /// # let _ = opts;
    /// ```
    pub fn replica_timeout(mut self, d: Duration) -> Options {
        self.replica_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// Every key of the group expires after it has been idle this long (no
    /// operation, no heartbeat, no waiter's check): default
    /// [`DEFAULT_EXPIRE_AFTER`] (7 days), at least 1 s. Every operation refreshes
    /// the expiry (to within 1% of the period); the period of the latest caller
    /// applies. A waiter of an expired group gets [`Error::StateLost`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = headcount_redis::Options::new().expire_after(Duration::from_secs(24 * 3600));
    /// # let _ = opts;
    /// ```
    pub fn expire_after(mut self, d: Duration) -> Options {
        self.expire_after = d.clamp(
            Duration::from_secs(1),
            Duration::from_secs(100 * 365 * 86400),
        );
        self
    }
}

impl Options {
    /// For `rediss://` URLs: trust only the CA certificate(s) in `pem` (PEM text,
    /// e.g. the contents of a private CA's `ca.crt`) instead of the system's roots.
    /// A server whose certificate does not chain to it is refused with
    /// [`Error::Tls`]. Opening a `redis://` URL with this set is
    /// [`Error::InvalidUrl`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// let ca = std::fs::read("ca.crt")?;
    /// let opts = Options::new().tls_ca(ca);
    /// let wg = RedisWaitGroup::open_url_with("rediss://redis.internal:6380", "job", opts)?;
    /// # let _ = wg;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_ca(mut self, pem: impl Into<Vec<u8>>) -> Options {
        self.tls_ca = Some(Pem(pem.into()));
        self
    }

    /// For `rediss://` URLs: present this client certificate (chain) and private
    /// key, both PEM, to a server that requires client certificates
    /// (`tls-auth-clients yes`). `Debug` never shows the key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use headcount_redis::Options;
    /// let opts = Options::new()
    ///     .tls_ca(std::fs::read("ca.crt")?)
    ///     .tls_client_cert(std::fs::read("client.crt")?, std::fs::read("client.key")?);
    /// # let _ = opts;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tls_client_cert(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Options {
        self.tls_client = Some((Pem(cert.into()), Pem(key.into())));
        self
    }

    /// Whether certificates were given.
    pub(crate) fn has_tls_files(&self) -> bool {
        self.tls_ca.is_some() || self.tls_client.is_some()
    }

    /// A digest of what decides whom a connection trusts and who it is, beyond the
    /// URL: the CA, the client certificate and key, the sentinels' user and
    /// password. Handles that differ in it do not share a watcher (see
    /// [`Inner::watch_key`]). Never printed.
    pub(crate) fn access_digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.tls_ca.as_ref().map(|p| &p.0).hash(&mut h);
        self.tls_client
            .as_ref()
            .map(|(cert, key)| (&cert.0, &key.0))
            .hash(&mut h);
        self.sentinel_user.hash(&mut h);
        self.sentinel_password.as_ref().map(|p| &p.0).hash(&mut h);
        h.finish()
    }
}

impl Options {
    /// For [`RedisWaitGroup::open_sentinel`](crate::RedisWaitGroup::open_sentinel):
    /// the password of the sentinels themselves (`requirepass` in their
    /// configuration), sent to every sentinel. The password in the sentinel URLs is
    /// the primary's, not theirs. `Debug` never shows it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use headcount_redis::{Options, RedisWaitGroup};
    /// let sentinels = ["redis://:primary-secret@10.0.0.1:26379", "redis://10.0.0.2:26379"];
    /// let opts = Options::new().sentinel_password("sentinel-secret");
    /// let wg = RedisWaitGroup::open_sentinel(&sentinels, "mymaster", "job", opts)?;
    /// # let _ = wg;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Options {
        self.sentinel_password = Some(Secret(password.into()));
        self
    }

    /// For [`RedisWaitGroup::open_sentinel`](crate::RedisWaitGroup::open_sentinel):
    /// the ACL user the sentinels themselves know (with
    /// [`sentinel_password`](Self::sentinel_password)); without it, their default
    /// user.
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = headcount_redis::Options::new()
    ///     .sentinel_user("watcher")
    ///     .sentinel_password("sentinel-secret");
    /// assert!(!format!("{opts:?}").contains("sentinel-secret"));
    /// ```
    pub fn sentinel_user(mut self, user: impl Into<String>) -> Options {
        self.sentinel_user = Some(user.into());
        self
    }

    /// The sentinels' user and password; a user without a password is refused.
    pub(crate) fn sentinel_credentials(&self) -> Result<(Option<&str>, Option<&str>)> {
        let password = self.sentinel_password.as_ref().map(|p| p.0.as_str());
        if self.sentinel_user.is_some() && password.is_none() {
            return Err(Error::InvalidArgument(
                "a sentinel user was given without a sentinel password".into(),
            ));
        }
        Ok((self.sentinel_user.as_deref(), password))
    }

    /// Refuses the sentinels' credentials for a topology without sentinels.
    pub(crate) fn no_sentinel_credentials(&self) -> Result<()> {
        if self.sentinel_user.is_some() || self.sentinel_password.is_some() {
            return Err(Error::InvalidArgument(
                "a sentinel user or password was given, but not the Sentinel topology (open_sentinel, --sentinel)".into(),
            ));
        }
        Ok(())
    }
}

/// The TLS library's error inside `e`, if the failure is a TLS one (an untrusted
/// or wrong certificate, a refused client certificate): retrying would fail the
/// same way.
pub(crate) fn tls_failure(e: &RedisError) -> Option<String> {
    #[cfg(feature = "tls")]
    {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
            if let Some(tls) = err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(tls.to_string());
            }
            source = err.source();
        }
    }
    // A certificate or key that could not be read when the client was built; the
    // rustls errors that reach here as text only (an alert on the first read:
    // the server refused the client's certificate, or that there was none).
    let text = e.to_string();
    ["PEM", "invalid peer certificate", "received fatal alert"]
        .iter()
        .any(|m| text.contains(m))
        .then_some(text)
}

/// A refused password or user, also as the cluster client reports it (inside
/// "failed to connect to each cluster node").
fn auth_failure(e: &RedisError) -> bool {
    let text = e.to_string();
    e.kind() == ErrorKind::AuthenticationFailed
        || e.code() == Some("WRONGPASS")
        || text.contains("AuthenticationFailed")
        || text.contains("WRONGPASS")
}

/// A failure worth retrying on a new connection.
pub(crate) fn is_transient(e: &RedisError) -> bool {
    tls_failure(e).is_none() && !auth_failure(e) && !setup_refused(e) && is_transient_kind(e)
}

/// A command refused by the ACL while a connection was set up (the cluster
/// client's check of its initial nodes reports it as an I/O error: `Failed to
/// connect to each cluster node (ADDR: NoPerm: this user has no permissions to
/// run the 'ping' command)`): no retry will change it.
fn setup_refused(e: &RedisError) -> bool {
    e.is_io_error() && e.to_string().contains("no permissions to run the '")
}

fn is_transient_kind(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || is_failover(e)
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    // A redirect the `redis` crate's cluster client passed on
                    // instead of following (seen for scripts on its async
                    // connection while a slot migrates): the slot is moving, a
                    // later attempt finds its owner.
                    | ServerErrorKind::Ask
                    | ServerErrorKind::Moved
            )
        )
}

/// A failover under way: the server was demoted to a replica (`READONLY`, also
/// from inside the script), or the sentinels name no reachable primary yet (or
/// do not know the name). A new connection (which asks the sentinels again) may
/// reach the new primary.
pub(crate) fn is_failover(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly) | ErrorKind::MasterNameNotFoundBySentinel
    ) || e.code() == Some("READONLY")
        || e.detail().is_some_and(|d| d.contains("READONLY"))
}

/// A random 128-bit id, hex. Uniqueness, not secrecy, is what matters: std's
/// `RandomState` is seeded from the OS once per thread and stepped per instance.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = String::with_capacity(32);
    for salt in 0..2u8 {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(salt);
        h.write_u64(n);
        h.write_u32(std::process::id());
        h.write_u128(nanos);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The shared part of a group handle (and of its leases).
pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) keys: Keys,
    /// Where connections go (one server, a cluster, Sentinel's primary).
    pub(crate) target: Arc<Target>,
    pub(crate) addr: String,
    /// The user and database of the URL (for error messages).
    user: Option<String>,
    db: i64,
    pub(crate) opts: Options,
    /// How many replies a new connection waits for before it is ready (`AUTH`,
    /// `SELECT`): the client library gives each the whole connect timeout.
    setup_replies: u32,
    /// The incarnation of the group this handle has seen (a random id written by the
    /// `add` that created it). Sent with every call: a server that no longer has it
    /// refuses with `statelost`.
    inst: Mutex<Option<String>>,
    /// Set by the first `statelost`; sticky.
    lost: AtomicBool,
    /// The highest `ver` of the group any reply carried: a server that answers with
    /// an older state (a promoted replica that missed writes, a restart from an
    /// older snapshot) is refused by the script as `statelost`.
    seen: AtomicU64,
    /// Set once any connection succeeded: only then are failures retried.
    reached: AtomicBool,
    /// Idle blocking connections; `true`: its reply timeout was changed by a
    /// blocking read and is restored when it is next taken.
    pool: Mutex<Vec<(Conn, bool)>>,
    /// Sessions not in use by a call (see the module docs).
    sessions: Mutex<Vec<Session>>,
    aconn: Mutex<Option<AsyncConn>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWaitGroup")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("instance", &self.inst.lock().unwrap())
            .field("state_lost", &self.lost.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn new(target: Target, name: &str, opts: Options) -> Inner {
        let addr = target.addr();
        let settings = target.settings();
        let user = settings
            .as_ref()
            .and_then(|s| s.username().map(str::to_owned));
        let db = settings.as_ref().map_or(0, |s| s.db());
        let setup_replies = settings.as_ref().map_or(1, |s| {
            u32::from(s.password().is_some()) + u32::from(s.db() != 0)
        });
        Inner {
            setup_replies,
            name: name.to_owned(),
            keys: if target.is_cluster() {
                Keys::with_wake(name)
            } else {
                Keys::new(name)
            },
            target: Arc::new(target),
            addr,
            user,
            db,
            opts,
            inst: Mutex::new(None),
            lost: AtomicBool::new(false),
            seen: AtomicU64::new(0),
            reached: AtomicBool::new(false),
            pool: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
            aconn: Mutex::new(None),
        }
    }

    pub(crate) fn unreachable(&self, source: RedisError) -> Error {
        Error::Unreachable {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Builds a call. `remember`: run it in a session (mutations).
    pub(crate) fn call(
        &self,
        op: &'static str,
        remember: bool,
        extra: Vec<String>,
    ) -> Result<Call> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(Error::StateLost {
                group: self.name.clone(),
            });
        }
        let expect = self.inst.lock().unwrap().clone().unwrap_or_default();
        Ok(self.call_expecting(op, remember, expect, extra))
    }

    /// Builds a call with an explicit expected instance, whatever the handle saw.
    pub(crate) fn call_expecting(
        &self,
        op: &'static str,
        remember: bool,
        expect: String,
        extra: Vec<String>,
    ) -> Call {
        let idle_ms = u64::try_from(self.opts.expire_after.as_millis()).unwrap_or(u64::MAX);
        Call::new(
            op,
            remember,
            expect,
            self.seen.load(Ordering::Relaxed),
            idle_ms,
            extra,
        )
    }

    /// The instance id of the group this handle has seen, if any.
    pub(crate) fn instance(&self) -> Option<String> {
        self.inst.lock().unwrap().clone()
    }

    /// Marks the handle's group as lost (after `delete`): every later call is
    /// [`Error::StateLost`].
    pub(crate) fn set_lost(&self) {
        self.lost.store(true, Ordering::Relaxed);
    }

    /// A session for one remembered call: a free one, or a new one.
    fn take_session(&self, call: &Call) -> Option<Session> {
        call.remember.then(|| {
            self.sessions
                .lock()
                .unwrap()
                .pop()
                .unwrap_or_else(Session::new)
        })
    }

    /// Runs the remembered `call` in `session`, a session of a lease's own (the
    /// server drops its record when it reaps the lease). Takes the session's next
    /// number afterwards.
    pub(crate) fn run_in_session(&self, call: &Call, session: &mut Session) -> Result<Reply> {
        let mut resent = false;
        let r = self.run_in(call, Some(session), self.call_end(None), &mut resent);
        session.seq += 1;
        session.clean &= !(resent || matches!(r, Err(Error::Unreachable { .. })));
        r
    }

    /// Takes a lease's session into the handle's pool once the lease has ended (so
    /// that it is forgotten with the handle's, see `Drop`).
    pub(crate) fn adopt_session(&self, session: Session) {
        let mut free = self.sessions.lock().unwrap();
        if free.len() < 64 {
            free.push(session);
        }
    }

    /// Frees the session of a finished call (applied, refused or given up on): its
    /// next call takes the next number. `resent`: the call was sent more than once
    /// or given up on, so a straggler of it may still arrive and the session may
    /// not be forgotten before the server collects it.
    fn give_session(&self, session: Option<Session>, resent: bool) {
        if let Some(mut s) = session {
            s.seq += 1;
            s.clean &= !resent;
            let mut free = self.sessions.lock().unwrap();
            if free.len() < 64 {
                free.push(s);
            }
        }
    }

    /// Reads a reply of `op`; records the instance id and version, or the loss of
    /// state.
    pub(crate) fn reply(&self, op: &'static str, v: Value) -> Result<Reply> {
        match interpret(&self.name, op, v) {
            Ok(reply) => {
                let ver = reply.number(field::VER)?;
                self.seen.fetch_max(ver, Ordering::Relaxed);
                let inst = reply.text(field::INST)?;
                let mut known = self.inst.lock().unwrap();
                match known.as_deref() {
                    None => *known = Some(inst),
                    Some(k) if k != inst => {
                        self.lost.store(true, Ordering::Relaxed);
                        return Err(Error::StateLost {
                            group: self.name.clone(),
                        });
                    }
                    Some(_) => {}
                }
                Ok(reply)
            }
            Err(e @ Error::StateLost { .. }) => {
                self.lost.store(true, Ordering::Relaxed);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The error for a failure that is not worth retrying: an authentication, database
    /// or permission refusal gets its own variant, anything else is [`Error::Redis`].
    pub(crate) fn refused(&self, e: RedisError) -> Error {
        let addr = self.addr.clone();
        let user = self.user.clone();
        let code = e.code().unwrap_or_default();
        let detail = e.detail().unwrap_or_default();
        if let Some(detail) = tls_failure(&e) {
            return Error::Tls { addr, detail };
        }
        if let Target::Sentinel(s) = &*self.target {
            if e.to_string()
                .contains(crate::io::topology::SENTINEL_REFUSED)
            {
                return Error::SentinelAuthFailed {
                    sentinels: s.addrs.clone(),
                    user: s.sentinel_user.clone(),
                };
            }
        }
        if auth_failure(&e) {
            return Error::AuthFailed { addr, user };
        }
        // A client that has not authenticated gets `NOAUTH` for a short command and,
        // for a command of more than 10 arguments (every `EVALSHA` of the script),
        // `ERR Protocol error: unauthenticated multibulk length`.
        if code == "NOAUTH" || detail.contains("unauthenticated") {
            return Error::AuthRequired { addr };
        }
        // Before the database check: a `SELECT` the user may not run is refused too.
        let text = e.to_string();
        let refusal = refused_command(code, detail).or_else(|| {
            setup_refused(&e)
                .then(|| refused_command("", &text))
                .flatten()
        });
        if let Some(command) = refusal {
            return Error::NoPermission {
                user,
                command,
                detail: detail.to_owned(),
            };
        }
        if e.to_string().contains("refused to switch database") {
            return Error::NoSuchDatabase { addr, db: self.db };
        }
        Error::Redis(e)
    }

    /// Decides what to do about a failed attempt of a call that must give up by `end`.
    pub(crate) fn retry_pause(
        &self,
        e: RedisError,
        end: Instant,
        pause: &mut Duration,
    ) -> Result<Duration> {
        if !is_transient(&e) {
            return Err(self.refused(e));
        }
        // A server never reached that refuses the connection is a wrong address or
        // a server that is down: report it at once. Anything else (a slow connect,
        // a dropped connection, a server still loading) is retried.
        let never_reached = !self.reached.load(Ordering::Relaxed);
        // Not so with Sentinel: a primary the sentinels name that refuses, or
        // none they can name, is a failover under way (also for a new process).
        let sentinel = matches!(*self.target, Target::Sentinel(_));
        if (never_reached && e.is_connection_refusal() && !sentinel)
            || Instant::now() + *pause >= end
        {
            return Err(self.unreachable(e));
        }
        let p = *pause;
        *pause = (*pause * 2).min(Duration::from_millis(500));
        Ok(p)
    }

    /// When a call that starts now must give up: at `limit` (the caller's), and at
    /// the end of the retry window at the latest.
    pub(crate) fn call_end(&self, limit: Option<Instant>) -> Instant {
        let window = after(Instant::now(), self.opts.retry_window);
        limit.map_or(window, |l| l.min(window))
    }

    /// Extra reply time a durable mutation's `WAIT` may take.
    fn replica_slack(&self) -> Duration {
        if self.opts.min_replicas > 0 {
            self.opts.replica_timeout
        } else {
            Duration::ZERO
        }
    }

    /// A warning when the server's `maxmemory-policy` may evict the group's keys
    /// (every policy but `noeviction` may: the keys carry the idle expiry, so the
    /// `volatile-*` policies can pick them too). `None` when the policy is
    /// `noeviction` or cannot be read.
    pub(crate) fn eviction_warning(&self) -> Option<String> {
        let (mut c, clamped) = self.take_until(self.call_end(None)).ok()?;
        let info: String = redis::cmd("INFO").arg("memory").query(&mut c).ok()?;
        self.put_back(c, clamped);
        let policy = info
            .lines()
            .find_map(|l| l.strip_prefix("maxmemory_policy:"))?
            .trim()
            .to_owned();
        (policy != "noeviction").then(|| {
            format!(
                "maxmemory-policy is `{policy}`: Redis may evict this group's keys under memory pressure (the group would then be reported lost); use `noeviction`"
            )
        })
    }

    /// The reply timeout for an attempt that must end by `end`, and whether it is
    /// shorter than the configured one.
    fn reply_timeout(&self, end: Instant) -> (Duration, bool) {
        let left = left_until(end);
        let configured = self.opts.io_timeout + self.replica_slack();
        if left < configured {
            (left, true)
        } else {
            (configured, false)
        }
    }

    // ---- the shared watcher (see `io/watch.rs`) ----

    /// Identifies the server or cluster (address(es), database, user and
    /// password) and how it is reached (the certificates, the sentinels'
    /// credentials: a digest of them) whose watcher this handle shares: handles
    /// with the same key share one watcher (see `io/watch.rs` and
    /// `io/watch_cluster.rs`), so a handle never waits through a connection that
    /// its own settings would not have made (a CA it does not trust, a certificate
    /// or a sentinel password it lacks), and a misconfigured handle does not make
    /// the watcher fail for the others. Never printed (it holds the password).
    pub(crate) fn watch_key(&self) -> String {
        let settings = self.target.settings();
        let s = settings.as_ref();
        format!(
            "{}|{}|{:?}|{:?}|{:x}",
            self.target.addr(),
            self.db,
            s.and_then(|s| s.username()),
            s.and_then(|s| s.password()),
            self.opts.access_digest(),
        )
    }

    /// Whether the handle reaches a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.target.is_cluster()
    }

    /// How the watcher of this handle's server or cluster makes its connections.
    pub(crate) fn connector(&self) -> Connector {
        Connector {
            target: Arc::clone(&self.target),
            opts: self.opts.clone(),
            setup_replies: self.setup_replies,
        }
    }

    /// Records that the server answered this handle (through the watcher): from now
    /// on its failures are retried.
    pub(crate) fn mark_reached(&self) {
        self.reached.store(true, Ordering::Relaxed);
    }

    // ---- blocking ----

    /// A new blocking connection, set up by `end` (connect, `AUTH`, `SELECT`), with
    /// the reply timeout for an attempt that must end by `end`; `true`: that
    /// timeout is shorter than the configured one.
    fn connect_until(&self, end: Instant) -> redis::RedisResult<(Conn, bool)> {
        let budget = self.opts.connect_timeout.min(left_until(end));
        let c = self.target.connect(budget / self.setup_replies.max(1))?;
        let (t, clamped) = self.reply_timeout(end);
        c.set_read_timeout(Some(t))?;
        c.set_write_timeout(Some(t))?;
        self.reached.store(true, Ordering::Relaxed);
        Ok((c, clamped))
    }

    /// A pooled blocking connection, or a new one, with the reply timeout for an
    /// attempt that must end by `end`; `true`: that timeout is shorter than the
    /// configured one.
    pub(crate) fn take_until(&self, end: Instant) -> redis::RedisResult<(Conn, bool)> {
        loop {
            let pooled = self.pool.lock().unwrap().pop();
            let Some((c, changed)) = pooled else {
                return self.connect_until(end);
            };
            let (t, clamped) = self.reply_timeout(end);
            if !(changed || clamped)
                || (c.set_read_timeout(Some(t)).is_ok() && c.set_write_timeout(Some(t)).is_ok())
            {
                return Ok((c, clamped));
            }
        }
    }

    fn put_back(&self, c: Conn, timeout_changed: bool) {
        let mut pool = self.pool.lock().unwrap();
        if pool.len() < 8 {
            pool.push((c, timeout_changed));
        }
    }

    /// Runs `call`, resending it on transient failures in the same session under the
    /// same number, until the retry window closes.
    pub(crate) fn run(&self, call: &Call) -> Result<Reply> {
        self.run_until(call, None)
    }

    /// [`Inner::run`], giving up at `limit` too: every attempt (connect, send,
    /// reply) and every pause between attempts ends by then. One attempt is always
    /// made, with at least [`MIN_ATTEMPT`].
    pub(crate) fn run_until(&self, call: &Call, limit: Option<Instant>) -> Result<Reply> {
        let session = self.take_session(call);
        let mut resent = false;
        let r = self.run_in(call, session.as_ref(), self.call_end(limit), &mut resent);
        self.give_session(
            session,
            resent || matches!(r, Err(Error::Unreachable { .. })),
        );
        r
    }

    /// The `WAIT` of a durable mutation (see [`Options::min_replicas`]), if any.
    fn wait_replicas(&self, call: &Call) -> Option<redis::Cmd> {
        (call.remember && self.opts.min_replicas > 0).then(|| {
            let mut cmd = redis::cmd("WAIT");
            cmd.arg(self.opts.min_replicas)
                .arg(self.opts.replica_timeout.as_millis().max(1) as u64);
            cmd
        })
    }

    /// The script's reply and, for a durable mutation, how many replicas confirmed.
    fn judge(&self, call: &Call, reply: Value, acked: Option<usize>) -> Result<Reply> {
        let reply = self.reply(call.op(), reply)?;
        match acked {
            Some(acked) if acked < self.opts.min_replicas => Err(Error::NotReplicated {
                group: self.name.clone(),
                acked,
                wanted: self.opts.min_replicas,
                op: call.op(),
            }),
            _ => Ok(reply),
        }
    }

    fn run_in(
        &self,
        call: &Call,
        session: Option<&Session>,
        end: Instant,
        resent: &mut bool,
    ) -> Result<Reply> {
        let inv = call.invocation(&self.keys, session);
        let durable = self
            .wait_replicas(call)
            .map(|wait| (call.eval_cmd(&self.keys, session), wait));
        let mut pause = Duration::from_millis(20);
        let mut attempts = 0;
        loop {
            attempts += 1;
            *resent = attempts > 1;
            let attempt = self.take_until(end).and_then(|(mut c, clamped)| {
                let r = match &durable {
                    None => inv.invoke::<Value>(&mut c).map(|v| (v, None)),
                    Some((eval, wait)) => durable_blocking(&mut c, eval, wait),
                };
                // Only a connection that answered is reused: after an error reply
                // the server may close it (an unauthenticated client's long command).
                if r.is_ok() {
                    self.put_back(c, clamped);
                }
                r
            });
            match attempt {
                Ok((v, acked)) => return self.judge(call, v, acked),
                Err(e) => std::thread::sleep(self.retry_pause(e, end, &mut pause)?),
            }
        }
    }

    // ---- async (tokio) ----

    /// A new multiplexed connection whose reply timeout allows for `extra` of
    /// blocking, set up by `end`.
    async fn connect_async_until(
        &self,
        extra: Duration,
        end: Instant,
    ) -> redis::RedisResult<AsyncConn> {
        let c = within(
            end,
            self.target.connect_async(
                self.opts.connect_timeout,
                self.opts.io_timeout.saturating_add(extra),
            ),
        )
        .await?;
        self.reached.store(true, Ordering::Relaxed);
        Ok(c)
    }

    /// [`Inner::run`], async: one shared multiplexed connection, replaced on failure.
    /// A call dropped (cancelled) in flight takes its session with it: its outcome
    /// is unknown, and a new session keeps the numbers of the next calls in order.
    pub(crate) async fn run_async(&self, call: &Call) -> Result<Reply> {
        self.run_async_until(call, None).await
    }

    /// [`Inner::run_until`], async.
    pub(crate) async fn run_async_until(
        &self,
        call: &Call,
        limit: Option<Instant>,
    ) -> Result<Reply> {
        let session = self.take_session(call);
        let mut resent = false;
        let r = self
            .run_async_in(call, session.as_ref(), self.call_end(limit), &mut resent)
            .await;
        self.give_session(
            session,
            resent || matches!(r, Err(Error::Unreachable { .. })),
        );
        r
    }

    async fn run_async_in(
        &self,
        call: &Call,
        session: Option<&Session>,
        end: Instant,
        resent: &mut bool,
    ) -> Result<Reply> {
        let inv = call.invocation(&self.keys, session);
        let durable = self
            .wait_replicas(call)
            .map(|wait| (call.eval_cmd(&self.keys, session), wait));
        let mut pause = Duration::from_millis(20);
        let mut attempts = 0;
        loop {
            attempts += 1;
            *resent = attempts > 1;
            let shared = self.aconn.lock().unwrap().clone();
            let conn = match shared {
                Some(c) => Ok(c),
                None => self
                    .connect_async_until(self.replica_slack(), end)
                    .await
                    .inspect(|c| {
                        *self.aconn.lock().unwrap() = Some(c.clone());
                    }),
            };
            let attempt = match (conn, &durable) {
                (Ok(mut c), None) => within(end, inv.invoke_async::<Value>(&mut c))
                    .await
                    .map(|v| (v, None)),
                (Ok(mut c), Some((eval, wait))) => {
                    within(end, durable_async(&mut c, eval, wait)).await
                }
                (Err(e), _) => Err(e),
            };
            match attempt {
                Ok((v, acked)) => return self.judge(call, v, acked),
                Err(e) => {
                    *self.aconn.lock().unwrap() = None;
                    tokio::time::sleep(self.retry_pause(e, end, &mut pause)?).await;
                }
            }
        }
    }
}

/// Makes the connection of a server's watcher (see `io/watch.rs`): the handle's
/// target and timeouts, independent of the handle's lifetime.
#[derive(Clone)]
pub(crate) struct Connector {
    target: Arc<Target>,
    opts: Options,
    setup_replies: u32,
}

impl Connector {
    /// A new blocking connection (connect, `AUTH`, `SELECT` within the connect
    /// timeout), its reply timeout set to the configured one. A Sentinel target
    /// resolves the current primary for each.
    pub(crate) fn connect(&self) -> redis::RedisResult<Conn> {
        let step = self.opts.connect_timeout / self.setup_replies.max(1);
        let c = self.target.connect(step)?;
        c.set_read_timeout(Some(self.opts.io_timeout))?;
        c.set_write_timeout(Some(self.opts.io_timeout))?;
        Ok(c)
    }

    /// The cluster watcher's connection (see `io/watch_cluster.rs`), pushes sent
    /// to `pushes`; set up within the connect timeout, every reply within the
    /// reply timeout.
    pub(crate) async fn connect_watch(
        &self,
        pushes: impl redis::aio::AsyncPushSender,
    ) -> redis::RedisResult<redis::cluster_async::ClusterConnection> {
        self.target
            .connect_watch(pushes, self.opts.connect_timeout, self.opts.io_timeout)
            .await
            .unwrap_or_else(|| {
                Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "not a Redis Cluster",
                )))
            })
    }

    /// The configured reply timeout.
    pub(crate) fn io_timeout(&self) -> Duration {
        self.opts.io_timeout
    }

    /// A new async connection whose reply timeout allows for `extra` of
    /// blocking (its calls are also cut by their callers' limits).
    pub(crate) async fn connect_async(&self, extra: Duration) -> redis::RedisResult<AsyncConn> {
        let response = self.opts.io_timeout.saturating_add(extra);
        self.target
            .connect_async(self.opts.connect_timeout, response)
            .await
    }
}

/// The shortest time an attempt is given, even past its call's limit: a call always
/// makes one attempt (a wait's last snapshot, after its deadline, is one).
pub(crate) const MIN_ATTEMPT: Duration = Duration::from_millis(10);

/// `t + d`, or `t` + 100 years when that overflows (a deadline that never comes).
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}

/// The time left until `end`, and at least [`MIN_ATTEMPT`].
pub(crate) fn left_until(end: Instant) -> Duration {
    end.saturating_duration_since(Instant::now())
        .max(MIN_ATTEMPT)
}

/// The error of an attempt cut off by its call's limit (transient: a timeout).
pub(crate) fn cut_off() -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no reply before the call's deadline",
    )
    .into()
}

/// Runs `f` until `end` (at least [`MIN_ATTEMPT`]); a timeout is [`cut_off`].
pub(crate) async fn within<T>(
    end: Instant,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(left_until(end), f)
        .await
        .unwrap_or_else(|_| Err(cut_off()))
}

/// For a permission refusal, the command refused (lower case; `None` when a key
/// was refused); `None` for any other error.
///
/// Redis answers `NOPERM this user has no permissions to run the 'xread' command`
/// for a command sent by the client. A command refused inside the group's script
/// fails the script with `The user executing the script can't run this command or
/// subcommand script: SHA, on @user_script:LINE.`: the command is the one called on
/// that line of `group.lua`.
fn refused_command(code: &str, detail: &str) -> Option<Option<String>> {
    let in_script = detail.contains("user executing the script");
    let acl = ["NOPERM", "no permissions", "ACL failure"];
    if !in_script && !acl.iter().any(|m| code == *m || detail.contains(m)) {
        return None;
    }
    if let Some(named) = detail
        .split('\'')
        .nth(1)
        .filter(|_| detail.contains("' command"))
    {
        return Some(Some(named.to_ascii_lowercase()));
    }
    if detail.contains("run this command") {
        let line = detail
            .rsplit("@user_script:")
            .next()
            .and_then(|l| l.trim_end_matches('.').trim().parse::<usize>().ok());
        let called = line
            .and_then(|n| crate::script::SOURCE.lines().nth(n.checked_sub(1)?))
            .and_then(|text| text.split("call('").nth(1))
            .and_then(|rest| rest.split('\'').next());
        return Some(Some(called.unwrap_or("unknown").to_ascii_lowercase()));
    }
    Some(None)
}

/// A durable mutation: the script and `WAIT` in one round trip (`WAIT` cannot run
/// inside a script). Loads the script on `NOSCRIPT` and sends both again.
fn durable_blocking(
    c: &mut Conn,
    eval: &redis::Cmd,
    wait: &redis::Cmd,
) -> redis::RedisResult<(Value, Option<usize>)> {
    let mut p = redis::pipe();
    p.add_command(eval.clone()).add_command(wait.clone());
    let r = match p.query::<(Value, usize)>(c) {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            crate::script::SCRIPT.prepare_invoke().load(c)?;
            p.query::<(Value, usize)>(c)
        }
        r => r,
    };
    r.map(|(v, n)| (v, Some(n)))
}

/// [`durable_blocking`], async.
async fn durable_async(
    c: &mut AsyncConn,
    eval: &redis::Cmd,
    wait: &redis::Cmd,
) -> redis::RedisResult<(Value, Option<usize>)> {
    let mut p = redis::pipe();
    p.add_command(eval.clone()).add_command(wait.clone());
    let r = match p.query_async::<(Value, usize)>(c).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            crate::script::SCRIPT.prepare_invoke().load_async(c).await?;
            p.query_async::<(Value, usize)>(c).await
        }
        r => r,
    };
    r.map(|(v, n)| (v, Some(n)))
}

impl Drop for Inner {
    /// Ends the handle's sessions whose calls all got their reply at the first
    /// attempt (no straggler of theirs can arrive), on a pooled connection if one
    /// is idle, else (an async handle) from a task on the current tokio runtime;
    /// the others are collected by the server an hour after their last
    /// call. Best effort: errors are ignored, and the reply is awaited at most
    /// 250 ms.
    fn drop(&mut self) {
        let sessions = std::mem::take(self.sessions.get_mut().unwrap_or_else(|p| p.into_inner()));
        let ids: Vec<String> = sessions
            .into_iter()
            .filter(|s| s.clean)
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let pooled = self.pool.get_mut().map(|p| p.pop()).unwrap_or(None);
        let Some((mut c, _)) = pooled else {
            // An async handle: sent from a task on the current runtime, if any.
            let shared = self.aconn.get_mut().ok().and_then(Option::take);
            if let (Some(mut conn), Ok(rt)) = (shared, tokio::runtime::Handle::try_current()) {
                let call = self.call_expecting("forget", false, String::new(), ids);
                let inv = call.invocation(&self.keys, None);
                rt.spawn(async move {
                    let brief = Duration::from_millis(250);
                    let _ = tokio::time::timeout(brief, inv.invoke_async::<Value>(&mut conn)).await;
                });
            }
            return;
        };
        {
            // A frozen or slow server must not hold up the drop for long.
            let brief = self.opts.io_timeout.min(Duration::from_millis(250));
            if c.set_read_timeout(Some(brief)).is_err() || c.set_write_timeout(Some(brief)).is_err()
            {
                return;
            }
            let call = self.call_expecting("forget", false, String::new(), ids);
            let _ = call.invocation(&self.keys, None).invoke::<Value>(&mut c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_window_is_clamped_below_the_session_lifetime() {
        let o = Options::new().retry_window(Duration::from_secs(3 * 3600));
        assert_eq!(o.retry_window, MAX_RETRY_WINDOW);
        let o = Options::new().retry_window(Duration::from_secs(60));
        assert_eq!(o.retry_window, Duration::from_secs(60));
    }

    #[test]
    fn permission_refusals_name_the_command() {
        let named = |code, detail| refused_command(code, detail);
        assert_eq!(
            named(
                "NOPERM",
                "this user has no permissions to run the 'xread' command"
            ),
            Some(Some("xread".into()))
        );
        assert_eq!(
            named(
                "ERR",
                "Redis server refused to switch database: this user has no permissions to run the 'select' command"
            ),
            Some(Some("select".into()))
        );
        let line = crate::script::SOURCE
            .lines()
            .position(|l| l.contains("redis.call('XADD'"))
            .unwrap()
            + 1;
        let in_script = format!(
            "The user executing the script can't run this command or subcommand script: abc, on @user_script:{line}."
        );
        assert_eq!(named("ERR", &in_script), Some(Some("xadd".into())));
        assert_eq!(
            named(
                "NOPERM",
                "this user has no permissions to access one of the keys used as arguments"
            ),
            Some(None)
        );
        assert_eq!(named("ERR", "unknown command 'foo'"), None);
        assert_eq!(named("WRONGTYPE", "Operation against a key"), None);
    }

    #[test]
    fn random_ids_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| i.len() == 32));
    }
}
