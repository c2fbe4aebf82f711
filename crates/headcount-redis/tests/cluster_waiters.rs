//! Many waiters on a Redis Cluster, few connections: the waiters of one process
//! share one watcher per cluster, with one connection per node, holding a shard
//! subscription to the wake channel of every group waited on (on the node that
//! owns the group's slot); a waiter that joins while others wait is served at
//! once; one that stops waiting (dropped, timed out) leaves nothing behind.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/mod.rs"]
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use cluster::Cluster;
use headcount_redis::{Error, Options, RedisWaitGroup};
use support::await_local_waiters;

const LONG: Duration = Duration::from_secs(60);

/// A thread in `wait` and a tokio task in `wait_async` on one group, both
/// registered with the watcher once [`start`](Self::start) returns.
struct TwoWaiters {
    rt: tokio::runtime::Runtime,
    blocking: thread::JoinHandle<headcount_redis::Result<()>>,
    asynchronous: tokio::task::JoinHandle<headcount_redis::Result<()>>,
}

impl TwoWaiters {
    fn start(wg: &RedisWaitGroup) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let blocking = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(LONG))
        };
        await_local_waiters(wg, 1);
        let asynchronous = {
            let wg = wg.clone();
            rt.spawn(async move { wg.wait_timeout_async(LONG).await })
        };
        await_local_waiters(wg, 2);
        TwoWaiters {
            rt,
            blocking,
            asynchronous,
        }
    }

    /// Neither waiter has returned.
    fn still_waiting(&self) -> bool {
        !self.blocking.is_finished() && !self.asynchronous.is_finished()
    }

    /// Both waiters return, released (not failed, not timed out).
    fn released(self) {
        self.blocking.join().unwrap().unwrap();
        self.rt.block_on(self.asynchronous).unwrap().unwrap();
    }
}

/// Connections each master holds beyond `baseline`.
fn opened(cluster: &Cluster, baseline: &[i64]) -> Vec<i64> {
    (0..3)
        .map(|n| cluster.nodes[n].connected_clients() - baseline[n])
        .collect()
}

/// 1,000 waiters (half threads calling `wait`, half tokio tasks calling
/// `wait_async`), each with a handle of its own, on 100 groups whose slots are
/// spread over the 3 masters: while all of them wait, each master holds at most
/// 2 connections more than before (the watcher's, and one spare for a command
/// connection; the watcher alone needs one), the watcher is subscribed to every
/// group's channel on the group's master, and every waiter is released once its
/// group reaches zero; then the watcher closes its connections.
#[test]
fn thousand_waiters_on_a_hundred_groups_use_at_most_two_connections_per_node() {
    const WAITERS: usize = 1000;
    const GROUPS: usize = 100;
    let cluster = Cluster::start();
    let names: Vec<String> = (0..GROUPS)
        .map(|i| cluster.name_on(i % 3, &format!("many{i}")))
        .collect();
    let slots: std::collections::BTreeSet<u16> = names.iter().map(|n| cluster.slot_of(n)).collect();
    assert!(slots.len() > 90, "{} slots", slots.len());
    for n in &names {
        cluster.open(n).add(1).unwrap();
    }
    // The handles above are dropped: their connections are closed.
    thread::sleep(Duration::from_millis(200));
    let baseline: Vec<i64> = (0..3)
        .map(|n| cluster.nodes[n].connected_clients())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..WAITERS {
        let wg = cluster.open(&names[i % GROUPS]);
        if i % 2 == 0 {
            threads.push(thread::spawn(move || wg.wait_timeout(LONG)));
        } else {
            tasks.push(rt.spawn(async move { wg.wait_timeout_async(LONG).await }));
        }
    }
    let probes: Vec<RedisWaitGroup> = names.iter().map(|n| cluster.open(n)).collect();
    for p in &probes {
        await_local_waiters(p, WAITERS / GROUPS);
    }
    let used = opened(&cluster, &baseline);
    eprintln!("connections per node while {WAITERS} waiters wait: {used:?}");
    assert!(
        used.iter().all(|&n| n <= 2),
        "{WAITERS} waiters on {GROUPS} groups use {used:?} connections per node"
    );
    for (i, n) in names.iter().enumerate() {
        cluster.await_subscribed(i % 3, n);
    }
    for p in &probes {
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
        assert_eq!(p.count().unwrap(), 0, "released at the true zero");
    }
    drop(probes);
    // Nothing is pending: the watcher ends and closes its connections.
    let t = Instant::now();
    while opened(&cluster, &baseline).iter().any(|&n| n > 0) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "connections stayed open: {:?}",
            opened(&cluster, &baseline)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waiters on a group whose slot another group's waiter already waits in (both
/// groups in one slot, watched on one connection) are served at once: their
/// group reaches zero as they join, and they are released well within the 2 s
/// a waiter may go without news (their snapshots are not held up), while the
/// first waiter still waits.
#[test]
fn a_waiter_joining_others_in_its_slot_is_released_at_its_zero() {
    let cluster = Cluster::start();
    let first_name = cluster.name_on(1, "first");
    let second_name = cluster.name_in_slot_of(&first_name, "second");
    let first = cluster.open(&first_name);
    let second = cluster.open(&second_name);
    first.add(1).unwrap();
    second.add(1).unwrap();
    let long = {
        let first = first.clone();
        thread::spawn(move || first.wait_timeout(LONG))
    };
    await_local_waiters(&first, 1);
    cluster.await_subscribed(1, &first_name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let blocking = {
        let second = second.clone();
        thread::spawn(move || (second.wait_timeout(LONG), Instant::now()))
    };
    let asynchronous = {
        let second = second.clone();
        rt.spawn(async move { (second.wait_timeout_async(LONG).await, Instant::now()) })
    };
    let zero_at = Instant::now();
    second.done().unwrap();
    let (r, released_at) = blocking.join().unwrap();
    r.unwrap();
    let (ra, released_async) = rt.block_on(asynchronous).unwrap();
    ra.unwrap();
    for at in [released_at, released_async] {
        // Well inside the 2 s after which a waiter re-checks by itself.
        assert!(
            at.duration_since(zero_at) < Duration::from_secs(1),
            "released {:?} after the zero",
            at.duration_since(zero_at)
        );
    }
    assert!(!long.is_finished(), "the first group is not at zero");
    first.done().unwrap();
    long.join().unwrap().unwrap();
}

/// A waiter joining its own group while another waits on it gets its snapshot at
/// once (its group's channel is already subscribed): it is registered with the
/// watcher well within 1 s, blocking and async alike.
#[test]
fn a_waiter_joining_its_groups_waiters_is_registered_at_once() {
    let cluster = Cluster::start();
    let name = cluster.name_on(2, "joined");
    let wg = cluster.open(&name);
    wg.add(1).unwrap();
    let first = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    await_local_waiters(&wg, 1);
    cluster.await_subscribed(2, &name);
    let mut joiners = Vec::new();
    for (i, run_async) in [false, true].into_iter().enumerate() {
        let joined = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let joiner = {
            let wg = wg.clone();
            thread::spawn(move || {
                if run_async {
                    rt.block_on(wg.wait_timeout_async(LONG))
                } else {
                    wg.wait_timeout(LONG)
                }
            })
        };
        await_local_waiters(&wg, 2 + i);
        let after = joined.elapsed();
        assert!(
            after < Duration::from_secs(1),
            "registered {after:?} after joining (async: {run_async})"
        );
        joiners.push(joiner);
    }
    assert!(!first.is_finished() && joiners.iter().all(|j| !j.is_finished()));
    wg.done().unwrap();
    first.join().unwrap().unwrap();
    for j in joiners {
        j.join().unwrap().unwrap();
    }
}

/// After the group's slot moves to another master (the old one ends the
/// watcher's subscription), the subscription follows it to the new owner, and a
/// waiter joining then is still registered at once.
#[test]
fn a_waiter_joining_after_a_slot_migration_is_registered_at_once() {
    let cluster = Cluster::start();
    let name = cluster.name_on(0, "moved");
    let slot = cluster.slot_of(&name);
    let wg = cluster.open(&name);
    wg.add(1).unwrap();
    let join = |wg: &RedisWaitGroup| {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let mut waiters = vec![join(&wg)];
    await_local_waiters(&wg, 1);
    cluster.await_subscribed(0, &name);
    waiters.push(join(&wg));
    await_local_waiters(&wg, 2);
    cluster.migrate(slot, 1);
    cluster.await_subscribed(1, &name);
    assert!(!cluster.nodes[0].subscribed(&name));
    await_local_waiters(&wg, 2);
    let joined = Instant::now();
    waiters.push(join(&wg));
    await_local_waiters(&wg, 3);
    let after = joined.elapsed();
    assert!(
        after < Duration::from_secs(1),
        "registered {after:?} after joining"
    );
    assert!(waiters.iter().all(|w| !w.is_finished()));
    wg.done().unwrap();
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    assert_eq!(cluster.owner(slot), 1);
}

/// The master of a group's slot killed (`kill -9`) while waiters wait: once its
/// replica is promoted (cluster failover), the watcher's cluster connection
/// finds the new owner (the old one refuses, the cluster answers `CLUSTERDOWN`
/// meanwhile) and subscribes the group's channel there, and the waiters are
/// released at the true zero: no error, no false zero.
#[test]
fn waiters_follow_a_failover_of_their_groups_master() {
    let mut cluster = Cluster::start();
    cluster.add_replica(0);
    let name = cluster.name_on(0, "failover");
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let opts = Options::new().retry_window(Duration::from_secs(60));
    // Acknowledged by the replica, so that the failover keeps it.
    let durable = opts.clone().min_replicas(1);
    RedisWaitGroup::open_cluster(&seeds, &name, durable)
        .unwrap()
        .add(2)
        .unwrap();
    let wg = RedisWaitGroup::open_cluster(&seeds, &name, opts).unwrap();
    let waiters = TwoWaiters::start(&wg);
    cluster.await_subscribed(0, &name);
    let killed = std::process::Command::new("kill")
        .args(["-9", &cluster.nodes[0].pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let t = Instant::now();
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut cluster.nodes[3].conn())
            .unwrap();
        if info.contains("role:master") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no failover");
        thread::sleep(Duration::from_millis(50));
    }
    // The waiters are woken from the promoted replica.
    await_local_waiters(&wg, 2);
    cluster.await_subscribed(3, &name);
    assert!(waiters.still_waiting());
    wg.done().unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    thread::sleep(Duration::from_millis(300));
    assert!(waiters.still_waiting());
    wg.done().unwrap();
    waiters.released();
}

/// While no node serves a group's slot (`CLUSTER DELSLOTS` on its owner: the
/// owner ends the slot's subscriptions and answers `CLUSTERDOWN`), its waiters
/// keep waiting; once the slot is served again they are released at the true
/// zero.
#[test]
fn waiters_wait_through_a_slot_that_is_not_served_for_a_while() {
    let cluster = Cluster::start();
    let name = cluster.name_on(1, "unserved");
    let slot = cluster.slot_of(&name);
    let wg = cluster.open(&name);
    wg.add(1).unwrap();
    let waiters = TwoWaiters::start(&wg);
    cluster.await_subscribed(1, &name);
    let slots = |op: &str| {
        let _: () = redis::cmd("CLUSTER")
            .arg(op)
            .arg(slot)
            .query(&mut cluster.nodes[1].conn())
            .unwrap();
    };
    slots("DELSLOTS");
    let t = Instant::now();
    while cluster.nodes[1].subscribed(&name) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the subscription was not ended"
        );
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(1500));
    assert!(waiters.still_waiting());
    slots("ADDSLOTS");
    cluster.await_ok();
    cluster.await_subscribed(1, &name);
    assert!(waiters.still_waiting());
    wg.done().unwrap();
    waiters.released();
}

/// A group no waiter of the process has waited on for 10 s is unsubscribed by
/// the watcher (which another group's waiter keeps running): a process that
/// waits on ever new groups does not keep a subscription for each.
#[test]
fn a_group_no_longer_waited_on_is_unsubscribed() {
    let cluster = Cluster::start();
    let (done_name, kept_name) = (cluster.name_on(0, "finished"), cluster.name_on(1, "kept"));
    let (finished, kept) = (cluster.open(&done_name), cluster.open(&kept_name));
    finished.add(1).unwrap();
    kept.add(1).unwrap();
    let waiter = |wg: &RedisWaitGroup| {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let long = waiter(&kept);
    let short = waiter(&finished);
    await_local_waiters(&finished, 1);
    cluster.await_subscribed(0, &done_name);
    finished.done().unwrap();
    short.join().unwrap().unwrap();
    let t = Instant::now();
    while cluster.nodes[0].subscribed(&done_name) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "still subscribed after {:?}",
            t.elapsed()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t.elapsed() >= Duration::from_secs(5),
        "unsubscribed at once"
    );
    assert!(cluster.nodes[1].subscribed(&kept_name));
    assert!(!long.is_finished());
    kept.done().unwrap();
    long.join().unwrap().unwrap();
}

/// Waiters that stop waiting leave nothing in the watcher: futures dropped
/// mid-wait and waits that time out are deregistered at once, a waiter after
/// them is still released at its zero, and once nobody waits the watcher closes
/// its connections (each node is back to what the handle alone holds).
#[test]
fn dropped_and_timed_out_waiters_leave_nothing_in_the_watcher() {
    let cluster = Cluster::start();
    let name = cluster.name_on(2, "leaving");
    let wg = cluster.open(&name);
    wg.add(1).unwrap();
    // The handle's own connections, before anyone waits.
    let baseline: Vec<i64> = (0..3)
        .map(|n| cluster.nodes[n].connected_clients())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let wg = wg.clone();
            rt.spawn(async move { wg.wait_async().await })
        })
        .collect();
    await_local_waiters(&wg, 50);
    cluster.await_subscribed(2, &name);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        assert!(rt.block_on(t).unwrap_err().is_cancelled());
    }
    assert_eq!(
        wg.local_waiters(),
        0,
        "a dropped future is still registered"
    );

    let timed: Vec<_> = (0..20)
        .map(|_| {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(Duration::from_millis(300)))
        })
        .collect();
    for t in timed {
        let r = t.join().unwrap();
        assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    }
    assert_eq!(
        wg.local_waiters(),
        0,
        "a timed-out waiter is still registered"
    );

    let last = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    await_local_waiters(&wg, 1);
    wg.done().unwrap();
    last.join().unwrap().unwrap();
    assert_eq!(wg.local_waiters(), 0);

    let t = Instant::now();
    while opened(&cluster, &baseline).iter().any(|&n| n > 0) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the watcher still holds connections: {:?} beyond the handle's",
            opened(&cluster, &baseline)
        );
        thread::sleep(Duration::from_millis(50));
    }
}
