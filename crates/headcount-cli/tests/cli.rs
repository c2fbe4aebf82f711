//! The `headcount` binary against a real `redis-server` started by each test:
//! process faults (kill -9, SIGSTOP/SIGCONT, Redis restart), the 50 x 200 load
//! test, and bad input.

#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;

mod common;
use common::run;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, RedisWaitGroup};
use support::{signal, RedisServer};

const LONG: Duration = Duration::from_secs(30);

/// `headcount` with `HEADCOUNT_REDIS_URL` pointing at `server`.
fn hc(server: &RedisServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.env("HEADCOUNT_REDIS_URL", server.url());
    c
}

/// Asserts a failure: exit `code` and exactly one plain line on stderr containing `needle`.
fn assert_fails(result: (i32, String, String), code: i32, needle: &str) {
    let (got, _, stderr) = &result;
    assert_eq!(*got, code, "exit code; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("headcount: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

fn open(server: &RedisServer, name: &str) -> RedisWaitGroup {
    RedisWaitGroup::open(server.client(), name).unwrap()
}

/// Waits until the group shows `n` live leases.
fn await_leases(wg: &RedisWaitGroup, n: usize) {
    let t = Instant::now();
    while wg.status().unwrap().leases.len() != n {
        assert!(t.elapsed() < LONG, "lease never appeared");
        thread::sleep(Duration::from_millis(10));
    }
}

/// `headcount run NAME --ttl TTL -- CMD...` in its own process group.
fn spawn_run(server: &RedisServer, name: &str, ttl: &str, cmd: &[&str]) -> Child {
    hc(server)
        .args(["run", name, "--ttl", ttl, "--"])
        .args(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn kill_9_of_a_participant_is_reported_lost_naming_it() {
    let server = RedisServer::start();
    let wg = Arc::new(open(&server, "k9"));
    wg.add(1).unwrap();
    let ttl = Duration::from_secs(2);
    let mut participant = spawn_run(&server, "k9", "2s", &["sleep", "60"]);
    let pid = participant.id();
    await_leases(&wg, 1);
    let lib_waiter = {
        let wg = wg.clone();
        thread::spawn(move || {
            let r = wg.wait_timeout(LONG);
            (r, Instant::now())
        })
    };
    let cli_waiter = hc(&server)
        .args(["wait", "k9", "--timeout", "30s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.await_blocked_readers(2);
    let killed_at = Instant::now();
    signal(pid, "KILL");
    let _ = participant.wait();
    kill_group(pid); // the orphaned `sleep`
    let (r, returned_at) = lib_waiter.join().unwrap();
    match r {
        Err(Error::ParticipantLost {
            participant, owed, ..
        }) => {
            assert!(participant.contains(&format!(":{pid}:")), "{participant}");
            assert_eq!(owed, 1);
        }
        other => panic!("expected ParticipantLost, got {other:?}"),
    }
    let within = ttl + Duration::from_secs(1);
    let took = returned_at - killed_at;
    assert!(
        took <= within,
        "reported after {took:?}, more than ttl + 1s"
    );
    let out = cli_waiter.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_fails(
        (out.status.code().unwrap(), String::new(), stderr),
        5,
        &format!(":{pid}:"),
    );
}

#[test]
fn sigstop_past_ttl_then_sigcont_late_done_is_fenced_not_counted() {
    let server = RedisServer::start();
    let wg = Arc::new(open(&server, "stop"));
    // One done for the participant, one held back, so a wrongly counted late done
    // would show as 0 instead of 1.
    wg.add(2).unwrap();
    let participant = spawn_run(&server, "stop", "1s", &["sleep", "3"]);
    let pid = participant.id();
    await_leases(&wg, 1);
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    server.await_blocked_readers(1);
    signal(pid, "STOP");
    let r = waiter.join().unwrap();
    assert!(
        matches!(&r, Err(Error::ParticipantLost { participant, owed: 1, .. }) if participant.contains(&format!(":{pid}:"))),
        "{r:?}"
    );
    assert_eq!(server.raw_count("stop"), Some(1));
    signal(pid, "CONT");
    let out = participant.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_fails(
        (out.status.code().unwrap(), String::new(), stderr),
        9,
        "fenced",
    );
    assert_eq!(
        server.raw_count("stop"),
        Some(1),
        "the late done was counted"
    );
    assert_eq!(wg.count().unwrap(), 1);
}

#[test]
fn a_failed_command_marks_the_group_failed() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "fail", "2"])).0, 0);
    let ok = run(hc(&server).args(["run", "fail", "--", "true"]));
    assert_eq!(ok.0, 0, "{ok:?}");
    assert_fails(
        run(hc(&server).args(["run", "fail", "--", "sh", "-c", "exit 3"])),
        6,
        "exit status: 3",
    );
    assert_fails(run(hc(&server).args(["wait", "fail"])), 6, "exit status: 3");
    let (code, status, _) = run(hc(&server).args(["status", "fail"]));
    assert_eq!(code, 0);
    assert!(status.contains("broken"), "{status}");
    assert!(status.contains("failed"), "{status}");
}

#[test]
fn count_prints_the_number_alone_and_refusals_leave_it_unchanged() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "cnt", "5"])).0, 0);
    assert_eq!(run(hc(&server).args(["done", "cnt"])).0, 0);
    assert_eq!(run(hc(&server).args(["count", "cnt"])).1, "4\n");
    assert_fails(
        run(hc(&server).args(["add", "cnt", "-10"])),
        8,
        "negative counter refused",
    );
    assert_eq!(run(hc(&server).args(["count", "cnt"])).1, "4\n");
    // --redis overrides the environment.
    let (code, out, _) = run(Command::new(env!("CARGO_BIN_EXE_headcount")).args([
        "--redis",
        &server.url(),
        "status",
        "cnt",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("count:        4"), "{out}");
    assert_fails(
        run(hc(&server).args(["wait", "cnt", "--timeout", "300ms"])),
        4,
        "timed out",
    );
}

#[test]
fn bad_input_gives_clear_errors_and_writes_nothing() {
    let server = RedisServer::start();
    assert_fails(
        run(hc(&server).args(["add", "bad name", "3"])),
        2,
        "invalid group name",
    );
    assert_fails(
        run(hc(&server).args(["done", "x{y}"])),
        2,
        "invalid group name",
    );
    assert_fails(
        run(hc(&server).args(["add", "job", "abc"])),
        2,
        "invalid value 'abc'",
    );
    assert_fails(
        run(hc(&server).args(["add", "job", "1.5"])),
        2,
        "invalid value",
    );
    assert_fails(run(hc(&server).args(["add", "job"])), 2, "required");
    assert_fails(
        run(hc(&server).args(["wait", "job", "--timeout", "soon"])),
        2,
        "invalid value",
    );
    assert_fails(run(hc(&server).args(["run", "job"])), 2, "required");
    assert_fails(
        run(hc(&server).args(["--redis", "nonsense://", "add", "job", "3"])),
        2,
        "invalid Redis URL",
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    assert_fails(
        run(hc(&server).args([
            "--redis",
            &format!("redis://127.0.0.1:{port}"),
            "add",
            "job",
            "3",
        ])),
        3,
        "unreachable",
    );
    // A group nobody created: never reported as zero.
    assert_fails(run(hc(&server).args(["wait", "job"])), 7, "does not exist");
    assert_fails(run(hc(&server).args(["count", "job"])), 7, "does not exist");
    assert_fails(run(hc(&server).args(["done", "job"])), 7, "does not exist");
    assert_eq!(
        server.dbsize(),
        0,
        "something was written: {:?}",
        server.keys("*")
    );
}

#[test]
fn cli_waiter_does_not_miss_zero_across_a_reconnect_and_immediate_reuse() {
    let server = RedisServer::start();
    let wg = open(&server, "reuse");
    wg.add(1).unwrap();
    let waiter = hc(&server)
        .args(["wait", "reuse", "--timeout", "20s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.await_blocked_readers(1);
    signal(waiter.id(), "STOP");
    // Cut the waiter's connection, end the round, and start the next one at once:
    // when the waiter resumes the counter is 1 again. Only the saved stream id or
    // the generation tells it that its round reached zero.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut server.conn())
        .unwrap();
    assert!(killed >= 1, "the waiter's connection was not cut");
    wg.done().unwrap();
    wg.add(1).unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    signal(waiter.id(), "CONT");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_wait_reports_state_lost_when_redis_restarts() {
    let mut server = RedisServer::start();
    assert_eq!(run(hc(&server).args(["add", "gone", "1"])).0, 0);
    let waiter = hc(&server)
        .args(["wait", "gone", "--timeout", "20s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.await_blocked_readers(1);
    server.shutdown_nosave();
    server.restart();
    let out = waiter.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_fails(
        (out.status.code().unwrap(), String::new(), stderr),
        7,
        "lost",
    );
}

/// Participant processes for the load test re-run this test binary with
/// `HEADCOUNT_TEST_CHILD=URL,NAME,N`: each does N `done`s and exits.
#[test]
fn child_participant_entry_point() {
    let Ok(spec) = std::env::var("HEADCOUNT_TEST_CHILD") else {
        return; // not a child: nothing to do
    };
    let mut parts = spec.split(',');
    let (url, name, n) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u32>().unwrap(),
    );
    let wg = RedisWaitGroup::open_url(url, name).unwrap();
    for _ in 0..n {
        wg.done().unwrap();
    }
}

/// 50 processes x 200 `done`s against `add(10_000)`; sync, async and CLI waiters.
/// `HEADCOUNT_LOAD_PROCS` may lower the process count (dones per process stay 200).
#[test]
fn load_50_processes_x_200_dones_release_every_waiter() {
    let procs: u32 = std::env::var("HEADCOUNT_LOAD_PROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let per = 200u32;
    let server = RedisServer::start();
    let wg = Arc::new(open(&server, "load"));
    assert_eq!(
        run(hc(&server).args(["add", "load", &(procs * per).to_string()])).0,
        0
    );
    let sync_waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(Duration::from_secs(120)))
    };
    let async_waiter = {
        let wg = wg.clone();
        thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(wg.wait_timeout_async(Duration::from_secs(120)))
        })
    };
    let cli_waiter = hc(&server)
        .args(["wait", "load", "--timeout", "120s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // This process's two waiters share its watcher's read; the CLI has its own.
    support::await_local_waiters(&wg, 2);
    server.await_blocked_readers(2);
    let me = std::env::current_exe().unwrap();
    let children: Vec<Child> = (0..procs)
        .map(|_| {
            Command::new(&me)
                .args([
                    "--exact",
                    "child_participant_entry_point",
                    "--test-threads",
                    "1",
                    "-q",
                ])
                .env(
                    "HEADCOUNT_TEST_CHILD",
                    format!("{},load,{per}", server.url()),
                )
                .stdout(Stdio::piped())
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a participant process failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(server.raw_count("load"), Some(0));
    sync_waiter.join().unwrap().unwrap();
    async_waiter.join().unwrap().unwrap();
    let out = cli_waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run(hc(&server).args(["count", "load"])).1, "0\n");
}
