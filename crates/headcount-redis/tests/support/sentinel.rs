//! Test support: three Redis Sentinels (`redis-server CONFIG --sentinel`) on
//! loopback ports watching a primary as `mymaster`, with a short
//! `down-after-milliseconds` and `failover-timeout` so a failover takes seconds.
//!
//! Used next to `support/mod.rs` (its `RedisServer` is the primary and replica).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const MASTER: &str = "mymaster";

/// Three sentinels; stopped (and their directory removed) on drop.
pub(crate) struct Sentinels {
    children: Vec<Child>,
    pub(crate) ports: Vec<u16>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn conn(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_connection_with_timeout(Duration::from_millis(500))
}

impl Sentinels {
    /// Starts three sentinels monitoring the primary on `primary_port` (quorum 2)
    /// and waits until each knows the other two and the replicas.
    pub(crate) fn start(primary_port: u16, replicas: usize) -> Sentinels {
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
        };
        while s.ports.len() < 3 {
            let port = free_port();
            let conf = s.dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {MASTER} 1000\n\
                     sentinel failover-timeout {MASTER} 5000\n\
                     sentinel parallel-syncs {MASTER} 1\n",
                    dir = s.dir.display()
                ),
            )
            .unwrap();
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
                if conn(port)
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
        let Ok(mut c) = conn(port) else {
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
        let mut c = conn(self.ports[0]).ok()?;
        let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER)
            .query(&mut c)
            .ok()?;
        addr.map(|(_, p)| p)
    }

    /// The sentinels' URLs.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
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
