//! [`Lease`]: a participant's claim on `done`s it owes, kept alive by a heartbeat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::io::conn::{random_id, Inner};
use crate::script::Session;

/// The shortest lease TTL [`RedisWaitGroup::join`](crate::RedisWaitGroup::join)
/// accepts: 100 ms.
///
/// # Examples
///
/// ```
/// assert_eq!(headcount_redis::MIN_TTL, std::time::Duration::from_millis(100));
/// ```
pub const MIN_TTL: Duration = Duration::from_millis(100);

/// The longest lease TTL [`RedisWaitGroup::join`](crate::RedisWaitGroup::join)
/// accepts: 24 hours. A participant silent for longer is not told from a dead one
/// in any useful time, and the expiry stays exact on the Redis clock.
///
/// # Examples
///
/// ```
/// assert_eq!(headcount_redis::MAX_TTL, std::time::Duration::from_secs(24 * 3600));
/// ```
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// `host:pid:random`, the default participant name.
pub(crate) fn default_participant() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}:{}", std::process::id(), &random_id()[..6])
}

/// A participant's lease in a group, from [`RedisWaitGroup::join`].
///
/// While the lease lives, a background thread renews it every `ttl / 3` (the
/// expiry is computed by Redis from its own clock). What happens to the `done`s it
/// owes:
///
/// * [`done`](Lease::done) or dropping the lease pays them (Go's
///   `defer wg.Done()`). A lease dropped while its thread panics marks the group
///   failed instead ([`Error::ParticipantFailed`], detail `panicked`).
/// * [`fail`](Lease::fail) marks the group failed with a reason.
/// * If the process dies or stalls past its lease, the next observer (a waiter
///   re-checks at each lease's expiry) reaps the lease: the round is broken, every
///   waiter gets [`Error::ParticipantLost`] naming this participant and the `done`s
///   it owed, and those `done`s are taken off the counter so the round can end.
///   The participant is then **fenced**: if it comes back, its heartbeat and its
///   `done` are refused with [`Error::Fenced`] and not counted.
///
/// [`RedisWaitGroup::join`]: crate::RedisWaitGroup::join
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use headcount_redis::RedisWaitGroup;
///
/// let wg = RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
/// let lease = wg.join(Duration::from_secs(10))?;
/// println!("working as {}", lease.participant());
/// drop(lease); // pays its done
/// # Ok::<(), headcount_redis::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping a Lease pays its done at once"]
pub struct Lease {
    inner: Arc<Inner>,
    participant: String,
    owed: u64,
    /// The lease's own client session: its `join`, `done`s and `fail` run in it, and
    /// the server drops its record when it reaps the lease (a participant killed
    /// mid-work leaves nothing behind). Taken into the handle's pool at the end.
    session: Option<Session>,
    fenced: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Lease {
    pub(crate) fn join(
        inner: Arc<Inner>,
        participant: &str,
        ttl: Duration,
        owed: u64,
    ) -> Result<Lease> {
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(Error::InvalidArgument(format!(
                "lease ttl {ttl:?} is outside the accepted range, 100ms to 24h"
            )));
        }
        if owed == 0 || participant.is_empty() {
            return Err(Error::InvalidArgument(
                "a lease needs a participant name and at least one owed done".into(),
            ));
        }
        let ttl_ms = ttl.as_millis().to_string();
        let call = inner.call(
            "join",
            true,
            vec![participant.to_owned(), ttl_ms.clone(), owed.to_string()],
        )?;
        let mut session = Session::new();
        if let Err(e) = inner.run_in_session(&call, &mut session) {
            if let Error::NotReplicated { wanted, .. } = &e {
                // The lease exists on the primary, but this participant will not
                // work under it: fail it now rather than leave it to expire as a
                // lost participant. Best effort: the error returned is the join's.
                let detail = format!("its join was not confirmed by {wanted} replica(s)");
                if let Ok(fail) = inner.call("fail", true, vec![participant.to_owned(), detail]) {
                    let _ = inner.run_in_session(&fail, &mut session);
                }
            }
            inner.adopt_session(session);
            return Err(e);
        }
        let fenced = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let interval = ttl / 3;
        let (hb_inner, hb_fenced, name) = (inner.clone(), fenced.clone(), participant.to_owned());
        let heartbeat = std::thread::Builder::new()
            .name("headcount-lease".into())
            .spawn(move || {
                // Ends when the sender is dropped (the lease is finished or dropped).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    // A beat later than the TTL is of no use: bounded by it, so
                    // that ending the lease never waits longer for a beat.
                    let beat = hb_inner
                        .call("beat", false, vec![name.clone(), ttl_ms.clone()])
                        .and_then(|c| hb_inner.run_until(&c, Instant::now().checked_add(ttl)));
                    match beat {
                        Ok(_) => {}
                        // Transient trouble: the next beat tries again; the lease
                        // expires on its own if Redis stays away.
                        Err(Error::Unreachable { .. }) => {}
                        Err(_) => {
                            hb_fenced.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::InvalidArgument(format!("cannot start heartbeat thread: {e}")))?;
        Ok(Lease {
            inner,
            participant: participant.to_owned(),
            owed,
            session: Some(session),
            fenced,
            stop: Some(stop),
            heartbeat: Some(heartbeat),
        })
    }

    /// The participant's name, as waiters will see it in errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// assert!(!lease.participant().is_empty());
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn participant(&self) -> &str {
        &self.participant
    }

    /// How many `done`s this lease still owes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// assert_eq!(lease.owed(), 1);
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn owed(&self) -> u64 {
        self.owed
    }

    /// `true` once the heartbeat was refused: the lease was reaped and this
    /// participant is fenced (its `done`s will be refused).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// if lease.is_fenced() { eprintln!("too late: the group gave up on us"); }
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    fn stop_heartbeat(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
    }

    /// Runs a remembered call in the lease's session.
    fn run(&mut self, call: &crate::script::Call) -> Result<()> {
        let session = self.session.get_or_insert_with(Session::new);
        self.inner.run_in_session(call, session).map(drop)
    }

    fn pay_one(&mut self) -> Result<()> {
        let call = self
            .inner
            .call("done", true, vec![self.participant.clone()])?;
        let r = self.run(&call);
        // Applied on the primary, only not confirmed by enough replicas: paid (it
        // must not be paid again).
        if r.is_ok() || matches!(r, Err(Error::NotReplicated { .. })) {
            self.owed -= 1;
        }
        r
    }

    /// Pays one of the `done`s this lease owes (applied exactly once). When it was
    /// the last, the lease ends.
    ///
    /// # Errors
    ///
    /// [`Error::Fenced`] if the lease was reaped, [`Error::NotJoined`] if nothing is
    /// owed any more, and those of [`RedisWaitGroup::done`](crate::RedisWaitGroup::done).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let mut lease = wg.join_as("worker-1", Duration::from_secs(10), 2)?;
    /// lease.done_one()?;
    /// assert_eq!(lease.owed(), 1);
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn done_one(&mut self) -> Result<()> {
        if self.owed == 0 {
            return Err(Error::NotJoined {
                group: self.inner.name.clone(),
                participant: self.participant.clone(),
            });
        }
        let r = self.pay_one();
        if self.owed == 0 || matches!(r, Err(Error::Fenced { .. })) {
            self.stop_heartbeat();
        }
        r
    }

    /// Pays every `done` this lease still owes and ends it.
    ///
    /// # Errors
    ///
    /// As [`done_one`](Self::done_one); on error the rest stays unpaid (and the
    /// lease, no longer renewed, will expire).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// lease.done()?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn done(mut self) -> Result<()> {
        let r = self.pay_all();
        self.stop_heartbeat();
        // On error the rest stays unpaid, as documented: the drop does not try
        // again (which would also double the time a failing `done` takes).
        self.owed = 0;
        r
    }

    fn pay_all(&mut self) -> Result<()> {
        while self.owed > 0 {
            self.pay_one()?;
        }
        Ok(())
    }

    /// Marks the group failed: the round is broken, every waiter gets
    /// [`Error::ParticipantFailed`] with `detail`, and the `done`s this lease owed are
    /// taken off the counter.
    ///
    /// # Errors
    ///
    /// [`Error::Fenced`] if the lease was already reaped, and those of
    /// [`RedisWaitGroup::done`](crate::RedisWaitGroup::done).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let wg = headcount_redis::RedisWaitGroup::open_url("redis://127.0.0.1:6379", "job")?;
    /// let lease = wg.join(Duration::from_secs(10))?;
    /// lease.fail("exit status: 2")?;
    /// # Ok::<(), headcount_redis::Error>(())
    /// ```
    pub fn fail(mut self, detail: &str) -> Result<()> {
        self.stop_heartbeat();
        let r = self.send_fail(detail);
        self.owed = 0;
        r
    }

    fn send_fail(&mut self, detail: &str) -> Result<()> {
        let call = self.inner.call(
            "fail",
            true,
            vec![self.participant.clone(), detail.to_owned()],
        )?;
        self.run(&call)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_heartbeat();
        if self.owed > 0 {
            // Errors cannot be returned from drop; a lease whose done is refused
            // here was already reported to the waiters (fenced or lost).
            if std::thread::panicking() {
                let _ = self.send_fail("panicked");
            } else {
                let _ = self.pay_all();
            }
        }
        if let Some(session) = self.session.take() {
            self.inner.adopt_session(session);
        }
    }
}
