//! The `headcount` binary on real `redis-server` processes: lost, rolled back or
//! partly lost state is exit 7 (never 0), `delete`, `--min-replicas` (exit 10),
//! `--expire-after`, the eviction warning of `status`, and what 1,000 CLI calls
//! leave behind.

#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{signal, Proxy, RedisServer};

/// `headcount` with `HEADCOUNT_REDIS_URL` set to `url`.
fn hc_at(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.env("HEADCOUNT_REDIS_URL", url)
        .env_remove("HEADCOUNT_MIN_REPLICAS")
        .env_remove("HEADCOUNT_EXPIRE_AFTER")
        .stdin(Stdio::null());
    c
}

fn hc(server: &RedisServer) -> Command {
    hc_at(&server.url())
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Asserts exit `code` and one line on stderr containing `needle`.
fn assert_fails((got, _, stderr): (i32, String, String), code: i32, needle: &str) {
    assert_eq!(got, code, "exit code; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

fn spawn_wait(cmd: &mut Command, name: &str) -> Child {
    cmd.args(["wait", name, "--timeout", "30s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::new(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn delete_removes_the_group_and_its_waiters_exit_7() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "gone", "2"])).0, 0);
    let waiter = spawn_wait(&mut hc(&server), "gone");
    server.await_blocked_readers(1);
    let (code, _, stderr) = run(hc(&server).args(["delete", "gone"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server.dbsize(), 0);
    assert_fails(finish(waiter), 7, "lost");
    assert_fails(run(hc(&server).args(["wait", "gone"])), 7, "does not exist");
    assert_fails(
        run(hc(&server).args(["delete", "gone"])),
        7,
        "does not exist",
    );
    assert_fails(
        run(hc(&server).args(["count", "gone"])),
        7,
        "does not exist",
    );
}

#[test]
fn a_wait_across_a_failover_to_a_replica_that_missed_the_add_exits_7() {
    let mut primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let proxy = Proxy::start(primary.port);
    let url = proxy.url();
    assert_eq!(run(hc_at(&url).args(["add", "fo", "1"])).0, 0);
    assert_eq!(run(hc_at(&url).args(["done", "fo"])).0, 0);
    let t = Instant::now();
    while replica.raw_count("fo") != Some(0) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "replica never synced"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut replica.conn())
        .unwrap();
    assert_eq!(run(hc_at(&url).args(["add", "fo", "2"])).0, 0);
    let waiter = spawn_wait(&mut hc_at(&url), "fo");
    primary.await_blocked_readers(1);
    proxy.retarget(replica.port);
    primary.shutdown_nosave();
    assert_fails(finish(waiter), 7, "lost");
}

#[test]
fn min_replicas_is_exit_10_when_no_replica_confirms_and_0_when_one_does() {
    let primary = RedisServer::start();
    let r = run(hc(&primary)
        .args(["--min-replicas", "1", "--replica-timeout", "200ms"])
        .args(["add", "dur", "2"]));
    assert_fails(r, 10, "may or may not survive");
    assert_eq!(primary.raw_count("dur"), Some(2));
    // The environment variable does the same.
    let r = run(hc(&primary)
        .env("HEADCOUNT_MIN_REPLICAS", "1")
        .env("HEADCOUNT_REPLICA_TIMEOUT", "200ms")
        .args(["done", "dur"]));
    assert_fails(r, 10, "0 of 1");

    let replica = RedisServer::replica_of(&primary);
    let r = run(hc(&primary)
        .args(["--min-replicas", "1", "--replica-timeout", "30s"])
        .args(["run", "dur", "--", "true"]));
    assert_eq!(r.0, 0, "{}", r.2);
    assert_eq!(replica.raw_count("dur"), Some(0));

    // A frozen replica confirms nothing.
    signal(replica.pid(), "STOP");
    let r = run(hc(&primary)
        .args(["--min-replicas", "1", "--replica-timeout", "300ms"])
        .args(["add", "dur", "1"]));
    signal(replica.pid(), "CONT");
    assert_fails(r, 10, "may or may not survive");
    assert_fails(
        run(hc(&primary).args(["--min-replicas", "x", "add", "dur", "1"])),
        2,
        "min-replicas",
    );
}

/// With the leases key gone a killed worker must not hang the waiter; with the
/// members key gone a healthy worker must not be reported lost. Both are exit 7.
#[test]
fn a_lost_leases_or_members_key_is_exit_7_not_a_hang_or_a_false_loss() {
    let server = RedisServer::start();
    for key in ["leases", "members"] {
        let name = format!("lost-{key}");
        assert_eq!(run(hc(&server).args(["add", &name, "1"])).0, 0);
        let mut worker = hc(&server)
            .args(["run", &name, "--ttl", "1s", "--", "sleep", "30"])
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let t = Instant::now();
        let joined = || {
            redis::cmd("HKEYS")
                .arg(format!("headcount:{{{name}}}:members"))
                .query::<Vec<String>>(&mut server.conn())
                .unwrap()
                .iter()
                .any(|m| !m.is_empty())
        };
        while !joined() {
            assert!(t.elapsed() < Duration::from_secs(20), "worker never joined");
            std::thread::sleep(Duration::from_millis(10));
        }
        let waiter = spawn_wait(&mut hc(&server), &name);
        server.await_blocked_readers(1);
        let _: () = redis::cmd("DEL")
            .arg(format!("headcount:{{{name}}}:{key}"))
            .query(&mut server.conn())
            .unwrap();
        if key == "leases" {
            signal(worker.id(), "KILL");
        }
        let started = Instant::now();
        assert_fails(finish(waiter), 7, "lost");
        assert!(started.elapsed() < Duration::from_secs(10), "{key}: slow");
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", worker.id())])
            .stderr(Stdio::null())
            .status();
        let _ = worker.wait();
    }
}

#[test]
fn status_warns_when_the_eviction_policy_can_evict_the_group() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "ev", "1"])).0, 0);
    let (code, out, _) = run(hc(&server).args(["status", "ev"]));
    assert_eq!(code, 0);
    assert!(!out.contains("warning"), "{out}");
    for policy in [
        "allkeys-lru",
        "volatile-lru",
        "volatile-ttl",
        "allkeys-random",
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query(&mut server.conn())
            .unwrap();
        let (code, out, _) = run(hc(&server).args(["status", "ev"]));
        assert_eq!(code, 0);
        assert!(
            out.contains("warning") && out.contains(policy),
            "{policy}: {out}"
        );
    }
}

#[test]
fn expire_after_sets_the_idle_expiry_of_every_key() {
    let server = RedisServer::start();
    let r = run(hc(&server).args(["--expire-after", "1h", "add", "exp", "1"]));
    assert_eq!(r.0, 0, "{}", r.2);
    for key in server.keys("headcount:{exp}:*") {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query(&mut server.conn())
            .unwrap();
        assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{key}: {ttl}");
    }
    assert_eq!(server.keys("headcount:{exp}:*").len(), 7);
    assert_fails(
        run(hc(&server).args(["--expire-after", "500ms", "add", "exp", "1"])),
        2,
        "at least 1s",
    );
}

/// 1,000 CLI calls leave no session record behind: each `headcount` process ends
/// its session on exit.
#[test]
fn a_thousand_cli_calls_leave_nothing_behind() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "many", "1"])).0, 0);
    for i in 0..1_000 {
        let op: &[&str] = if i % 2 == 0 {
            &["add", "many", "1"]
        } else {
            &["done", "many"]
        };
        let r = run(hc(&server).args(op));
        assert_eq!(r.0, 0, "{}", r.2);
    }
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg("headcount:{many}:state")
        .query(&mut server.conn())
        .unwrap();
    let sessions = fields.iter().filter(|f| f.starts_with("s:")).count();
    assert_eq!(sessions, 0, "session records left behind");
    assert_eq!(server.dbsize(), 7);
}
