//! Test support: three Redis Sentinels (`redis-server CONFIG --sentinel`) on
//! loopback ports watching a primary as `mymaster`, with a short
//! `down-after-milliseconds` and `failover-timeout` so a failover takes seconds;
//! optionally logging in to the primary with a password (`sentinel auth-pass`),
//! needing one themselves (`requirepass`), or speaking only TLS (to clients, to
//! each other and to the primary and replicas).
//!
//! Used next to `support/mod.rs` (its `RedisServer` is the primary and replica)
//! and `support/tls.rs` (module `tls`: certificates and TLS servers).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const MASTER: &str = "mymaster";

/// How the sentinels are set up (`Setup::default()`: plain TCP, no passwords).
#[derive(Default)]
pub(crate) struct Setup<'a> {
    /// The password the sentinels log in to the primary and replicas with
    /// (`sentinel auth-pass`).
    pub(crate) auth_pass: Option<&'a str>,
    /// The password the sentinels themselves need (`requirepass`).
    pub(crate) requirepass: Option<&'a str>,
    /// TLS only, with these certificates (client certificates required).
    pub(crate) tls: Option<&'a super::tls::Certs>,
}

/// Three sentinels; stopped (and their directory removed) on drop.
pub(crate) struct Sentinels {
    children: Vec<Child>,
    pub(crate) ports: Vec<u16>,
    dir: PathBuf,
    /// How the test's own connections reach a sentinel.
    password: Option<String>,
    tls: Option<redis::TlsCertificates>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sentinels {
    /// The test's own connection to the sentinel on `port`.
    fn conn(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        let auth = self
            .password
            .as_ref()
            .map_or(String::new(), |p| format!(":{p}@"));
        let client = match &self.tls {
            Some(certs) => redis::Client::build_with_tls(
                format!("rediss://{auth}127.0.0.1:{port}"),
                certs.clone(),
            )?,
            None => redis::Client::open(format!("redis://{auth}127.0.0.1:{port}"))?,
        };
        client.get_connection_with_timeout(Duration::from_millis(500))
    }

    /// Starts three sentinels monitoring the primary on `primary_port` (quorum 2)
    /// and waits until each knows the other two and the replicas.
    pub(crate) fn start(primary_port: u16, replicas: usize) -> Sentinels {
        Sentinels::start_with(primary_port, replicas, Setup::default())
    }

    /// [`Sentinels::start`] set up as `setup` says.
    pub(crate) fn start_with(primary_port: u16, replicas: usize, setup: Setup) -> Sentinels {
        let dir = std::env::temp_dir().join(format!(
            "headcount-sentinel-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Sentinels {
            children: Vec::new(),
            ports: Vec::new(),
            dir,
            password: setup.requirepass.map(str::to_owned),
            tls: setup.tls.map(|c| redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: c.read("client.crt"),
                    client_key: c.read("client.key"),
                }),
                root_cert: Some(c.read("ca.crt")),
            }),
        };
        while s.ports.len() < 3 {
            let port = free_port();
            let conf = s.dir.join(format!("sentinel-{port}.conf"));
            let mut text = match setup.tls {
                None => format!("port {port}\n"),
                Some(c) => format!(
                    "port 0\ntls-port {port}\ntls-replication yes\ntls-auth-clients yes\n\
                     tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                     tls-client-cert-file {}\ntls-client-key-file {}\n",
                    c.path("server.crt"),
                    c.path("server.key"),
                    c.path("ca.crt"),
                    c.path("client.crt"),
                    c.path("client.key"),
                ),
            };
            text += &format!(
                "bind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = s.dir.display()
            );
            if let Some(p) = setup.auth_pass {
                text += &format!("sentinel auth-pass {MASTER} {p}\n");
            }
            if let Some(p) = setup.requirepass {
                text += &format!("requirepass {p}\n");
            }
            std::fs::write(&conf, text).unwrap();
            let mut child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found on PATH: run scripts/ensure-redis.sh");
            let t = Instant::now();
            let mut up = false;
            while t.elapsed() < Duration::from_secs(10) {
                if s.conn(port)
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                    .is_ok()
                {
                    up = true;
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                s.children.push(child);
                s.ports.push(port);
            } else {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Sentinels find each other through the primary's hello channel (every 2 s).
        let t = Instant::now();
        while !s.ports.iter().all(|&p| {
            let info = s.master_info(p);
            info.get("num-other-sentinels").map(String::as_str) == Some("2")
                && info.get("num-slaves") == Some(&replicas.to_string())
        }) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the sentinels never found each other"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// `SENTINEL MASTER mymaster` as seen by the sentinel on `port`.
    fn master_info(&self, port: u16) -> std::collections::HashMap<String, String> {
        let Ok(mut c) = self.conn(port) else {
            return Default::default();
        };
        let flat: Vec<String> = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(MASTER)
            .query(&mut c)
            .unwrap_or_default();
        flat.chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// The port of the primary the sentinels name now.
    pub(crate) fn primary_port(&self) -> Option<u16> {
        let mut c = self.conn(self.ports[0]).ok()?;
        let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER)
            .query(&mut c)
            .ok()?;
        addr.map(|(_, p)| p)
    }

    /// The sentinels' URLs (`rediss://` for TLS sentinels).
    pub(crate) fn urls(&self) -> Vec<String> {
        self.urls_as("")
    }

    /// The sentinels' URLs with `auth` (`USER:PASSWORD@`, the primary's) before
    /// the host.
    pub(crate) fn urls_as(&self, auth: &str) -> Vec<String> {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        self.ports
            .iter()
            .map(|p| format!("{scheme}://{auth}127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sentinels {
    /// The sentinels' process ids (for signals), in the order of their ports.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Runs `ACL SETUSER NAME RULES...` on every sentinel (an ACL user of theirs).
    pub(crate) fn acl_setuser(&self, name: &str, rules: &[&str]) {
        for &port in &self.ports {
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(name)
                .arg(rules)
                .exec(&mut self.conn(port).unwrap())
                .unwrap();
        }
    }
}

/// A primary and its replica that need `password` (the replica authenticating to
/// the primary with it), behind three sentinels that monitor them with it and
/// need `sentinel_secret` of their own clients.
pub(crate) fn with_passwords(
    password: &str,
    sentinel_secret: &str,
) -> (
    super::support::RedisServer,
    super::support::RedisServer,
    Sentinels,
) {
    let mut primary = super::support::RedisServer::start();
    let mut replica = super::support::RedisServer::replica_of(&primary);
    for server in [&mut primary, &mut replica] {
        server.require_password(password);
    }
    let sentinels = Sentinels::start_with(
        primary.port,
        1,
        Setup {
            auth_pass: Some(password),
            requirepass: Some(sentinel_secret),
            ..Setup::default()
        },
    );
    (primary, replica, sentinels)
}
