//! The watcher on a Redis Cluster: one connection per node for every waiter of the
//! process, through sharded Pub/Sub (Redis 7).
//!
//! One `XREAD` cannot span two hash slots (`CROSSSLOT`), so on a cluster the
//! waiters are not woken by a shared stream read (as on one server, see
//! `io/watch.rs`) but by messages: a cluster client asks the group's script (its
//! `ARGV[7]`) to publish, with `SPUBLISH` on the group's wake channel
//! `headcount:{NAME}:wake` (same hash tag as the keys, so the same slot), every
//! event it appends to the group's stream: its entry id and fields, so a wake-up
//! hands the waiter the same entries a stream read would, with no further round
//! trip. (The channel is not passed as a key: a key that never exists would make
//! every call fail with `TRYAGAIN` while the slot migrates.)
//!
//! Each cluster (seed nodes, user, password) has one [`NodeHub`] per process: a
//! thread running a small tokio runtime, with one `redis` crate cluster
//! connection in RESP3 with a push sender (one socket per node). It runs the
//! waiters' snapshots (the `check` script, routed by key) and holds the shard
//! subscriptions of every group waited on (`SSUBSCRIBE`, routed to the slot's
//! owner): one connection per node, whatever the number of waiters, groups and
//! slots.
//!
//! Nothing is missed: a waiter's snapshot runs only once its group's channel is
//! subscribed (subscription first, then snapshot, on the same node connection),
//! so every event after the snapshot reaches the hub. Events that arrive between
//! the snapshot's reply and the waiter's registration are kept (the last few of
//! each channel) and handed to it when it registers; events at or before its
//! snapshot's stream id are never handed to it. Every change of a channel's
//! subscription (confirmed again after a reconnection, dropped by the server
//! because the slot moved to another node or is no longer served, a connection
//! lost, a new connection) gives the channel a new epoch and sends its waiters
//! `Recheck`: each takes a new snapshot, which subscribes the channel again first
//! (the `redis` crate routes it to the slot's new owner, following `MOVED`). A
//! waiter whose snapshot was taken under another epoch than the one it registers
//! under is sent `Recheck` at once. A channel no waiter has used for [`UNUSED`]
//! is unsubscribed.
//!
//! While a slot migrates, the group's script may run on the importing node (after
//! `ASK`), whose messages reach no subscriber yet: the waiters then see the
//! events at their next re-check (at most 2 s, or the next lease expiry), or when
//! the migration ends and the server ends the subscription on the old owner. A
//! waiter keeps its own clock throughout (see `wait.rs`); the hub's thread ends,
//! closing its connection, once nothing has been pending for [`IDLE_EXIT`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::cluster_async::ClusterConnection;
use redis::streams::StreamId;
use redis::{PushInfo, PushKind, RedisResult, ScriptInvocation, Value};
use tokio::sync::{mpsc, Notify};

use crate::io::conn::{Connector, Inner};
use crate::io::watch::{Delivery, Rx, StreamPos, Tx};

/// The hub's thread ends after this long with nothing to do.
const IDLE_EXIT: Duration = Duration::from_millis(500);
/// Events kept per channel for waiters that register after them.
const RECENT: usize = 16;
/// A channel no waiter has used for this long is unsubscribed.
const UNUSED: Duration = Duration::from_secs(10);

/// What a subscription change does to a channel's waiters.
struct Channel {
    /// The server confirmed the subscription, and has not ended it since.
    subscribed: bool,
    /// A job sent `SSUBSCRIBE` and waits for its confirmation (the others wait
    /// for the same one).
    requested: bool,
    /// Set anew (from the hub's counter) on every change of the subscription
    /// (see the module docs).
    epoch: u64,
    /// When a waiter last asked for a snapshot of the group.
    used: Instant,
    /// The last events published on the channel, oldest first.
    recent: VecDeque<StreamId>,
}

impl Channel {
    fn new() -> Channel {
        Channel {
            subscribed: false,
            requested: false,
            epoch: 0,
            used: Instant::now(),
            recent: VecDeque::new(),
        }
    }
}

/// One waiter's interest in its group's events after `after`.
struct Reg {
    channel: String,
    after: StreamPos,
    tx: Tx,
}

/// A snapshot to run for a waiter, once its group's channel is subscribed.
struct Job {
    inv: ScriptInvocation<'static>,
    channel: String,
    /// Where the job records the channel's epoch just before the snapshot.
    epoch: Arc<AtomicU64>,
    tx: Tx,
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Channel>,
    regs: HashMap<u64, Reg>,
    next_id: u64,
    /// Jobs submitted and not answered yet.
    in_flight: usize,
    /// The last epoch given to a channel: epochs are never reused, even by a
    /// channel unsubscribed and subscribed again.
    epochs: u64,
    /// Counts the hub's connections: pushes of an older one (read while it was
    /// being closed) are ignored.
    conn_no: u64,
}

impl State {
    /// A new epoch for `channel` (a change of its subscription).
    fn bump(&mut self, channel: &str) {
        self.epochs += 1;
        let epoch = self.epochs;
        if let Some(c) = self.channels.get_mut(channel) {
            c.epoch = epoch;
        }
    }
}

/// The watcher of one Redis Cluster in this process (see the module docs).
pub(crate) struct NodeHub {
    connector: Connector,
    state: Mutex<State>,
    /// Wakes the jobs waiting for a subscription to be confirmed.
    confirmed: Notify,
    /// The queue of the hub's thread, while it runs.
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

static HUBS: LazyLock<Mutex<HashMap<String, Arc<NodeHub>>>> = LazyLock::new(Default::default);

/// The waiter side of the hub of `inner`'s cluster, for `inner`'s group.
pub(crate) fn waiter(inner: &Inner) -> ClusterWaiter {
    let hub = HUBS
        .lock()
        .unwrap()
        .entry(inner.watch_key())
        .or_insert_with(|| {
            Arc::new(NodeHub {
                connector: inner.connector(),
                state: Mutex::new(State::default()),
                confirmed: Notify::new(),
                jobs: Mutex::new(None),
            })
        })
        .clone();
    ClusterWaiter {
        hub,
        channel: inner.keys.wake.clone().unwrap_or_default(),
        epoch: Arc::new(AtomicU64::new(0)),
    }
}

/// A waiter's handle on the hub: its group's channel, and the epoch of its last
/// snapshot.
pub(crate) struct ClusterWaiter {
    hub: Arc<NodeHub>,
    channel: String,
    epoch: Arc<AtomicU64>,
}

/// What a waiter waits on: the reply to a snapshot, or its registration's
/// delivery (`Recheck` at `recheck_at`).
pub(crate) struct Pending {
    rx: Rx,
    recheck_at: Option<Instant>,
}

/// A registration; removed from the hub on drop.
pub(crate) struct Watch {
    hub: Arc<NodeHub>,
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.state.lock().unwrap().regs.remove(&self.id);
    }
}

impl ClusterWaiter {
    /// Queues a snapshot (`inv`), run once the group's channel is subscribed.
    pub(crate) fn request(&self, inv: ScriptInvocation<'static>, blocking: bool) -> Pending {
        let (tx, rx) = Rx::pair(blocking);
        self.hub.submit(Job {
            inv,
            channel: self.channel.clone(),
            epoch: self.epoch.clone(),
            tx,
        });
        Pending {
            rx,
            recheck_at: None,
        }
    }

    /// Registers for the group's events after `last_id` (its last snapshot's), or
    /// a `Recheck` at `recheck_at`. Events that came since, or a subscription
    /// changed since the snapshot, are delivered at once.
    pub(crate) fn watch(
        &self,
        last_id: &str,
        recheck_at: Instant,
        blocking: bool,
    ) -> (Watch, Pending) {
        let (tx, rx) = Rx::pair(blocking);
        let after = StreamPos::parse(last_id);
        let mut st = self.hub.state.lock().unwrap();
        let id = st.next_id;
        st.next_id += 1;
        let pending = Pending {
            rx,
            recheck_at: Some(recheck_at),
        };
        let watch = Watch {
            hub: self.hub.clone(),
            id,
        };
        let (epoch, came) = match st.channels.get(&self.channel) {
            Some(c) => (c.epoch, newer(&c.recent, after)),
            None => (u64::MAX, Vec::new()),
        };
        if epoch != self.epoch.load(Ordering::Relaxed) {
            tx.send(Delivery::Recheck);
        } else if !came.is_empty() {
            tx.send(Delivery::Events(came));
        } else {
            let channel = self.channel.clone();
            st.regs.insert(id, Reg { channel, after, tx });
        }
        (watch, pending)
    }

    /// How many registrations on the group's channel are live.
    pub(crate) fn watching(&self) -> usize {
        let st = self.hub.state.lock().unwrap();
        st.regs
            .values()
            .filter(|r| r.channel == self.channel)
            .count()
    }

    /// Waits for `p`'s delivery until `until`; a registration's `Recheck` comes at
    /// its time. `None` when nothing came in time.
    ///
    /// # Panics
    ///
    /// On the receiver of an async waiter.
    pub(crate) fn recv_blocking(&self, p: Pending, until: Instant) -> Option<Delivery> {
        let Rx::Blocking(rx) = p.rx else {
            unreachable!("an async receiver is awaited")
        };
        let end = p.recheck_at.map_or(until, |r| r.min(until));
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(d) => Some(d),
            Err(_) => recheck(p.recheck_at, until),
        }
    }

    /// [`ClusterWaiter::recv_blocking`] for an async waiter.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the receiver: a snapshot in flight is answered to
    /// no one; a registration ends when its [`Watch`] is dropped.
    pub(crate) async fn recv_async(&self, p: Pending, until: Instant) -> Option<Delivery> {
        let Rx::Async(rx) = p.rx else {
            unreachable!("a blocking receiver is waited on")
        };
        let end = p.recheck_at.map_or(until, |r| r.min(until));
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(d)) => Some(d),
            Ok(Err(_)) => None,
            Err(_) => recheck(p.recheck_at, until),
        }
    }
}

/// After a receive that timed out: `Recheck` if the registration's time came
/// before the caller's limit.
fn recheck(recheck_at: Option<Instant>, until: Instant) -> Option<Delivery> {
    recheck_at.filter(|r| *r < until).map(|_| Delivery::Recheck)
}

/// The entries of `recent` after `after`.
fn newer(recent: &VecDeque<StreamId>, after: StreamPos) -> Vec<StreamId> {
    recent
        .iter()
        .filter(|e| StreamPos::parse(&e.id) > after)
        .cloned()
        .collect()
}

impl NodeHub {
    /// Hands `job` to the hub's thread, starting it if it is not running.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut jobs = self.jobs.lock().unwrap();
        self.state.lock().unwrap().in_flight += 1;
        let job = match jobs.as_ref() {
            Some(q) => match q.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (q, rx) = mpsc::unbounded_channel();
        let _ = q.send(job);
        let hub = self.clone();
        let spawned = std::thread::Builder::new()
            .name("headcount-cluster-watch".into())
            .spawn(move || hub.run(rx));
        match spawned {
            Ok(_) => *jobs = Some(q),
            // No thread: the job (in `q`) is dropped, and its waiter, seeing its
            // channel closed, tries again on its own clock.
            Err(_) => self.state.lock().unwrap().in_flight -= 1,
        }
    }

    /// The hub's thread: a current-thread runtime serving jobs and messages until
    /// idle for [`IDLE_EXIT`].
    fn run(self: Arc<Self>, jobs: mpsc::UnboundedReceiver<Job>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match rt {
            Ok(rt) => rt.block_on(self.clone().serve(jobs)),
            Err(_) => {
                *self.jobs.lock().unwrap() = None;
                self.state.lock().unwrap().in_flight = 0;
            }
        }
    }

    async fn serve(self: Arc<Self>, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let conn: Arc<tokio::sync::Mutex<Option<ClusterConnection>>> = Arc::default();
        let mut swept = Instant::now();
        loop {
            if swept.elapsed() >= IDLE_EXIT {
                swept = Instant::now();
                self.sweep(&conn);
            }
            match tokio::time::timeout(IDLE_EXIT, jobs.recv()).await {
                Ok(Some(job)) => {
                    let hub = self.clone();
                    let conn = conn.clone();
                    tokio::spawn(async move { hub.run_job(job, &conn).await });
                }
                Ok(None) => break,
                Err(_) if self.ended(&mut jobs) => break,
                Err(_) => {}
            }
        }
    }

    /// Unsubscribes the channels no waiter has used for [`UNUSED`] (a process
    /// that waits on ever new groups holds no subscription of the old ones). A
    /// waiter that comes meanwhile subscribes again; the unsubscription's
    /// confirmation is a change like any other (see [`NodeHub::on_push`]).
    fn sweep(&self, conn: &Arc<tokio::sync::Mutex<Option<ClusterConnection>>>) {
        let unused: Vec<String> = {
            let mut st = self.state.lock().unwrap();
            let State { channels, regs, .. } = &mut *st;
            let idle = |name: &String, c: &Channel| {
                !c.requested
                    && c.used.elapsed() >= UNUSED
                    && !regs.values().any(|r| &r.channel == name)
            };
            // Those already unsubscribed are forgotten.
            channels.retain(|name, c| c.subscribed || !idle(name, c));
            channels
                .iter()
                .filter(|(name, c)| idle(name, c))
                .map(|(name, _)| name.clone())
                .collect()
        };
        if unused.is_empty() {
            return;
        }
        let conn = conn.clone();
        tokio::spawn(async move {
            let c = conn.lock().await.clone();
            if let Some(mut c) = c {
                // One channel per command: one naming channels of two slots is
                // refused whole (`CROSSSLOT`). A failure leaves that channel
                // subscribed until the next sweep or the connection closes.
                for channel in unused {
                    let _ = c.sunsubscribe(channel).await;
                }
            }
        });
    }

    /// Ends the thread if nothing is pending (no registration, no job): the
    /// connection and every subscription go with it.
    fn ended(&self, jobs: &mut mpsc::UnboundedReceiver<Job>) -> bool {
        let mut q = self.jobs.lock().unwrap();
        let mut st = self.state.lock().unwrap();
        if !st.regs.is_empty() || st.in_flight > 0 || !jobs.is_empty() {
            return false;
        }
        *q = None;
        st.channels.clear();
        true
    }

    /// The hub's cluster connection, made on first need.
    async fn connection(
        self: &Arc<Self>,
        conn: &tokio::sync::Mutex<Option<ClusterConnection>>,
    ) -> RedisResult<ClusterConnection> {
        let mut c = conn.lock().await;
        if let Some(c) = c.as_ref() {
            return Ok(c.clone());
        }
        let conn_no = {
            // A new connection holds no subscription yet, whatever an older one
            // confirmed.
            let mut st = self.state.lock().unwrap();
            st.conn_no += 1;
            let channels: Vec<String> = st.channels.keys().cloned().collect();
            for channel in channels {
                if let Some(c) = st.channels.get_mut(&channel) {
                    c.subscribed = false;
                    c.requested = false;
                }
                st.bump(&channel);
            }
            st.conn_no
        };
        let pushes = Pushes {
            hub: Arc::downgrade(self),
            conn_no,
        };
        let made = self.connector.connect_watch(pushes).await?;
        *c = Some(made.clone());
        Ok(made)
    }

    /// Runs a snapshot job: subscribes its channel first if it is not subscribed
    /// (and waits for the confirmation to be seen), records the channel's epoch,
    /// then runs the snapshot and sends the reply.
    async fn run_job(
        self: &Arc<Self>,
        job: Job,
        conn: &tokio::sync::Mutex<Option<ClusterConnection>>,
    ) {
        let reply = async {
            let mut c = self.connection(conn).await?;
            self.subscribe(&mut c, &job.channel).await?;
            let epoch = self.epoch(&job.channel);
            // Relaxed: the waiter reads it after receiving this job's reply, and
            // the reply's channel orders the two.
            job.epoch.store(epoch, Ordering::Relaxed);
            job.inv.invoke_async::<Value>(&mut c).await
        }
        .await;
        self.state.lock().unwrap().in_flight -= 1;
        job.tx.send(Delivery::Reply(reply));
    }

    /// The epoch of `channel` (`u64::MAX` when it is not known).
    fn epoch(&self, channel: &str) -> u64 {
        let st = self.state.lock().unwrap();
        st.channels.get(channel).map_or(u64::MAX, |c| c.epoch)
    }

    /// Subscribes `channel` unless it is subscribed, and waits (at most the reply
    /// timeout) until the confirmation has been handled (see [`NodeHub::on_push`]).
    async fn subscribe(&self, c: &mut ClusterConnection, channel: &str) -> RedisResult<()> {
        let send = {
            let mut st = self.state.lock().unwrap();
            let ch = st
                .channels
                .entry(channel.to_owned())
                .or_insert_with(Channel::new);
            ch.used = Instant::now();
            if ch.subscribed {
                return Ok(());
            }
            !std::mem::replace(&mut ch.requested, true)
        };
        if send {
            if let Err(e) = c.ssubscribe(channel).await {
                if let Some(ch) = self.state.lock().unwrap().channels.get_mut(channel) {
                    ch.requested = false;
                }
                return Err(e);
            }
        }
        let end = Instant::now() + self.connector.io_timeout();
        loop {
            let confirmed = self.confirmed.notified();
            tokio::pin!(confirmed);
            confirmed.as_mut().enable();
            if self.is_subscribed(channel) {
                return Ok(());
            }
            let left = end.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, confirmed).await.is_err() {
                if let Some(ch) = self.state.lock().unwrap().channels.get_mut(channel) {
                    ch.requested = false;
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the shard subscription of the group was not confirmed in time",
                )
                .into());
            }
        }
    }

    fn is_subscribed(&self, channel: &str) -> bool {
        let st = self.state.lock().unwrap();
        st.channels.get(channel).is_some_and(|c| c.subscribed)
    }

    /// A message or subscription change from a node (see the module docs).
    fn on_push(&self, push: PushInfo, conn_no: u64) {
        let mut st = self.state.lock().unwrap();
        if conn_no != st.conn_no {
            return;
        }
        match push.kind {
            PushKind::SMessage => {
                let (Some(channel), Some(Value::BulkString(payload))) =
                    (push.data.first().and_then(text), push.data.get(1))
                else {
                    return;
                };
                let Some(entry) = parse_event(payload) else {
                    return;
                };
                let Some(c) = st.channels.get_mut(&channel) else {
                    return;
                };
                if c.recent.len() == RECENT {
                    c.recent.pop_front();
                }
                c.recent.push_back(entry.clone());
                let pos = StreamPos::parse(&entry.id);
                let woken: Vec<u64> = st
                    .regs
                    .iter()
                    .filter(|(_, r)| r.channel == channel && r.after < pos)
                    .map(|(id, _)| *id)
                    .collect();
                for id in woken {
                    if let Some(r) = st.regs.remove(&id) {
                        r.tx.send(Delivery::Events(vec![entry.clone()]));
                    }
                }
            }
            PushKind::SSubscribe | PushKind::SUnsubscribe => {
                let Some(channel) = push.data.first().and_then(text) else {
                    return;
                };
                let subscribed = push.kind == PushKind::SSubscribe;
                let c = st
                    .channels
                    .entry(channel.clone())
                    .or_insert_with(Channel::new);
                c.subscribed = subscribed;
                c.requested = false;
                st.bump(&channel);
                recheck_all(&mut st, |r| r.channel == channel);
                drop(st);
                if subscribed {
                    self.confirmed.notify_waiters();
                }
            }
            PushKind::Disconnection => {
                // Which node is not said: every channel is subscribed again by
                // its waiters' next snapshots.
                let channels: Vec<String> = st.channels.keys().cloned().collect();
                for channel in channels {
                    if let Some(c) = st.channels.get_mut(&channel) {
                        c.subscribed = false;
                        c.requested = false;
                    }
                    st.bump(&channel);
                }
                recheck_all(&mut st, |_| true);
            }
            _ => {}
        }
    }
}

/// Hands every push of the hub's connection to the hub as it is read (no task
/// in between: a wake-up is one hand-over from the connection to the waiter).
struct Pushes {
    hub: Weak<NodeHub>,
    /// The connection's number (see `State::conn_no`).
    conn_no: u64,
}

impl redis::aio::AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), redis::aio::SendError> {
        let hub = self.hub.upgrade().ok_or(redis::aio::SendError)?;
        hub.on_push(info, self.conn_no);
        Ok(())
    }
}

/// Sends `Recheck` to (and removes) the registrations `which` selects.
fn recheck_all(st: &mut State, which: impl Fn(&Reg) -> bool) {
    let ids: Vec<u64> = st
        .regs
        .iter()
        .filter(|(_, r)| which(r))
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        if let Some(r) = st.regs.remove(&id) {
            r.tx.send(Delivery::Recheck);
        }
    }
}

/// A push's channel name.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses an event as the script publishes it: `<len>:<id>`, then `<len>:<name>`
/// `<len>:<value>` for each field. `None` for anything else.
fn parse_event(payload: &[u8]) -> Option<StreamId> {
    let mut parts = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let colon = rest.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
        let end = (colon + 1).checked_add(len)?;
        parts.push(rest.get(colon + 1..end)?);
        rest = &rest[end..];
    }
    let (id, fields) = parts.split_first()?;
    if fields.len() % 2 != 0 {
        return None;
    }
    let map = fields
        .chunks(2)
        .map(|kv| {
            let name = String::from_utf8(kv[0].to_vec()).ok()?;
            Some((name, Value::BulkString(kv[1].to_vec())))
        })
        .collect::<Option<HashMap<_, _>>>()?;
    Some(StreamId {
        id: String::from_utf8(id.to_vec()).ok()?,
        map,
        ..StreamId::default()
    })
}

#[cfg(all(test, feature = "tls"))]
mod payload_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::conn::Options;
    use crate::io::topology::Target;

    /// A waiter of group `name` on a cluster that is never reached (the hub's
    /// state is driven by hand), its last snapshot taken under `epoch`.
    fn waiter_of(name: &str, epoch: u64) -> ClusterWaiter {
        let opts = Options::new();
        let target = Target::cluster(&["redis://127.0.0.1:1"], &opts).unwrap();
        let w = waiter(&Inner::new(target, name, opts));
        w.epoch.store(epoch, Ordering::Relaxed);
        w
    }

    fn push(kind: PushKind, channel: &str, payload: Option<&str>) -> PushInfo {
        let mut data = vec![Value::BulkString(channel.as_bytes().to_vec())];
        data.push(match payload {
            Some(p) => Value::BulkString(p.as_bytes().to_vec()),
            None => Value::Int(1),
        });
        PushInfo { kind, data }
    }

    fn now_or_never(w: &ClusterWaiter, p: Pending) -> Option<Delivery> {
        w.recv_blocking(p, Instant::now() + Duration::from_millis(20))
    }

    /// The races between a waiter's snapshot and its registration: a message that
    /// came in between is handed over at registration; a subscription that changed
    /// in between means a new snapshot at once; a change after registration too.
    #[test]
    fn a_registration_gets_what_came_since_its_snapshot() {
        let w = waiter_of("races", 0);
        let channel = w.channel.clone();
        assert_eq!(channel, "headcount:{races}:wake");
        // Confirmed: the channel's epoch is the one the waiter's snapshot saw.
        w.hub.on_push(push(PushKind::SSubscribe, &channel, None), 0);
        let epoch = w.hub.epoch(&channel);
        w.epoch.store(epoch, Ordering::Relaxed);
        let zero = "3:7-04:inst1:a4:type4:zero3:gen1:2";
        w.hub
            .on_push(push(PushKind::SMessage, &channel, Some(zero)), 0);
        // Registered after the message, from a snapshot before it: delivered.
        let (_w1, p) = w.watch("6-0", Instant::now() + Duration::from_secs(5), true);
        match now_or_never(&w, p) {
            Some(Delivery::Events(e)) => assert_eq!(e[0].id, "7-0"),
            other => panic!("{other:?}"),
        }
        // From a snapshot that saw it: registered, nothing delivered.
        let (reg, p) = w.watch("7-0", Instant::now() + Duration::from_secs(5), true);
        assert_eq!(w.watching(), 1);
        assert!(now_or_never(&w, p).is_none());
        drop(reg);
        assert_eq!(w.watching(), 0, "deregistered on drop");
        // A message after the registration wakes it, with the entry.
        let (_w2, p) = w.watch("7-0", Instant::now() + Duration::from_secs(5), true);
        let next = "3:8-04:inst1:a4:type6:joined3:gen1:2";
        w.hub
            .on_push(push(PushKind::SMessage, &channel, Some(next)), 0);
        match now_or_never(&w, p) {
            Some(Delivery::Events(e)) => assert_eq!(e[0].id, "8-0"),
            other => panic!("{other:?}"),
        }
        // The slot moved (the node ended the subscription): a new snapshot.
        let (_w3, p) = w.watch("8-0", Instant::now() + Duration::from_secs(5), true);
        w.hub
            .on_push(push(PushKind::SUnsubscribe, &channel, None), 0);
        assert!(matches!(now_or_never(&w, p), Some(Delivery::Recheck)));
        assert!(!w.hub.is_subscribed(&channel));
        // A snapshot under the old epoch registers into a new snapshot at once.
        let (_w4, p) = w.watch("8-0", Instant::now() + Duration::from_secs(5), true);
        assert!(matches!(now_or_never(&w, p), Some(Delivery::Recheck)));
        assert_eq!(w.watching(), 0);
        // A push of an older connection changes nothing.
        w.hub.on_push(push(PushKind::SSubscribe, &channel, None), 7);
        assert!(!w.hub.is_subscribed(&channel));
        // Subscribed again, under a new epoch (never one used before).
        w.hub.on_push(push(PushKind::SSubscribe, &channel, None), 0);
        assert!(w.hub.epoch(&channel) > epoch);
        // A lost connection: every channel's waiters take a new snapshot.
        w.epoch.store(w.hub.epoch(&channel), Ordering::Relaxed);
        let (_w5, p) = w.watch("8-0", Instant::now() + Duration::from_secs(5), true);
        w.hub.on_push(
            PushInfo {
                kind: PushKind::Disconnection,
                data: vec![],
            },
            0,
        );
        assert!(matches!(now_or_never(&w, p), Some(Delivery::Recheck)));
        // With nothing coming, a registration's own time brings `Recheck`.
        w.hub.on_push(push(PushKind::SSubscribe, &channel, None), 0);
        w.epoch.store(w.hub.epoch(&channel), Ordering::Relaxed);
        let (_w6, p) = w.watch("8-0", Instant::now() + Duration::from_millis(5), true);
        let got = w.recv_blocking(p, Instant::now() + Duration::from_secs(5));
        assert!(matches!(got, Some(Delivery::Recheck)), "{got:?}");
    }

    #[test]
    fn events_parse_as_the_script_publishes_them() {
        let e = parse_event(b"3:1-24:inst3:a.14:type4:zero6:detail7:x:1 2:3").unwrap();
        assert_eq!(e.id, "1-2");
        assert_eq!(e.get::<String>("inst").as_deref(), Some("a.1"));
        assert_eq!(e.get::<String>("type").as_deref(), Some("zero"));
        assert_eq!(e.get::<String>("detail").as_deref(), Some("x:1 2:3"));
        assert_eq!(e.map.len(), 3);
        for bad in [
            &b""[..],
            b"3:1-2",
            b"3:1-24:inst",
            b"9:1-2",
            b"x:1-2",
            b"3:1-24:inst3:a",
        ] {
            let parsed = parse_event(bad);
            assert!(
                parsed.is_none() || bad == b"3:1-2",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_event(b"3:1-2").unwrap().map.len(), 0);
    }
}
