//! A Sentinel failover with passwords everywhere: a primary and a replica that
//! need a password (the replica logs in to the primary with `masterauth`), three
//! sentinels that need their own (and log in to the primary with `sentinel
//! auth-pass`). The handle gets the primary's password in the URLs and the
//! sentinels' through `Options::sentinel_password` (and `sentinel_user`). The
//! primary is killed (-9) mid-round with `min_replicas(1)`: no acknowledged
//! `add`/`done` is lost, the waiters (a thread in `wait`, a tokio task in
//! `wait_async`) are released at the true zero after the failover or get
//! `StateLost`, never a false zero, and a waiter with a deadline returns by it
//! (+1 s). No error shows a password; a wrong sentinel password is
//! `SentinelAuthFailed` at once, before and after the failover.

#[path = "support/sentinel.rs"]
mod sentinel;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use sentinel::{Sentinels, MASTER};
use support::{signal, RedisServer};

/// The primary's (and replica's) password: distinctive, so any output holding it
/// is found.
const PASSWORD: &str = "pw-Fo4rJ8vKq2Ns";
/// The sentinels' own password.
const SENTINEL_SECRET: &str = "sen-Hx7cW3mZ9pLd";
/// The sentinels' user (the default user: `requirepass` sets its password).
const SENTINEL_USER: &str = "default";

const LONG: Duration = Duration::from_secs(60);
/// The deadline of the waiter registered before the kill.
const DEADLINE: Duration = Duration::from_secs(4);
/// The deadline of the waiter started during the outage (well before the
/// sentinels can promote the replica: they wait 1 s before they even agree the
/// primary is down).
const SHORT: Duration = Duration::from_millis(500);
/// What the contract allows past a call's deadline.
const SLACK: Duration = Duration::from_secs(1);

/// Asserts that no secret appears in `text`.
#[track_caller]
fn assert_secret_free(text: &str) {
    for secret in [PASSWORD, SENTINEL_SECRET] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// `r`, after checking that its error (if any) shows no secret (Display and
/// Debug).
#[track_caller]
fn checked<T>(r: Result<T, Error>) -> Result<T, Error> {
    if let Err(e) = &r {
        assert_secret_free(&e.to_string());
        assert_secret_free(&format!("{e:?}"));
    }
    r
}

/// A mutation applied on the promoted replica, which has no replica of its own
/// to confirm it: `NotReplicated` with no acknowledgement (applied, do not
/// repeat it).
#[track_caller]
fn applied_unconfirmed(r: Result<(), Error>) {
    match checked(r) {
        Err(Error::NotReplicated { acked: 0, .. }) => {}
        other => panic!("expected NotReplicated with acked 0: {other:?}"),
    }
}

/// A waiter's result at the end of the round: released at the zero, or told the
/// state was lost. Returns whether it was released.
#[track_caller]
fn released_or_lost(what: &str, r: Result<(), Error>) -> bool {
    match checked(r) {
        Ok(()) => true,
        Err(Error::StateLost { .. }) => false,
        other => panic!("{what}: {other:?}"),
    }
}

/// A primary and a replica that need `PASSWORD`, behind sentinels that need
/// `SENTINEL_SECRET`.
fn deployment() -> (RedisServer, RedisServer, Sentinels) {
    sentinel::with_passwords(PASSWORD, SENTINEL_SECRET)
}

/// The group `name` through the sentinels, as the primary's default user, with
/// `opts`.
fn open(sentinels: &Sentinels, name: &str, opts: Options) -> RedisWaitGroup {
    let urls = sentinels.urls_as(&format!(":{PASSWORD}@"));
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    checked(RedisWaitGroup::open_sentinel(&urls, MASTER, name, opts)).unwrap()
}

/// The durable options of the round: the sentinels' credentials, every write
/// confirmed by a replica, retried through the failover.
fn durable() -> Options {
    Options::new()
        .sentinel_user(SENTINEL_USER)
        .sentinel_password(SENTINEL_SECRET)
        .min_replicas(1)
        .replica_timeout(Duration::from_secs(2))
        .retry_window(Duration::from_secs(30))
}

/// A wrong sentinel password is `SentinelAuthFailed` at once (not retried for
/// the 20 s retry window), blocking and async, and shows no secret.
fn assert_wrong_sentinel_password_refused(sentinels: &Sentinels, rt: &tokio::runtime::Runtime) {
    let opts = Options::new()
        .sentinel_password(PASSWORD) // the primary's, not the sentinels'
        .retry_window(Duration::from_secs(20));
    let wg = open(sentinels, "refused", opts);
    for attempt in ["blocking", "async"] {
        let t = Instant::now();
        let r = match attempt {
            "blocking" => wg.add(1),
            _ => rt.block_on(wg.add_async(1)),
        };
        let e = checked(r).expect_err(attempt);
        assert!(
            matches!(e, Error::SentinelAuthFailed { .. }),
            "{attempt}: {e:?}"
        );
        assert!(e.to_string().contains("sentinel"), "{attempt}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{attempt}: refused after {:?}",
            t.elapsed()
        );
    }
}

/// Two groups mid-round when the primary is killed: `round`, whose zero comes
/// after the failover, and `settled`, whose last `done` is acknowledged just
/// before the kill. The waiters on `round` (a thread, a tokio task) do not return
/// before its zero and are released at it (or get `StateLost`); a waiter with a
/// 4 s deadline, and one with a 0.5 s deadline started while the primary is
/// gone, return by their deadline (+1 s) without a zero; the waiters on
/// `settled` are released (or get `StateLost`), none hangs.
#[test]
fn a_failover_with_passwords_everywhere_loses_no_acknowledged_write_and_shows_no_secret() {
    let (primary, replica, sentinels) = deployment();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_wrong_sentinel_password_refused(&sentinels, &rt);

    let wg = open(&sentinels, "pw-failover", durable());
    let settled = open(&sentinels, "pw-settled", durable());
    checked(wg.add(3)).unwrap();
    checked(settled.add(1)).unwrap();
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let asynchronous = {
        let wg = wg.clone();
        rt.spawn(async move { wg.wait_timeout_async(LONG).await })
    };
    let with_deadline = {
        let wg = wg.clone();
        thread::spawn(move || {
            support::await_local_waiters(&wg, 2);
            let started = Instant::now();
            (wg.wait_timeout(DEADLINE), started.elapsed())
        })
    };
    let settled_waiters = {
        let s = settled.clone();
        let blocking = thread::spawn(move || s.wait_timeout(LONG));
        let s = settled.clone();
        let asynchronous = rt.spawn(async move { s.wait_timeout_async(LONG).await });
        (blocking, asynchronous)
    };
    support::await_local_waiters(&wg, 3);
    support::await_local_waiters(&settled, 2);
    primary.await_blocked_readers(1);
    applied_and_confirmed(wg.done()); // count 2, on the replica too
    applied_and_confirmed(settled.done()); // zero, on the replica too
    signal(primary.pid(), "KILL");
    support::await_refused(primary.port);
    let in_outage = {
        let wg = wg.clone();
        thread::spawn(move || {
            let started = Instant::now();
            (wg.wait_timeout(SHORT), started.elapsed())
        })
    };

    // Retried until the sentinels promote the replica: applied once, there.
    applied_unconfirmed(wg.done());
    assert_eq!(sentinels.primary_port(), Some(replica.port));
    assert_eq!(
        checked(wg.count()).unwrap(),
        1,
        "an acknowledged done was lost"
    );
    assert_eq!(checked(settled.count()).unwrap(), 0);

    // The waiter with a deadline gave up by it, without a zero.
    for (what, waiter, deadline) in [
        ("registered before the kill", with_deadline, DEADLINE),
        ("started during the outage", in_outage, SHORT),
    ] {
        let (r, took) = waiter.join().unwrap();
        gave_up(what, checked(r), took, deadline);
    }
    // The settled group's waiters are released (before the kill or after it).
    let (b, a) = settled_waiters;
    released_or_lost("settled, blocking", b.join().unwrap());
    released_or_lost("settled, async", rt.block_on(a).unwrap());

    thread::sleep(Duration::from_millis(300));
    assert!(
        !blocking.is_finished() && !asynchronous.is_finished(),
        "a waiter returned before the zero"
    );
    applied_unconfirmed(rt.block_on(wg.done_async()));
    let blocking = released_or_lost("blocking", blocking.join().unwrap());
    let asynchronous = released_or_lost("async", rt.block_on(asynchronous).unwrap());
    if blocking || asynchronous {
        // Released: at the true zero.
        assert_eq!(checked(wg.count()).unwrap(), 0);
    }
    let count: String = redis::cmd("HGET")
        .arg("headcount:{pw-failover}:state")
        .arg("count")
        .query(&mut replica.conn())
        .unwrap();
    assert_eq!(count, "0", "the group lives on the promoted replica");
    let status = checked(wg.status()).unwrap();
    assert_secret_free(&format!("{wg:?} {status:?} {status} {:?}", durable()));

    // After the failover: a new handle reaches the promoted replica through the
    // same sentinels, and a wrong sentinel password is still refused at once.
    let again = open(&sentinels, "pw-after", durable());
    applied_unconfirmed(again.add(1));
    assert_eq!(replica.raw_count("pw-after"), Some(1));
    assert_wrong_sentinel_password_refused(&sentinels, &rt);
}

/// A waiter with a deadline that ends with no zero: it gave up by its deadline
/// (+1 s), with `Timeout`, `Unreachable` (Redis refused or dropped the
/// connection past the deadline) or `StateLost`.
#[track_caller]
fn gave_up(what: &str, r: Result<(), Error>, took: Duration, deadline: Duration) {
    assert!(
        matches!(
            r,
            Err(Error::Timeout { .. } | Error::Unreachable { .. } | Error::StateLost { .. })
        ),
        "the waiter with a deadline {what} got {r:?} after {took:?}, with no zero"
    );
    assert!(
        took <= deadline + SLACK,
        "the waiter with a deadline {what} returned after {took:?}"
    );
}

/// Acknowledged by the replica (`min_replicas(1)`), before the kill.
#[track_caller]
fn applied_and_confirmed(r: Result<(), Error>) {
    checked(r).unwrap();
}
