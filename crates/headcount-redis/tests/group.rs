//! `RedisWaitGroup` against a real `redis-server` started by each test.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, RedisWaitGroup};
use support::{Proxy, RedisServer};

const LONG: Duration = Duration::from_secs(20);

fn group(server: &RedisServer, name: &str) -> RedisWaitGroup {
    RedisWaitGroup::open(server.client(), name).unwrap()
}

#[test]
fn add_done_wait_and_reuse_like_the_core() {
    let server = RedisServer::start();
    let wg = Arc::new(group(&server, "basic"));
    wg.add(3).unwrap();
    assert_eq!(wg.count().unwrap(), 3);
    match wg.wait_timeout(Duration::from_millis(200)) {
        Err(Error::Timeout { count: 3, .. }) => {}
        other => panic!("expected a timeout at 3, got {other:?}"),
    }
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    server.await_blocked_readers(1);
    for _ in 0..3 {
        wg.done().unwrap();
    }
    waiter.join().unwrap().unwrap();
    assert_eq!(wg.count().unwrap(), 0);
    // A wait that starts at zero returns at once.
    wg.wait_timeout(Duration::from_millis(1)).unwrap();
    // Reuse: a new round blocks its waiters again until its own zero.
    wg.add(1).unwrap();
    assert!(matches!(
        wg.wait_timeout(Duration::from_millis(100)),
        Err(Error::Timeout { count: 1, .. })
    ));
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    server.await_blocked_readers(1);
    wg.done().unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn negative_counter_refused_count_unchanged() {
    let server = RedisServer::start();
    let wg = group(&server, "neg");
    wg.add(2).unwrap();
    match wg.add(-3) {
        Err(Error::NegativeCounter {
            count: 2,
            delta: -3,
            ..
        }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(wg.count().unwrap(), 2);
    assert_eq!(server.raw_count("neg"), Some(2));
    wg.done().unwrap();
    wg.done().unwrap();
    let err = wg.done().unwrap_err();
    assert!(
        matches!(
            err,
            Error::NegativeCounter {
                count: 0,
                delta: -1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("negative counter refused"),
        "{err}"
    );
    assert_eq!(server.raw_count("neg"), Some(0));
    // The group still works after a refusal.
    wg.add(1).unwrap();
    wg.done().unwrap();
    wg.wait_timeout(LONG).unwrap();
}

#[test]
fn missing_group_is_an_error_never_zero_and_nothing_is_written() {
    let server = RedisServer::start();
    let wg = group(&server, "never-added");
    assert!(matches!(
        wg.wait_timeout(LONG),
        Err(Error::NoSuchGroup { .. })
    ));
    assert!(matches!(wg.count(), Err(Error::NoSuchGroup { .. })));
    assert!(matches!(wg.done(), Err(Error::NoSuchGroup { .. })));
    assert!(matches!(wg.add(-1), Err(Error::NoSuchGroup { .. })));
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn retried_done_after_a_dropped_reply_is_counted_once() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let wg = RedisWaitGroup::open_url(&proxy.url(), "retry").unwrap();
    wg.add(5).unwrap();
    assert_eq!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // The script runs on the server, then its reply is lost and the connection cut:
    // the client must retry on a new connection with the same operation id.
    proxy.drop_next_reply();
    wg.done().unwrap();
    assert!(!proxy.armed(), "the reply was never dropped");
    assert!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the done was not retried on a new connection"
    );
    assert_eq!(
        server.raw_count("retry"),
        Some(4),
        "a retried done was counted twice"
    );
    assert_eq!(wg.count().unwrap(), 4);
}

#[test]
fn redis_restart_while_waiting_is_state_lost_not_success() {
    let mut server = RedisServer::start();
    let wg = Arc::new(group(&server, "restart"));
    wg.add(2).unwrap();
    let sync_waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let async_waiter = {
        let wg = wg.clone();
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(wg.wait_timeout_async(LONG))
        })
    };
    support::await_local_waiters(&wg, 2);
    server.shutdown_nosave();
    server.restart();
    for (kind, r) in [
        ("sync", sync_waiter.join().unwrap()),
        ("async", async_waiter.join().unwrap()),
    ] {
        assert!(
            matches!(r, Err(Error::StateLost { .. })),
            "{kind} waiter: {r:?}"
        );
    }
    // A fresh process's done does not recreate the group either.
    let fresh = group(&server, "restart");
    assert!(matches!(fresh.done(), Err(Error::NoSuchGroup { .. })));
    // Someone creates a new incarnation: the old handle still reports state lost,
    // never that incarnation's counter.
    fresh.add(1).unwrap();
    assert!(matches!(wg.count(), Err(Error::StateLost { .. })));
    assert!(matches!(wg.done(), Err(Error::StateLost { .. })));
    assert_eq!(fresh.count().unwrap(), 1);
}

#[test]
fn invalid_names_and_unreachable_servers_are_clear_errors() {
    let server = RedisServer::start();
    for bad in ["", "has space", "a{tag}", "new\nline", &"x".repeat(129)] {
        match RedisWaitGroup::open(server.client(), bad) {
            Err(e @ Error::InvalidName { .. }) => {
                assert!(e.to_string().contains("invalid group name"))
            }
            other => panic!("{bad:?} accepted: {other:?}"),
        }
    }
    assert!(matches!(
        RedisWaitGroup::open_url("not a url", "ok"),
        Err(Error::InvalidUrl { .. })
    ));
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let wg = RedisWaitGroup::open_url(&format!("redis://127.0.0.1:{port}"), "ok").unwrap();
    let t = Instant::now();
    let err = wg.add(1).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "gave up only after {:?}",
        t.elapsed()
    );
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn async_twins() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let wg = Arc::new(group(&server, "async"));
        wg.add_async(2).await.unwrap();
        assert_eq!(wg.count_async().await.unwrap(), 2);
        assert!(matches!(
            wg.wait_timeout_async(Duration::from_millis(100)).await,
            Err(Error::Timeout { count: 2, .. })
        ));
        let waiter = {
            let wg = wg.clone();
            tokio::spawn(async move { wg.wait_timeout_async(LONG).await })
        };
        wg.done_async().await.unwrap();
        wg.done_async().await.unwrap();
        waiter.await.unwrap().unwrap();
        assert!(matches!(
            wg.done_async().await,
            Err(Error::NegativeCounter { count: 0, .. })
        ));
        wg.wait_async().await.unwrap();
    });
}

#[test]
fn leases_pay_on_drop_report_failure_and_reuse_after_a_broken_round() {
    let server = RedisServer::start();
    let wg = group(&server, "lease");
    wg.add(2).unwrap();
    let a = wg.join_as("worker-a", Duration::from_secs(5), 1).unwrap();
    let b = wg.join_as("worker-b", Duration::from_secs(5), 1).unwrap();
    // Every counted done is claimed: a third lease would be a done nobody added.
    assert!(matches!(
        wg.join_as("worker-c", Duration::from_secs(5), 1),
        Err(Error::NothingToJoin {
            count: 2,
            claimed: 2,
            owed: 1,
            ..
        })
    ));
    let status = wg.status().unwrap();
    assert_eq!(status.leases.len(), 2);
    drop(a); // pays its done
    assert_eq!(wg.count().unwrap(), 1);
    b.fail("exit status: 3").unwrap();
    match wg.wait_timeout(LONG) {
        Err(Error::ParticipantFailed {
            participant,
            detail,
            owed: 1,
            ..
        }) => {
            assert_eq!(participant, "worker-b");
            assert_eq!(detail, "exit status: 3");
        }
        other => panic!("expected the failure, got {other:?}"),
    }
    // The failed lease's done was taken off: the round ended broken, and a wait at
    // zero keeps reporting it (like the core's panicked task) ...
    assert_eq!(wg.count().unwrap(), 0);
    assert!(wg.wait_timeout(LONG).unwrap_err().is_broken());
    assert!(wg.status().unwrap().broken.is_some());
    // ... until the next add starts a fresh round.
    wg.add(1).unwrap();
    let c = wg.join_as("worker-c", Duration::from_secs(5), 1).unwrap();
    c.done().unwrap();
    wg.wait_timeout(LONG).unwrap();
    assert!(wg.status().unwrap().broken.is_none());
}

#[test]
fn a_lease_dropped_while_panicking_fails_the_group() {
    let server = RedisServer::start();
    let wg = group(&server, "panics");
    wg.add(1).unwrap();
    let wg2 = wg.clone();
    let r = thread::spawn(move || {
        let _lease = wg2.join_as("panicker", Duration::from_secs(5), 1).unwrap();
        panic!("worker bug");
    })
    .join();
    assert!(r.is_err());
    match wg.wait_timeout(LONG) {
        Err(Error::ParticipantFailed {
            participant,
            detail,
            ..
        }) => {
            assert_eq!(participant, "panicker");
            assert_eq!(detail, "panicked");
        }
        other => panic!("a panicking worker was taken for success: {other:?}"),
    }
}

#[test]
fn all_keys_share_the_group_hash_tag() {
    let server = RedisServer::start();
    let wg = group(&server, "tagged");
    wg.add(2).unwrap();
    // A live lease (leases, members), a failed one (fenced, failures, events).
    let _live = wg.join_as("live", Duration::from_secs(30), 1).unwrap();
    let failing = wg.join_as("failing", Duration::from_secs(30), 1).unwrap();
    failing.fail("boom").unwrap();
    let mut keys = server.keys("*");
    keys.sort();
    let expected: Vec<String> = [
        "events", "failures", "fenced", "leases", "members", "sessions", "state",
    ]
    .iter()
    .map(|k| format!("headcount:{{tagged}}:{k}"))
    .collect();
    assert_eq!(keys, expected);
}

#[test]
fn async_waits_work_across_runtimes_that_come_and_go() {
    // Connections an async handle keeps are driven by the runtime that made them; once it is
    // gone they fail, and the handle must replace them rather than report an error.
    let server = RedisServer::start();
    let wg = group(&server, "runtimes");
    for round in 0..3 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        wg.add(1).unwrap();
        let releaser = {
            let wg = wg.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                wg.done().unwrap();
            })
        };
        let r = rt.block_on(async {
            wg.add_async(1).await.unwrap();
            assert_eq!(wg.count_async().await.unwrap(), 2);
            wg.done_async().await.unwrap();
            wg.wait_timeout_async(LONG).await
        });
        assert!(r.is_ok(), "round {round}: {r:?}");
        releaser.join().unwrap();
        drop(rt);
    }
}
