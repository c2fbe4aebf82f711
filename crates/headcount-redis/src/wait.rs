//! Waiting for the counter to reach zero, without missing the transition.
//!
//! # How a waiter cannot miss zero
//!
//! 1. The `check` script takes an atomic snapshot: counter, generation `g` (the
//!    number of the current round), the failure record, and the last id `s` of the
//!    group's event stream. It also reaps expired leases first.
//! 2. If the counter is zero the wait is over (or failed, if round `g` is broken),
//!    as for the core `WaitGroup`. Otherwise the waiter saves `g` and `s`.
//! 3. It blocks in `XREAD BLOCK .. STREAMS events s`. Every event appended after the
//!    snapshot has an id above `s`, so the read returns it even if the waiter was
//!    disconnected when it was written (a pub/sub message would be gone). A `zero`
//!    event for round `g` releases it; a `broken` event for round `g` fails it.
//! 4. Whenever the read times out or the connection fails, the waiter takes a new
//!    snapshot and compares with the saved `g`: a generation above `g`, or zero at
//!    `g`, means round `g` ended, even if its event was trimmed from the stream.
//!    This is also when lost leases are reaped: the read's timeout is set to the
//!    earliest lease expiry (Redis clock), so a dead participant is found promptly.
//! 5. A snapshot or event from another incarnation of the group (a different
//!    instance id), no state at all, part of the state (a key missing), an older
//!    state than one already seen (the version every reply carries, or the round
//!    number, went down), or the group's `deleted` event is [`Error::StateLost`],
//!    never zero.
//!
//! # Deadlines
//!
//! Every call to Redis a waiter makes (snapshot, connect, blocking read) is bounded
//! by its limit: the caller's deadline plus [`FINAL_SNAPSHOT`] (time for the last
//! snapshot, which tells a zero reached at the deadline from a timeout), and the
//! retry window since Redis last answered. A waiter therefore returns within its
//! deadline plus a quarter of a second whatever the server does (gone, frozen,
//! slow), and a waiter without a deadline gives up with [`Error::Unreachable`] once
//! Redis has not answered for the retry window. Past the deadline, a server that
//! did not answer in time (slow or frozen) makes it an [`Error::Timeout`]; one that
//! refused or dropped the connection, or was never reached, [`Error::Unreachable`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::Value;

use crate::conn::{after, is_transient, left_until, within, Inner};
use crate::error::{Error, Result};
use crate::script::{failure, number, text, Check};
use crate::topology::{AsyncConn, Conn};

/// Longest single blocking read: the waiter re-checks at least this often.
const MAX_BLOCK: Duration = Duration::from_secs(2);
/// Slack after a lease expiry before re-checking (so the lease has surely expired).
const EXPIRY_SLACK: Duration = Duration::from_millis(25);
/// How long after the deadline the last snapshot may take.
const FINAL_SNAPSHOT: Duration = Duration::from_millis(250);

/// What a snapshot says about a waiter.
enum Step {
    Released,
    Pending { gen: u64 },
}

/// Interprets a snapshot for a waiter that saved round `saved` (or none yet).
fn decide(group: &str, chk: &Check, saved: Option<u64>) -> Result<Step> {
    let g = saved.unwrap_or(chk.gen);
    if chk.gen < g {
        // An older round than one already seen: the state was rolled back (the
        // script's version check normally reports this first).
        return Err(Error::StateLost {
            group: group.to_owned(),
        });
    }
    if chk.gen > g || chk.count == 0 {
        // Round `g` has ended (or the group is at zero now).
        return match chk.failure_of(group, g) {
            Some(e) => Err(e),
            None => Ok(Step::Released),
        };
    }
    match chk.failure_of(group, g) {
        Some(e) => Err(e),
        None => Ok(Step::Pending { gen: g }),
    }
}

/// How long the next blocking read may take; `None` when the deadline has passed.
fn block_for(chk: &Check, checked_at: Instant, deadline: Option<Instant>) -> Option<Duration> {
    let now = Instant::now();
    let mut until = checked_at + MAX_BLOCK;
    if let Some(exp) = chk.next_expiry_ms {
        let d = Duration::from_millis(exp.saturating_sub(chk.now_ms)) + EXPIRY_SLACK;
        until = until.min(checked_at + d);
    }
    if let Some(dl) = deadline {
        if dl <= now {
            return None;
        }
        until = until.min(dl);
    }
    Some(
        until
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)),
    )
}

fn xread(events: &str, last_id: &str, block: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("BLOCK")
        .arg(block.as_millis().max(1) as u64)
        .arg("COUNT")
        .arg(64)
        .arg("STREAMS")
        .arg(events)
        .arg(last_id);
    cmd
}

/// Looks through an `XREAD` reply for the end of round `gen`.
/// `Ok(None)`: nothing decisive (or a timeout): take a new snapshot.
fn scan(group: &str, inst: &str, gen: u64, reply: &Value) -> Result<Option<()>> {
    let Value::Array(streams) = reply else {
        return Ok(None); // Nil: the read timed out.
    };
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(Value::Array(entries)) = pair.get(1) else {
            continue;
        };
        for entry in entries {
            let Value::Array(e) = entry else { continue };
            let Some(Value::Array(kv)) = e.get(1) else {
                continue;
            };
            let mut f = HashMap::new();
            for pair in kv.chunks(2) {
                if let [k, v] = pair {
                    f.insert(text(k)?, text(v)?);
                }
            }
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            if get("inst") != inst {
                return Err(Error::StateLost {
                    group: group.to_owned(),
                });
            }
            if get("type") == "deleted" {
                return Err(Error::StateLost {
                    group: group.to_owned(),
                });
            }
            if get("gen").parse::<u64>().ok() != Some(gen) {
                continue;
            }
            match get("type").as_str() {
                "broken" => {
                    let owed = number(&Value::BulkString(get("owed").into_bytes())).unwrap_or(0);
                    return Err(failure(
                        group,
                        &get("kind"),
                        get("who"),
                        owed,
                        get("detail"),
                    ));
                }
                // A `zero` event of a broken round: its `broken` event came first and
                // was returned above, unless trimmed; the next snapshot tells.
                "zero" if get("broken") == "1" => return Ok(None),
                "zero" => return Ok(Some(())),
                _ => {}
            }
        }
    }
    Ok(None)
}

/// What the blocking and the async wait loops share: deciding on each snapshot and on
/// each read's outcome. They differ only in how they call Redis.
struct Waiter<'a> {
    inner: &'a Inner,
    deadline: Option<Instant>,
    started: Instant,
    /// The round waited for, from the first snapshot on.
    saved: Option<u64>,
    /// When Redis last answered this waiter.
    answered: Instant,
    /// The counter at the last snapshot.
    last: Option<u64>,
}

impl<'a> Waiter<'a> {
    fn new(inner: &'a Inner, deadline: Option<Instant>) -> Self {
        Waiter {
            inner,
            deadline,
            started: Instant::now(),
            saved: None,
            answered: Instant::now(),
            last: None,
        }
    }

    /// The outcome of a snapshot that failed with `e`. Past the deadline, a server
    /// that did not answer in time (slow or frozen: they look the same) is a
    /// timeout, with the counter of the last snapshot; one that refused or dropped
    /// the connection, or was never reached, stays unreachable.
    fn on_failed_snapshot(&self, e: Error) -> Error {
        let past = self.deadline.is_some_and(|d| Instant::now() >= d);
        match (e, self.last) {
            (Error::Unreachable { source, .. }, Some(count)) if past && source.is_timeout() => {
                Error::Timeout {
                    group: self.inner.name.clone(),
                    count,
                    waited: self.started.elapsed(),
                }
            }
            (e, _) => e,
        }
    }

    /// When the waiter's current call to Redis must end (see the module docs).
    fn limit(&self) -> Instant {
        let silent = after(self.answered, self.inner.opts.retry_window);
        match self.deadline {
            Some(d) => silent.min(after(d, FINAL_SNAPSHOT)),
            None => silent,
        }
    }

    /// The reply timeout of a blocking read of `block`.
    fn read_timeout(&self, block: Duration) -> Duration {
        block
            .saturating_add(self.inner.opts.io_timeout)
            .min(left_until(self.limit()))
    }

    /// After a snapshot taken at `checked_at`: `None` when the wait is over, else the
    /// round to look for in the events and how long the next read may block.
    fn on_snapshot(&mut self, chk: &Check, checked_at: Instant) -> Result<Option<(u64, Duration)>> {
        self.answered = Instant::now();
        self.last = Some(chk.count);
        let gen = match decide(&self.inner.name, chk, self.saved)? {
            Step::Released => return Ok(None),
            Step::Pending { gen } => gen,
        };
        self.saved = Some(gen);
        match block_for(chk, checked_at, self.deadline) {
            Some(block) => Ok(Some((gen, block))),
            None => Err(Error::Timeout {
                group: self.inner.name.clone(),
                count: chk.count,
                waited: self.started.elapsed(),
            }),
        }
    }

    /// After a read on `conn`: `true` when it released the wait, `false` to take a new
    /// snapshot. A failed read drops the connection.
    fn on_read<C>(
        &mut self,
        chk: &Check,
        gen: u64,
        read: redis::RedisResult<Value>,
        conn: &mut Option<C>,
    ) -> Result<bool> {
        match read {
            Ok(v) => {
                self.answered = Instant::now();
                Ok(scan(&self.inner.name, &chk.inst, gen, &v)?.is_some())
            }
            Err(e) => {
                *conn = None;
                if is_transient(&e) {
                    Ok(false)
                } else {
                    Err(self.inner.refused(e))
                }
            }
        }
    }
}

/// Blocking wait (see the module docs). The blocking reads use a connection of
/// their own (taken from the handle's pool and given back when healthy), so they
/// never hold up other calls on the handle.
pub(crate) fn wait_blocking(inner: &Inner, deadline: Option<Instant>) -> Result<()> {
    let mut conn: Option<Conn> = None;
    let r = wait_blocking_on(inner, deadline, &mut conn);
    if let Some(c) = conn {
        inner.give_waited(c);
    }
    r
}

fn wait_blocking_on(
    inner: &Inner,
    deadline: Option<Instant>,
    conn: &mut Option<Conn>,
) -> Result<()> {
    let mut waiter = Waiter::new(inner, deadline);
    loop {
        let checked_at = Instant::now();
        let call = inner.call("check", false, vec![])?;
        let reply = inner.run_until(&call, Some(waiter.limit()));
        let chk = Check::parse(&reply.map_err(|e| waiter.on_failed_snapshot(e))?)?;
        let Some((gen, block)) = waiter.on_snapshot(&chk, checked_at)? else {
            return Ok(());
        };
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match inner.take_until(waiter.limit()) {
                Ok((c, _)) => conn.insert(c),
                // The next snapshot retries (or reports Unreachable).
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(inner.refused(e)),
            },
        };
        c.set_read_timeout(Some(waiter.read_timeout(block)))
            .map_err(Error::Redis)?;
        let read = xread(inner.keys.events(), &chk.last_id, block).query::<Value>(c);
        if waiter.on_read(&chk, gen, read, conn)? {
            return Ok(());
        }
    }
}

/// Async wait (see the module docs). It reads on a connection of its own (from the
/// handle's pool of blocking-read connections, given back after a completed read),
/// so a blocked read never delays other operations of the handle. A wait dropped
/// while it reads drops its connection: a read may still be in flight on it.
pub(crate) async fn wait_async(inner: &Inner, deadline: Option<Instant>) -> Result<()> {
    let mut conn = None;
    let r = wait_async_on(inner, deadline, &mut conn).await;
    if let Some(c) = conn {
        inner.give_reader(c);
    }
    r
}

async fn wait_async_on(
    inner: &Inner,
    deadline: Option<Instant>,
    conn: &mut Option<AsyncConn>,
) -> Result<()> {
    let mut waiter = Waiter::new(inner, deadline);
    loop {
        let checked_at = Instant::now();
        let call = inner.call("check", false, vec![])?;
        let reply = inner.run_async_until(&call, Some(waiter.limit())).await;
        let chk = Check::parse(&reply.map_err(|e| waiter.on_failed_snapshot(e))?)?;
        let Some((gen, block)) = waiter.on_snapshot(&chk, checked_at)? else {
            return Ok(());
        };
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match inner.take_reader(MAX_BLOCK, waiter.limit()).await {
                Ok(c) => conn.insert(c),
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(inner.refused(e)),
            },
        };
        // Bounded like the blocking read's socket timeout; a read cut off here is
        // still in flight, so `on_read` drops its connection.
        let read_end = after(Instant::now(), waiter.read_timeout(block));
        let read = within(
            read_end,
            xread(inner.keys.events(), &chk.last_id, block).query_async::<Value>(c),
        )
        .await;
        if waiter.on_read(&chk, gen, read, conn)? {
            return Ok(());
        }
    }
}
