//! Test support: certificates made at test time with `openssl` (a test CA, a
//! server certificate for 127.0.0.1, a client certificate, and a second, unrelated
//! CA) and a `redis-server` that listens only on TLS (`--port 0 --tls-port P`).
//!
//! Shared by the tests of `headcount-redis` and `headcount-cli` (`#[path]` include,
//! next to `support/mod.rs`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A directory of PEM files made by `openssl`; removed on drop.
pub(crate) struct Certs {
    pub(crate) dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl not found on PATH: run scripts/ensure-redis.sh");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 key and a certificate signing request for `cn`.
fn key_and_csr(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
}

/// A self-signed CA `name`.crt / `name`.key.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=headcount test {name}"),
        ],
    );
}

/// `name`.crt signed by `ca.crt`, with the extensions `ext`.
fn sign(dir: &Path, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

impl Certs {
    /// `ca.crt`, `server.crt`/`server.key` (for IP 127.0.0.1), `client.crt`/
    /// `client.key` (signed by the CA) and `other-ca.crt` (a CA that signed neither).
    pub(crate) fn make() -> Certs {
        let dir = std::env::temp_dir().join(format!(
            "headcount-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        ca(&dir, "ca");
        ca(&dir, "other-ca");
        key_and_csr(&dir, "server", "127.0.0.1");
        sign(
            &dir,
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        key_and_csr(&dir, "client", "headcount-test-client");
        sign(&dir, "client", "extendedKeyUsage=clientAuth\n");
        Certs { dir }
    }

    /// The path of one of the files, as a string.
    pub(crate) fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    /// The contents of one of the files.
    pub(crate) fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(file)).unwrap()
    }

    /// Client options trusting `ca_file`, with the client certificate.
    pub(crate) fn options(&self, ca_file: &str) -> headcount_redis::Options {
        headcount_redis::Options::new()
            .tls_ca(self.read(ca_file))
            .tls_client_cert(self.read("client.crt"), self.read("client.key"))
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` listening only on TLS, requiring client certificates signed
/// by the test CA; stopped on drop.
pub(crate) struct TlsServer {
    child: Child,
    pub(crate) port: u16,
    dir: PathBuf,
}

impl TlsServer {
    pub(crate) fn start(certs: &Certs) -> TlsServer {
        TlsServer::start_with(certs, &[])
    }

    /// A replica of `primary` over TLS, started once it has synced.
    pub(crate) fn replica_of(primary: &TlsServer, certs: &Certs) -> TlsServer {
        let port = primary.port.to_string();
        let replica = TlsServer::start_with(certs, &["--replicaof", "127.0.0.1", &port]);
        let t = Instant::now();
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut replica.conn(certs))
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

    /// A server with extra arguments (e.g. `--replicaof`); as a replica it
    /// replicates over TLS, presenting the client certificate.
    pub(crate) fn start_with(certs: &Certs, extra: &[&str]) -> TlsServer {
        for _ in 0..5 {
            let port = free_port();
            let dir = certs.dir.join(format!("data-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut child = Command::new("redis-server")
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--tls-cert-file", &certs.path("server.crt")])
                .args(["--tls-key-file", &certs.path("server.key")])
                .args(["--tls-ca-cert-file", &certs.path("ca.crt")])
                .args(["--tls-auth-clients", "yes"])
                .args(["--tls-replication", "yes"])
                .args(["--tls-client-cert-file", &certs.path("client.crt")])
                .args(["--tls-client-key-file", &certs.path("client.key")])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", dir.to_str().unwrap()])
                .args(["--daemonize", "no", "--loglevel", "warning"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found on PATH: run scripts/ensure-redis.sh");
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let server = TlsServer { child, port, dir };
                    let mut c = server.conn(certs);
                    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
                    assert_eq!(pong, "PONG");
                    return server;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken, most likely
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start redis-server with TLS (is it built with TLS support?)");
    }

    pub(crate) fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// A direct TLS connection (with the client certificate), for inspection.
    pub(crate) fn conn(&self, certs: &Certs) -> redis::Connection {
        let client = redis::Client::build_with_tls(
            self.url(),
            redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: certs.read("client.crt"),
                    client_key: certs.read("client.key"),
                }),
                root_cert: Some(certs.read("ca.crt")),
            },
        )
        .unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Certs {
    /// Makes `foreign.crt`/`foreign.key`: a client certificate signed by
    /// `other-ca.crt`, which a server trusting only `ca.crt` refuses.
    pub(crate) fn make_foreign_client(&self) {
        key_and_csr(&self.dir, "foreign", "headcount-foreign-client");
        std::fs::write(
            self.dir.join("foreign.ext"),
            "extendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                "foreign.csr",
                "-CA",
                "other-ca.crt",
                "-CAkey",
                "other-ca.key",
                "-CAcreateserial",
                "-out",
                "foreign.crt",
                "-days",
                "2",
                "-extfile",
                "foreign.ext",
            ],
        );
    }
}

/// Every kind of call on `wg` (`add`, `wait`, and their async forms) is
/// `Error::Tls`, each at once (within 5 s: not retried for the retry window).
pub(crate) fn assert_every_call_is_a_tls_error_at_once(wg: &headcount_redis::RedisWaitGroup) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let long = Duration::from_secs(30);
    for attempt in ["add", "wait", "add_async", "wait_async"] {
        let t = Instant::now();
        let r = match attempt {
            "add" => wg.add(1),
            "wait" => wg.wait_timeout(long),
            "add_async" => rt.block_on(wg.add_async(1)),
            _ => rt.block_on(wg.wait_timeout_async(long)),
        };
        assert!(
            matches!(r, Err(headcount_redis::Error::Tls { .. })),
            "{attempt}: {r:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{attempt}: {:?}",
            t.elapsed()
        );
    }
}
