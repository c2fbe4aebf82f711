//! `headcount --sentinel MASTER` with `--redis` listing three sentinels: a primary
//! killed (-9) mid-round with `--min-replicas 1`; the waiter started before the
//! failover exits 0 at the true zero and no acknowledged done is lost.

#[path = "../../headcount-redis/tests/support/sentinel.rs"]
mod sentinel;
#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;

mod common;
use common::run;

use std::process::{Command, Stdio};

use sentinel::{Sentinels, MASTER};
use support::{signal, RedisServer};

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
