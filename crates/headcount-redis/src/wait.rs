//! Waiting for the counter to reach zero, without missing the transition.
//!
//! # How a waiter cannot miss zero
//!
//! 1. The `check` script takes an atomic snapshot: counter, generation `g` (the
//!    number of the current round), the failure record, and the last id `s` of the
//!    group's event stream. It also reaps expired leases first.
//! 2. If the counter is zero the wait is over (or failed, if round `g` is broken),
//!    as for the core `WaitGroup`. Otherwise the waiter saves `g` and `s`.
//! 3. It waits for the events of the group's stream after `s`, read by the
//!    process's watcher of the server (see `io/watch.rs`: one `XREAD BLOCK` on one
//!    connection for every waiter of the process). Every event appended after the
//!    snapshot has an id above `s`, so the read returns it even if it was written
//!    while the watcher was reconnecting (a pub/sub message would be gone). On a
//!    Redis Cluster the events come as shard Pub/Sub messages instead (see
//!    `io/watch_cluster.rs`): the snapshot is taken only once the group's channel
//!    is subscribed, and any change of that subscription makes the waiter take a
//!    new snapshot, so a lost message delays nothing past step 4. A `zero` event
//!    for round `g` releases it; a `broken` event for round `g` fails it.
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
//! Every wait for Redis (a snapshot, the watcher's read of its events) is bounded
//! by the waiter's own clock, whatever the watcher is doing: its limit: the caller's deadline plus [`FINAL_SNAPSHOT`] (time for the last
//! snapshot, which tells a zero reached at the deadline from a timeout), and the
//! retry window since Redis last answered. A waiter therefore returns within its
//! deadline plus a quarter of a second whatever the server does (gone, frozen,
//! slow), and a waiter without a deadline gives up with [`Error::Unreachable`] once
//! Redis has not answered for the retry window. Past the deadline, a server that
//! did not answer in time (slow or frozen) makes it an [`Error::Timeout`]; one that
//! refused or dropped the connection, or was never reached, [`Error::Unreachable`].

use std::time::{Duration, Instant};

use redis::streams::StreamId;
use redis::RedisError;

use crate::error::{Error, Result};
use crate::io::conn::{after, cut_off, is_transient, left_until, Inner};
use crate::io::watch::{self, Delivery};
use crate::script::{failure, Check, Reply};

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

/// Looks through the entries of a group's event stream for the end of round `gen`.
/// `Ok(None)`: nothing decisive: take a new snapshot.
fn scan(group: &str, inst: &str, gen: u64, entries: &[StreamId]) -> Result<Option<()>> {
    let lost = || Error::StateLost {
        group: group.to_owned(),
    };
    for e in entries {
        let get = |k: &str| e.get::<String>(k).unwrap_or_default();
        if get("inst") != inst || get("type") == "deleted" {
            return Err(lost());
        }
        if e.get::<u64>("gen") != Some(gen) {
            continue;
        }
        match get("type").as_str() {
            "broken" => {
                let owed = e.get::<u64>("owed").unwrap_or(0);
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

    /// After waiting on the watcher: `true` when it released the wait, `false` to
    /// take a new snapshot (also when nothing came in time).
    fn on_watch(&mut self, chk: &Check, gen: u64, got: Option<Delivery>) -> Result<bool> {
        match got {
            Some(Delivery::Events(entries)) => {
                self.answered = Instant::now();
                Ok(scan(&self.inner.name, &chk.inst, gen, &entries)?.is_some())
            }
            Some(Delivery::Recheck) => {
                self.answered = Instant::now();
                Ok(false)
            }
            Some(Delivery::Failed(e)) if !is_transient(&e) => Err(self.inner.refused(e)),
            _ => Ok(false),
        }
    }

    /// When a snapshot attempt stops waiting for the watcher's reply.
    fn attempt_end(&self, end: Instant) -> Instant {
        let o = &self.inner.opts;
        after(
            Instant::now(),
            o.io_timeout.saturating_add(o.connect_timeout),
        )
        .min(end)
    }

    /// The outcome of one snapshot attempt: the script's items, or the error to
    /// retry on (or give up with).
    fn on_reply(&self, got: Option<Delivery>) -> std::result::Result<Result<Reply>, RedisError> {
        match got {
            Some(Delivery::Reply(Ok(v))) => {
                self.inner.mark_reached();
                Ok(self.inner.reply("check", v))
            }
            Some(Delivery::Reply(Err(e))) => Err(e),
            _ => Err(cut_off()),
        }
    }
}

/// Blocking wait (see the module docs): snapshots and reads go through the
/// process's watcher of the server (see `io/watch.rs`); the waiter holds no
/// connection.
pub(crate) fn wait_blocking(inner: &Inner, deadline: Option<Instant>) -> Result<()> {
    let hub = watch::watcher(inner);
    let mut waiter = Waiter::new(inner, deadline);
    loop {
        let checked_at = Instant::now();
        let call = inner.call("check", false, vec![])?;
        let end = inner.call_end(Some(waiter.limit()));
        let mut pause = Duration::from_millis(20);
        let items = loop {
            let rx = hub.request(call.invocation(&inner.keys, None), true);
            match waiter.on_reply(hub.recv_blocking(rx, waiter.attempt_end(end))) {
                Ok(items) => break items,
                Err(e) => match inner.retry_pause(e, end, &mut pause) {
                    Ok(p) => std::thread::sleep(p),
                    Err(e) => break Err(e),
                },
            }
        };
        let chk = Check::parse(&items.map_err(|e| waiter.on_failed_snapshot(e))?)?;
        let Some((gen, block)) = waiter.on_snapshot(&chk, checked_at)? else {
            return Ok(());
        };
        let now = Instant::now();
        let (_watch, rx) = hub.watch(inner.keys.events(), &chk.last_id, now + block, true);
        let got = hub.recv_blocking(rx, after(now, waiter.read_timeout(block)));
        if waiter.on_watch(&chk, gen, got)? {
            return Ok(());
        }
    }
}

/// Async wait (see the module docs): as [`wait_blocking`], awaiting the watcher's
/// replies. Dropping the future removes its registration from the watcher.
pub(crate) async fn wait_async(inner: &Inner, deadline: Option<Instant>) -> Result<()> {
    let hub = watch::watcher(inner);
    let mut waiter = Waiter::new(inner, deadline);
    loop {
        let checked_at = Instant::now();
        let call = inner.call("check", false, vec![])?;
        let end = inner.call_end(Some(waiter.limit()));
        let mut pause = Duration::from_millis(20);
        let items = loop {
            let rx = hub.request(call.invocation(&inner.keys, None), false);
            let got = hub.recv_async(rx, waiter.attempt_end(end)).await;
            match waiter.on_reply(got) {
                Ok(items) => break items,
                Err(e) => match inner.retry_pause(e, end, &mut pause) {
                    Ok(p) => tokio::time::sleep(p).await,
                    Err(e) => break Err(e),
                },
            }
        };
        let chk = Check::parse(&items.map_err(|e| waiter.on_failed_snapshot(e))?)?;
        let Some((gen, block)) = waiter.on_snapshot(&chk, checked_at)? else {
            return Ok(());
        };
        let now = Instant::now();
        let (_watch, rx) = hub.watch(inner.keys.events(), &chk.last_id, now + block, false);
        let got = hub
            .recv_async(rx, after(now, waiter.read_timeout(block)))
            .await;
        if waiter.on_watch(&chk, gen, got)? {
            return Ok(());
        }
    }
}
