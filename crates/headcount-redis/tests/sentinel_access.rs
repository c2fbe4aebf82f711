//! How a handle reaches the primary through Redis Sentinel: as an ACL user of the
//! sentinels (`Options::sentinel_user`), with the database of the URLs selected on
//! the primary; and with sentinels frozen (`SIGSTOP`), a call is bounded by the
//! retry window (+1 s), never a hang.

#[path = "support/sentinel.rs"]
mod sentinel;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use sentinel::{Sentinels, Setup, MASTER};
use support::{Frozen, RedisServer};
use tls::{Certs, TlsServer};

/// The sentinels' default user's password.
const SENTINEL_SECRET: &str = "sen-Tb3kP8wQz5Rm";
/// The password of `watcher`, an ACL user of the sentinels.
const WATCHER_SECRET: &str = "wat-Ne6hV2cXj9Gs";

const LONG: Duration = Duration::from_secs(30);

fn urls_of(urls: &[String]) -> Vec<&str> {
    urls.iter().map(String::as_str).collect()
}

/// Sentinels with an ACL user `watcher` of their own: `sentinel_user("watcher")`
/// with its password reaches the primary (its default user's password is not
/// needed); `/3` in the URLs selects database 3 on the primary; the whole round
/// (add, a blocking and an async waiter, done) runs there. `watcher` with the
/// default user's password is `SentinelAuthFailed` naming `watcher`.
#[test]
fn an_acl_user_of_the_sentinels_and_a_database_in_the_urls_reach_the_primary() {
    let primary = RedisServer::start();
    let sentinels = Sentinels::start_with(
        primary.port,
        0,
        Setup {
            requirepass: Some(SENTINEL_SECRET),
            ..Setup::default()
        },
    );
    sentinels.acl_setuser(
        "watcher",
        &["reset", "on", &format!(">{WATCHER_SECRET}"), "+@all"],
    );
    let urls: Vec<String> = sentinels.urls().iter().map(|u| format!("{u}/3")).collect();
    let opts = || Options::new().sentinel_user("watcher");
    let wg = RedisWaitGroup::open_sentinel(
        &urls_of(&urls),
        MASTER,
        "sentinel-db",
        opts().sentinel_password(WATCHER_SECRET),
    )
    .unwrap();
    wg.add(2).unwrap();
    let state = "headcount:{sentinel-db}:state";
    let in_db = |db: i64| -> i64 {
        let mut c = primary.conn();
        redis::cmd("SELECT").arg(db).exec(&mut c).unwrap();
        redis::cmd("EXISTS").arg(state).query(&mut c).unwrap()
    };
    assert_eq!((in_db(3), in_db(0)), (1, 0), "not in the URLs' database");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    support::await_local_waiters(&wg, 1);
    wg.done().unwrap();
    assert!(!blocking.is_finished());
    rt.block_on(async {
        let waiter = wg.wait_timeout_async(LONG);
        wg.done_async().await?;
        waiter.await
    })
    .unwrap();
    blocking.join().unwrap().unwrap();
    assert_eq!(wg.count().unwrap(), 0);

    let wrong = RedisWaitGroup::open_sentinel(
        &urls_of(&urls),
        MASTER,
        "sentinel-db",
        opts()
            .sentinel_password(SENTINEL_SECRET)
            .retry_window(Duration::from_secs(20)),
    )
    .unwrap();
    let t = Instant::now();
    let r = wrong.count();
    assert!(
        matches!(&r, Err(Error::SentinelAuthFailed { user: Some(u), .. }) if u == "watcher"),
        "{r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let text = r.unwrap_err().to_string();
    assert!(
        !text.contains(SENTINEL_SECRET) && !text.contains(WATCHER_SECRET),
        "{text}"
    );
}

/// Sentinels frozen (`SIGSTOP`: connections are accepted, never answered) before
/// a handle's first call: with the first one frozen, the others are asked and
/// the call succeeds (blocking and async); with all three frozen it is
/// `Unreachable` within the retry window (+1 s), not a hang. Once they resume,
/// the same handle works.
#[test]
fn frozen_sentinels_do_not_hang_a_call() {
    let primary = RedisServer::start();
    let sentinels = Sentinels::start(primary.port, 0);
    let urls = sentinels.urls();
    let window = Duration::from_secs(5);
    let opts = Options::new().retry_window(window);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pids = sentinels.pids();
    // Each call on a thread of its own, so that a hang is reported, not suffered.
    let bounded = |wg: &RedisWaitGroup, attempt: &'static str| {
        let (tx, rx) = std::sync::mpsc::channel();
        let wg = wg.clone();
        let handle = rt.handle().clone();
        let t = Instant::now();
        thread::spawn(move || {
            let r = match attempt {
                "blocking" => wg.count(),
                _ => handle.block_on(wg.count_async()),
            };
            let _ = tx.send(r);
        });
        let r = rx
            .recv_timeout(window + Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{attempt}: still blocked after {:?}", t.elapsed()));
        assert!(
            t.elapsed() <= window + Duration::from_secs(1),
            "{attempt}: returned after {:?}",
            t.elapsed()
        );
        r
    };
    RedisWaitGroup::open_sentinel(&urls_of(&urls), MASTER, "frozen-s", Options::new())
        .unwrap()
        .add(1)
        .unwrap();

    let first = Frozen::stop(pids[0]);
    let wg =
        RedisWaitGroup::open_sentinel(&urls_of(&urls), MASTER, "frozen-s", opts.clone()).unwrap();
    for attempt in ["blocking", "async"] {
        // The other two sentinels are asked: the primary is found.
        let r = bounded(&wg, attempt);
        assert!(
            matches!(r, Ok(1)),
            "{attempt}, the first sentinel frozen: {r:?}"
        );
    }
    let _others: Vec<Frozen> = pids[1..].iter().map(|&p| Frozen::stop(p)).collect();
    let wg = RedisWaitGroup::open_sentinel(&urls_of(&urls), MASTER, "frozen-s", opts).unwrap();
    for attempt in ["blocking", "async"] {
        let r = bounded(&wg, attempt);
        assert!(
            matches!(r, Err(Error::Unreachable { .. })),
            "{attempt}: {r:?}"
        );
    }
    drop(_others);
    drop(first);
    assert_eq!(wg.count().unwrap(), 1);
}

/// A handle with a wrong or no sentinel password waits first: its waiter is
/// `SentinelAuthFailed` at once, and a correct handle's waiter after it is served;
/// while that one waits, another wrong handle's waiter is still refused (not
/// served through the correct handle's watcher connection).
#[test]
fn handles_with_different_sentinel_passwords_do_not_share_a_watcher() {
    let primary = RedisServer::start();
    let sentinels = Sentinels::start_with(
        primary.port,
        0,
        Setup {
            requirepass: Some(SENTINEL_SECRET),
            ..Setup::default()
        },
    );
    let urls = sentinels.urls();
    let open = |opts: Options| {
        let opts = opts.retry_window(Duration::from_secs(20));
        RedisWaitGroup::open_sentinel(&urls_of(&urls), MASTER, "shared", opts).unwrap()
    };
    let good = open(Options::new().sentinel_password(SENTINEL_SECRET));
    let wrong = || Options::new().sentinel_password(WATCHER_SECRET);
    good.add(1).unwrap();
    let refused = |what: &str, wg: RedisWaitGroup| {
        let t = Instant::now();
        let r = wg.wait_timeout(LONG);
        assert!(
            matches!(r, Err(Error::SentinelAuthFailed { .. })),
            "{what}: {r:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            t.elapsed()
        );
    };
    refused("wrong password, first", open(wrong()));
    refused("no password, first", open(Options::new()));
    let waiter = {
        let good = good.clone();
        thread::spawn(move || good.wait_timeout(LONG))
    };
    support::await_local_waiters(&good, 1);
    refused("wrong password, second", open(wrong()));
    refused("no password, second", open(Options::new()));
    assert!(!waiter.is_finished());
    good.done().unwrap();
    waiter.join().unwrap().unwrap();
}

/// Sentinels and a primary that speak only TLS and want a client certificate:
/// the right CA without a client certificate is `Tls` at the first attempt (the
/// retry window is 20 s), for a call and a waiter, blocking and async.
#[test]
fn tls_sentinels_without_a_client_certificate_are_a_tls_error_at_once() {
    let certs = Certs::make();
    let primary = TlsServer::start(&certs);
    let sentinels = Sentinels::start_with(
        primary.port,
        0,
        Setup {
            tls: Some(&certs),
            ..Setup::default()
        },
    );
    let urls = sentinels.urls();
    let opts = Options::new()
        .tls_ca(certs.read("ca.crt"))
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_sentinel(&urls_of(&urls), MASTER, "tls-no-cert", opts).unwrap();
    tls::assert_every_call_is_a_tls_error_at_once(&wg);
}
