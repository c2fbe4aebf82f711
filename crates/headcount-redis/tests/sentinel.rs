//! Redis Sentinel: a primary, one replica and three sentinels on loopback. The
//! primary is killed (-9) mid-round with `min_replicas = 1`: the handle follows the
//! failover to the promoted replica, no acknowledged `add`/`done` is lost, and the
//! waiters are released at the true zero, never before. With passwords (the
//! primary's, an ACL user's, the sentinels' own) and over TLS, the whole cycle
//! runs, and each missing or wrong secret is a clear error naming whose it is.

#[path = "support/sentinel.rs"]
mod sentinel;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup, ACL_RULE};
use sentinel::{Sentinels, Setup, MASTER};
use support::{signal, RedisServer};
use tls::{Certs, TlsServer};

/// The primary's (and replica's) default password: distinctive, so any output
/// holding it is found.
const PASSWORD: &str = "pw-Sn7tQx4Lm2Vk";
/// The ACL user's password.
const USER_SECRET: &str = "usr-Rb5wK9pZ3hNj";
/// The sentinels' own password.
const SENTINEL_SECRET: &str = "sen-Cy8dM4fT6qWe";

const LONG: Duration = Duration::from_secs(60);

/// A mutation that was applied: acknowledged, or applied on the primary without
/// a replica to confirm it.
fn applied(r: Result<(), Error>) {
    match r {
        Ok(()) | Err(Error::NotReplicated { acked: 0, .. }) => {}
        other => panic!("not applied: {other:?}"),
    }
}

#[test]
fn a_failover_mid_round_loses_no_acknowledged_write_and_no_waiter_sees_a_false_zero() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let sentinels = Sentinels::start(primary.port, 1);
    let urls = sentinels.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let opts = Options::new()
        .min_replicas(1)
        .replica_timeout(Duration::from_secs(2))
        .retry_window(Duration::from_secs(30));
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "failover", opts).unwrap();
    wg.add(3).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let asynchronous = {
        let wg = wg.clone();
        rt.spawn(async move { wg.wait_timeout_async(LONG).await })
    };
    // Both registered with the process's watcher, which reads on the primary.
    support::await_local_waiters(&wg, 2);
    primary.await_blocked_readers(1);
    wg.done().unwrap(); // acknowledged by the replica too
    signal(primary.pid(), "KILL");
    let killed_at = Instant::now();
    // Retried until the sentinels promote the replica: applied once, there. The
    // promoted replica has no replica of its own: the write is applied but
    // cannot be confirmed by one (`NotReplicated`: applied, do not repeat it).
    applied(wg.done());
    assert_eq!(sentinels.primary_port(), Some(replica.port));
    eprintln!("failover followed in {:?}", killed_at.elapsed());
    assert_eq!(wg.count().unwrap(), 1, "an acknowledged done was lost");
    thread::sleep(Duration::from_millis(300));
    assert!(
        !blocking.is_finished() && !asynchronous.is_finished(),
        "a waiter returned before the zero"
    );
    applied(rt.block_on(wg.done_async()));
    let released = |r: Result<(), Error>| match r {
        Ok(()) | Err(Error::StateLost { .. }) => r,
        other => panic!("a waiter got {other:?}"),
    };
    // With every write confirmed by the replica, the waiters see the true zero.
    released(blocking.join().unwrap()).unwrap();
    released(rt.block_on(asynchronous).unwrap()).unwrap();
    assert_eq!(wg.count().unwrap(), 0);
    // The group lives on the promoted replica.
    let count: String = redis::cmd("HGET")
        .arg("headcount:{failover}:state")
        .arg("count")
        .query(&mut replica.conn())
        .unwrap();
    assert_eq!(count, "0");
}

#[test]
fn an_unknown_master_name_is_unreachable_after_the_retry_window_naming_it() {
    let primary = RedisServer::start();
    let sentinels = Sentinels::start(primary.port, 0);
    let urls = sentinels.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    // Retried like a primary the sentinels cannot name during a failover.
    let opts = Options::new().retry_window(Duration::from_secs(1));
    let wg = RedisWaitGroup::open_sentinel(&urls, "no-such-master", "g", opts).unwrap();
    let t = Instant::now();
    let r = wg.add(1);
    assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let text = r.unwrap_err().to_string();
    assert!(
        text.contains("no-such-master") && text.contains("not found"),
        "{text}"
    );
    // And through the right name, it works.
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "g", Options::new()).unwrap();
    wg.add(1).unwrap();
    assert_eq!(primary.raw_count("g"), Some(1));
}

/// `READONLY` (a server that is a replica, as a demoted primary is after a
/// failover) is retried within the retry window: once the server is promoted
/// (`REPLICAOF NO ONE`), the same call is applied there, once.
#[test]
fn readonly_is_retried_until_the_server_is_promoted() {
    let primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let opts = Options::new().retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_with(replica.client(), "promoted", opts).unwrap();
    let promote = {
        let mut c = replica.conn();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(500));
            let _: () = redis::cmd("REPLICAOF")
                .arg("NO")
                .arg("ONE")
                .query(&mut c)
                .unwrap();
        })
    };
    let t = Instant::now();
    wg.add(2).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    promote.join().unwrap();
    assert_eq!(wg.count().unwrap(), 2);
    assert_eq!(replica.raw_count("promoted"), Some(2));
}

/// Asserts that no secret appears in `text`.
#[track_caller]
fn assert_secret_free(text: &str) {
    for secret in [PASSWORD, USER_SECRET, SENTINEL_SECRET] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// `r`'s error, checked to hold no secret (Display and Debug).
#[track_caller]
fn error_of<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected an error");
    assert_secret_free(&e.to_string());
    assert_secret_free(&format!("{e:?}"));
    e
}

/// add, a lease, a blocked waiter, the lease's done, done, the waiter released,
/// status, delete.
fn cycle(wg: &RedisWaitGroup) {
    wg.add(2).unwrap();
    let lease = wg.join(Duration::from_secs(10)).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    support::await_local_waiters(wg, 1);
    let status = wg.status().unwrap();
    assert_eq!((status.count, status.leases.len()), (2, 1), "{status}");
    assert_secret_free(&format!("{wg:?} {lease:?} {status:?} {status}"));
    lease.done().unwrap();
    assert!(!waiter.is_finished());
    wg.done().unwrap();
    waiter.join().unwrap().unwrap();
    wg.delete().unwrap();
    assert!(matches!(wg.count(), Err(Error::StateLost { .. })));
}

/// Sets the ACL user `hc` with exactly `ACL_RULE` and `USER_SECRET` on `server`.
fn acl_user(server: &RedisServer) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER")
        .arg("hc")
        .arg("reset")
        .arg("on")
        .arg(format!(">{USER_SECRET}"));
    for part in ACL_RULE.split_whitespace() {
        cmd.arg(part);
    }
    cmd.exec(&mut server.conn()).unwrap();
}

/// A primary and a replica that need `PASSWORD` (and know the ACL user `hc`),
/// behind sentinels that log in with it and need `SENTINEL_SECRET` themselves.
/// The URL's user and password are the primary's, the sentinels' are an option:
/// the whole cycle runs for the default user and for the ACL user; each missing
/// or wrong secret is its own error (the sentinels', or the primary's), at once,
/// and none shows a secret.
#[test]
fn a_primary_with_a_password_and_an_acl_user_behind_sentinels_with_their_own() {
    let mut primary = RedisServer::start();
    let mut replica = RedisServer::replica_of(&primary);
    for server in [&mut primary, &mut replica] {
        acl_user(server);
        server.require_password(PASSWORD);
    }
    let sentinels = Sentinels::start_with(
        primary.port,
        1,
        Setup {
            auth_pass: Some(PASSWORD),
            requirepass: Some(SENTINEL_SECRET),
            ..Setup::default()
        },
    );
    let open = |auth: &str, name: &str, opts: Options| {
        let urls = sentinels.urls_as(auth);
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        RedisWaitGroup::open_sentinel(&urls, MASTER, name, opts).unwrap()
    };
    let with_secret = || Options::new().sentinel_password(SENTINEL_SECRET);
    cycle(&open(
        &format!(":{PASSWORD}@"),
        "sentinel-default",
        with_secret(),
    ));
    let least = format!("hc:{USER_SECRET}@");
    cycle(&open(&least, "sentinel-acl", with_secret()));
    // Async, as the ACL user.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wg = open(&least, "sentinel-async", with_secret());
    rt.block_on(async {
        wg.add_async(1).await?;
        wg.done_async().await?;
        wg.wait_timeout_async(LONG).await?;
        wg.count_async().await
    })
    .unwrap();
    assert_eq!(primary.raw_count("sentinel-async"), Some(0));

    // Each secret missing or wrong: an error naming whose, at once (the retry
    // window is 20 s), blocking and async.
    let opts = |o: Options| o.retry_window(Duration::from_secs(20));
    let cases = [
        ("no sentinel password", least.clone(), opts(Options::new())),
        (
            "wrong sentinel password",
            least.clone(),
            opts(Options::new().sentinel_password(USER_SECRET)),
        ),
        (
            "wrong sentinel user",
            least.clone(),
            opts(with_secret().sentinel_user("nobody")),
        ),
        ("no primary password", String::new(), opts(with_secret())),
        (
            "wrong primary password",
            format!("hc:{SENTINEL_SECRET}@"),
            opts(with_secret()),
        ),
    ];
    for (what, auth, o) in cases {
        let wg = open(&auth, "refused", o);
        for attempt in ["blocking", "async"] {
            let t = Instant::now();
            let e = match attempt {
                "blocking" => error_of(wg.add(1)),
                _ => error_of(rt.block_on(wg.add_async(1))),
            };
            let text = e.to_string();
            match (what, &e) {
                (
                    "no sentinel password" | "wrong sentinel password",
                    Error::SentinelAuthFailed { user: None, .. },
                )
                | ("wrong sentinel user", Error::SentinelAuthFailed { user: Some(_), .. }) => {
                    assert!(text.contains("sentinel"), "{text}")
                }
                ("no primary password", Error::AuthRequired { .. }) => {}
                ("wrong primary password", Error::AuthFailed { user: Some(u), .. }) => {
                    assert_eq!(u, "hc")
                }
                _ => panic!("{what} ({attempt}): {e:?}"),
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what} ({attempt}): {:?}",
                t.elapsed()
            );
        }
    }
    // Later URLs may repeat the primary's credentials or give none, not others.
    let mut urls = sentinels.urls_as(&least);
    urls[2] = sentinels.urls()[2].clone();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "mixed", with_secret()).unwrap();
    wg.add(1).unwrap();
    let mut urls = sentinels.urls_as(&least);
    urls[1] = sentinels.urls_as(&format!(":{PASSWORD}@"))[1].clone();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let e = error_of(RedisWaitGroup::open_sentinel(
        &urls,
        MASTER,
        "g",
        with_secret(),
    ));
    assert!(matches!(e, Error::InvalidUrl { .. }), "{e:?}");
    // A sentinel user without a password is refused before any call.
    let urls = sentinels.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let r = RedisWaitGroup::open_sentinel(&urls, MASTER, "g", Options::new().sentinel_user("u"));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    // And the sentinels' password for a topology without sentinels.
    let r = RedisWaitGroup::open_url_with(&primary.url(), "g", with_secret());
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
}

/// Sentinels, primary and replica that speak only TLS (client certificates
/// required, a private CA): `rediss://` sentinel URLs reach the sentinels and the
/// primary they name over TLS, with the certificates of the options; the whole
/// cycle runs. A wrong CA is `Error::Tls` at once, not a retried failover.
#[test]
fn sentinels_primary_and_replica_over_tls_run_the_whole_cycle() {
    let certs = Certs::make();
    let primary = TlsServer::start(&certs);
    let _replica = TlsServer::replica_of(&primary, &certs);
    let sentinels = Sentinels::start_with(
        primary.port,
        1,
        Setup {
            tls: Some(&certs),
            ..Setup::default()
        },
    );
    let urls = sentinels.urls();
    assert!(urls.iter().all(|u| u.starts_with("rediss://")));
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "sentinel-tls", certs.options("ca.crt"))
        .unwrap();
    cycle(&wg);
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "sentinel-tls", certs.options("ca.crt"))
        .unwrap();
    wg.add(1).unwrap();
    let count: String = redis::cmd("HGET")
        .arg("headcount:{sentinel-tls}:state")
        .arg("count")
        .query(&mut primary.conn(&certs))
        .unwrap();
    assert_eq!(count, "1");

    let opts = certs
        .options("other-ca.crt")
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "sentinel-tls", opts).unwrap();
    let t = Instant::now();
    let r = wg.add(1);
    assert!(
        matches!(&r, Err(Error::Tls { detail, .. }) if detail.contains("certificate")),
        "{r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Certificates for plain sentinel URLs, and a mix of schemes, are refused.
    let plain = urls[0].replace("rediss://", "redis://");
    let r = RedisWaitGroup::open_sentinel(&[&plain], MASTER, "g", certs.options("ca.crt"));
    assert!(matches!(r, Err(Error::InvalidUrl { .. })), "{r:?}");
    let r = RedisWaitGroup::open_sentinel(&[urls[0], &plain], MASTER, "g", Options::new());
    assert!(matches!(r, Err(Error::InvalidUrl { .. })), "{r:?}");
}

/// A primary frozen (SIGSTOP) before a handle's first call: the resolution (the
/// sentinels name the frozen primary, whose role is then checked) is bounded like
/// every attempt, so the call ends within the retry window (+1 s) with
/// `Unreachable`, never a hang (blocking and async).
#[test]
fn a_frozen_primary_does_not_hang_the_resolution() {
    let primary = RedisServer::start();
    let sentinels = Sentinels::start(primary.port, 0);
    let urls = sentinels.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let window = Duration::from_millis(1500);
    let opts = Options::new().retry_window(window);
    let wg = RedisWaitGroup::open_sentinel(&urls, MASTER, "frozen", opts).unwrap();
    let _frozen = support::Frozen::stop(primary.pid());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for attempt in ["blocking", "async"] {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = Instant::now();
        let call = {
            let wg = wg.clone();
            let handle = rt.handle().clone();
            thread::spawn(move || {
                let r = match attempt {
                    "blocking" => wg.add(1),
                    _ => handle.block_on(wg.add_async(1)),
                };
                let _ = tx.send(r);
            })
        };
        let r = rx
            .recv_timeout(window + Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{attempt}: still blocked after {:?}", t.elapsed()));
        call.join().unwrap();
        assert!(
            t.elapsed() < window + Duration::from_secs(1),
            "{attempt}: {:?}",
            t.elapsed()
        );
        assert!(
            matches!(r, Err(Error::Unreachable { .. })),
            "{attempt}: {r:?}"
        );
    }
}
