//! Test support: a real 3-master Redis Cluster on loopback ports
//! (`redis-server --cluster-enabled yes` x3 + `redis-cli --cluster create`), on
//! plain TCP or TLS only (`--port 0 --tls-port P --tls-cluster yes`, with the
//! certificates of `support/tls.rs`), the node that owns a group's slot, and a
//! slot migration between two masters (`CLUSTER SETSLOT .. IMPORTING/MIGRATING`,
//! `MIGRATE .. KEYS`, `SETSLOT .. NODE`).
//!
//! Shared by the tests of `headcount-redis` and `headcount-cli` (`#[path]` include,
//! next to `support/tls.rs` as module `tls`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The certificate files of a TLS-only cluster (paths into a `tls::Certs`
/// directory, which must outlive the cluster).
#[derive(Clone)]
pub(crate) struct TlsFiles {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

impl TlsFiles {
    pub(crate) fn of(certs: &super::tls::Certs) -> TlsFiles {
        TlsFiles {
            ca: certs.path("ca.crt"),
            server_cert: certs.path("server.crt"),
            server_key: certs.path("server.key"),
            client_cert: certs.path("client.crt"),
            client_key: certs.path("client.key"),
        }
    }

    /// `redis-server` arguments: TLS only, also between the nodes, client
    /// certificates required (so a node presents one on the cluster bus too).
    fn server_args(&self, port: u16) -> Vec<String> {
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
            "--tls-cert-file",
            &self.server_cert,
            "--tls-key-file",
            &self.server_key,
            "--tls-client-cert-file",
            &self.client_cert,
            "--tls-client-key-file",
            &self.client_key,
            "--tls-ca-cert-file",
            &self.ca,
            "--tls-auth-clients",
            "yes",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `redis-cli` arguments for a TLS connection with the client certificate.
    fn cli_args(&self) -> Vec<String> {
        [
            "--tls",
            "--cacert",
            &self.ca,
            "--cert",
            &self.client_cert,
            "--key",
            &self.client_key,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn certificates(&self) -> redis::TlsCertificates {
        let read = |p: &str| std::fs::read(p).unwrap();
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(&self.client_cert),
                client_key: read(&self.client_key),
            }),
            root_cert: Some(read(&self.ca)),
        }
    }
}

/// A client for the node at `port` (TLS with the test certificates, or plain).
fn client(port: u16, tls: Option<&TlsFiles>) -> redis::Client {
    match tls {
        Some(t) => {
            redis::Client::build_with_tls(format!("rediss://127.0.0.1:{port}"), t.certificates())
                .unwrap()
        }
        None => redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap(),
    }
}

/// One cluster node (a `redis-server` child process).
pub(crate) struct Node {
    child: Child,
    pub(crate) port: u16,
    tls: Option<TlsFiles>,
}

impl Node {
    /// `redis://127.0.0.1:PORT`, or `rediss://` for a TLS node.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub(crate) fn conn(&self) -> redis::Connection {
        client(self.port, self.tls.as_ref())
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// This node's cluster id.
    pub(crate) fn id(&self) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.conn())
            .unwrap()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Clients blocked in a command on this node (`blocked_clients`).
    pub(crate) fn blocked_clients(&self) -> usize {
        self.info_clients("blocked_clients") as usize
    }

    /// Whether a client holds a shard subscription to group `group`'s wake
    /// channel on this node (the process's watcher, for the group's waiters).
    pub(crate) fn subscribed(&self, group: &str) -> bool {
        self.subscribers(group) > 0
    }

    /// The connections subscribed on this node to the shard channel that wakes
    /// the waiters of `group` (one per waiting process).
    pub(crate) fn subscribers(&self, group: &str) -> i64 {
        let reply: (String, i64) = redis::cmd("PUBSUB")
            .arg("SHARDNUMSUB")
            .arg(format!("headcount:{{{group}}}:wake"))
            .query(&mut self.conn())
            .unwrap();
        reply.1
    }

    /// Client connections open on this node (`connected_clients`, this query's
    /// own connection included).
    pub(crate) fn connected_clients(&self) -> i64 {
        self.info_clients("connected_clients")
    }

    /// A field of `INFO clients`.
    fn info_clients(&self, field: &str) -> i64 {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query(&mut self.conn())
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A 3-master cluster; every node is stopped and its directory removed on drop.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Node>,
    dir: PathBuf,
    tls: Option<TlsFiles>,
}

/// A port whose cluster bus port (+10000) is free too.
fn cluster_port(taken: &[u16]) -> u16 {
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p > 55000 || taken.contains(&p) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// A cluster-enabled `redis-server` on a free port pair; `None` if it did not start.
fn spawn_node(dir: &std::path::Path, taken: &[u16], tls: Option<&TlsFiles>) -> Option<Node> {
    let port = cluster_port(taken);
    let node_dir = dir.join(port.to_string());
    std::fs::create_dir_all(&node_dir).unwrap();
    let listen = match tls {
        Some(t) => t.server_args(port),
        None => vec!["--port".into(), port.to_string()],
    };
    let mut child = Command::new("redis-server")
        .args(&listen)
        .args(["--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf"])
        .args(["--cluster-node-timeout", "5000"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--dir", node_dir.to_str().unwrap()])
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server not found on PATH: run scripts/ensure-redis.sh");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let ping = client(port, tls)
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if ping.is_ok() {
            let tls = tls.cloned();
            return Some(Node { child, port, tls });
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Cluster {
    /// Adds a replica of master `master` (`redis-cli --cluster add-node
    /// --cluster-slave`), once it is in sync; it is `nodes[3..]`.
    pub(crate) fn add_replica(&mut self, master: usize) {
        let taken: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        let node = loop {
            if let Some(n) = spawn_node(&self.dir, &taken, self.tls.as_ref()) {
                break n;
            }
        };
        let master_node = &self.nodes[master];
        let out = self
            .redis_cli()
            .args(["--cluster", "add-node"])
            .arg(format!("127.0.0.1:{}", node.port))
            .arg(format!("127.0.0.1:{}", master_node.port))
            .args(["--cluster-slave", "--cluster-master-id", &master_node.id()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster add-node failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let t = Instant::now();
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut node.conn())
                .unwrap();
            if info.contains("master_link_status:up") {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "replica never synced"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.nodes.push(node);
    }

    /// A cluster on plain TCP.
    pub(crate) fn start() -> Cluster {
        Cluster::start_with(None)
    }

    /// A cluster whose nodes listen only on TLS (to clients and to each other),
    /// with the test CA's server certificate, requiring client certificates.
    pub(crate) fn start_tls(certs: &super::tls::Certs) -> Cluster {
        Cluster::start_with(Some(TlsFiles::of(certs)))
    }

    fn start_with(tls: Option<TlsFiles>) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "headcount-cluster-{}-{}",
            std::process::id(),
            cluster_port(&[])
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut nodes: Vec<Node> = Vec::new();
        while nodes.len() < 3 {
            let taken: Vec<u16> = nodes.iter().map(|n| n.port).collect();
            if let Some(node) = spawn_node(&dir, &taken, tls.as_ref()) {
                nodes.push(node);
            }
        }
        let cluster = Cluster { nodes, dir, tls };
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = cluster
            .redis_cli()
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli not found on PATH: run scripts/ensure-redis.sh");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.await_ok();
        cluster
    }

    /// `redis-cli`, with the TLS arguments for a TLS cluster.
    fn redis_cli(&self) -> Command {
        let mut c = Command::new("redis-cli");
        if let Some(t) = &self.tls {
            c.args(t.cli_args());
        }
        c
    }

    /// Waits until every node reports `cluster_state:ok` and agrees on the slots.
    pub(crate) fn await_ok(&self) {
        let t = Instant::now();
        loop {
            let ok = self.nodes.iter().all(|n| {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut n.conn())
                    .unwrap();
                info.contains("cluster_state:ok")
            });
            let owners: Vec<Option<u16>> = self.nodes.iter().map(|n| owner_seen_by(n, 0)).collect();
            if ok && owners.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the cluster never reached cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URLs of every node (the initial nodes).
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// The hash slot of group `name`'s keys.
    pub(crate) fn slot_of(&self, name: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("headcount:{{{name}}}:state"))
            .query(&mut self.nodes[0].conn())
            .unwrap()
    }

    /// The index of the node that owns `slot`.
    pub(crate) fn owner(&self, slot: u16) -> usize {
        let port = owner_seen_by(&self.nodes[0], slot).expect("slot not served");
        self.nodes.iter().position(|n| n.port == port).unwrap()
    }

    /// A group name `{prefix}-N`, other than `name`, in the hash slot of group
    /// `name` (its keys' slot is its name's: the name is their hash tag).
    pub(crate) fn name_in_slot_of(&self, name: &str, prefix: &str) -> String {
        let slot = redis::cluster_routing::Slot::for_key(name);
        (0..1_000_000)
            .map(|i| format!("{prefix}-{i}"))
            .find(|n| n != name && redis::cluster_routing::Slot::for_key(n) == slot)
            .expect("no name found in the slot")
    }

    /// A group name `{prefix}-N` whose slot lives on node `index`.
    pub(crate) fn name_on(&self, index: usize, prefix: &str) -> String {
        (0..10_000)
            .map(|i| format!("{prefix}-{i}"))
            .find(|name| self.owner(self.slot_of(name)) == index)
            .expect("no name found for the node")
    }

    /// Moves `slot` (and its keys) from its owner to node `to`, as
    /// `redis-cli --cluster reshard` does.
    pub(crate) fn migrate(&self, slot: u16, to: usize) {
        let from = self.begin_migration(slot, to);
        self.finish_migration(slot, from, to);
    }

    /// The first half of [`Cluster::migrate`]: the slot is `MIGRATING` on its owner
    /// and `IMPORTING` on node `to`, and its keys have moved, so the owner answers
    /// `ASK` for them. Returns the owner's index.
    pub(crate) fn begin_migration(&self, slot: u16, to: usize) -> usize {
        let from = self.owner(slot);
        assert_ne!(from, to);
        let (src, dst) = (&self.nodes[from], &self.nodes[to]);
        let (src_id, dst_id) = (src.id(), dst.id());
        let setslot = |node: &Node, args: &[&str]| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(args)
                .query(&mut node.conn())
                .unwrap();
        };
        setslot(dst, &["IMPORTING", &src_id]);
        setslot(src, &["MIGRATING", &dst_id]);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut src.conn())
                .unwrap();
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(dst.port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query(&mut src.conn())
                .unwrap();
        }
        from
    }

    /// The second half of [`Cluster::migrate`]: every master assigns the slot to
    /// node `to` (`SETSLOT .. NODE`).
    pub(crate) fn finish_migration(&self, slot: u16, from: usize, to: usize) {
        let dst = &self.nodes[to];
        let dst_id = dst.id();
        let setslot = |node: &Node, args: &[&str]| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(args)
                .query(&mut node.conn())
                .unwrap();
        };
        for node in [dst, &self.nodes[from]] {
            setslot(node, &["NODE", &dst_id]);
        }
        // The masters only (replicas added later follow their master).
        for (i, node) in self.nodes.iter().enumerate().take(3) {
            if i != from && i != to {
                setslot(node, &["NODE", &dst_id]);
            }
        }
        let t = Instant::now();
        while self
            .nodes
            .iter()
            .any(|n| owner_seen_by(n, slot) != Some(dst.port))
        {
            assert!(t.elapsed() < Duration::from_secs(10), "slot never moved");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The port of the node that `node` says owns `slot` (`CLUSTER SLOTS`).
fn owner_seen_by(node: &Node, slot: u16) -> Option<u16> {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut node.conn())
        .ok()?;
    for range in ranges {
        let redis::Value::Array(items) = range else {
            continue;
        };
        let num = |v: &redis::Value| match v {
            redis::Value::Int(i) => Some(*i),
            _ => None,
        };
        let (Some(lo), Some(hi)) = (num(&items[0]), num(&items[1])) else {
            continue;
        };
        if (lo..=hi).contains(&i64::from(slot)) {
            if let redis::Value::Array(master) = &items[2] {
                return num(&master[1]).map(|p| p as u16);
            }
        }
    }
    None
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waiting on waiters of this process (what the cluster tests of the library
/// check before they act).
impl Cluster {
    /// A handle on group `name`, every node given as an initial node, default
    /// options.
    pub(crate) fn open(&self, name: &str) -> headcount_redis::RedisWaitGroup {
        let urls = self.urls();
        let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
        headcount_redis::RedisWaitGroup::open_cluster(&seeds, name, headcount_redis::Options::new())
            .unwrap()
    }

    /// Waits (up to 20 s) until node `node` holds the watcher's shard
    /// subscription to group `name`'s wake channel.
    pub(crate) fn await_subscribed(&self, node: usize, name: &str) {
        let t = Instant::now();
        while !self.nodes[node].subscribed(name) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "group {name} not subscribed on node {node}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (up to 60 s) until `n` waiters of `wg` are registered with the
    /// process's watcher and node `node` holds its subscription to the group's
    /// wake channel.
    pub(crate) fn await_watched(
        &self,
        wg: &headcount_redis::RedisWaitGroup,
        node: usize,
        n: usize,
    ) {
        let t = Instant::now();
        while wg.local_waiters() < n || !self.nodes[node].subscribed(wg.name()) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the waiters never subscribed on node {node}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
