//! The watcher: one connection per process and server that serves every waiter.
//!
//! Waiters do not hold connections of their own. Each server (address, database,
//! credentials) has one [`Hub`] per process, with one reading connection, and one
//! reader at a time: a blocking waiter (the leader) or the watcher thread. A
//! Redis Cluster has a watcher of its own instead, one per cluster and process
//! with one connection per node, woken through sharded Pub/Sub (one `XREAD` cannot
//! span two hash slots): see `io/watch_cluster.rs`; [`Watcher`] is what a waiter
//! uses, either way. A waiter hands the hub two kinds of work:
//!
//! - **snapshot requests**: the `check` script of its group. The reader runs the
//!   pending ones, one after another, on its connection and sends each reply (or
//!   error) back on the request's channel.
//! - **registrations**: "wake me with the events of stream `K` after id `S`, or at
//!   `T` at the latest". The reader reads the streams of every registration in one
//!   `XREAD BLOCK b STREAMS k1 k2 .. id1 id2 ..`, each stream from the lowest id
//!   registered on it, and hands each registration the entries after its own id,
//!   then drops it (a waiter re-registers after its next snapshot). A registration
//!   whose time `T` has come gets `Recheck` (the waiter takes a new snapshot: that is
//!   when expired leases are reaped). A failed read is sent to every registration.
//!
//! Who reads (leader/follower): a waiter that finds no reader becomes the leader:
//! it runs the rounds (requests, then the read) for every waiter, a blocking one on
//! its own thread, an async one in its own future, until its own delivery comes,
//! then gives the role to the watcher thread if others still wait. A lone waiter
//! (the CLI's) thus reads for itself: its wake-up is its own read's reply, with no
//! thread in between, and no socket is closed on its way out. Waiters that find a
//! reader are served by it.
//!
//! The reading connections are kept in the hub between readers, each with its
//! `CLIENT ID` (the target of `CLIENT UNBLOCK` while it reads): one for blocking
//! readers (the watcher thread included), and the last async leader's, for the
//! next async leader on the same tokio runtime (a multiplexed connection is served
//! by a task of the runtime that made it; one of another runtime is not used). A
//! new connection per wait made each async wake-up slower (the crate README has
//! the figures).
//! The janitor thread closes both once unused for [`IDLE_EXIT`] (an async one is
//! closed by its runtime's task, when that runtime next runs or ends).
//!
//! The reader's blocking read lasts until the earliest re-check time (at most
//! [`WATCH_BLOCK`]). A request or registration that arrives while it is blocked
//! ends it at once: a second thread (the unblocker, started on first need, with a
//! connection of its own, ended after [`IDLE_EXIT`] without use) sends
//! `CLIENT UNBLOCK` with the reading connection's id, the read returns as if timed
//! out, and the reader takes the new work. (Short blocks instead would not do:
//! Redis ends a timed-out `XREAD BLOCK` only at its next cron tick, 100 ms with the
//! default `hz 10`.) A lone waiter never needs the unblocker: it asks for work only
//! after the reader answered it. Nothing is missed in between: a registration reads
//! from its snapshot's stream id, so events written before the reader reads its
//! stream are returned by that read.
//!
//! Waiters keep their own clocks: each waits on its channel until its own limit (the
//! deadline plus the final snapshot, the retry window), so a server that is gone or
//! frozen (and a reader stuck in a read) delays no waiter past its deadline; a
//! leader cuts every reply wait of its rounds to its own limit. A
//! registration is removed when its waiter stops waiting for any reason (released,
//! failed, timed out, or its future dropped): [`Watch`] removes it on drop. The
//! thread ends, closing its connection, once nothing has been pending for
//! [`IDLE_EXIT`].

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{Commands, RedisError, RedisResult, ScriptInvocation, Value};

use crate::io::conn::{is_transient, left_until, tls_failure, Connector, Inner};
use crate::io::topology::{AsyncConn, Conn};
use crate::io::watch_cluster::{self, ClusterWaiter};

/// Longest blocking read of the watcher (waiters re-check at least this often
/// anyway); new work ends a read at once through the unblocker.
pub(crate) const WATCH_BLOCK: Duration = Duration::from_secs(2);
/// The watcher thread ends after this long with nothing to do.
const IDLE_EXIT: Duration = Duration::from_millis(500);
/// Entries read per stream and read.
const READ_COUNT: usize = 64;

/// What the watcher sends a waiter.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The reply to a snapshot request.
    Reply(RedisResult<Value>),
    /// Entries of the registered stream after the registered id.
    Events(Vec<StreamId>),
    /// The registration's time has come: take a new snapshot.
    Recheck,
    /// The read failed (the connection was dropped).
    Failed(RedisError),
}

/// The sending half of a waiter's channel.
pub(crate) enum Tx {
    Blocking(mpsc::SyncSender<Delivery>),
    Async(tokio::sync::oneshot::Sender<Delivery>),
}

impl Tx {
    pub(crate) fn send(self, d: Delivery) {
        // A waiter that stopped waiting dropped its receiver: nothing to do.
        match self {
            Tx::Blocking(s) => drop(s.try_send(d)),
            Tx::Async(s) => drop(s.send(d)),
        }
    }
}

/// The receiving half of a waiter's channel.
pub(crate) enum Rx {
    Blocking(mpsc::Receiver<Delivery>),
    Async(tokio::sync::oneshot::Receiver<Delivery>),
}

impl Rx {
    pub(crate) fn pair(blocking: bool) -> (Tx, Rx) {
        if blocking {
            let (tx, rx) = mpsc::sync_channel(1);
            (Tx::Blocking(tx), Rx::Blocking(rx))
        } else {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Tx::Async(tx), Rx::Async(rx))
        }
    }
}

/// The reader role of a leading async waiter, given up on drop (see
/// [`Hub::recv_async`]).
struct AsyncLead {
    hub: Arc<Hub>,
    /// The runtime the waiter runs on (its connection's driver task runs there).
    runtime: tokio::runtime::Id,
    conn: Option<AsyncConn>,
}

impl Drop for AsyncLead {
    fn drop(&mut self) {
        // Kept in the hub for the next async reader on this runtime (a multiplexed
        // connection is served by a task on the runtime that made it): a new
        // connection per wait made its waiters' wake-ups slower (see the module
        // docs). Nothing is closed on the released waiter's path.
        let conn = self.conn.take();
        let runtime = self.runtime;
        self.hub.clone().release(|hub, id| {
            if let Some(conn) = conn {
                *hub.async_conn.lock().unwrap() = Some((runtime, Parked { conn, id }));
            }
        });
    }
}

/// A reading connection left in the hub between readers, with its `CLIENT ID`
/// (the target of `CLIENT UNBLOCK` while it reads).
struct Parked<C> {
    conn: C,
    id: Option<i64>,
}

/// A round's work: the snapshot requests, the streams to read from their ids, the
/// read's block.
type Work = (Vec<Request>, BTreeMap<String, StreamPos>, Duration);

/// One waiter's interest in a stream.
struct Reg {
    stream: String,
    after: StreamPos,
    recheck_at: Instant,
    tx: Tx,
}

struct Request {
    inv: ScriptInvocation<'static>,
    tx: Tx,
}

#[derive(Default)]
struct State {
    regs: HashMap<u64, Reg>,
    requests: Vec<Request>,
    /// The watcher thread is running (it holds the reader role while it runs).
    running: bool,
    /// A blocking waiter holds the reader role (see [`Hub::recv_blocking`]).
    leading: bool,
    /// The janitor thread is running (see [`Hub::run_janitor`]).
    janitor: bool,
    /// When a leading waiter last gave the connection back.
    idle_since: Option<Instant>,
    next_id: u64,
    /// The watcher's connection id (`CLIENT ID`), while it has one.
    reader: Option<i64>,
    /// The watcher has taken its work and is (about to be) blocked in its read.
    blocked: bool,
    /// Bumped for each read: an unblock is for one read only.
    read_no: u64,
    /// A new request or registration came during the read `read_no`: unblock it.
    unblock: Option<u64>,
    unblocker_running: bool,
}

/// The watcher of one server in this process (see the module docs).
pub(crate) struct Hub {
    connector: Connector,
    state: Mutex<State>,
    /// Wakes an idle watcher thread.
    work: Condvar,
    /// Wakes the unblocker thread.
    unblock: Condvar,
    /// The reading connection while its holder (thread or leading waiter) changes.
    conn: Mutex<Option<Parked<Conn>>>,
    /// The async reading connection of the last leading async waiter, for the next
    /// one on the same runtime (see [`AsyncLead`]).
    async_conn: Mutex<Option<(tokio::runtime::Id, Parked<AsyncConn>)>>,
}

static HUBS: LazyLock<Mutex<HashMap<String, Arc<Hub>>>> = LazyLock::new(Default::default);

/// The hub of `inner`'s server.
pub(crate) fn hub(inner: &Inner) -> Arc<Hub> {
    HUBS.lock()
        .unwrap()
        .entry(inner.watch_key())
        .or_insert_with(|| {
            Arc::new(Hub {
                connector: inner.connector(),
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                unblock: Condvar::new(),
                conn: Mutex::new(None),
                async_conn: Mutex::new(None),
            })
        })
        .clone()
}

/// The watcher a waiter uses: the hub of its server (shared stream reads), or on
/// a Redis Cluster the hub of its cluster (shard Pub/Sub, see
/// `io/watch_cluster.rs`).
pub(crate) enum Watcher {
    Server(Arc<Hub>),
    Cluster(ClusterWaiter),
}

/// What a waiter waits on (see [`Watcher`]).
pub(crate) enum Pending {
    Server(Rx),
    Cluster(watch_cluster::Pending),
}

/// A waiter's registration with its watcher, ended on drop.
pub(crate) struct Registration {
    _server: Option<Watch>,
    _cluster: Option<watch_cluster::Watch>,
}

/// The watcher of `inner`'s server or cluster.
pub(crate) fn watcher(inner: &Inner) -> Watcher {
    if inner.is_cluster() {
        Watcher::Cluster(watch_cluster::waiter(inner))
    } else {
        Watcher::Server(hub(inner))
    }
}

impl Watcher {
    /// Queues a snapshot request (`inv`, a read-only call of the script).
    pub(crate) fn request(&self, inv: ScriptInvocation<'static>, blocking: bool) -> Pending {
        match self {
            Watcher::Server(hub) => Pending::Server(hub.request(inv, blocking)),
            Watcher::Cluster(w) => Pending::Cluster(w.request(inv, blocking)),
        }
    }

    /// Registers for the entries of `stream` after `last_id`, or a `Recheck` at
    /// `recheck_at`.
    pub(crate) fn watch(
        &self,
        stream: &str,
        last_id: &str,
        recheck_at: Instant,
        blocking: bool,
    ) -> (Registration, Pending) {
        match self {
            Watcher::Server(hub) => {
                let (w, rx) = hub.watch(stream, last_id, recheck_at, blocking);
                let reg = Registration {
                    _server: Some(w),
                    _cluster: None,
                };
                (reg, Pending::Server(rx))
            }
            Watcher::Cluster(c) => {
                let (w, p) = c.watch(last_id, recheck_at, blocking);
                let reg = Registration {
                    _server: None,
                    _cluster: Some(w),
                };
                (reg, Pending::Cluster(p))
            }
        }
    }

    /// How many registrations on `stream` (the group's) are live.
    pub(crate) fn watching(&self, stream: &str) -> usize {
        match self {
            Watcher::Server(hub) => hub.watching(stream),
            Watcher::Cluster(c) => c.watching(),
        }
    }

    /// Waits for `p`'s delivery until `until` (see [`Hub::recv_blocking`]).
    pub(crate) fn recv_blocking(&self, p: Pending, until: Instant) -> Option<Delivery> {
        match (self, p) {
            (Watcher::Server(hub), Pending::Server(rx)) => hub.recv_blocking(rx, until),
            (Watcher::Cluster(c), Pending::Cluster(p)) => c.recv_blocking(p, until),
            _ => unreachable!("a pending delivery is waited on with its own watcher"),
        }
    }

    /// [`Watcher::recv_blocking`] for an async waiter (see [`Hub::recv_async`]).
    ///
    /// # Cancel safety
    ///
    /// As [`Hub::recv_async`]: dropping the future leaves nothing behind.
    pub(crate) async fn recv_async(&self, p: Pending, until: Instant) -> Option<Delivery> {
        match (self, p) {
            (Watcher::Server(hub), Pending::Server(rx)) => hub.recv_async(rx, until).await,
            (Watcher::Cluster(c), Pending::Cluster(p)) => c.recv_async(p, until).await,
            _ => unreachable!("a pending delivery is awaited with its own watcher"),
        }
    }
}

/// A registration; removed from the hub on drop.
pub(crate) struct Watch {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.state.lock().unwrap().regs.remove(&self.id);
    }
}

/// A stream entry id (`ms-seq`), ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StreamPos(u64, u64);

impl StreamPos {
    /// Parses `ms-seq` (or `ms`); anything else reads as the stream's start.
    pub(crate) fn parse(id: &str) -> StreamPos {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        match (ms.parse(), seq.parse()) {
            (Ok(ms), Ok(seq)) => StreamPos(ms, seq),
            _ => StreamPos(0, 0),
        }
    }

    fn id(self) -> String {
        format!("{}-{}", self.0, self.1)
    }
}

impl Hub {
    /// Queues a snapshot request (`inv`, a read-only call of the script); its reply
    /// comes on the returned receiver.
    pub(crate) fn request(self: &Arc<Self>, inv: ScriptInvocation<'static>, blocking: bool) -> Rx {
        let (tx, rx) = Rx::pair(blocking);
        let mut st = self.state.lock().unwrap();
        st.requests.push(Request { inv, tx });
        self.wake(&mut st);
        rx
    }

    /// Registers for the entries of `stream` after `last_id`, or a `Recheck` at
    /// `recheck_at`. The registration ends when the returned [`Watch`] is dropped.
    pub(crate) fn watch(
        self: &Arc<Self>,
        stream: &str,
        last_id: &str,
        recheck_at: Instant,
        blocking: bool,
    ) -> (Watch, Rx) {
        let (tx, rx) = Rx::pair(blocking);
        let mut st = self.state.lock().unwrap();
        let id = st.next_id;
        st.next_id += 1;
        st.regs.insert(
            id,
            Reg {
                stream: stream.to_owned(),
                after: StreamPos::parse(last_id),
                recheck_at,
                tx,
            },
        );
        self.wake(&mut st);
        (
            Watch {
                hub: self.clone(),
                id,
            },
            rx,
        )
    }

    /// How many registrations on `stream` are live.
    pub(crate) fn watching(&self, stream: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.regs.values().filter(|r| r.stream == stream).count()
    }

    /// Wakes the reader for new work: an idle watcher thread by its condition
    /// variable; a reader blocked in a read of other streams through the unblocker
    /// (`CLIENT UNBLOCK` from a second connection). A leading waiter that is not
    /// blocked takes new work in its next round, or hands it to the thread. When
    /// nobody reads, the waiter that brought the work becomes the reader
    /// ([`Hub::recv_blocking`], [`Hub::recv_async`]).
    fn wake(self: &Arc<Self>, st: &mut State) {
        if st.running || st.leading {
            if st.blocked {
                st.unblock = Some(st.read_no);
                if st.unblocker_running {
                    self.unblock.notify_one();
                } else {
                    st.unblocker_running = true;
                    let hub = self.clone();
                    let spawned = std::thread::Builder::new()
                        .name("headcount-unblock".into())
                        .spawn(move || hub.run_unblocker());
                    // Without it the read still ends at its block (at most 2 s).
                    st.unblocker_running = spawned.is_ok();
                }
            } else if st.running {
                self.work.notify_one();
            }
        }
    }

    /// Starts the watcher thread (no one holds the reader role).
    fn start_thread(self: &Arc<Self>, st: &mut State) {
        st.running = true;
        let hub = self.clone();
        let spawned = std::thread::Builder::new()
            .name("headcount-watch".into())
            .spawn(move || hub.run());
        if spawned.is_err() {
            // No thread: every waiter times out on its own clock; the next one tries again.
            st.running = false;
        }
    }

    /// The unblocker thread: ends the watcher's blocked read when new work came
    /// during it (the read's reply is then a timeout, and the watcher takes the new
    /// work). Ends, closing its connection, after [`IDLE_EXIT`] without a request.
    fn run_unblocker(self: Arc<Self>) {
        let mut conn: Option<Conn> = None;
        let mut st = self.state.lock().unwrap();
        loop {
            let Some(read_no) = st.unblock else {
                let (g, r) = self.unblock.wait_timeout(st, IDLE_EXIT).unwrap();
                st = g;
                if r.timed_out() && st.unblock.is_none() {
                    st.unblocker_running = false;
                    return;
                }
                continue;
            };
            st.unblock = None;
            let target = st.reader;
            // Until the read it was asked for ends (it may not have started yet).
            while let Some(id) = target {
                if !(st.blocked && st.read_no == read_no) {
                    break;
                }
                drop(st);
                let unblocked = self.send_unblock(&mut conn, id);
                st = self.state.lock().unwrap();
                if unblocked || !(st.blocked && st.read_no == read_no) {
                    break;
                }
                drop(st);
                std::thread::sleep(Duration::from_millis(1));
                st = self.state.lock().unwrap();
            }
        }
    }

    /// `CLIENT UNBLOCK id`; `true` when it ended a blocked read.
    fn send_unblock(&self, conn: &mut Option<Conn>, id: i64) -> bool {
        if conn.is_none() {
            *conn = self.connector.connect().ok();
        }
        let Some(c) = conn.as_mut() else {
            return false;
        };
        let r: RedisResult<i64> = redis::cmd("CLIENT").arg("UNBLOCK").arg(id).query(c);
        match r {
            Ok(n) => n == 1,
            Err(_) => {
                *conn = None;
                false
            }
        }
    }

    /// The watcher thread: rounds until nothing has been pending for [`IDLE_EXIT`].
    fn run(self: Arc<Self>) {
        let mut conn = self.take_parked();
        let mut pause = Duration::from_millis(20);
        while let Some(work) = self.next_work() {
            if self.round(&mut conn, work, None, || false).is_ok() {
                pause = Duration::from_millis(20);
                continue;
            }
            // Let waiters decide (retry or give up) and pace the reconnects.
            let st = self.state.lock().unwrap();
            drop(self.work.wait_timeout(st, pause).unwrap());
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Waits for the delivery on a blocking waiter's `rx` until `until`; `None` when
    /// none came. When no one reads (no thread, no other leading waiter), the waiter
    /// becomes the reader: it runs rounds for every waiter itself until its own
    /// delivery comes (so a lone waiter needs no thread and no hand-over), then
    /// gives the role to the thread if others still wait.
    ///
    /// # Panics
    ///
    /// On the receiver of an async waiter.
    pub(crate) fn recv_blocking(self: &Arc<Self>, rx: Rx, until: Instant) -> Option<Delivery> {
        let Rx::Blocking(rx) = rx else {
            unreachable!("an async receiver is awaited")
        };
        if self.take_lead() {
            return self.lead(&rx, until);
        }
        rx.recv_timeout(until.saturating_duration_since(Instant::now()))
            .ok()
    }

    /// Takes the reader role if nobody holds it (and starts the janitor).
    fn take_lead(self: &Arc<Self>) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.running || st.leading {
            return false;
        }
        st.leading = true;
        if !st.janitor {
            let hub = self.clone();
            st.janitor = std::thread::Builder::new()
                .name("headcount-janitor".into())
                .spawn(move || hub.run_janitor())
                .is_ok();
        }
        true
    }

    /// [`Hub::recv_blocking`] for an async waiter: a leading async waiter runs the
    /// rounds in its own future, on a multiplexed connection, so that its wake-up is
    /// its own read's reply on its runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up the reader role (to the thread if others still
    /// wait); a read or request in flight is dropped with its connection, and the
    /// waiters whose requests it held see their channel closed and ask again.
    pub(crate) async fn recv_async(self: &Arc<Self>, rx: Rx, until: Instant) -> Option<Delivery> {
        let Rx::Async(mut rx) = rx else {
            unreachable!("a blocking receiver is waited on")
        };
        if !self.take_lead() {
            let left = until.saturating_duration_since(Instant::now());
            return tokio::time::timeout(left, rx).await.ok()?.ok();
        }
        let runtime = tokio::runtime::Handle::current().id();
        let mut lead = AsyncLead {
            hub: self.clone(),
            runtime,
            conn: self.take_parked_async(runtime),
        };
        let mut got = rx.try_recv().ok();
        while got.is_none() && Instant::now() < until {
            let work = self.take_work(&mut self.state.lock().unwrap());
            let round = self.round_async(&mut lead.conn, work, until, &mut rx, &mut got);
            if tokio::time::timeout(left_until(until), round)
                .await
                .is_err()
            {
                self.state.lock().unwrap().blocked = false;
            }
            if got.is_none() {
                got = rx.try_recv().ok();
            }
        }
        got
    }

    /// The reading connection left in the hub, if any; its id becomes the reader's.
    fn take_parked(&self) -> Option<Conn> {
        let mut st = self.state.lock().unwrap();
        let parked = self.conn.lock().unwrap().take()?;
        st.reader = parked.id;
        Some(parked.conn)
    }

    /// [`Hub::take_parked`] for an async reader on `runtime`: the async connection
    /// left by the last async reader if it is of this runtime (one of another
    /// runtime is dropped: its task closes it there).
    fn take_parked_async(&self, runtime: tokio::runtime::Id) -> Option<AsyncConn> {
        let mut st = self.state.lock().unwrap();
        let (of, parked) = self.async_conn.lock().unwrap().take()?;
        if of != runtime {
            // Not dropped under the locks: ending its task is a wake-up of its
            // runtime.
            drop(st);
            drop(parked);
            return None;
        }
        st.reader = parked.id;
        Some(parked.conn)
    }

    /// [`Hub::round`] of a leading async waiter, on `conn` (taken out while a call
    /// is in flight: a round dropped half-way drops it). Its own delivery, if it
    /// comes with the requests, ends the round before the read (into `got`).
    async fn round_async(
        &self,
        conn: &mut Option<AsyncConn>,
        (requests, streams, block): Work,
        until: Instant,
        rx: &mut tokio::sync::oneshot::Receiver<Delivery>,
        got: &mut Option<Delivery>,
    ) {
        let mut c = match conn.take() {
            Some(c) => c,
            None => match self.connector.connect_async(WATCH_BLOCK).await {
                Ok(mut c) => {
                    let id = redis::cmd("CLIENT")
                        .arg("ID")
                        .query_async::<i64>(&mut c)
                        .await;
                    let id = match reader_id(id) {
                        Ok(id) => id,
                        Err(e) => {
                            self.fail_all(requests, &e);
                            return;
                        }
                    };
                    self.state.lock().unwrap().reader = id;
                    c
                }
                Err(e) => {
                    self.fail_all(requests, &e);
                    return;
                }
            },
        };
        let mut failed: Option<RedisError> = None;
        for r in requests {
            if let Some(e) = &failed {
                r.tx.send(Delivery::Reply(Err(e.clone())));
                continue;
            }
            let reply = r.inv.invoke_async::<Value>(&mut c).await;
            if let Err(e) = &reply {
                if is_transient(e) {
                    failed = Some(e.clone());
                }
            }
            r.tx.send(Delivery::Reply(reply));
        }
        *got = rx.try_recv().ok();
        if failed.is_some() || streams.is_empty() || got.is_some() {
            self.state.lock().unwrap().blocked = false;
            if failed.is_none() {
                *conn = Some(c);
            }
            return;
        }
        let block = block.min(until.saturating_duration_since(Instant::now()));
        let keys: Vec<&String> = streams.keys().collect();
        let ids: Vec<String> = streams.values().map(|p| p.id()).collect();
        let ms = usize::try_from(block.as_millis())
            .unwrap_or(usize::MAX)
            .max(1);
        let opts = StreamReadOptions::default().block(ms).count(READ_COUNT);
        let read = redis::AsyncCommands::xread_options(&mut c, &keys, &ids, &opts).await;
        if read.is_ok() {
            *conn = Some(c);
        }
        self.deliver(read);
    }

    /// The janitor thread: closes the connections that leading waiters left in the
    /// hub (the blocking one and the async one) once they have not been used for
    /// [`IDLE_EXIT`] (started by the first leading waiter, so that no closing is on
    /// a released waiter's path), then ends.
    fn run_janitor(self: Arc<Self>) {
        loop {
            std::thread::sleep(IDLE_EXIT);
            let mut st = self.state.lock().unwrap();
            let idle = st.idle_since.is_none_or(|t| t.elapsed() >= IDLE_EXIT);
            if st.running || st.leading || !idle {
                continue;
            }
            st.janitor = false;
            st.idle_since = None;
            let conn = self.conn.lock().unwrap().take();
            // Dropped here, closed by its runtime's task when that runtime next runs
            // (or ends).
            let async_conn = self.async_conn.lock().unwrap().take();
            st.reader = None;
            drop(st);
            drop(conn);
            drop(async_conn);
            return;
        }
    }

    /// The rounds of a leading waiter (see [`Hub::recv_blocking`]), each cut to the
    /// waiter's own `until`.
    fn lead(self: &Arc<Self>, rx: &mpsc::Receiver<Delivery>, until: Instant) -> Option<Delivery> {
        let mut conn = self.take_parked();
        let mut got = rx.try_recv().ok();
        while got.is_none() && Instant::now() < until {
            let work = self.take_work(&mut self.state.lock().unwrap());
            // Its own reply ends the round before the read.
            let own = || {
                got = rx.try_recv().ok();
                got.is_some()
            };
            // A failed connect was sent to every waiter, this one included.
            let _ = self.round(&mut conn, work, Some(until), own);
            if got.is_none() {
                got = rx.try_recv().ok();
            }
        }
        self.release(|hub, id| {
            if let Some(conn) = conn {
                *hub.conn.lock().unwrap() = Some(Parked { conn, id });
            }
        });
        got
    }

    /// A leading waiter gives up the reader role and the connection (`keep` puts
    /// it back in the hub, with its `CLIENT ID`): to the thread when others still
    /// wait, else to the janitor.
    fn release(self: &Arc<Self>, keep: impl FnOnce(&Hub, Option<i64>)) {
        let mut st = self.state.lock().unwrap();
        st.leading = false;
        st.blocked = false;
        // Kept, not closed: a socket teardown here would be on the released
        // waiter's path. The janitor closes it once unused for [`IDLE_EXIT`].
        keep(self, st.reader.take());
        st.idle_since = Some(Instant::now());
        if !st.requests.is_empty() || !st.regs.is_empty() {
            self.start_thread(&mut st);
        }
    }

    /// The reading connection, its id recorded for `CLIENT UNBLOCK`; setting it up
    /// waits at most `cap` for each reply.
    fn open(&self, cap: Duration) -> RedisResult<Conn> {
        let mut c = self.connector.connect()?;
        c.set_read_timeout(Some(cap))?;
        // Without it (an ACL user lacking `client|id`) reads are not unblocked:
        // they end at their block.
        let id = reader_id(redis::cmd("CLIENT").arg("ID").query::<i64>(&mut c))?;
        c.set_read_timeout(Some(self.connector.io_timeout()))?;
        self.state.lock().unwrap().reader = id;
        Ok(c)
    }

    /// One round of the reader: runs the requests of `work`, then (unless `stop`
    /// says so after them) reads its streams and delivers what came. `until`: the
    /// leading waiter's own limit, which cuts every reply wait of the round. `Err`:
    /// connecting failed (the error was sent to every waiter).
    fn round(
        &self,
        conn: &mut Option<Conn>,
        (requests, streams, block): Work,
        until: Option<Instant>,
        stop: impl FnOnce() -> bool,
    ) -> RedisResult<()> {
        let io = self.connector.io_timeout();
        let cap = |d: Duration| until.map_or(d, |u| d.min(left_until(u)));
        let c = match conn {
            Some(c) => c,
            None => match self.open(cap(io)) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    self.fail_all(requests, &e);
                    return Err(e);
                }
            },
        };
        let served = c.set_read_timeout(Some(cap(io))).is_ok() && self.serve(c, requests);
        if !served || streams.is_empty() || stop() {
            self.state.lock().unwrap().blocked = false;
            if !served {
                *conn = None;
            }
            return Ok(());
        }
        let block = until.map_or(block, |u| {
            block.min(u.saturating_duration_since(Instant::now()))
        });
        let read = read_streams(c, &streams, block, cap(block.saturating_add(io)));
        if read.is_err() {
            *conn = None;
        }
        self.deliver(read);
        Ok(())
    }

    /// Waits for work; then [`Hub::take_work`]. `None`: idle long enough, the thread
    /// ends.
    fn next_work(&self) -> Option<Work> {
        let mut st = self.state.lock().unwrap();
        while st.requests.is_empty() && st.regs.is_empty() {
            let (g, r) = self.work.wait_timeout(st, IDLE_EXIT).unwrap();
            st = g;
            if r.timed_out() && st.requests.is_empty() && st.regs.is_empty() {
                st.running = false;
                st.reader = None;
                return None;
            }
        }
        Some(self.take_work(&mut st))
    }

    /// Takes the pending requests, the streams to read (each from the lowest id
    /// registered on it) and the read's block.
    fn take_work(&self, st: &mut State) -> Work {
        let requests = std::mem::take(&mut st.requests);
        let mut streams: BTreeMap<String, StreamPos> = BTreeMap::new();
        let mut earliest: Option<Instant> = None;
        for r in st.regs.values() {
            let e = streams.entry(r.stream.clone()).or_insert(r.after);
            *e = (*e).min(r.after);
            earliest = Some(earliest.map_or(r.recheck_at, |t| t.min(r.recheck_at)));
        }
        let block = earliest.map_or(WATCH_BLOCK, |t| {
            t.saturating_duration_since(Instant::now()).min(WATCH_BLOCK)
        });
        // From here on, new work unblocks the read (see `wake`); without streams to
        // read the reader looks for work again right after the requests.
        st.blocked = !streams.is_empty();
        st.read_no += 1;
        (requests, streams, block)
    }

    /// Runs the snapshot requests; `false` when the connection failed (the requests
    /// not yet run get the error).
    fn serve(&self, c: &mut Conn, requests: Vec<Request>) -> bool {
        let mut failed: Option<RedisError> = None;
        for r in requests {
            if let Some(e) = &failed {
                r.tx.send(Delivery::Reply(Err(e.clone())));
                continue;
            }
            let reply = r.inv.invoke::<Value>(c);
            if let Err(e) = &reply {
                if is_transient(e) {
                    failed = Some(e.clone());
                }
            }
            r.tx.send(Delivery::Reply(reply));
        }
        failed.is_none()
    }

    /// Sends `e` (a failed connect) to every pending request and registration: their
    /// waiters decide, on their own clocks, whether to try again.
    fn fail_all(&self, requests: Vec<Request>, e: &RedisError) {
        for r in requests {
            r.tx.send(Delivery::Reply(Err(e.clone())));
        }
        let mut st = self.state.lock().unwrap();
        st.blocked = false;
        st.reader = None;
        for (_, r) in st.regs.drain() {
            r.tx.send(Delivery::Failed(e.clone()));
        }
    }

    /// Hands the outcome of a read to the registrations it concerns, and `Recheck` to
    /// those whose time has come.
    fn deliver(&self, read: RedisResult<Option<StreamReadReply>>) {
        let mut st = self.state.lock().unwrap();
        st.blocked = false;
        let reply = match read {
            Ok(r) => r,
            Err(e) => {
                st.reader = None;
                for (_, r) in st.regs.drain() {
                    r.tx.send(Delivery::Failed(e.clone()));
                }
                return;
            }
        };
        let mut done = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for (id, r) in st.regs.iter() {
                if r.stream != key.key {
                    continue;
                }
                let after: Vec<StreamId> = key
                    .ids
                    .iter()
                    .filter(|e| StreamPos::parse(&e.id) > r.after)
                    .cloned()
                    .collect();
                if !after.is_empty() {
                    done.push((*id, Some(after)));
                }
            }
        }
        let now = Instant::now();
        for (id, r) in st.regs.iter() {
            if r.recheck_at <= now && !done.iter().any(|(d, _)| d == id) {
                done.push((*id, None));
            }
        }
        for (id, events) in done {
            if let Some(r) = st.regs.remove(&id) {
                r.tx.send(events.map_or(Delivery::Recheck, Delivery::Events));
            }
        }
    }
}

/// The reader's connection id from the reply to `CLIENT ID` (for `CLIENT
/// UNBLOCK`): `None` when the server refused the command (an ACL user lacking
/// `client|id`: reads then end at their block). An error when the connection
/// itself failed, which ends the round with it: a TLS alert first read here (the
/// server refused the client's certificate after the handshake, so the waiters
/// get `Tls` at once, not a dropped connection retried for the retry window), or
/// a dropped or silent connection.
fn reader_id(reply: RedisResult<i64>) -> RedisResult<Option<i64>> {
    match reply {
        Ok(id) => Ok(Some(id)),
        Err(e)
            if tls_failure(&e).is_some()
                || e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout() =>
        {
            Err(e)
        }
        Err(_) => Ok(None),
    }
}

/// One `XREAD BLOCK` of `streams` with a reply timeout of `reply` (left set: the
/// next round sets its own before its first reply wait, and restoring it here would
/// be on the released waiters' path).
fn read_streams(
    c: &mut Conn,
    streams: &BTreeMap<String, StreamPos>,
    block: Duration,
    reply: Duration,
) -> RedisResult<Option<StreamReadReply>> {
    let keys: Vec<&String> = streams.keys().collect();
    let ids: Vec<String> = streams.values().map(|p| p.id()).collect();
    c.set_read_timeout(Some(reply))?;
    let ms = usize::try_from(block.as_millis())
        .unwrap_or(usize::MAX)
        .max(1);
    let opts = StreamReadOptions::default().block(ms).count(READ_COUNT);
    c.xread_options(&keys, &ids, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_as_in_redis() {
        assert!(StreamPos::parse("10-2") > StreamPos::parse("9-99"));
        assert!(StreamPos::parse("10-2") > StreamPos::parse("10-1"));
        assert_eq!(StreamPos::parse("0-0"), StreamPos(0, 0));
        assert_eq!(StreamPos::parse("7"), StreamPos(7, 0));
        assert_eq!(StreamPos::parse("junk"), StreamPos(0, 0));
        assert_eq!(StreamPos::parse("12-3").id(), "12-3");
    }
}
