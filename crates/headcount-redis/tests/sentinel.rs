//! Redis Sentinel: a primary, one replica and three sentinels on loopback. The
//! primary is killed (-9) mid-round with `min_replicas = 1`: the handle follows the
//! failover to the promoted replica, no acknowledged `add`/`done` is lost, and the
//! waiters are released at the true zero, never before.

#[path = "support/sentinel.rs"]
mod sentinel;
mod support;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use sentinel::{Sentinels, MASTER};
use support::{signal, RedisServer};

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
