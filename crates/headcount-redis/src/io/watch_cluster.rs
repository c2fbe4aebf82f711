//! The watcher on a Redis Cluster: its reading connection goes to the node that
//! owns the hash slot it reads, and follows the slot when it moves.
//!
//! One `XREAD` cannot span two slots (`CROSSSLOT`, even on one node), so a
//! cluster has one [`Hub`](crate::io::watch::Hub) per slot that waiters wait in:
//! every group of the slot shares its reads. Its connections (the reader's and
//! the unblocker's) are plain connections to one node, not the `redis` crate's
//! cluster connection (which routes each command by key, and a keyless
//! `CLIENT UNBLOCK` to any node): the reader's connection id means something only
//! on the node the unblocker sends `CLIENT UNBLOCK` to, so both go to the node the
//! reader is on.
//!
//! Which node owns the slot is learnt from the cluster itself, through the
//! `redis` crate's reading of its redirects ([`redis::RedisError::redirect_node`]):
//! the first connection of a slot asks a seed with `EXISTS` of a key in the slot,
//! and follows the `MOVED` reply, if any. Later, a `MOVED` reply to the reader (a
//! snapshot, or the blocked read, which the server ends with `MOVED` when the
//! slot is moved away) records the new owner and fails the call as a dropped
//! connection: the hub reconnects, to the new owner, and its waiters take a new
//! snapshot there (a waiter keeps waiting: no error, and no zero that was not
//! read). An `ASK` reply (the slot is being migrated and the key has moved) does
//! the same, and the new connection prefixes every command with `ASKING` until a
//! `MOVED` sends it elsewhere (once the migration is over, `ASKING` is a no-op).
//! A cluster that cannot serve the slot for now (`CLUSTERDOWN` or `MASTERDOWN`:
//! its master failed and no replica has taken over yet) is a dropped connection
//! too, and the owner is asked of the initial nodes again: the waiters retry within their
//! retry window, and find the promoted replica.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    Cmd, ConnectionLike, ErrorKind, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};

use crate::io::topology::{AsyncConn, ClusterNodes, Conn};

/// Redirects followed while finding a slot's owner before giving up.
const MAX_HOPS: usize = 5;

/// Where a slot's commands go: its owner as last learnt, and whether they must be
/// prefixed with `ASKING` (the slot is being imported by that node).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hop {
    node: String,
    asking: bool,
}

/// The node that owns one hash slot, shared by the connections of the slot's hub.
pub(crate) struct SlotRoute {
    /// A key in the slot (the event stream of the first group waited on in it).
    probe: String,
    hop: Mutex<Option<Hop>>,
}

impl SlotRoute {
    /// The route of the slot of `key`, its owner not known yet.
    pub(crate) fn new(key: &str) -> Arc<SlotRoute> {
        Arc::new(SlotRoute {
            probe: key.to_owned(),
            hop: Mutex::new(None),
        })
    }

    fn known(&self) -> Option<Hop> {
        self.hop.lock().unwrap().clone()
    }

    /// Records the node a redirect (`MOVED` or `ASK`) named; `None` for any other
    /// reply.
    fn learn(&self, e: &RedisError) -> Option<Hop> {
        let (node, _slot) = e.redirect_node()?;
        let hop = Hop {
            node: node.to_owned(),
            asking: e.kind() == ErrorKind::Server(ServerErrorKind::Ask),
        };
        *self.hop.lock().unwrap() = Some(hop.clone());
        Some(hop)
    }

    /// Checks a reply: a redirect is recorded, and becomes a dropped-connection
    /// error (transient: the caller reconnects, to the new owner); so does a
    /// cluster that is down or failing over (`CLUSTERDOWN`, `MASTERDOWN`), after
    /// which the owner is asked of the initial nodes again.
    fn check(&self, v: Value) -> RedisResult<Value> {
        let Value::ServerError(se) = &v else {
            return Ok(v);
        };
        let e = RedisError::from(se.clone());
        let why = if let Some(hop) = self.learn(&e) {
            format!("the hash slot is now served by {} ({e})", hop.node)
        } else if matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ClusterDown | ServerErrorKind::MasterDown)
        ) {
            *self.hop.lock().unwrap() = None;
            format!("the cluster cannot serve the hash slot now ({e})")
        } else {
            return Ok(v);
        };
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, why).into())
    }
}

/// The `ASKING` command (the next command may touch a slot being imported).
fn asking() -> Cmd {
    redis::cmd("ASKING")
}

/// `EXISTS` of the probe key (any keyed command answers `MOVED` on a node
/// that does not own the slot).
fn probe(route: &SlotRoute) -> Cmd {
    let mut c = redis::cmd("EXISTS");
    c.arg(&route.probe);
    c
}

/// The nodes to try, in order: the owner last learnt (used as is), then each seed
/// (`true`: probed, and its redirects followed).
fn plan(nodes: &ClusterNodes, route: &SlotRoute) -> Vec<(Hop, bool)> {
    let seeds = nodes.seeds().iter().map(|s| {
        let hop = Hop {
            node: s.clone(),
            asking: false,
        };
        (hop, true)
    });
    route
        .known()
        .map(|h| (h, false))
        .into_iter()
        .chain(seeds)
        .collect()
}

/// What a probe of `hop` said.
enum Probed {
    /// `hop` serves the slot (recorded as its owner).
    Owner,
    /// It named another node (recorded): try that one.
    Redirected(Hop),
    Failed(RedisError),
}

fn probed(route: &SlotRoute, hop: &Hop, r: RedisResult<i64>) -> Probed {
    match r {
        Ok(_) => {
            *route.hop.lock().unwrap() = Some(hop.clone());
            Probed::Owner
        }
        Err(e) => match route.known() {
            // `SlotRoute::check` recorded the node a redirect named.
            Some(next) if next != *hop && e.is_connection_dropped() => Probed::Redirected(next),
            _ => Probed::Failed(e),
        },
    }
}

fn no_owner(last: Option<RedisError>) -> RedisError {
    last.unwrap_or_else(|| {
        RedisError::from((
            ErrorKind::ClusterConnectionNotFound,
            "no node of the cluster serves the group's hash slot",
        ))
    })
}

/// A blocking connection to the node that owns `route`'s slot (found through the
/// seeds when not known yet), each setup step within `timeout`.
pub(crate) fn connect(
    nodes: &ClusterNodes,
    route: &Arc<SlotRoute>,
    timeout: Duration,
) -> RedisResult<Conn> {
    let mut last = None;
    for (mut hop, probe_it) in plan(nodes, route) {
        for _ in 0..MAX_HOPS {
            let mut c = match nodes.connect(&hop.node, timeout) {
                Ok(c) => SlotConn::new(c, &hop, route),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            };
            if !probe_it {
                return Ok(Conn::Slot(Box::new(c)));
            }
            c.conn.set_read_timeout(Some(timeout))?;
            match probed(route, &hop, probe(route).query(&mut c)) {
                Probed::Owner => return Ok(Conn::Slot(Box::new(c))),
                Probed::Redirected(next) => hop = next,
                Probed::Failed(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
    }
    Err(no_owner(last))
}

/// [`connect`], async: a multiplexed connection, set up within `connect`, every
/// reply within `response`.
pub(crate) async fn connect_async(
    nodes: &ClusterNodes,
    route: &Arc<SlotRoute>,
    connect: Duration,
    response: Duration,
) -> RedisResult<AsyncConn> {
    let mut last = None;
    for (mut hop, probe_it) in plan(nodes, route) {
        for _ in 0..MAX_HOPS {
            let mut c = match nodes.connect_async(&hop.node, connect, response).await {
                Ok(c) => AsyncSlotConn::new(c, &hop, route),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            };
            if !probe_it {
                return Ok(AsyncConn::Slot(c));
            }
            match probed(route, &hop, probe(route).query_async(&mut c).await) {
                Probed::Owner => return Ok(AsyncConn::Slot(c)),
                Probed::Redirected(next) => hop = next,
                Probed::Failed(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
    }
    Err(no_owner(last))
}

/// A plain connection to the node at `node` (for `CLIENT UNBLOCK`, which must
/// reach the reader's node), each setup step within `timeout`.
pub(crate) fn connect_to(nodes: &ClusterNodes, node: &str, timeout: Duration) -> RedisResult<Conn> {
    let hop = Hop {
        node: node.to_owned(),
        asking: false,
    };
    let route = SlotRoute::new("");
    Ok(Conn::Slot(Box::new(SlotConn::new(
        nodes.connect(node, timeout)?,
        &hop,
        &route,
    ))))
}

/// The watcher's blocking connection to the node of one slot (see the module
/// docs).
pub(crate) struct SlotConn {
    pub(crate) conn: redis::Connection,
    /// The node's address (`host:port`).
    pub(crate) node: String,
    /// Every command is sent after `ASKING`.
    asking: bool,
    route: Arc<SlotRoute>,
}

impl SlotConn {
    fn new(conn: redis::Connection, hop: &Hop, route: &Arc<SlotRoute>) -> SlotConn {
        SlotConn {
            conn,
            node: hop.node.clone(),
            asking: hop.asking,
            route: route.clone(),
        }
    }
}

impl ConnectionLike for SlotConn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        let v = if self.asking {
            let mut both = asking().get_packed_command();
            both.extend_from_slice(cmd);
            let mut replies = self.conn.req_packed_commands(&both, 1, 1)?;
            replies.pop().unwrap_or(Value::Nil)
        } else {
            self.conn.req_packed_command(cmd)?
        };
        self.route.check(v)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let replies = if self.asking {
            let mut all = asking().get_packed_command();
            all.extend_from_slice(cmd);
            self.conn.req_packed_commands(&all, offset + 1, count)?
        } else {
            self.conn.req_packed_commands(cmd, offset, count)?
        };
        replies.into_iter().map(|v| self.route.check(v)).collect()
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }

    fn check_connection(&mut self) -> bool {
        self.conn.check_connection()
    }

    fn is_open(&self) -> bool {
        self.conn.is_open()
    }
}

/// [`SlotConn`], async: a multiplexed connection to the node of one slot.
#[derive(Clone)]
pub(crate) struct AsyncSlotConn {
    conn: MultiplexedConnection,
    /// The node's address (`host:port`).
    pub(crate) node: String,
    asking: bool,
    route: Arc<SlotRoute>,
}

impl AsyncSlotConn {
    fn new(conn: MultiplexedConnection, hop: &Hop, route: &Arc<SlotRoute>) -> AsyncSlotConn {
        AsyncSlotConn {
            conn,
            node: hop.node.clone(),
            asking: hop.asking,
            route: route.clone(),
        }
    }
}

impl redis::aio::ConnectionLike for AsyncSlotConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let v = if self.asking {
                let mut p = redis::pipe();
                p.add_command(asking()).add_command(cmd.clone());
                let mut replies = self.conn.req_packed_commands(&p, 1, 1).await?;
                replies.pop().unwrap_or(Value::Nil)
            } else {
                self.conn.req_packed_command(cmd).await?
            };
            self.route.check(v)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let replies = if self.asking {
                let mut p = redis::pipe();
                p.add_command(asking());
                for c in cmd.cmd_iter() {
                    p.add_command(c.clone());
                }
                self.conn.req_packed_commands(&p, offset + 1, count).await?
            } else {
                self.conn.req_packed_commands(cmd, offset, count).await?
            };
            replies.into_iter().map(|v| self.route.check(v)).collect()
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
