//! `headcount --sentinel MASTER` through a failover with passwords everywhere: a
//! primary and a replica that need a password (given in the `--redis` URLs),
//! three sentinels that need their own (`--sentinel-password` or
//! `HEADCOUNT_SENTINEL_PASSWORD`). The primary is killed (-9) mid-round with
//! `--min-replicas 1`: no acknowledged `add`/`done` is lost, a `headcount wait`
//! started before the kill exits 0 at the true zero (or 7), never before it, one
//! with `--timeout 4s` and one with `--timeout 500ms` started while the primary
//! is gone give up by then (+1 s), and no output shows a password.
//! The writes after the failover are exit 10 (applied on the promoted replica,
//! which has no replica to confirm them), one with every setting from the
//! environment. A wrong sentinel password is exit 2 at once, before and after
//! the failover.

#[path = "../../headcount-redis/tests/support/sentinel.rs"]
mod sentinel;
#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;
#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sentinel::{Sentinels, MASTER};
use support::signal;

/// The primary's (and replica's) password: distinctive, so any output holding it
/// is found.
const PASSWORD: &str = "pw-Qd5sT9wBn3Ke";
/// The sentinels' own password.
const SENTINEL_SECRET: &str = "sen-Lv2gY6xRc8Hm";

/// Asserts that no secret appears in `text` (the output of `what`).
#[track_caller]
fn assert_secret_free(what: &str, text: &str) {
    for secret in [PASSWORD, SENTINEL_SECRET] {
        assert!(!text.contains(secret), "`{what}` showed a secret: {text}");
    }
}

/// `headcount --sentinel mymaster --redis S1,S2,S3 --min-replicas 1`, the URLs
/// with the primary's password; the sentinels' password is the caller's to give.
fn hc_bare(sentinels: &Sentinels) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.args(["--sentinel", MASTER])
        .args([
            "--redis",
            &sentinels.urls_as(&format!(":{PASSWORD}@")).join(","),
        ])
        .args(["--min-replicas", "1", "--replica-timeout", "2s"]);
    c
}

/// [`hc_bare`] with the sentinels' password from `--sentinel-password`.
fn hc_flag(sentinels: &Sentinels) -> Command {
    let mut c = hc_bare(sentinels);
    c.args(["--sentinel-password", SENTINEL_SECRET]);
    c
}

/// [`hc_bare`] with the sentinels' password from `HEADCOUNT_SENTINEL_PASSWORD`.
fn hc_env(sentinels: &Sentinels) -> Command {
    let mut c = hc_bare(sentinels);
    c.env("HEADCOUNT_SENTINEL_PASSWORD", SENTINEL_SECRET);
    c
}

/// `headcount` with every setting from the environment: the URLs, the master
/// name, the sentinels' user and password, the durable acknowledgements.
fn everything_from_the_environment(sentinels: &Sentinels) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.env(
        "HEADCOUNT_REDIS_URL",
        sentinels.urls_as(&format!(":{PASSWORD}@")).join(","),
    )
    .env("HEADCOUNT_SENTINEL", MASTER)
    .env("HEADCOUNT_SENTINEL_USER", "default")
    .env("HEADCOUNT_SENTINEL_PASSWORD", SENTINEL_SECRET)
    .env("HEADCOUNT_MIN_REPLICAS", "1")
    .env("HEADCOUNT_REPLICA_TIMEOUT", "2s");
    c
}

/// Runs `cmd`: its exit code and its output (stdout and stderr), checked to
/// show no secret.
fn checked(what: &str, cmd: &mut Command) -> (i32, String) {
    let (code, out, err) = run(cmd);
    let text = format!("{out}{err}");
    assert_secret_free(what, &text);
    (code, text)
}

/// A `headcount wait` in the background (stdout and stderr captured).
fn spawn_wait(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A background waiter's exit code, once it exits, and its output, checked to
/// show no secret.
fn finish(what: &str, waiter: Child) -> (i32, String) {
    let out = waiter.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_secret_free(what, &text);
    (out.status.code().unwrap_or(-1), text)
}

/// [`finish`] for a waiter that must have exited by `by`.
fn finish_by(what: &str, mut waiter: Child, by: Instant) -> (i32, String) {
    while waiter.try_wait().unwrap().is_none() {
        if Instant::now() > by {
            let _ = waiter.kill();
            panic!("`{what}` still waiting past its deadline + 1 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    finish(what, waiter)
}

/// A wrong sentinel password (here the primary's) is exit 2 at once, one line
/// naming `--sentinel-password`, without the password.
fn assert_wrong_sentinel_password_refused(sentinels: &Sentinels) {
    let t = Instant::now();
    let (code, text) = checked(
        "wrong sentinel password",
        hc_bare(sentinels)
            .env("HEADCOUNT_SENTINEL_PASSWORD", PASSWORD)
            .args(["add", "refused", "1"]),
    );
    assert_eq!(code, 2, "{text}");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.contains("--sentinel-password"), "{text}");
    // Not retried for the 10 s retry window.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn cli_follows_a_failover_with_passwords_everywhere_and_shows_no_secret() {
    let (primary, replica, sentinels) = sentinel::with_passwords(PASSWORD, SENTINEL_SECRET);
    assert_wrong_sentinel_password_refused(&sentinels);
    let name = "cli-pw-failover";
    let (code, text) = checked("add", hc_flag(&sentinels).args(["add", name, "3"]));
    assert_eq!(code, 0, "{text}");
    let mut long = hc_env(&sentinels);
    long.args(["wait", name, "--timeout", "60s"]);
    let waiter = spawn_wait(long);
    primary.await_blocked_readers(1);
    let mut short = hc_flag(&sentinels);
    short.args(["wait", name, "--timeout", "4s"]);
    let started = Instant::now();
    let with_deadline = spawn_wait(short);
    primary.await_blocked_readers(2);
    let (code, text) = checked("done", hc_env(&sentinels).args(["done", name]));
    assert_eq!(code, 0, "{text}"); // confirmed by the replica
    signal(primary.pid(), "KILL");
    support::await_refused(primary.port);
    // A wait started while the primary is gone, with a deadline well before the
    // sentinels can promote the replica.
    let mut outage = hc_flag(&sentinels);
    outage.args(["wait", name, "--timeout", "500ms"]);
    let outage_started = Instant::now();
    let in_outage = spawn_wait(outage);

    // A call right after the kill may come before the promotion: it follows the
    // failover within the 10 s retry window, or is exit 3 (a read: retried).
    let mut last = (3, String::new());
    for _ in 0..6 {
        last = checked("count", hc_flag(&sentinels).args(["count", name]));
        if last.0 == 0 {
            break;
        }
        assert_eq!(last.0, 3, "{}", last.1);
    }
    assert_eq!(
        (last.0, last.1.trim()),
        (0, "2"),
        "an acknowledged done was lost"
    );
    assert_eq!(sentinels.primary_port(), Some(replica.port));

    // The waiters with a deadline gave up by it (+1 s): exit 4 (or 3 for a
    // connection refused past the deadline, or 7), never 0.
    for (what, waiter, started, deadline) in [
        (
            "wait --timeout 500ms",
            in_outage,
            outage_started,
            Duration::from_millis(500),
        ),
        (
            "wait --timeout 4s",
            with_deadline,
            started,
            Duration::from_secs(4),
        ),
    ] {
        let (code, text) = finish_by(what, waiter, started + deadline + Duration::from_secs(1));
        assert!([3, 4, 7].contains(&code), "{what}: {code}: {text}");
    }

    // The promoted replica has no replica of its own: applied, not confirmed (10).
    let (code, text) = checked("done", hc_flag(&sentinels).args(["done", name]));
    assert_eq!(code, 10, "{text}");
    std::thread::sleep(Duration::from_millis(300));
    let mut waiter = waiter;
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter returned before the zero"
    );
    let (code, text) = checked(
        "done",
        everything_from_the_environment(&sentinels).args(["done", name]),
    );
    assert_eq!(code, 10, "{text}");
    let (code, text) = finish("wait", waiter);
    assert!(code == 0 || code == 7, "{code}: {text}");
    let (code, text) = checked("count", hc_flag(&sentinels).args(["count", name]));
    assert_eq!((code, text.trim()), (0, "0"));
    let (code, text) = checked("status", hc_flag(&sentinels).args(["status", name]));
    assert_eq!(code, 0, "{text}");
    assert_eq!(replica.raw_count(name), Some(0));
    assert_wrong_sentinel_password_refused(&sentinels);
}
