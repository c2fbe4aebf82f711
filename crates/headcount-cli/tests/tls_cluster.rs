//! `headcount --cluster --redis rediss://...,... --tls-ca ... wait NAME` on a
//! Redis Cluster that speaks only TLS, while the group's slot migrates to another
//! master: a waiter started before the migration and one started mid-migration
//! (its reads follow `ASK`) keep waiting through it, and exit 0 at the true zero
//! on the new owner, never before (the second one configured only through the
//! environment). Without the client certificate the nodes want: exit 3 at once.

#[path = "../../headcount-redis/tests/support/cluster.rs"]
mod cluster;
#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::Cluster;

/// Waits (up to 30 s) until `n` connections (one per waiting process) are
/// subscribed to the wake channel of `group` on node `node` (on any node: `None`).
fn await_watching(cluster: &Cluster, node: Option<usize>, group: &str, n: i64) {
    let t = Instant::now();
    let nodes = match node {
        Some(i) => &cluster.nodes[i..=i],
        None => &cluster.nodes[..],
    };
    while nodes.iter().map(|n| n.subscribers(group)).sum::<i64>() < n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{n} waiters never subscribed on node {node:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn cli_wait_on_a_tls_only_cluster_keeps_waiting_through_a_slot_migration() {
    let certs = tls::Certs::make();
    let cluster = Cluster::start_tls(&certs);
    let hc = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
        c.args(["--cluster", "--redis", &cluster.urls().join(",")])
            .args(["--tls-ca", &certs.path("ca.crt")])
            .args(["--tls-cert", &certs.path("client.crt")])
            .args(["--tls-key", &certs.path("client.key")]);
        c
    };
    let ok = |args: &[&str]| {
        let (code, out, err) = run(hc().args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let name = cluster.name_on(2, "cli-tls-moving");
    let slot = cluster.slot_of(&name);
    ok(&["add", &name, "3"]);
    let spawn_wait = || {
        hc().args(["wait", &name, "--timeout", "60s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut waiter = spawn_wait();
    await_watching(&cluster, Some(2), &name, 1);

    // Mid-migration: node 2 answers ASK for the group's keys, now on node 0.
    let from = cluster.begin_migration(slot, 0);
    ok(&["done", &name]);
    assert_eq!(ok(&["count", &name]).trim(), "2");
    // A waiter started mid-migration reads through ASK and subscribes;
    // its settings all come from the environment.
    let mut joined = Command::new(env!("CARGO_BIN_EXE_headcount"))
        .env("HEADCOUNT_REDIS_URL", cluster.urls().join(","))
        .env("HEADCOUNT_REDIS_CLUSTER", "1")
        .env("HEADCOUNT_TLS_CA", certs.path("ca.crt"))
        .env("HEADCOUNT_TLS_CERT", certs.path("client.crt"))
        .env("HEADCOUNT_TLS_KEY", certs.path("client.key"))
        .args(["wait", &name, "--timeout", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    await_watching(&cluster, None, &name, 2);
    std::thread::sleep(Duration::from_millis(300));
    for w in [&mut waiter, &mut joined] {
        assert!(w.try_wait().unwrap().is_none(), "returned mid-migration");
    }

    cluster.finish_migration(slot, from, 0);
    await_watching(&cluster, Some(0), &name, 2);
    ok(&["done", &name]);
    assert_eq!(ok(&["count", &name]).trim(), "1");
    std::thread::sleep(Duration::from_millis(300));
    for w in [&mut waiter, &mut joined] {
        assert!(w.try_wait().unwrap().is_none(), "returned before the zero");
    }
    ok(&["done", &name]);
    for w in [waiter, joined] {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(ok(&["count", &name]).trim(), "0");
    assert_eq!(cluster.owner(slot), 0);

    // The right CA but no client certificate, which the nodes want: exit 3 at
    // once (not after the 10 s retry window), one line naming TLS.
    for args in [vec!["count", name.as_str()], vec!["wait", name.as_str()]] {
        let t = Instant::now();
        let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_headcount"))
            .args(["--cluster", "--redis", &cluster.urls().join(",")])
            .args(["--tls-ca", &certs.path("ca.crt")])
            .args(&args));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.contains("TLS"), "{err}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
}
