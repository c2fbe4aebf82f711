//! Test support: a real `redis-server` on a free loopback port (persistence off),
//! started and stopped by the test, and a TCP proxy that can drop a reply.
//! No mocks: every test talks to a real server.
//!
//! Shared by the tests of `headcount-redis` and `headcount-cli` (`#[path]` include).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `redis-server` child process; stopped (and its directory removed) on drop.
pub(crate) struct RedisServer {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: PathBuf,
    /// Extra `redis-server` arguments (e.g. `--replicaof`).
    extra: Vec<String>,
    /// The default user's password, once [`RedisServer::require_password`] set it
    /// (the test's own connections use it; [`RedisServer::url`] never holds it).
    password: Option<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a server on a free port with `--save '' --appendonly no`.
    pub(crate) fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A replica of `primary` (`--replicaof`), started once it has synced.
    pub(crate) fn replica_of(primary: &RedisServer) -> RedisServer {
        let port = primary.port.to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
        let t = Instant::now();
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut replica.conn())
                .unwrap();
            if info.contains("master_link_status:up") {
                return replica;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "replica never synced"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (for signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// Starts a server with extra arguments.
    pub(crate) fn start_with(extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "headcount-redis-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..5 {
            let mut s = RedisServer {
                child: None,
                port: free_port(),
                dir: dir.clone(),
                extra: extra.iter().map(|a| a.to_string()).collect(),
                password: None,
            };
            if s.spawn() {
                return s;
            }
        }
        panic!("could not start redis-server (is it installed? run scripts/ensure-redis.sh)");
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found on PATH: run scripts/ensure-redis.sh");
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(mut c) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return true;
                }
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false; // port taken, most likely
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A client for the test's own connections (with the password, if one is
    /// required).
    pub(crate) fn client(&self) -> redis::Client {
        match &self.password {
            Some(p) => redis::Client::open(self.url_as("", p)).unwrap(),
            None => redis::Client::open(self.url()).unwrap(),
        }
    }

    /// From now on the default user needs `password` (`requirepass`), and as a
    /// replica this server authenticates to its primary with it (`masterauth`).
    /// Connections already open (a replica's link) stay as they are.
    pub(crate) fn require_password(&mut self, password: &str) {
        let mut c = self.conn();
        for (name, value) in [("masterauth", password), ("requirepass", password)] {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .exec(&mut c)
                .unwrap();
        }
        self.password = Some(password.to_owned());
    }

    pub(crate) fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }

    /// `SHUTDOWN NOSAVE`: the server exits and its data is gone.
    pub(crate) fn shutdown_nosave(&mut self) {
        let mut c = self.conn();
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
        if let Some(mut child) = self.child.take() {
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same port (empty: persistence is off).
    pub(crate) fn restart(&mut self) {
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    pub(crate) fn dbsize(&self) -> i64 {
        redis::cmd("DBSIZE").query(&mut self.conn()).unwrap()
    }

    pub(crate) fn keys(&self, pattern: &str) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.conn())
            .unwrap()
    }

    /// The raw counter of a group, read directly.
    pub(crate) fn raw_count(&self, group: &str) -> Option<i64> {
        redis::cmd("HGET")
            .arg(format!("headcount:{{{group}}}:state"))
            .arg("count")
            .query(&mut self.conn())
            .unwrap()
    }

    /// How many clients are blocked in `XREAD` right now.
    pub(crate) fn blocked_readers(&self) -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut self.conn())
            .unwrap();
        // `cmd` is the client's last command, so also require the blocked flag `b`
        // (a waiter whose XREAD already returned still shows `cmd=xread`).
        list.lines()
            .filter(|l| {
                l.split(' ').any(|f| f == "cmd=xread")
                    && l.split(' ')
                        .any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('b')))
            })
            .count()
    }

    /// Waits (up to 20 s) until `n` clients are blocked in `XREAD`.
    pub(crate) fn await_blocked_readers(&self, n: usize) {
        let t = Instant::now();
        while self.blocked_readers() < n {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "waiters never blocked"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Waits (up to 20 s) until `n` waiters of this process are blocked on `wg`'s group
/// (registered with the process's watcher; they share one blocked `XREAD`).
pub(crate) fn await_local_waiters(wg: &headcount_redis::RedisWaitGroup, n: usize) {
    let t = Instant::now();
    while wg.local_waiters() < n {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "waiters never blocked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback TCP proxy in front of a server that can drop the next reply it
/// forwards (closing both sides), so a request is applied but its reply is lost.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    upstream: Arc<AtomicU16>,
    drop_next_reply: Arc<AtomicBool>,
    pub(crate) connections: Arc<AtomicUsize>,
}

impl Proxy {
    pub(crate) fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let drop_next_reply = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let upstream = Arc::new(AtomicU16::new(upstream));
        let (flag, count, target) = (
            drop_next_reply.clone(),
            connections.clone(),
            upstream.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let to = target.load(Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(c2, s2, None));
                let flag = flag.clone();
                std::thread::spawn(move || pump(server, client, Some(flag)));
            }
        });
        Proxy {
            port,
            upstream,
            drop_next_reply,
            connections,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// New connections go to the server on `port` from now on (a failover).
    pub(crate) fn retarget(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }

    /// The next reply from the server is swallowed and the connection cut.
    pub(crate) fn drop_next_reply(&self) {
        self.drop_next_reply.store(true, Ordering::SeqCst);
    }

    pub(crate) fn armed(&self) -> bool {
        self.drop_next_reply.load(Ordering::SeqCst)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, drop_flag: Option<Arc<AtomicBool>>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(f) = &drop_flag {
            if f.swap(false, Ordering::SeqCst) {
                break; // the reply is lost
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Sends a signal with `kill(1)` (`KILL`, `STOP`, `CONT`, ...).
pub(crate) fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s {sig} {pid} failed");
}

impl RedisServer {
    /// `redis://[USER:]PASSWORD@127.0.0.1:PORT`.
    pub(crate) fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }
}

/// A process stopped with `SIGSTOP`; resumed with `SIGCONT` when dropped, so a
/// failing test never leaves a frozen server behind.
pub(crate) struct Frozen(u32);

impl Frozen {
    pub(crate) fn stop(pid: u32) -> Frozen {
        signal(pid, "STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "CONT", &self.0.to_string()])
            .status();
    }
}

/// The named fields of a reply of `group.lua` (a flat `{name1, value1, ...}`
/// array), each value as text. Panics on anything else, or on a name given twice.
pub(crate) fn script_fields(reply: redis::Value) -> std::collections::BTreeMap<String, String> {
    let redis::Value::Array(items) = reply else {
        panic!("not an array: {reply:?}")
    };
    assert!(items.len() % 2 == 0, "not name/value pairs: {items:?}");
    let text = |v: redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("not a string: {other:?}"),
    };
    let mut fields = std::collections::BTreeMap::new();
    let mut items = items.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        let name = text(name);
        let value = text(value);
        assert!(
            fields.insert(name.clone(), value).is_none(),
            "field `{name}` twice"
        );
    }
    fields
}

/// `connected_clients` of `INFO clients` (this query's own connection included).
pub(crate) fn connected_clients(server: &RedisServer) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(&mut server.conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits (up to 10 s) until connections to `port` on loopback are refused (a
/// killed server has exited and closed its socket).
pub(crate) fn await_refused(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "port {port} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
