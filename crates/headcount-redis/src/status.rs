//! [`Status`]: a snapshot of a group for people (`headcount status`).

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::script::{field, text, Check, Reply};

/// A live lease, as seen in a [`Status`].
///
/// # Examples
///
/// ```no_run
/// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
/// for lease in wg.status()?.leases {
///     println!("{} owes {}", lease.participant, lease.owed);
/// }
/// # Ok::<(), headcount_redis::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The participant's name.
    pub participant: String,
    /// `done`s it still owes.
    pub owed: u64,
    /// Time left on its lease (Redis clock) when the snapshot was taken.
    pub expires_in: Duration,
}

/// A snapshot of a group, from [`RedisWaitGroup::status`](crate::RedisWaitGroup::status).
///
/// `Display` prints it for people, one field per line.
///
/// # Examples
///
/// ```no_run
/// let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
/// let s = wg.status()?;
/// println!("{} left in round {}", s.count, s.generation);
/// # Ok::<(), headcount_redis::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Status {
    /// The group's name.
    pub group: String,
    /// The counter.
    pub count: u64,
    /// The round number: it goes up each time the counter leaves zero.
    pub generation: u64,
    /// Why the current round is broken, if it is (the error its waiters get).
    pub broken: Option<Error>,
    /// Live leases (the first 100, earliest expiry first).
    pub leases: Vec<LeaseInfo>,
    /// How many leases are live.
    pub leases_total: u64,
    /// The failures of the current round, one line each (the first 100).
    pub failures: Vec<String>,
    /// How many failures the current round has.
    pub failures_total: u64,
    /// Warnings about the server's configuration (for example a
    /// `maxmemory-policy` that may evict the group's keys).
    pub warnings: Vec<String>,
}

impl Status {
    /// Reads the reply of the `status` operation.
    pub(crate) fn from_reply(group: &str, reply: &Reply) -> Result<Status> {
        let chk = Check::parse(reply)?;
        let leases = reply
            .list(field::LEASES)?
            .iter()
            .map(|lease| {
                let lease = Reply::parse("status", lease.clone())?;
                Ok(LeaseInfo {
                    participant: lease.text(field::PARTICIPANT)?,
                    owed: lease.number(field::OWED)?,
                    expires_in: Duration::from_millis(
                        lease.number(field::EXPIRY)?.saturating_sub(chk.now_ms),
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let failures = reply
            .list(field::FAILURES)?
            .iter()
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        Ok(Status {
            group: group.to_owned(),
            count: chk.count,
            generation: chk.gen,
            broken: chk.failure_of(group, chk.gen),
            leases,
            leases_total: reply.number(field::LEASES_TOTAL)?,
            failures,
            failures_total: reply.number(field::FAILURES_TOTAL)?,
            warnings: Vec::new(),
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "group:        {}", self.group)?;
        writeln!(f, "count:        {}", self.count)?;
        writeln!(f, "generation:   {}", self.generation)?;
        match &self.broken {
            Some(e) => writeln!(f, "state:        broken: {e}")?,
            None if self.count == 0 => {
                writeln!(f, "state:        at zero (waiters return at once)")?
            }
            None => writeln!(f, "state:        running")?,
        }
        writeln!(f, "participants: {} with live leases", self.leases_total)?;
        for l in &self.leases {
            writeln!(
                f,
                "  {}  owes {}  lease expires in {:.1}s",
                l.participant,
                l.owed,
                l.expires_in.as_secs_f64()
            )?;
        }
        if self.failures.is_empty() {
            write!(f, "failures:     none")?;
        } else {
            write!(f, "failures:     {}", self.failures_total)?;
            for line in &self.failures {
                write!(f, "\n  {line}")?;
            }
        }
        for w in &self.warnings {
            write!(f, "\nwarning:      {w}")?;
        }
        Ok(())
    }
}
