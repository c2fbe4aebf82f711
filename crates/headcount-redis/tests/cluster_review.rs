//! The cluster watcher's shard subscriptions over time: a channel still in use
//! is kept (not dropped and made again while its waiters wait), and channels no
//! longer in use are all dropped, however many become unused at once and
//! whichever slots and nodes they live on.

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

/// How many times node `node` ran `command` (`INFO commandstats`).
fn calls(cluster: &Cluster, node: usize, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut cluster.nodes[node].conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Groups whose waiters all finished at the same time, with slots on two
/// different masters (so no single `SUNSUBSCRIBE` can name them both: the server
/// refuses one that spans slots with `CROSSSLOT`), are all unsubscribed once
/// unused, while another group's waiter keeps the watcher running.
#[test]
fn groups_on_different_nodes_unused_at_once_are_all_unsubscribed() {
    let cluster = Cluster::start();
    let names = [
        cluster.name_on(0, "gone-a"),
        cluster.name_on(2, "gone-b"),
        cluster.name_on(0, "gone-c"),
    ];
    let nodes = [0, 2, 0];
    let kept_name = cluster.name_on(1, "kept");
    let kept = cluster.open(&kept_name);
    kept.add(1).unwrap();
    let long = {
        let kept = kept.clone();
        thread::spawn(move || kept.wait_timeout(LONG))
    };
    await_local_waiters(&kept, 1);
    let groups: Vec<RedisWaitGroup> = names.iter().map(|n| cluster.open(n)).collect();
    let short: Vec<_> = groups
        .iter()
        .map(|wg| {
            wg.add(1).unwrap();
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(LONG))
        })
        .collect();
    for (wg, (name, &node)) in groups.iter().zip(names.iter().zip(&nodes)) {
        await_local_waiters(wg, 1);
        cluster.await_subscribed(node, name);
    }
    // All three become unused together.
    for wg in &groups {
        wg.done().unwrap();
    }
    for s in short {
        s.join().unwrap().unwrap();
    }
    let t = Instant::now();
    loop {
        let left: Vec<&String> = names
            .iter()
            .zip(&nodes)
            .filter(|(name, &node)| cluster.nodes[node].subscribed(name))
            .map(|(name, _)| name)
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "still subscribed after {:?}: {left:?}",
            t.elapsed()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(cluster.nodes[1].subscribed(&kept_name));
    assert!(!long.is_finished());
    kept.done().unwrap();
    long.join().unwrap().unwrap();
}

/// A lone waiter that waits longer than a channel may go unused keeps its
/// group's subscription the whole time, even while one of its re-checks is
/// slow (no registration for a while, its snapshot in flight): the watcher
/// subscribes the channel once and never drops it while the waiter waits
/// (dropping it, even if the waiter then takes a new snapshot and subscribes
/// again, costs round trips and leaves a window with no subscription at all).
#[test]
fn a_channel_waited_on_for_long_is_subscribed_once_and_kept() {
    let cluster = Cluster::start();
    let name = cluster.name_on(1, "patient");
    let wg = cluster.open(&name);
    wg.add(1).unwrap();
    let (sub0, unsub0) = (
        calls(&cluster, 1, "ssubscribe"),
        calls(&cluster, 1, "sunsubscribe"),
    );
    // Longer than a channel may go unused (10 s), with re-checks every 2 s.
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(Duration::from_secs(16)))
    };
    // Late in the wait, the node holds every call for 3 s: the waiter's next
    // re-check (its registration ended, its snapshot held) spans several of
    // the watcher's sweeps.
    thread::sleep(Duration::from_millis(10_500));
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query(&mut cluster.nodes[1].conn())
        .unwrap();
    let r = waiter.join().unwrap();
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    let subscribed = calls(&cluster, 1, "ssubscribe") - sub0;
    let unsubscribed = calls(&cluster, 1, "sunsubscribe") - unsub0;
    assert_eq!(
        (subscribed, unsubscribed),
        (1, 0),
        "subscribed {subscribed} and unsubscribed {unsubscribed} times while one waiter waited"
    );
    assert!(cluster.nodes[1].subscribed(&name));
}

/// Sends `signal` (`STOP`, `CONT`) to node `node`'s process.
fn signal(cluster: &Cluster, node: usize, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([
            &format!("-{signal}"),
            &cluster.nodes[node].pid().to_string(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The master of a group's slot frozen (`SIGSTOP`: its connections stay open,
/// it answers nothing, so no connection is dropped and no subscription ended)
/// while a waiter waits: the watcher's calls to it end at the reply timeout
/// (they are not retried forever), and once its replica is promoted the
/// watcher subscribes the group's channel on the new master; the waiter is
/// released at the true zero reached there, and so are the waiters after it,
/// each well within the 2 s after which a waiter re-checks by itself.
#[test]
fn waiters_follow_a_failover_of_a_frozen_master() {
    let mut cluster = Cluster::start();
    cluster.add_replica(0);
    let name = cluster.name_on(0, "frozen");
    // Seeds that stay reachable.
    let urls: Vec<String> = cluster.urls()[1..].to_vec();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let opts = Options::new().retry_window(Duration::from_secs(60));
    RedisWaitGroup::open_cluster(&seeds, &name, opts.clone().min_replicas(1))
        .unwrap()
        .add(1)
        .unwrap();
    let wg = RedisWaitGroup::open_cluster(&seeds, &name, opts).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || (wg.wait_timeout(LONG), Instant::now()))
    };
    await_local_waiters(&wg, 1);
    cluster.await_subscribed(0, &name);
    signal(&cluster, 0, "STOP");
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
    // The watcher's calls to the frozen master time out, and its connection
    // finds the new one (and subscribes there).
    cluster.await_subscribed(3, &name);
    let mut released = Vec::new();
    let (r, at) = {
        let zero = Instant::now();
        wg.done().unwrap();
        let (r, at) = waiter.join().unwrap();
        (r, at.duration_since(zero))
    };
    released.push(at);
    r.unwrap();
    for _ in 0..4 {
        wg.add(1).unwrap();
        let w = {
            let wg = wg.clone();
            thread::spawn(move || (wg.wait_timeout(LONG), Instant::now()))
        };
        await_local_waiters(&wg, 1);
        thread::sleep(Duration::from_millis(200));
        let zero = Instant::now();
        wg.done().unwrap();
        let (r, at) = w.join().unwrap();
        r.unwrap();
        released.push(at.duration_since(zero));
    }
    signal(&cluster, 0, "CONT");
    assert!(
        released.iter().all(|d| *d < Duration::from_secs(1)),
        "released {released:?} after the zeros"
    );
}
