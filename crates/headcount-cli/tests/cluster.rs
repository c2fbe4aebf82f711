//! `headcount --cluster` against a real 3-master Redis Cluster on loopback ports:
//! the whole cycle (add, run with a lease, kill -9 of a worker, done, wait, status,
//! delete) for groups whose slots live on each master; the same on a cluster that
//! speaks only TLS (`rediss://` seeds, `--tls-ca`, `--tls-cert`, `--tls-key`).

#[path = "../../headcount-redis/tests/support/cluster.rs"]
mod cluster;
#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::Cluster;
use headcount_redis::{Options, RedisWaitGroup};

/// `headcount --cluster --redis URL1,URL2,URL3`.
fn hc(cluster: &Cluster) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.args(["--cluster", "--redis", &cluster.urls().join(",")]);
    c
}

#[test]
fn cli_whole_cycle_on_each_master_with_a_worker_killed() {
    let cluster = Cluster::start();
    let seeds = cluster.urls();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    for owner in 0..3 {
        let name = cluster.name_on(owner, "cli");
        let ok = |args: &[&str]| {
            let (code, out, err) = run(hc(&cluster).args(args));
            assert_eq!(code, 0, "{args:?}: {err}");
            out
        };
        // A clean round: add, a worker that succeeds, a done, the waiter released.
        ok(&["add", &name, "2"]);
        let waiter = hc(&cluster)
            .args(["wait", &name, "--timeout", "30s"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ok(&["run", &name, "--ttl", "2s", "--", "true"]);
        assert_eq!(ok(&["count", &name]).trim(), "1");
        assert!(ok(&["status", &name]).contains("count:        1"));
        ok(&["done", &name]);
        let out = waiter.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // A round whose worker is killed (-9): its waiter reports it lost (exit 5).
        ok(&["add", &name, "1"]);
        let mut worker = hc(&cluster)
            .args(["run", &name, "--ttl", "1s", "--", "sleep", "60"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let wg = RedisWaitGroup::open_cluster(&seeds, &name, Options::new()).unwrap();
        let t = Instant::now();
        while wg.status().unwrap().leases.len() != 1 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the worker never joined"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let waiter = hc(&cluster)
            .args(["wait", &name, "--timeout", "30s"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", worker.id())])
            .status();
        let _ = worker.wait();
        let out = waiter.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{err}");
        assert!(err.contains("lost"), "{err}");

        ok(&["delete", &name]);
        let (code, _, err) = run(hc(&cluster).args(["count", &name]));
        assert_eq!(code, 7, "{err}");
    }
}

#[test]
fn cli_cluster_by_environment_variable_and_a_single_seed() {
    let cluster = Cluster::start();
    let name = cluster.name_on(1, "env");
    let hc_env = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
        c.env("HEADCOUNT_REDIS_CLUSTER", "1")
            .env("HEADCOUNT_REDIS_URL", cluster.nodes[0].url());
        c
    };
    let (code, _, err) = run(hc_env().args(["add", &name, "1"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(hc_env().args(["count", &name]));
    assert_eq!((code, out.trim()), (0, "1"), "{err}");
    // Without the cluster flag, the node named answers MOVED: an error, never a count.
    let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_headcount")).args([
        "--redis",
        &cluster.nodes[0].url(),
        "count",
        &name,
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("MOVED") || err.contains("Moved"), "{err}");
}

/// A cluster whose nodes listen only on TLS: the whole cycle through `rediss://`
/// seeds with a private CA and a client certificate (a group on each master); a
/// wrong CA is exit 3 at once, with one line naming TLS, for a call and a `wait`.
#[test]
fn cli_whole_cycle_on_a_tls_only_cluster_and_a_wrong_ca_is_exit_3() {
    let certs = tls::Certs::make();
    let cluster = Cluster::start_tls(&certs);
    let hc_tls = |ca: &str| {
        let mut c = hc(&cluster);
        c.args(["--tls-ca", &certs.path(ca)])
            .args(["--tls-cert", &certs.path("client.crt")])
            .args(["--tls-key", &certs.path("client.key")]);
        c
    };
    assert!(cluster.urls().iter().all(|u| u.starts_with("rediss://")));
    let ok = |args: &[&str]| {
        let (code, out, err) = run(hc_tls("ca.crt").args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    for owner in 0..3 {
        let name = cluster.name_on(owner, "cli-tls");
        ok(&["add", &name, "2"]);
        let waiter = hc_tls("ca.crt")
            .args(["wait", &name, "--timeout", "30s"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A lease held while its command runs, seen by `status`, then paid.
        let mut runner = hc_tls("ca.crt")
            .args(["run", &name, "--ttl", "5s", "--", "sleep", "0.5"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        loop {
            let status = ok(&["status", &name]);
            if status.contains("participants: 1 with live leases") {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{status}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(runner.wait().unwrap().success());
        assert_eq!(ok(&["count", &name]).trim(), "1");
        ok(&["done", &name]);
        let out = waiter.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ok(&["delete", &name]);
        let (code, _, err) = run(hc_tls("ca.crt").args(["count", &name]));
        assert_eq!(code, 7, "{err}");
    }
    let name = cluster.name_on(0, "cli-tls-wrong");
    for args in [
        vec!["add", name.as_str(), "1"],
        vec!["wait", name.as_str(), "--timeout", "30s"],
    ] {
        let t = Instant::now();
        let (code, _, err) = run(hc_tls("other-ca.crt").args(&args));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
        // Refused at the first attempt, not after the 10 s retry window.
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
}
