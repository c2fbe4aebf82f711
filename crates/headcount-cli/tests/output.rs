//! What `headcount` prints for people and for scripts: `status --json`, the
//! progress line of `wait` on a terminal (and nothing extra off one), and the one
//! connection a `wait` holds.

#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::RedisWaitGroup;
use serde_json::Value;
use support::{connected_clients, RedisServer};

fn hc(server: &RedisServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.env("HEADCOUNT_REDIS_URL", server.url());
    c
}

fn open(server: &RedisServer, name: &str) -> RedisWaitGroup {
    RedisWaitGroup::open(server.client(), name).unwrap()
}

fn status_json(server: &RedisServer, name: &str) -> Value {
    let out = hc(server)
        .args(["status", name, "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn status_json_prints_one_object_with_the_documented_fields() {
    let server = RedisServer::start();
    let wg = open(&server, "js");
    wg.add(2).unwrap();
    let lease = wg.join_as("builder-1", Duration::from_secs(10), 1).unwrap();
    let v = status_json(&server, "js");
    assert_eq!(v["group"], "js");
    assert_eq!(v["count"], 2);
    assert_eq!(v["round"].as_u64(), Some(1));
    assert_eq!(v["state"], "running");
    assert!(v["broken"].is_null());
    assert_eq!(v["participants_total"], 1);
    let p = &v["participants"][0];
    assert_eq!(p["name"], "builder-1");
    assert_eq!(p["owed"], 1);
    let left = p["lease_remaining_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 10_000, "{left}");
    assert_eq!(v["failures"], Value::Array(vec![]));
    assert_eq!(v["failures_total"], 0);
    assert!(v["warnings"].is_array());

    lease.fail("exit status: 3").unwrap();
    let v = status_json(&server, "js");
    assert_eq!(v["state"], "broken");
    assert_eq!(v["broken"]["kind"], "failed");
    assert_eq!(v["broken"]["participant"], "builder-1");
    assert_eq!(v["broken"]["detail"], "exit status: 3");
    assert!(v["broken"]["reason"]
        .as_str()
        .unwrap()
        .contains("builder-1"));
    assert_eq!(v["participants"], Value::Array(vec![]));
    assert_eq!(v["failures_total"], 1);
    assert!(v["failures"][0].as_str().unwrap().contains("builder-1"));
}

#[test]
fn status_json_of_a_group_at_zero() {
    let server = RedisServer::start();
    let wg = open(&server, "z");
    wg.add(1).unwrap();
    wg.done().unwrap();
    let v = status_json(&server, "z");
    assert_eq!(v["count"], 0);
    assert_eq!(v["state"], "zero");
    assert!(v["broken"].is_null());
}

#[test]
fn wait_off_a_terminal_holds_one_connection_and_prints_nothing_extra() {
    let server = RedisServer::start();
    let wg = open(&server, "plain");
    wg.add(1).unwrap();
    drop(wg);
    thread::sleep(Duration::from_millis(100));
    let baseline = connected_clients(&server);
    let child = hc(&server)
        .args(["wait", "plain", "--timeout", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.await_blocked_readers(1);
    // A few re-checks later it still holds one.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(connected_clients(&server) - baseline, 1);
    open(&server, "plain").done().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Reads `child`'s stdout into a shared buffer as it comes.
fn collect(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let mut out = child.stdout.take().unwrap();
    let b = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

/// On a terminal (a pty from util-linux `script`), `wait` shows the counter, the
/// live leases and the time waited, and clears the line when released.
#[test]
fn wait_on_a_terminal_shows_a_live_progress_line() {
    let server = RedisServer::start();
    let wg = open(&server, "tty");
    wg.add(2).unwrap();
    let lease = wg.join_as("w1", Duration::from_secs(30), 1).unwrap();
    let cmd = format!(
        "'{}' wait tty --timeout 60s",
        env!("CARGO_BIN_EXE_headcount")
    );
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("HEADCOUNT_REDIS_URL", server.url())
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = collect(&mut child);
    let seen = |needle: &str| String::from_utf8_lossy(&out.lock().unwrap()).contains(needle);
    let t = Instant::now();
    while !seen("tty: count 2, 1 live lease(s)") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no progress line: {:?}",
            String::from_utf8_lossy(&out.lock().unwrap())
        );
        thread::sleep(Duration::from_millis(20));
    }
    wg.done().unwrap();
    while !seen("tty: count 1, 1 live lease(s)") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the count did not go down: {:?}",
            String::from_utf8_lossy(&out.lock().unwrap())
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(seen("waiting"), "no elapsed time shown");
    lease.done().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
