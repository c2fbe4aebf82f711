//! The `headcount` binary at the edges, against a real `redis-server` started by each
//! test: a server killed or frozen under a command (every deadline holds), extreme
//! durations and counts, passwords, databases, ACL users, and secrets in outputs.

#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use headcount_redis::ACL_RULE;
use support::{signal, Frozen, RedisServer};

/// What the contract allows past a deadline or the retry window.
const SLACK: Duration = Duration::from_secs(1);
/// The CLI's retry window: a call without a deadline gives up after it (exit 3).
const WINDOW: Duration = Duration::from_secs(10);
/// The default user's password: distinctive, so any output holding it is found.
const PASSWORD: &str = "pw-Lk9dF3vB7nQw";
/// The ACL users' password.
const USER_SECRET: &str = "usr-Tg6mR2xC8pZa";

fn hc(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headcount"));
    c.env("HEADCOUNT_REDIS_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Exit code, stdout, stderr.
fn finish(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    finish(cmd.output().unwrap())
}

/// Asserts a failure: exit `code` and one line on stderr containing `needle`.
#[track_caller]
fn assert_fails(result: &(i32, String, String), code: i32, needle: &str) {
    let (got, _, stderr) = result;
    assert_eq!(*got, code, "exit code; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("headcount: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

/// A started command: a thread waits for it and notes when it exited.
struct Timed(
    std::thread::JoinHandle<((i32, String, String), Instant)>,
    Instant,
);

fn start(cmd: &mut Command) -> Timed {
    let started = Instant::now();
    let child: Child = cmd.spawn().unwrap();
    Timed(
        std::thread::spawn(move || {
            let out = child.wait_with_output().unwrap();
            (finish(out), Instant::now())
        }),
        started,
    )
}

impl Timed {
    /// Waits for it; asserts it ended within `bound` + 1 s of its start.
    #[track_caller]
    fn within(self, bound: Duration, what: &str) -> (i32, String, String) {
        let since = self.1;
        self.within_since(since, bound, what)
    }

    /// Waits for it; asserts it ended within `bound` + 1 s of `since`.
    #[track_caller]
    fn within_since(self, since: Instant, bound: Duration, what: &str) -> (i32, String, String) {
        let (result, ended) = self.0.join().unwrap();
        let took = ended.saturating_duration_since(since);
        assert!(
            took <= bound + SLACK,
            "{what} ended {took:?} after, more than {bound:?} + 1 s: {result:?}"
        );
        result
    }
}

#[test]
fn cli_wait_timeout_holds_when_the_server_is_killed() {
    let server = RedisServer::start();
    assert_eq!(run(hc(&server.url()).args(["add", "k", "1"])).0, 0);
    let waiter = start(hc(&server.url()).args(["wait", "k", "--timeout", "3s"]));
    server.await_blocked_readers(1);
    signal(server.pid(), "KILL");
    let r = waiter.within(Duration::from_secs(3), "wait --timeout 3s");
    assert_fails(&r, 3, "unreachable");
}

#[test]
fn cli_commands_hold_their_bounds_when_the_server_is_frozen() {
    let server = RedisServer::start();
    let url = server.url();
    assert_eq!(run(hc(&url).args(["add", "f", "2"])).0, 0);
    let with_timeout = start(hc(&url).args(["wait", "f", "--timeout", "3s"]));
    let without = start(hc(&url).args(["wait", "f"]));
    server.await_blocked_readers(2);
    let frozen_at = Instant::now();
    let _frozen = Frozen::stop(server.pid());
    // New commands against the frozen server: a TCP connection is still accepted
    // (by the kernel), no reply ever comes.
    let late_wait = start(hc(&url).args(["wait", "f", "--timeout", "2s"]));
    let add = start(hc(&url).args(["add", "f", "1"]));
    let done = start(hc(&url).args(["done", "f"]));
    let count = start(hc(&url).args(["count", "f"]));
    // It had a snapshot; past its deadline without an answer: a timeout.
    let r = with_timeout.within(Duration::from_secs(3), "wait --timeout 3s");
    assert_fails(&r, 4, "timed out");
    // It never had an answer: unreachable.
    let r = late_wait.within(Duration::from_secs(2), "a wait --timeout 2s started frozen");
    assert_fails(&r, 3, "unreachable");
    for (cmd, what) in [(add, "add"), (done, "done"), (count, "count")] {
        assert_fails(&cmd.within(WINDOW, what), 3, "unreachable");
    }
    // Without a timeout: given up once Redis has not answered for the window.
    let r = without.within_since(frozen_at, WINDOW, "wait (since the freeze)");
    assert_fails(&r, 3, "unreachable");
}

#[test]
fn cli_run_gives_up_within_its_bound_when_the_server_dies() {
    let server = RedisServer::start();
    let url = server.url();
    assert_eq!(run(hc(&url).args(["add", "r", "1"])).0, 0);
    let ttl = Duration::from_secs(1);
    let command = Duration::from_secs(2);
    let runner = start(hc(&url).args(["run", "r", "--ttl", "1s", "--", "sleep", "2"]));
    let t = Instant::now();
    while !run(hc(&url).args(["status", "r"]))
        .1
        .contains("1 with live leases")
    {
        assert!(t.elapsed() < Duration::from_secs(20), "no lease");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(server.pid(), "KILL");
    // The command, then the lease's last heartbeat (bounded by the TTL) and its
    // done (bounded by the window).
    let r = runner.within(command + ttl + WINDOW, "run");
    assert_fails(&r, 3, "unreachable");
}

#[test]
fn cli_durations_and_counts_are_honoured_or_refused_with_exit_2() {
    let server = RedisServer::start();
    let url = server.url();
    assert_eq!(run(hc(&url).args(["add", "d", "1"])).0, 0);
    assert_eq!(run(hc(&url).args(["done", "d"])).0, 0);
    // Too long for an instant: honoured as no timeout (the group is at zero).
    for huge in ["18446744073709551615s", "600000000years"] {
        let (code, _, stderr) = run(hc(&url).args(["wait", "d", "--timeout", huge]));
        assert_eq!(code, 0, "--timeout {huge}: {stderr}");
    }
    assert_fails(
        &run(hc(&url).args(["wait", "d", "--timeout", "18446744073709551616s"])),
        2,
        "invalid value",
    );
    assert_eq!(run(hc(&url).args(["add", "d", "1"])).0, 0);
    for ttl in ["600000000years", "25h", "99ms", "0s"] {
        assert_fails(
            &run(hc(&url).args(["run", "d", "--ttl", ttl, "--", "true"])),
            2,
            "100ms to 24h",
        );
    }
    // The limits themselves are honoured: a 24 h lease lives about 24 h.
    let mut runner = hc(&url)
        .args(["run", "d", "--ttl", "24h", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        let (_, out, _) = run(hc(&url).args(["status", "d"]));
        if out.contains("1 with live leases") {
            break out;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no lease: {out}");
        std::thread::sleep(Duration::from_millis(20));
    };
    runner.kill().unwrap();
    let _ = runner.wait();
    let left: f64 = status
        .split("lease expires in ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    assert!(left > 23.0 * 3600.0, "{status}");
    for n in [
        "9007199254740992",
        "-9007199254740992",
        "99999999999999999999",
    ] {
        assert_fails(&run(hc(&url).args(["add", "d", n])), 2, "invalid value");
    }
    assert_eq!(run(hc(&url).args(["count", "d"])).1, "1\n");
    assert_eq!(run(hc(&url).args(["add", "e", "9007199254740991"])).0, 0);
    assert_eq!(run(hc(&url).args(["count", "e"])).1, "9007199254740991\n");
}

/// A server whose default user needs `PASSWORD`, with ACL users `least` (exactly
/// `ACL_RULE`), `noeval` (without `evalsha`) and `noread` (without `xread`).
fn secured() -> RedisServer {
    let server = RedisServer::start();
    let mut c = server.conn();
    let user = |name: &str, without: &str| {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg(name)
            .arg("reset")
            .arg("on")
            .arg(format!(">{USER_SECRET}"));
        for w in ACL_RULE.split_whitespace().filter(|w| *w != without) {
            cmd.arg(w);
        }
        cmd
    };
    user("least", "").exec(&mut c).unwrap();
    user("noeval", "+evalsha").exec(&mut c).unwrap();
    user("noread", "+xread").exec(&mut c).unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .exec(&mut c)
        .unwrap();
    server
}

#[test]
fn cli_names_a_missing_password_a_wrong_one_a_missing_database_and_a_missing_command() {
    let server = secured();
    let admin = server.url_as("", PASSWORD);
    assert_fails(
        &run(hc(&server.url()).args(["add", "a", "1"])),
        2,
        "authentication required",
    );
    assert_fails(
        &run(hc(&server.url()).args(["wait", "a", "--timeout", "1s"])),
        2,
        "authentication required",
    );
    assert_fails(
        &run(hc(&server.url_as("", "wrong")).args(["add", "a", "1"])),
        2,
        "wrong password",
    );
    assert_fails(
        &run(hc(&format!("{admin}/99")).args(["add", "a", "1"])),
        2,
        "no database 99",
    );
    assert_fails(
        &run(hc(&server.url_as("noeval", USER_SECRET)).args(["add", "a", "1"])),
        2,
        "`evalsha`",
    );
    assert_eq!(run(hc(&admin).args(["add", "a", "1"])).0, 0);
    assert_fails(
        &run(hc(&server.url_as("noread", USER_SECRET)).args(["wait", "a", "--timeout", "5s"])),
        2,
        "`xread`",
    );
}

#[test]
fn cli_least_privilege_user_runs_the_whole_cycle() {
    let server = secured();
    let url = server.url_as("least", USER_SECRET);
    assert_eq!(run(hc(&url).args(["add", "lp", "2"])).0, 0);
    let waiter = start(hc(&url).args(["wait", "lp", "--timeout", "20s"]));
    let r = run(hc(&url).args(["run", "lp", "--ttl", "2s", "--", "true"]));
    assert_eq!(r.0, 0, "{r:?}");
    let (code, status, _) = run(hc(&url).args(["status", "lp"]));
    assert_eq!(code, 0);
    assert!(status.contains("count:        1"), "{status}");
    assert_eq!(run(hc(&url).args(["done", "lp"])).0, 0);
    let (code, _, stderr) = waiter.within(Duration::from_secs(20), "wait");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(run(hc(&url).args(["count", "lp"])).1, "0\n");
}

#[test]
fn cli_no_output_shows_a_password() {
    let server = secured();
    let admin = server.url_as("", PASSWORD);
    let user = server.url_as("least", USER_SECRET);
    assert_eq!(run(hc(&admin).args(["add", "s", "1"])).0, 0);
    let mut outputs = Vec::new();
    let mut check = |what: String, cmd: &mut Command| {
        let (code, out, err) = run(cmd);
        outputs.push((what, code, format!("{out}{err}")));
    };
    // Help of the command and every subcommand, with the URL in the environment.
    for url in [&admin, &user] {
        check("--help".into(), hc(url).arg("--help"));
        check("help".into(), hc(url).arg("help"));
        check("no arguments".into(), &mut hc(url));
        for sub in ["add", "done", "wait", "run", "count", "status"] {
            check(format!("{sub} --help"), hc(url).args([sub, "--help"]));
            check(format!("help {sub}"), hc(url).args(["help", sub]));
            check(format!("{sub} without arguments"), hc(url).arg(sub));
        }
        check("--version".into(), hc(url).arg("--version"));
        // Every command's output and errors.
        check("status".into(), hc(url).args(["status", "s"]));
        check("count".into(), hc(url).args(["count", "s"]));
        check(
            "wait timeout".into(),
            hc(url).args(["wait", "s", "--timeout", "100ms"]),
        );
        check("done refused".into(), hc(url).args(["add", "s", "-5"]));
        check("no such group".into(), hc(url).args(["wait", "none"]));
        check("bad name".into(), hc(url).args(["add", "a b", "1"]));
        check(
            "failed run".into(),
            hc(url).args(["run", "s", "--", "sh", "-c", "exit 4"]),
        );
        check("stray URL".into(), hc(url).args(["count", "s", url]));
    }
    // Malformed URLs holding the password, from the flag and from the environment.
    for bad in [
        format!("redis://:{PASSWORD}@127.0.0.1:notaport"),
        format!("redis://:{PASSWORD}@127.0.0.1:{}:x", server.port),
        format!("redis://least:{USER_SECRET}@[::1"),
        format!("nonsense://:{PASSWORD}@127.0.0.1"),
        format!("redis+unix:///nonexistent.sock?pass={PASSWORD}"),
    ] {
        check(
            format!("flag {bad}"),
            hc(&admin).args(["--redis", &bad, "count", "s"]),
        );
        check(format!("env {bad}"), hc(&bad).args(["count", "s"]));
    }
    // The topology flags and URL lists: Sentinel (the primary's password in the
    // URLs, the sentinels' in `--sentinel-password` or the environment), Cluster
    // and TLS, each failing against this plain server (not a sentinel, not a
    // cluster node) or before any call, and the help with the sentinels'
    // password set.
    let port = server.port;
    let listed = format!("{admin},redis://127.0.0.1:{port}");
    let mixed = format!("{admin},redis://least:{USER_SECRET}@127.0.0.1:{port}");
    let bad_list = format!("redis://:{PASSWORD}@127.0.0.1:notaport,{admin}");
    let tls_url = format!("rediss://:{PASSWORD}@127.0.0.1:notaport");
    let topologies: Vec<(&str, Vec<&str>)> = vec![
        ("sentinel list", vec!["--sentinel", "m", "--redis", &listed]),
        (
            "sentinel bad list",
            vec!["--sentinel", "m", "--redis", &bad_list],
        ),
        (
            "sentinel mixed credentials",
            vec!["--sentinel", "m", "--redis", &mixed],
        ),
        (
            "sentinel password",
            vec![
                "--sentinel",
                "m",
                "--redis",
                &listed,
                "--sentinel-password",
                PASSWORD,
            ],
        ),
        (
            "sentinel user",
            vec![
                "--sentinel",
                "m",
                "--sentinel-user",
                "least",
                "--sentinel-password",
                USER_SECRET,
            ],
        ),
        (
            "sentinel password alone",
            vec!["--sentinel-password", PASSWORD],
        ),
        ("cluster list", vec!["--cluster", "--redis", &listed]),
        (
            "cluster mixed credentials",
            vec!["--cluster", "--redis", &mixed],
        ),
        ("cluster bad list", vec!["--cluster", "--redis", &bad_list]),
        ("list without topology", vec!["--redis", &listed]),
        ("tls", vec!["--redis", &tls_url]),
        (
            "tls ca missing",
            vec!["--redis", &tls_url, "--tls-ca", "/nonexistent/ca.pem"],
        ),
        ("tls ca for plain", vec!["--tls-ca", "/nonexistent/ca.pem"]),
    ];
    for (what, args) in &topologies {
        check(what.to_string(), hc(&admin).args(args).args(["count", "s"]));
        check(
            format!("{what} --help"),
            hc(&admin).args(args).arg("--help"),
        );
    }
    check(
        "sentinel password from the environment".into(),
        hc(&admin)
            .env("HEADCOUNT_SENTINEL_PASSWORD", PASSWORD)
            .args(["--sentinel", "m", "--redis", &listed, "count", "s"]),
    );
    check(
        "sentinel password in the environment, --help".into(),
        hc(&admin)
            .env("HEADCOUNT_SENTINEL_PASSWORD", PASSWORD)
            .env("HEADCOUNT_SENTINEL_USER", "least")
            .arg("--help"),
    );
    // Wrong passwords (they are secrets too) and a missing database.
    let wrong = format!("redis://least:{PASSWORD}@127.0.0.1:{}", server.port);
    check("wrong password".into(), hc(&wrong).args(["count", "s"]));
    check(
        "missing database".into(),
        hc(&format!("{admin}/99")).args(["count", "s"]),
    );
    assert!(outputs.len() > 90);
    for (what, code, text) in &outputs {
        assert!(
            !text.contains(PASSWORD) && !text.contains(USER_SECRET),
            "`{what}` (exit {code}) showed a password: {text}"
        );
    }
    // The outputs were real: help shows the variable, errors say what happened.
    let find = |what: &str| &outputs.iter().find(|o| o.0 == what).unwrap().2;
    assert!(find("wait --help").contains("HEADCOUNT_REDIS_URL"));
    // The least-privilege rule is in `--help`, exactly.
    assert!(find("--help").contains(ACL_RULE));
    assert!(find("--help").contains("100ms to 24h"));
    assert!(find("wrong password").contains("wrong password"));
    assert!(find("sentinel password in the environment, --help")
        .contains("HEADCOUNT_SENTINEL_PASSWORD"));
    // The sentinel lists reached the server (answered, not unreachable).
    assert!(
        find("sentinel list").contains("sentinels"),
        "{}",
        find("sentinel list")
    );
    assert!(find("cluster list").contains("headcount: "));
    assert!(find("sentinel mixed credentials").contains("***"));
    assert!(find("status").contains("count:"));
}
