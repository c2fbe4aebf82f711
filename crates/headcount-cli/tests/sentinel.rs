//! `headcount --sentinel MASTER` with `--redis` listing three sentinels: a primary
//! killed (-9) mid-round with `--min-replicas 1`; the waiter started before the
//! failover exits 0 at the true zero and no acknowledged done is lost. With
//! passwords (the primary's in the URLs, the sentinels' own from
//! `--sentinel-password` or `HEADCOUNT_SENTINEL_PASSWORD`) and over TLS, the whole
//! cycle runs, refusals are exit 2 or 3, and no output shows a password.

#[path = "../../headcount-redis/tests/support/sentinel.rs"]
mod sentinel;
#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;
#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use headcount_redis::ACL_RULE;
use sentinel::{Sentinels, Setup, MASTER};
use support::{signal, RedisServer};
use tls::{Certs, TlsServer};

/// The primary's default password: distinctive, so any output holding it is found.
const PASSWORD: &str = "pw-Xe3vN8kQ5tLb";
/// The ACL user's password.
const USER_SECRET: &str = "usr-Mh6qB2wJ9sDf";
/// The sentinels' own password.
const SENTINEL_SECRET: &str = "sen-Gk4zR7nP1yVc";

/// `headcount --sentinel mymaster --redis S1,S2,S3 --min-replicas 1`.
fn hc(sentinels: &Sentinels) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.args(["--sentinel", MASTER, "--redis", &sentinels.urls().join(",")])
        .args(["--min-replicas", "1", "--replica-timeout", "2s"]);
    c
}

#[test]
fn cli_follows_a_sentinel_failover_mid_round() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let sentinels = Sentinels::start(primary.port, 1);
    let (code, _, err) = run(hc(&sentinels).args(["add", "cli-failover", "2"]));
    assert_eq!(code, 0, "{err}");
    let waiter = hc(&sentinels)
        .args(["wait", "cli-failover", "--timeout", "60s"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    primary.await_blocked_readers(1);
    let (code, _, err) = run(hc(&sentinels).args(["done", "cli-failover"]));
    assert_eq!(code, 0, "{err}");
    signal(primary.pid(), "KILL");
    // The first call after the kill may come before the promotion: it fails over
    // to the replica within the 10 s retry window or says Redis is unreachable
    // (exit 3); it is applied at most once either way.
    let mut last = (3, String::new(), String::new());
    for _ in 0..6 {
        last = run(hc(&sentinels).args(["count", "cli-failover"]));
        if last.0 == 0 {
            break;
        }
        assert_eq!(last.0, 3, "{}", last.2);
    }
    assert_eq!((last.0, last.1.trim()), (0, "1"), "{}", last.2);
    assert_eq!(sentinels.primary_port(), Some(replica.port));
    // The promoted replica has no replica of its own: applied, not confirmed (10).
    let (code, _, err) = run(hc(&sentinels).args(["done", "cli-failover"]));
    assert!(code == 0 || code == 10, "{code}: {err}");
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, err) = run(hc(&sentinels).args(["count", "cli-failover"]));
    assert_eq!((code, out.trim()), (0, "0"), "{err}");
}

/// `headcount --sentinel mymaster --redis S1,S2,S3` (the URLs with `auth`).
fn hc_as(sentinels: &Sentinels, auth: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.args(["--sentinel", MASTER])
        .args(["--redis", &sentinels.urls_as(auth).join(",")]);
    c
}

/// The whole cycle through `hc()`: add, a waiter, `run` with a lease (seen by
/// `status`), done, the waiter exits 0, delete (then exit 7).
fn cli_cycle(hc: &dyn Fn() -> Command, name: &str) {
    let ok = |args: &[&str]| {
        let (code, out, err) = run(hc().args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    ok(&["add", name, "2"]);
    let waiter = hc()
        .args(["wait", name, "--timeout", "30s"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut runner = hc()
        .args(["run", name, "--ttl", "5s", "--", "sleep", "0.5"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let status = ok(&["status", name]);
        if status.contains("participants: 1 with live leases") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(runner.wait().unwrap().success());
    ok(&["done", name]);
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok(&["count", name]).trim(), "0");
    ok(&["delete", name]);
    let (code, _, err) = run(hc().args(["count", name]));
    assert_eq!(code, 7, "{err}");
}

/// A primary and replica needing `PASSWORD` (with the ACL user `hc`), sentinels
/// needing `SENTINEL_SECRET`: the whole cycle as `hc` with the sentinels' password
/// from the environment, and from the flag as the default user; every missing or
/// wrong secret is exit 2 naming whose; no output (help included) shows a secret.
#[test]
fn cli_sentinel_with_passwords_runs_the_whole_cycle_and_names_each_refusal() {
    let mut primary = RedisServer::start();
    let mut replica = RedisServer::replica_of(&primary);
    for server in [&mut primary, &mut replica] {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg("hc")
            .arg("reset")
            .arg("on")
            .arg(format!(">{USER_SECRET}"));
        for part in ACL_RULE.split_whitespace() {
            cmd.arg(part);
        }
        cmd.exec(&mut server.conn()).unwrap();
        server.require_password(PASSWORD);
    }
    let sentinels = Sentinels::start_with(
        primary.port,
        1,
        Setup {
            auth_pass: Some(PASSWORD),
            requirepass: Some(SENTINEL_SECRET),
            ..Setup::default()
        },
    );
    let least = format!("hc:{USER_SECRET}@");
    let by_env = || {
        let mut c = hc_as(&sentinels, &least);
        c.env("HEADCOUNT_SENTINEL_PASSWORD", SENTINEL_SECRET);
        c
    };
    cli_cycle(&by_env, "cli-sentinel-acl");
    let by_flag = || {
        let mut c = hc_as(&sentinels, &format!(":{PASSWORD}@"));
        c.args(["--sentinel-password", SENTINEL_SECRET]);
        c
    };
    cli_cycle(&by_flag, "cli-sentinel-default");
    let mut outputs = Vec::new();
    let mut check = |what: &str, cmd: &mut Command, code: i32, needle: &str| {
        let (got, out, err) = run(cmd);
        assert_eq!(got, code, "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        if code != 0 {
            assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
        }
        outputs.push((what.to_owned(), format!("{out}{err}")));
    };
    let count = ["count", "g"];
    check(
        "no sentinel password",
        hc_as(&sentinels, &least).args(count),
        2,
        "sentinels",
    );
    check(
        "wrong sentinel password",
        hc_as(&sentinels, &least)
            .env("HEADCOUNT_SENTINEL_PASSWORD", USER_SECRET)
            .args(count),
        2,
        "--sentinel-password",
    );
    check(
        "wrong sentinel user",
        by_env().args(["--sentinel-user", "nobody"]).args(count),
        2,
        "`nobody`",
    );
    check(
        "no primary password",
        hc_as(&sentinels, "")
            .env("HEADCOUNT_SENTINEL_PASSWORD", SENTINEL_SECRET)
            .args(count),
        2,
        "authentication required",
    );
    check(
        "wrong primary password",
        hc_as(&sentinels, &format!("hc:{SENTINEL_SECRET}@"))
            .env("HEADCOUNT_SENTINEL_PASSWORD", SENTINEL_SECRET)
            .args(count),
        2,
        "`hc`",
    );
    check(
        "sentinel password without --sentinel",
        Command::new(env!("CARGO_BIN_EXE_headcount"))
            .args(["--redis", &primary.url_as("", PASSWORD)])
            .args(["--sentinel-password", SENTINEL_SECRET])
            .args(count),
        2,
        "--sentinel",
    );
    for help in [vec!["--help"], vec!["wait", "--help"], vec!["help", "run"]] {
        check(&format!("{help:?}"), by_env().args(&help), 0, "");
    }
    for (what, text) in &outputs {
        for secret in [PASSWORD, USER_SECRET, SENTINEL_SECRET] {
            assert!(!text.contains(secret), "`{what}` showed a secret: {text}");
        }
    }
    // The help was real: it names the variable whose value it hides.
    assert!(outputs
        .iter()
        .any(|(w, t)| w.contains("--help") && t.contains("HEADCOUNT_SENTINEL_PASSWORD")));
}

/// Sentinels, primary and replica speaking only TLS: `rediss://` sentinel URLs and
/// the `--tls-*` flags run the whole cycle; a wrong CA is exit 3 at once.
#[test]
fn cli_sentinel_over_tls_runs_the_whole_cycle_and_a_wrong_ca_is_exit_3() {
    let certs = Certs::make();
    let primary = TlsServer::start(&certs);
    let _replica = TlsServer::replica_of(&primary, &certs);
    let sentinels = Sentinels::start_with(
        primary.port,
        1,
        Setup {
            tls: Some(&certs),
            ..Setup::default()
        },
    );
    let hc_tls = |ca: &str| {
        let mut c = hc_as(&sentinels, "");
        c.args(["--tls-ca", &certs.path(ca)])
            .args(["--tls-cert", &certs.path("client.crt")])
            .args(["--tls-key", &certs.path("client.key")]);
        c
    };
    assert!(sentinels.urls().iter().all(|u| u.starts_with("rediss://")));
    cli_cycle(&|| hc_tls("ca.crt"), "cli-sentinel-tls");
    let t = Instant::now();
    let (code, _, err) = run(hc_tls("other-ca.crt").args(["add", "g", "1"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
