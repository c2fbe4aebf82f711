//! The error type: one variant per thing that can happen to a distributed group.

use std::fmt;
use std::time::Duration;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with an operation on a [`RedisWaitGroup`](crate::RedisWaitGroup).
///
/// Every variant's `Display` is one plain line that says what happened, meant to be
/// shown to a person as it is (the `headcount` CLI prints it on stderr).
///
/// # Examples
///
/// ```no_run
/// use headcount_redis::{Error, RedisWaitGroup};
///
/// let wg = RedisWaitGroup::open_url("redis://127.0.0.1:6379", "nightly-build")?;
/// match wg.wait() {
///     Ok(()) => println!("all done"),
///     Err(Error::ParticipantLost { participant, owed, .. }) => {
///         eprintln!("{participant} died owing {owed} done(s)")
///     }
///     Err(other) => eprintln!("{other}"),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The group name is empty, too long, or has characters outside `[A-Za-z0-9_.:-]`.
    /// Nothing was sent to Redis.
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The Redis URL could not be parsed. Nothing was sent to Redis.
    InvalidUrl {
        /// The URL as given, with its password (if any) replaced by `***`
        /// (see [`redact_url`](crate::redact_url)).
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// An argument other than the name was out of range (for example a lease TTL
    /// under 100 ms). Nothing was sent to Redis.
    InvalidArgument(String),
    /// The delta would take the counter below zero. Refused; nothing was written.
    NegativeCounter {
        /// The group.
        group: String,
        /// The counter when the refusal was decided.
        count: u64,
        /// The delta that was refused.
        delta: i64,
    },
    /// The delta would take the counter past 2^53 - 1. Refused; nothing was written.
    Overflow {
        /// The group.
        group: String,
        /// The delta that was refused.
        delta: i64,
    },
    /// The group does not exist in Redis: no `add` ever created it, or its state
    /// was lost before this handle saw it. Never reported as a zero counter.
    NoSuchGroup {
        /// The group.
        group: String,
    },
    /// Redis no longer holds the state this handle saw (a restart without
    /// persistence, a `FLUSHALL`, an eviction), holds an older state than one this
    /// handle already saw (a promoted replica that missed writes, a restart from an
    /// older snapshot), holds only some of the group's keys (one evicted or
    /// deleted), or holds a newer incarnation of the group; also after
    /// [`delete`](crate::RedisWaitGroup::delete) or idle expiry. The counter is
    /// unknown; this is never reported as zero. The handle stays in this state:
    /// open a new one to start over.
    StateLost {
        /// The group.
        group: String,
    },
    /// A participant's lease expired (its process died, hung or was cut off) before it
    /// paid its `done`s. The round is broken: every waiter of it gets this error.
    ParticipantLost {
        /// The group.
        group: String,
        /// The participant's name (by default `host:pid:random`).
        participant: String,
        /// How many `done`s it still owed.
        owed: u64,
    },
    /// A participant reported failure (for example `headcount run` whose command
    /// exited non-zero, or a [`Lease`](crate::Lease) dropped during a panic).
    ParticipantFailed {
        /// The group.
        group: String,
        /// The participant's name.
        participant: String,
        /// What it reported, e.g. `exit status: 3`.
        detail: String,
        /// How many `done`s it still owed.
        owed: u64,
    },
    /// This participant's lease was reaped (it was declared lost or failed); its
    /// late `done` or heartbeat is refused and not counted.
    Fenced {
        /// The group.
        group: String,
        /// The fenced participant.
        participant: String,
    },
    /// This participant holds no lease in the group (it never joined, or already
    /// paid every `done` it owed).
    NotJoined {
        /// The group.
        group: String,
        /// The participant.
        participant: String,
    },
    /// `join` would claim more `done`s than the counter has unclaimed: a lease must
    /// be backed by an earlier `add` (Go's rule: `Add` before `go`).
    NothingToJoin {
        /// The group.
        group: String,
        /// The counter.
        count: u64,
        /// `done`s already claimed by live leases.
        claimed: u64,
        /// `done`s this join asked for.
        owed: u64,
    },
    /// Redis could not be reached (connection refused, dropped, or timed out) within
    /// the retry window or before the call's deadline. A call that gave up after
    /// sending its request may still be applied by the server later (a frozen
    /// server that resumes); a resend is never applied twice.
    Unreachable {
        /// The server address.
        addr: String,
        /// The last error from the client.
        source: redis::RedisError,
    },
    /// The sentinels themselves refused the connection: they need a password that
    /// was not given ([`Options::sentinel_password`](crate::Options::sentinel_password)),
    /// or refused the one (or the user) given. The URL's password is the
    /// primary's, not theirs.
    SentinelAuthFailed {
        /// The sentinels' addresses.
        sentinels: String,
        /// The sentinels' user given (`None`: their default user).
        user: Option<String>,
    },
    /// The server requires authentication and the URL gave no password (Redis
    /// answered `NOAUTH`).
    AuthRequired {
        /// The server address.
        addr: String,
    },
    /// The server refused the URL's password or user (a wrong password, an unknown
    /// or disabled ACL user, or a password given to a server that has none).
    AuthFailed {
        /// The server address.
        addr: String,
        /// The ACL user name of the URL (`None`: the default user).
        user: Option<String>,
    },
    /// The URL names a database number the server does not have (`SELECT`
    /// refused: `redis://host/99` on a server with 16 databases).
    NoSuchDatabase {
        /// The server address.
        addr: String,
        /// The database number of the URL.
        db: i64,
    },
    /// The ACL user of the URL lacks a permission the group needs (Redis answered
    /// `NOPERM`, or a command inside the group's script was refused). The crate
    /// README states the least-privilege ACL rule.
    NoPermission {
        /// The ACL user name of the URL (`None`: the default user).
        user: Option<String>,
        /// The command refused, lower case (for example `evalsha`, `xread`,
        /// `hset`); `None` when a key, not a command, was refused.
        command: Option<String>,
        /// The server's message, one line.
        detail: String,
    },
    /// The wait's timeout or deadline passed before the counter reached zero.
    Timeout {
        /// The group.
        group: String,
        /// The counter at the last look.
        count: u64,
        /// How long the call waited.
        waited: Duration,
    },
    /// Redis answered with an error this crate did not expect (for example
    /// `WRONGTYPE` when another program uses the group's keys).
    Redis(redis::RedisError),
    /// Redis answered with a reply this crate cannot read.
    Protocol(String),
    /// A durable mutation (see [`Options::min_replicas`](crate::Options::min_replicas))
    /// was applied on the primary, but fewer replicas than required confirmed it
    /// within the replica timeout. The write may or may not survive a failover.
    NotReplicated {
        /// The group.
        group: String,
        /// The operation (`add`, `done`, `join`, `fail`).
        op: &'static str,
        /// Replicas that confirmed the write in time.
        acked: usize,
        /// Replicas required.
        wanted: usize,
    },
    /// A TLS connection (`rediss://`) could not be set up: the server's certificate
    /// does not chain to the trusted CA ([`Options::tls_ca`](crate::Options::tls_ca)
    /// or the system's roots) or does not name the host, the server refused the
    /// client certificate, or a certificate or key given could not be read. Not
    /// retried: it would fail the same way.
    Tls {
        /// The server address.
        addr: String,
        /// What the TLS library reported, one line.
        detail: String,
    },
}

impl Error {
    /// `true` for errors that say the group's round is broken (a participant was lost
    /// or failed): the work itself did not all complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use headcount_redis::Error;
    /// let e = Error::ParticipantLost { group: "g".into(), participant: "p".into(), owed: 1 };
    /// assert!(e.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(
            self,
            Error::ParticipantLost { .. } | Error::ParticipantFailed { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => write!(f, "invalid group name {name:?}: {reason}"),
            Error::InvalidUrl { url, reason } => write!(f, "invalid Redis URL {url:?}: {reason}"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::NegativeCounter { group, count, delta } => write!(
                f,
                "negative counter refused: group `{group}` is at {count} and delta {delta} would take it below zero; nothing was written"
            ),
            Error::Overflow { group, delta } => write!(
                f,
                "counter overflow refused: delta {delta} would take group `{group}` past 2^53-1; nothing was written"
            ),
            Error::NoSuchGroup { group } => write!(
                f,
                "group `{group}` does not exist in Redis: no add created it, or its state was lost"
            ),
            Error::StateLost { group } => write!(
                f,
                "state of group `{group}` was lost: Redis no longer holds it whole (restart without persistence or from an older snapshot, failover to a replica that missed writes, flush, eviction, expiry or delete); the counter is unknown"
            ),
            Error::ParticipantLost { group, participant, owed } => write!(
                f,
                "participant `{participant}` of group `{group}` was lost (its lease expired) owing {owed} done(s)"
            ),
            Error::ParticipantFailed { group, participant, detail, owed } => write!(
                f,
                "participant `{participant}` of group `{group}` failed ({detail}) owing {owed} done(s)"
            ),
            Error::Fenced { group, participant } => write!(
                f,
                "participant `{participant}` of group `{group}` is fenced: its lease was reaped, so its done was refused and not counted"
            ),
            Error::NotJoined { group, participant } => write!(
                f,
                "participant `{participant}` holds no lease in group `{group}`"
            ),
            Error::NothingToJoin { group, count, claimed, owed } => write!(
                f,
                "join refused: group `{group}` is at {count} with {claimed} done(s) already claimed, so {owed} more cannot be claimed (add before join)"
            ),
            Error::Unreachable { addr, source } if source.is_timeout() => write!(
                f,
                "Redis at {addr} is unreachable: no answer in time (server gone, frozen or overloaded)"
            ),
            Error::Unreachable { addr, source } => {
                write!(f, "Redis at {addr} is unreachable: {}", one_line(&source.to_string()))
            }
            Error::Tls { addr, detail } => write!(
                f,
                "TLS with Redis at {addr} failed (certificate not trusted, wrong CA, or a bad client certificate or key): {}",
                one_line(detail)
            ),
            Error::AuthRequired { addr } => write!(
                f,
                "Redis at {addr} requires a password (authentication required): put PASSWORD@ or USER:PASSWORD@ before the host in the URL"
            ),
            Error::SentinelAuthFailed { sentinels, user } => write!(
                f,
                "the sentinels at {sentinels} refused the connection: their password (user `{}`) is missing or wrong; give it with Options::sentinel_password (CLI: --sentinel-password or HEADCOUNT_SENTINEL_PASSWORD); the password in the URLs is the primary's",
                user.as_deref().unwrap_or("default")
            ),
            Error::AuthFailed { addr, user } => write!(
                f,
                "authentication failed at Redis at {addr}: wrong password, or unknown or disabled user `{}`",
                user.as_deref().unwrap_or("default")
            ),
            Error::NoSuchDatabase { addr, db } => write!(
                f,
                "Redis at {addr} has no database {db} (the URL's /{db}): it refused to select it"
            ),
            Error::NoPermission { user, command, detail } => {
                let user = user.as_deref().unwrap_or("default");
                match command {
                    Some(cmd) => write!(
                        f,
                        "permission denied: Redis user `{user}` may not run the command `{cmd}`, which headcount needs (grant the ACL rule in the headcount-redis README): {}",
                        one_line(detail)
                    ),
                    None => write!(
                        f,
                        "permission denied: Redis user `{user}` may not use the group's keys `headcount:*` (grant the ACL rule in the headcount-redis README): {}",
                        one_line(detail)
                    ),
                }
            }
            Error::Timeout { group, count, waited } => write!(
                f,
                "timed out after {:.1}s waiting for group `{group}` (counter at {count})",
                waited.as_secs_f64()
            ),
            Error::Redis(e) => write!(f, "Redis error: {}", one_line(&e.to_string())),
            Error::Protocol(what) => write!(f, "unexpected reply from Redis: {what}"),
            Error::NotReplicated { group, op, acked, wanted } => write!(
                f,
                "`{op}` on group `{group}` was applied on the primary, but only {acked} of {wanted} required replica(s) confirmed it in time: it may or may not survive a failover"
            ),
        }
    }
}

/// Replaces the password of every Redis URL in `text` with `***`: the `PASSWORD`
/// of `scheme://USER:PASSWORD@host` (everything before the last `@` of the URL
/// when it has no `:`), and the value of a `pass`/`password` query parameter
/// (`redis+unix:///path?pass=...`). Text without a URL comes back unchanged.
///
/// Every error this crate builds from a URL goes through it; the `headcount` CLI
/// also passes each line it prints through it.
///
/// # Examples
///
/// ```
/// use headcount_redis::redact_url;
/// assert_eq!(redact_url("redis://ci:hunter2@cache:6379/1"), "redis://ci:***@cache:6379/1");
/// assert_eq!(redact_url("redis://:hunter2@cache"), "redis://:***@cache");
/// assert_eq!(redact_url("redis+unix:///run/r.sock?pass=hunter2"), "redis+unix:///run/r.sock?pass=***");
/// assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
/// ```
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&redact_line(line));
    }
    out
}

/// [`redact_url`] for one line: each URL runs from its `://` to the next `://`
/// (or the end of the line); its user part ends at its last `@`.
fn redact_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let end = rest.find("://").unwrap_or(rest.len());
        let url = &rest[..end];
        let after_user = match url.rfind('@') {
            Some(a) => {
                match url[..a].find(':') {
                    Some(c) => {
                        out.push_str(&url[..c]);
                        out.push_str(":***@");
                    }
                    None => out.push_str("***@"),
                }
                a + 1
            }
            None => 0,
        };
        out.push_str(&redact_query(&url[after_user..]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Hides the value of every query parameter whose name contains `pass`.
fn redact_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(q) = rest.find(['?', '&']) {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let stop = rest
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || "\"'`".contains(c))
            .unwrap_or(rest.len());
        let param = &rest[..stop];
        match param.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("pass") => {
                out.push_str(k);
                out.push_str("=***");
            }
            _ => out.push_str(param),
        }
        rest = &rest[stop..];
    }
    out.push_str(rest);
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable { source, .. } => Some(source),
            Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_hides_every_password_shape() {
        for (given, shown) in [
            ("redis://u:s3cret@h:1/2", "redis://u:***@h:1/2"),
            ("redis://:s3cret@h", "redis://:***@h"),
            ("redis://s3cret@h", "redis://***@h"),
            ("redis://u:s3@cr@et@h", "redis://u:***@h"),
            ("redis://u:s3/cret@h", "redis://u:***@h"),
            ("redis://u:s3 cret@h", "redis://u:***@h"),
            (
                "redis+unix:///s.sock?db=1&pass=s3cret&x=1",
                "redis+unix:///s.sock?db=1&pass=***&x=1",
            ),
            ("'redis://:s3cret@h' found", "'redis://:***@h' found"),
            (
                "a redis://:s3cret@h b rediss://:s3cret@i",
                "a redis://:***@h b rediss://:***@i",
            ),
            ("line\nredis://:s3cret@h\n", "line\nredis://:***@h\n"),
            (
                "no url at all: 127.0.0.1:6379",
                "no url at all: 127.0.0.1:6379",
            ),
            ("redis://h:6379/0", "redis://h:6379/0"),
        ] {
            assert_eq!(redact_url(given), shown, "{given}");
        }
    }
}
