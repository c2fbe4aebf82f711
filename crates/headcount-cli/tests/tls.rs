//! `headcount` over TLS (`rediss://`, `--tls-ca`, `--tls-cert`, `--tls-key`) against
//! a real `redis-server` that listens only on TLS and requires client certificates
//! (certificates made by `openssl` at test time).

#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tls::{Certs, TlsServer};

/// `headcount --redis rediss://... --tls-ca CA --tls-cert .. --tls-key ..`.
fn hc(server: &TlsServer, certs: &Certs, ca: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.args(["--redis", &server.url()])
        .args(["--tls-ca", &certs.path(ca)])
        .args(["--tls-cert", &certs.path("client.crt")])
        .args(["--tls-key", &certs.path("client.key")]);
    c
}

#[test]
fn cli_whole_cycle_over_tls_add_run_done_wait_status_delete() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let ok = |args: &[&str]| {
        let (code, out, err) = run(hc(&server, &certs, "ca.crt").args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    ok(&["add", "tls-cli", "3"]);
    let waiter = hc(&server, &certs, "ca.crt")
        .args(["wait", "tls-cli", "--timeout", "30s"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A lease held over TLS while its command runs, then paid.
    let mut runner = hc(&server, &certs, "ca.crt")
        .args(["run", "tls-cli", "--ttl", "5s", "--", "sleep", "0.5"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let status = ok(&["status", "tls-cli"]);
        if status.contains("participants: 1 with live leases") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(runner.wait().unwrap().success());
    assert_eq!(ok(&["count", "tls-cli"]).trim(), "2");
    ok(&["done", "tls-cli"]);
    ok(&["done", "tls-cli"]);
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok(&["count", "tls-cli"]).trim(), "0");
    ok(&["delete", "tls-cli"]);
    let (code, _, err) = run(hc(&server, &certs, "ca.crt").args(["count", "tls-cli"]));
    assert_eq!(code, 7, "{err}");
}

#[test]
fn cli_wrong_ca_is_exit_3_naming_tls_at_once() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let t = Instant::now();
    let (code, _, err) = run(hc(&server, &certs, "other-ca.crt").args(["add", "tls-wrong", "1"]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
    // Refused at the first attempt, not after the 10 s retry window.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let (code, _, err) =
        run(hc(&server, &certs, "other-ca.crt").args(["wait", "tls-wrong", "--timeout", "30s"]));
    assert_eq!(code, 3, "{err}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The right CA but no client certificate, which the server wants: exit 3 too.
    let t = Instant::now();
    let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_headcount"))
        .args(["--redis", &server.url(), "--tls-ca", &certs.path("ca.crt")])
        .args(["add", "tls-wrong", "1"]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("TLS"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn cli_tls_flags_are_checked_before_any_call() {
    let certs = Certs::make();
    let bin = env!("CARGO_BIN_EXE_headcount");
    // An unreadable file is a usage error naming the flag.
    let (code, _, err) = run(Command::new(bin).args([
        "--redis",
        "rediss://127.0.0.1:1",
        "--tls-ca",
        "/nonexistent/ca.pem",
        "count",
        "g",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-ca"), "{err}");
    // A file that is not PEM at all, and one whose PEM does not parse.
    let dir = std::env::temp_dir().join(format!("headcount-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (not_pem, bad_pem) = (dir.join("not.pem"), dir.join("bad.pem"));
    std::fs::write(&not_pem, "just text").unwrap();
    std::fs::write(
        &bad_pem,
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let with_ca = |ca: &std::path::Path| {
        run(Command::new(bin)
            .args(["--redis", "rediss://127.0.0.1:1", "--tls-ca"])
            .arg(ca)
            .args(["count", "g"]))
    };
    let (code, _, err) = with_ca(&not_pem);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--tls-ca") && err.contains("not a PEM file"),
        "{err}"
    );
    let (code, _, err) = with_ca(&bad_pem);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("TLS"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    // A certificate without its key.
    let (code, _, err) = run(Command::new(bin).args([
        "--redis",
        "rediss://127.0.0.1:1",
        "--tls-cert",
        &certs.path("client.crt"),
        "count",
        "g",
    ]));
    assert_eq!(code, 2, "{err}");
    // Certificates for a plain URL.
    let (code, _, err) = run(Command::new(bin).args([
        "--redis",
        "redis://127.0.0.1:1",
        "--tls-ca",
        &certs.path("ca.crt"),
        "count",
        "g",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rediss://"), "{err}");
    // Several URLs without --cluster or --sentinel.
    let (code, _, err) = run(Command::new(bin).args([
        "--redis",
        "redis://127.0.0.1:1,redis://127.0.0.1:2",
        "count",
        "g",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster"), "{err}");
}
