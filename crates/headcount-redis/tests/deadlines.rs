//! Every call with a timeout or deadline returns within it plus 1 s, and every call
//! without one gives up after the retry window, against a real `redis-server` that
//! is killed (`kill -9`) or frozen (`SIGSTOP`) under it. No input panics.
//!
//! The bounds asserted are the contract's (deadline + 1 s, retry window + 1 s), not
//! performance figures: the calls are expected well inside them.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use support::{signal, Frozen, RedisServer};

/// What the contract allows past a call's deadline or retry window.
const SLACK: Duration = Duration::from_secs(1);

fn group(server: &RedisServer, name: &str, opts: Options) -> Arc<RedisWaitGroup> {
    Arc::new(RedisWaitGroup::open_with(server.client(), name, opts).unwrap())
}

/// Asserts that a call that started at `started` returned within `bound` + 1 s.
#[track_caller]
fn assert_within(started: Instant, bound: Duration, what: &str) {
    assert_took(started.elapsed(), bound, what);
}

#[track_caller]
fn assert_took(took: Duration, bound: Duration, what: &str) {
    assert!(
        took <= bound + SLACK,
        "{what} returned after {took:?}, more than {bound:?} + 1 s"
    );
}

/// Asserts the error of a call whose server is gone or frozen.
#[track_caller]
fn assert_gave_up(r: &Result<(), Error>) {
    assert!(
        matches!(r, Err(Error::Unreachable { .. } | Error::Timeout { .. })),
        "expected Unreachable or Timeout, got {r:?}"
    );
}

/// A blocking and an async waiter with `timeout`, each on its own thread, which
/// returns its result and how long it took; returned when both are blocked (in the
/// watcher's `XREAD`).
type Waiters = Vec<thread::JoinHandle<(Result<(), Error>, Duration)>>;

fn blocked_waiters(server: &RedisServer, wg: &Arc<RedisWaitGroup>, timeout: Duration) -> Waiters {
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || {
            let started = Instant::now();
            (wg.wait_timeout(timeout), started.elapsed())
        })
    };
    let async_ = {
        let wg = wg.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let r = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(wg.wait_timeout_async(timeout));
            (r, started.elapsed())
        })
    };
    support::await_local_waiters(wg, 2);
    // Both read through the process's one watcher connection.
    server.await_blocked_readers(1);
    vec![blocking, async_]
}

fn check_waiters(waiters: Waiters, timeout: Duration) {
    for w in waiters {
        let (r, took) = w.join().unwrap();
        assert_gave_up(&r);
        assert_took(took, timeout, "wait_timeout");
    }
}

#[test]
fn wait_timeout_holds_when_the_server_is_killed_under_waiters() {
    let server = RedisServer::start();
    let wg = group(&server, "killed", Options::new());
    wg.add(1).unwrap();
    let timeout = Duration::from_secs(3);
    let waiters = blocked_waiters(&server, &wg, timeout);
    signal(server.pid(), "KILL");
    check_waiters(waiters, timeout);
    // A wait that starts after the server died (the handle had reached it): the
    // default retry window is 10 s, the deadline 2 s.
    let started = Instant::now();
    let r = wg.wait_timeout(Duration::from_secs(2));
    assert_gave_up(&r);
    assert_within(
        started,
        Duration::from_secs(2),
        "wait_timeout after the kill",
    );
}

#[test]
fn wait_timeout_holds_when_the_server_is_frozen_under_waiters() {
    let server = RedisServer::start();
    let wg = group(&server, "frozen", Options::new());
    wg.add(1).unwrap();
    let timeout = Duration::from_secs(3);
    let waiters = blocked_waiters(&server, &wg, timeout);
    let _frozen = Frozen::stop(server.pid());
    check_waiters(waiters, timeout);
    // New waiters on the frozen server: the pooled connection's reply and a new
    // connection's setup are both bounded by the deadline.
    let started = Instant::now();
    assert_gave_up(&wg.wait_timeout(Duration::from_secs(2)));
    assert_within(started, Duration::from_secs(2), "wait_timeout while frozen");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    assert_gave_up(&rt.block_on(wg.wait_timeout_async(Duration::from_secs(2))));
    assert_within(
        started,
        Duration::from_secs(2),
        "wait_timeout_async while frozen",
    );
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(2);
    assert_gave_up(&wg.wait_deadline(deadline));
    assert_within(
        started,
        Duration::from_secs(2),
        "wait_deadline while frozen",
    );
}

#[test]
fn calls_without_a_deadline_give_up_after_the_retry_window() {
    let window = Duration::from_secs(2);
    let server = RedisServer::start();
    let wg = group(&server, "window", Options::new().retry_window(window));
    wg.add(2).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || (wg.wait(), Instant::now()))
    };
    server.await_blocked_readers(1);
    let frozen_at = Instant::now();
    let frozen = Frozen::stop(server.pid());
    // Reply timeout (5 s) longer than the window: the window must cut the attempt.
    let started = Instant::now();
    let r = wg.add(1);
    assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
    assert_within(started, window, "add while frozen");
    let started = Instant::now();
    assert!(matches!(wg.done(), Err(Error::Unreachable { .. })));
    assert_within(started, window, "done while frozen");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    assert!(matches!(
        rt.block_on(wg.done_async()),
        Err(Error::Unreachable { .. })
    ));
    assert_within(started, window, "done_async while frozen");
    // The waiter without a deadline gives up once Redis has not answered for the
    // window; its read was blocked for up to 2 s when the server froze.
    let (r, ended) = waiter.join().unwrap();
    assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
    assert_took(
        ended - frozen_at,
        window,
        "wait without a deadline (since the freeze)",
    );
    drop(frozen);
    // Resumed: the handle works again. (The calls that gave up had been sent: the
    // server may have applied them once it resumed, as `Unreachable` says.)
    let count = wg.count().unwrap();
    assert!(count <= 3, "{count}");
    // Killed: the same bound.
    signal(server.pid(), "KILL");
    let started = Instant::now();
    assert!(matches!(wg.add(1), Err(Error::Unreachable { .. })));
    assert_within(started, window, "add after the kill");
}

#[test]
fn a_lease_ends_within_the_retry_window_and_its_ttl_when_the_server_dies() {
    let window = Duration::from_secs(2);
    let ttl = Duration::from_secs(1);
    let server = RedisServer::start();
    let wg = group(&server, "lease", Options::new().retry_window(window));
    wg.add(1).unwrap();
    let lease = wg.join(ttl).unwrap();
    let _frozen = Frozen::stop(server.pid());
    thread::sleep(ttl); // a heartbeat is in flight now
    let started = Instant::now();
    let r = lease.done();
    assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
    // An in-flight heartbeat is bounded by the TTL, the done by the window.
    assert_within(started, window + ttl, "Lease::done while frozen");
}

#[test]
fn no_duration_panics_and_huge_timeouts_are_honoured_as_none() {
    let server = RedisServer::start();
    let wg = group(&server, "huge", Options::new());
    wg.add(1).unwrap();
    wg.done().unwrap();
    // At zero: each returns at once instead of panicking on `Instant + Duration::MAX`.
    wg.wait_timeout(Duration::MAX).unwrap();
    wg.wait_timeout(Duration::from_secs(u64::MAX)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(wg.wait_timeout_async(Duration::MAX)).unwrap();
    // Extreme options: used as given, saturating, never overflowing.
    let extreme = Options::new()
        .connect_timeout(Duration::MAX)
        .io_timeout(Duration::MAX)
        .retry_window(Duration::MAX);
    let wg = group(&server, "huge", extreme);
    wg.add(1).unwrap();
    rt.block_on(wg.add_async(-1)).unwrap();
    wg.wait_timeout(Duration::from_millis(100)).unwrap();
    rt.block_on(wg.wait_timeout_async(Duration::from_millis(100)))
        .unwrap();
    wg.add(1).unwrap();
    assert!(matches!(
        rt.block_on(wg.wait_timeout_async(Duration::from_millis(100))),
        Err(Error::Timeout { count: 1, .. })
    ));
    let tiny = Options::new()
        .connect_timeout(Duration::ZERO)
        .io_timeout(Duration::ZERO)
        .retry_window(Duration::ZERO);
    let wg = group(&server, "huge", tiny);
    // Zero timeouts are not refused by the socket layer: each attempt gets at least
    // a few milliseconds, enough on loopback.
    let r = wg.count();
    assert!(
        r.is_ok() || matches!(r, Err(Error::Unreachable { .. })),
        "{r:?}"
    );
    // A lease TTL outside 100 ms..=24 h is refused before anything is sent.
    let wg = group(&server, "huge", Options::new());
    for ttl in [
        Duration::from_millis(99),
        Duration::from_secs(24 * 3600 + 1),
        Duration::MAX,
    ] {
        assert!(
            matches!(wg.join(ttl), Err(Error::InvalidArgument(_))),
            "ttl {ttl:?} accepted"
        );
    }
    let lease = wg.join(headcount_redis::MAX_TTL).unwrap();
    let left = wg.status().unwrap().leases[0].expires_in;
    assert!(left > Duration::from_secs(23 * 3600), "{left:?}");
    lease.done().unwrap();
}
