//! Many waiters, few connections: the waiters of one process share one watcher
//! connection per server, and leave nothing behind when they stop waiting.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, RedisWaitGroup};
use support::{await_local_waiters, connected_clients, RedisServer};

const LONG: Duration = Duration::from_secs(60);

/// 1,000 waiters (half threads calling `wait`, half tokio tasks calling
/// `wait_async`), each with a handle of its own, spread over `groups` groups: while
/// all of them wait, the process holds at most 4 connections, and every one is
/// released once its group reaches zero.
fn thousand_waiters(groups: usize) {
    const WAITERS: usize = 1000;
    let server = RedisServer::start();
    let names: Vec<String> = (0..groups).map(|g| format!("many-{g}")).collect();
    for n in &names {
        RedisWaitGroup::open(server.client(), n)
            .unwrap()
            .add(1)
            .unwrap();
    }
    // The handles above are dropped: their connections are closed.
    thread::sleep(Duration::from_millis(100));
    let baseline = connected_clients(&server);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..WAITERS {
        let wg = RedisWaitGroup::open(server.client(), &names[i % groups]).unwrap();
        if i % 2 == 0 {
            threads.push(thread::spawn(move || wg.wait_timeout(LONG)));
        } else {
            tasks.push(rt.spawn(async move { wg.wait_timeout_async(LONG).await }));
        }
    }
    let probes: Vec<RedisWaitGroup> = names
        .iter()
        .map(|n| RedisWaitGroup::open(server.client(), n).unwrap())
        .collect();
    for p in &probes {
        await_local_waiters(p, WAITERS / groups);
    }
    let used = connected_clients(&server) - baseline;
    assert!(
        used <= 4,
        "{WAITERS} waiters on {groups} group(s) use {used} connections"
    );
    for p in &probes {
        assert_eq!(p.count().unwrap(), 1, "no waiter changed the count");
        p.done().unwrap();
    }
    for t in threads {
        t.join().unwrap().unwrap();
    }
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    for p in &probes {
        assert_eq!(p.local_waiters(), 0);
    }
}

#[test]
fn thousand_waiters_on_one_group_use_at_most_four_connections() {
    thousand_waiters(1);
}

#[test]
fn thousand_waiters_on_a_hundred_groups_use_at_most_four_connections() {
    thousand_waiters(100);
}

/// A dropped `wait_async` future and a timed-out `wait_timeout` deregister at once;
/// once nobody waits, the watcher closes its connection.
#[test]
fn a_dropped_or_timed_out_waiter_leaves_nothing_in_the_watcher() {
    let server = RedisServer::start();
    let wg = Arc::new(RedisWaitGroup::open(server.client(), "leak").unwrap());
    wg.add(1).unwrap();
    thread::sleep(Duration::from_millis(100));
    let baseline = connected_clients(&server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Dropped futures.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let wg = wg.clone();
            rt.spawn(async move { wg.wait_async().await })
        })
        .collect();
    rt.block_on(async {
        let t = Instant::now();
        while wg.local_waiters() < 10 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "waiters never blocked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    for t in &tasks {
        t.abort();
    }
    rt.block_on(async {
        for t in tasks {
            assert!(t.await.unwrap_err().is_cancelled());
        }
    });
    assert_eq!(wg.local_waiters(), 0, "a dropped future stayed registered");

    // A future dropped by a timeout around it, and timed-out waits.
    let r = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(300), wg.wait_async()).await
    });
    assert!(r.is_err(), "the group is not at zero");
    assert_eq!(wg.local_waiters(), 0);
    let r = wg.wait_timeout(Duration::from_millis(300));
    assert!(matches!(r, Err(Error::Timeout { count: 1, .. })), "{r:?}");
    let r = rt.block_on(wg.wait_timeout_async(Duration::from_millis(300)));
    assert!(matches!(r, Err(Error::Timeout { count: 1, .. })), "{r:?}");
    assert_eq!(
        wg.local_waiters(),
        0,
        "a timed-out waiter stayed registered"
    );

    // Nothing is pending: the watcher ends and closes its connections (the one an
    // async waiter read on is closed by its runtime, which runs here).
    rt.block_on(async {
        let t = Instant::now();
        while connected_clients(&server) > baseline {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "connections stayed open: {} > {baseline}",
                connected_clients(&server)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(server.blocked_readers(), 0);
}

/// A waiter that arrives while the watcher is blocked reading another group's
/// stream is served without waiting for that read to end: it is released at its own
/// group's zero while the first waiter still waits.
#[test]
fn a_new_group_is_watched_while_another_one_waits() {
    let server = RedisServer::start();
    let first = RedisWaitGroup::open(server.client(), "first").unwrap();
    let second = RedisWaitGroup::open(server.client(), "second").unwrap();
    first.add(1).unwrap();
    second.add(1).unwrap();
    let long = thread::spawn(move || first.wait_timeout(LONG));
    server.await_blocked_readers(1);
    let second = Arc::new(second);
    let waiter = {
        let second = second.clone();
        thread::spawn(move || {
            let r = second.wait_timeout(LONG);
            (r, Instant::now())
        })
    };
    await_local_waiters(&second, 1);
    let zero_at = Instant::now();
    second.done().unwrap();
    let (r, released_at) = waiter.join().unwrap();
    r.unwrap();
    // Well inside the 2 s a blocking read may last: the new stream was read at once.
    assert!(
        released_at.duration_since(zero_at) < Duration::from_secs(1),
        "released {:?} after the zero",
        released_at.duration_since(zero_at)
    );
    assert!(!long.is_finished(), "the first group is not at zero");
    let first = RedisWaitGroup::open(server.client(), "first").unwrap();
    first.done().unwrap();
    long.join().unwrap().unwrap();
}

/// The same after blocking and async waiters took turns reading (each on a
/// connection of its own kind): `CLIENT UNBLOCK` goes to the connection that
/// reads, not to the last async reader's.
#[test]
fn a_new_group_is_watched_after_async_and_blocking_readers_took_turns() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let idle = RedisWaitGroup::open(server.client(), "turns-idle").unwrap();
    idle.add(1).unwrap();
    idle.done().unwrap();
    // At zero: each reads one snapshot, the blocking one on the hub's connection,
    // the async one on its runtime's.
    idle.wait().unwrap();
    rt.block_on(idle.wait_async()).unwrap();
    let first = RedisWaitGroup::open(server.client(), "turns-first").unwrap();
    let second = Arc::new(RedisWaitGroup::open(server.client(), "turns-second").unwrap());
    first.add(1).unwrap();
    second.add(1).unwrap();
    let long = thread::spawn(move || first.wait_timeout(LONG));
    server.await_blocked_readers(1);
    let started = Instant::now();
    let waiter = {
        let second = second.clone();
        thread::spawn(move || {
            let r = second.wait_timeout(LONG);
            (r, Instant::now())
        })
    };
    await_local_waiters(&second, 1);
    second.done().unwrap();
    let (r, released_at) = waiter.join().unwrap();
    r.unwrap();
    // Well inside the 2 s a blocking read may last: the read in progress was
    // ended for the new waiter's snapshot, and again for its stream.
    assert!(
        released_at.duration_since(started) < Duration::from_secs(1),
        "released {:?} after it started waiting",
        released_at.duration_since(started)
    );
    assert!(!long.is_finished(), "the first group is not at zero");
    let first = RedisWaitGroup::open(server.client(), "turns-first").unwrap();
    first.done().unwrap();
    long.join().unwrap().unwrap();
}
