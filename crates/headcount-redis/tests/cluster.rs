//! Redis Cluster: a real 3-master cluster on loopback ports. The whole cycle runs
//! for groups whose slots live on each master, reached through a seed that does
//! not own the slot (so every command is first redirected), on plain TCP and on a
//! cluster that speaks only TLS; a group's slot migrated to another master while
//! waiters wait neither fails them nor releases them before the true zero.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use cluster::Cluster;
use headcount_redis::{Error, Options, RedisWaitGroup, ACL_CLUSTER_RULE, ACL_RULE};

const LONG: Duration = Duration::from_secs(30);

/// The group `name` through the initial node `seed` only.
fn open_via(cluster: &Cluster, seed: usize, name: &str) -> RedisWaitGroup {
    open_via_with(cluster, seed, name, Options::new())
}

/// [`open_via`] with options (a TLS cluster's certificates).
fn open_via_with(cluster: &Cluster, seed: usize, name: &str, opts: Options) -> RedisWaitGroup {
    open_as(cluster, seed, name, opts, "")
}

/// [`open_via_with`] logged in as `login` (`USER:PASSWORD@`, or "" for the
/// default user).
fn open_as(
    cluster: &Cluster,
    seed: usize,
    name: &str,
    opts: Options,
    login: &str,
) -> RedisWaitGroup {
    let url = cluster.nodes[seed]
        .url()
        .replace("://", &format!("://{login}"));
    RedisWaitGroup::open_cluster(&[url.as_str()], name, opts).unwrap()
}

fn exists_on(cluster: &Cluster, node: usize, key: &str) -> bool {
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query(&mut cluster.nodes[node].conn())
        .unwrap();
    n == 1
}

#[test]
fn the_whole_cycle_runs_for_groups_on_each_master_through_any_seed() {
    let cluster = Cluster::start();
    cycle_on_each_master(&cluster, &Options::new(), "");
}

/// A user created on every node with exactly the documented rules
/// (`ACL_RULE` and the cluster's `ACL_CLUSTER_RULE`) runs the whole cycle, waiters
/// included, after a script flush on every node; a user without the cluster
/// rule gets `NoPermission` naming a command it lacks.
#[test]
fn a_user_with_exactly_the_documented_acl_rules_runs_the_whole_cycle_on_a_cluster() {
    let cluster = Cluster::start();
    let rule = format!("{ACL_RULE} {ACL_CLUSTER_RULE}");
    for (user, rule) in [("hc", rule.as_str()), ("single", ACL_RULE)] {
        for node in &cluster.nodes {
            let mut c = node.conn();
            let mut cmd = redis::cmd("ACL");
            cmd.arg("SETUSER")
                .arg(user)
                .arg("reset")
                .arg("on")
                .arg(">secret-pw");
            for w in rule.split_whitespace() {
                cmd.arg(w);
            }
            cmd.exec(&mut c).unwrap();
            redis::cmd("SCRIPT").arg("FLUSH").exec(&mut c).unwrap();
        }
    }
    cycle_on_each_master(&cluster, &Options::new(), "hc:secret-pw@");
    let name = cluster.name_on(0, "single");
    let wg = open_as(&cluster, 1, &name, Options::new(), "single:secret-pw@");
    match wg.add(1) {
        Err(Error::NoPermission {
            command: Some(c), ..
        }) => assert!(ACL_CLUSTER_RULE.contains(&format!("+{c}")), "{c}"),
        other => panic!("expected NoPermission, got {other:?}"),
    }
}

/// For a group on each master, through a seed that does not own it: add, a lease,
/// blocking and async waiters (blocked on the owner), status, the lease's done,
/// done, the waiters released, delete.
fn cycle_on_each_master(cluster: &Cluster, opts: &Options, login: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for owner in 0..3 {
        let name = cluster.name_on(owner, "cycle");
        let seed = (owner + 1) % 3; // not the owner: the first call is redirected
        let wg = open_as(cluster, seed, &name, opts.clone(), login);
        wg.add(2).unwrap();
        assert!(exists_on(
            cluster,
            owner,
            &format!("headcount:{{{name}}}:state")
        ));
        let lease = wg.join(Duration::from_secs(10)).unwrap();
        let blocking = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(LONG))
        };
        let asynchronous = {
            let wg = wg.clone();
            rt.spawn(async move { wg.wait_timeout_async(LONG).await })
        };
        cluster.await_watched(&wg, owner, 2);
        let status = wg.status().unwrap();
        assert_eq!((status.count, status.leases.len()), (2, 1), "{status}");
        lease.done().unwrap();
        assert_eq!(wg.count().unwrap(), 1);
        assert!(!blocking.is_finished() && !asynchronous.is_finished());
        rt.block_on(wg.done_async()).unwrap();
        blocking.join().unwrap().unwrap();
        rt.block_on(asynchronous).unwrap().unwrap();
        wg.delete().unwrap();
        assert!(!exists_on(
            cluster,
            owner,
            &format!("headcount:{{{name}}}:state")
        ));
        assert!(matches!(wg.count(), Err(Error::StateLost { .. })));
    }
}

/// A cluster whose nodes speak only TLS (to clients and on the cluster bus), with
/// `rediss://` seeds, a private CA and a client certificate: the same cycle; the
/// cluster client is given the certificates for every node it discovers. A wrong
/// CA is `Error::Tls` at the first attempt, for a call and for a waiter.
#[test]
fn the_whole_cycle_runs_on_a_tls_only_cluster_and_a_wrong_ca_is_a_tls_error_at_once() {
    let certs = tls::Certs::make();
    let cluster = Cluster::start_tls(&certs);
    assert!(cluster.urls().iter().all(|u| u.starts_with("rediss://")));
    cycle_on_each_master(&cluster, &certs.options("ca.crt"), "");

    let seeds = cluster.urls();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let opts = certs
        .options("other-ca.crt")
        .retry_window(Duration::from_secs(20));
    let name = cluster.name_on(1, "tls-wrong-ca");
    let wg = RedisWaitGroup::open_cluster(&seeds, &name, opts).unwrap();
    for attempt in ["add", "wait"] {
        let t = Instant::now();
        let r = match attempt {
            "add" => wg.add(1),
            _ => wg.wait_timeout(LONG),
        };
        match &r {
            Err(e @ Error::Tls { detail, .. }) => {
                assert!(detail.contains("certificate"), "{attempt}: {detail}");
                assert!(e.to_string().contains("TLS"), "{attempt}: {e}");
            }
            other => panic!("{attempt}: expected a TLS error, got {other:?}"),
        }
        // Not retried for the 20 s retry window.
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{attempt}: {:?}",
            t.elapsed()
        );
    }
    assert!(!exists_on(
        &cluster,
        1,
        &format!("headcount:{{{name}}}:state")
    ));
    // Without any certificate (the system's roots): refused the same way.
    let wg = RedisWaitGroup::open_cluster(&seeds, &name, Options::new()).unwrap();
    let r = wg.add(1);
    assert!(matches!(r, Err(Error::Tls { .. })), "{r:?}");
}

#[test]
fn a_slot_migrated_while_waiters_wait_releases_them_at_the_true_zero() {
    let cluster = Cluster::start();
    let name = cluster.name_on(0, "moving");
    let slot = cluster.slot_of(&name);
    let wg = RedisWaitGroup::open_cluster(
        &cluster
            .urls()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &name,
        Options::new(),
    )
    .unwrap();
    wg.add(2).unwrap();
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
    cluster.await_watched(&wg, 0, 2);
    cluster.migrate(slot, 1);
    assert!(exists_on(
        &cluster,
        1,
        &format!("headcount:{{{name}}}:events")
    ));
    let left: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut cluster.nodes[0].conn())
        .unwrap();
    assert_eq!(left, 0, "keys left on the old node");
    // Still waiting after the move (no error, no false zero), and counting.
    thread::sleep(Duration::from_millis(500));
    assert!(!blocking.is_finished() && !asynchronous.is_finished());
    wg.done().unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    // The waiters follow the group to its new node.
    cluster.await_watched(&wg, 1, 2);
    thread::sleep(Duration::from_millis(300));
    assert!(!blocking.is_finished() && !asynchronous.is_finished());
    let zero_at = Instant::now();
    wg.done().unwrap();
    blocking.join().unwrap().unwrap();
    rt.block_on(asynchronous).unwrap().unwrap();
    assert!(
        zero_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        zero_at.elapsed()
    );
    assert_eq!(wg.count().unwrap(), 0);
}

/// Waiters of one process on groups in different slots (on different masters) at
/// once: the watcher's reads never mix streams of two slots (which the cluster
/// would refuse with `CROSSSLOT`), and each group's waiters are released at its
/// own zero.
#[test]
fn waiters_on_groups_in_different_slots_share_no_read() {
    let cluster = Cluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let groups: Vec<RedisWaitGroup> = (0..3)
        .map(|owner| open_via(&cluster, 0, &cluster.name_on(owner, "apart")))
        .collect();
    let mut waiters = Vec::new();
    for wg in &groups {
        wg.add(1).unwrap();
        let blocking = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(LONG))
        };
        let asynchronous = {
            let wg = wg.clone();
            rt.spawn(async move { wg.wait_timeout_async(LONG).await })
        };
        waiters.push((blocking, asynchronous));
    }
    for (owner, wg) in groups.iter().enumerate() {
        cluster.await_watched(wg, owner, 2);
    }
    for (wg, (blocking, asynchronous)) in groups.iter().zip(waiters) {
        assert!(!blocking.is_finished() && !asynchronous.is_finished());
        wg.done().unwrap();
        blocking.join().unwrap().unwrap();
        rt.block_on(asynchronous).unwrap().unwrap();
        assert_eq!(wg.local_waiters(), 0);
    }
}

#[test]
fn a_slot_migrated_between_calls_is_followed_by_every_operation() {
    let cluster = Cluster::start();
    let name = cluster.name_on(2, "hop");
    let slot = cluster.slot_of(&name);
    let wg = open_via(&cluster, 2, &name);
    wg.add(3).unwrap();
    let lease = wg.join(Duration::from_secs(10)).unwrap();
    cluster.migrate(slot, 0);
    // The handle's pooled connections still point at node 2: MOVED is followed.
    wg.done().unwrap();
    lease.done().unwrap();
    cluster.migrate(slot, 1);
    assert_eq!(wg.status().unwrap().count, 1);
    wg.done().unwrap();
    wg.wait_timeout(LONG).unwrap();
    assert!(exists_on(
        &cluster,
        1,
        &format!("headcount:{{{name}}}:state")
    ));
}

/// `Options::min_replicas`: the `WAIT` goes to the node that owns the group's slot
/// (in the script's round trip), not to a random node: with one replica behind
/// master 0 only, a group there is confirmed (blocking and async, through a seed
/// that is another master), and a group on master 1 is `NotReplicated`.
#[test]
fn durable_acknowledgements_wait_on_the_node_that_owns_the_group() {
    let mut cluster = Cluster::start();
    cluster.add_replica(0);
    let opts = Options::new()
        .min_replicas(1)
        .replica_timeout(Duration::from_millis(500));
    let seed = cluster.nodes[2].url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..5 {
        let name = cluster.name_on(0, &format!("durable{round}"));
        let wg = RedisWaitGroup::open_cluster(&[seed.as_str()], &name, opts.clone()).unwrap();
        wg.add(2).unwrap();
        wg.done().unwrap();
        rt.block_on(wg.done_async()).unwrap();
        assert_eq!(wg.count().unwrap(), 0);
        // The replica has it.
        let count: String = redis::cmd("HGET")
            .arg(format!("headcount:{{{name}}}:state"))
            .arg("count")
            .query(&mut {
                let mut c = cluster.nodes[3].conn();
                let _: () = redis::cmd("READONLY").query(&mut c).unwrap();
                c
            })
            .unwrap();
        assert_eq!(count, "0");
    }
    let elsewhere = cluster.name_on(1, "durable-elsewhere");
    let wg = RedisWaitGroup::open_cluster(&[seed.as_str()], &elsewhere, opts).unwrap();
    let r = wg.add(1);
    assert!(
        matches!(
            r,
            Err(Error::NotReplicated {
                acked: 0,
                wanted: 1,
                ..
            })
        ),
        "{r:?}"
    );
    let r = rt.block_on(wg.add_async(1));
    assert!(
        matches!(
            r,
            Err(Error::NotReplicated {
                acked: 0,
                wanted: 1,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_wrong_user_on_a_cluster_is_auth_failed_naming_it_and_the_seeds() {
    let cluster = Cluster::start();
    let url = cluster.nodes[0]
        .url()
        .replace("redis://", "redis://someone:wrong-secret@");
    let wg = RedisWaitGroup::open_cluster(&[url.as_str()], "auth", Options::new()).unwrap();
    let r = wg.add(1);
    match &r {
        Err(e @ Error::AuthFailed { user, addr }) => {
            assert_eq!(user.as_deref(), Some("someone"));
            assert!(addr.contains(&cluster.nodes[0].port.to_string()), "{addr}");
            assert!(!e.to_string().contains("wrong-secret"), "{e}");
        }
        other => panic!("expected AuthFailed, got {other:?}"),
    }
}

/// Mid-migration (slot `MIGRATING` on its owner, `IMPORTING` on the target, keys
/// moved, not yet reassigned) the owner answers `ASK`: every operation and a new
/// waiter follow it, and the waiter is released at the true zero after the slot is
/// reassigned.
#[test]
fn ask_redirects_mid_migration_are_followed() {
    let cluster = Cluster::start();
    let name = cluster.name_on(0, "asked");
    let slot = cluster.slot_of(&name);
    let wg = open_via(&cluster, 0, &name);
    wg.add(3).unwrap();
    let from = cluster.begin_migration(slot, 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    wg.done().unwrap();
    rt.block_on(wg.done_async()).unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    let lease = wg.join(Duration::from_secs(10)).unwrap();
    assert_eq!(wg.status().unwrap().leases.len(), 1);
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let asynchronous = {
        let wg = wg.clone();
        rt.spawn(async move { wg.wait_timeout_async(LONG).await })
    };
    thread::sleep(Duration::from_millis(300));
    assert!(!blocking.is_finished() && !asynchronous.is_finished());
    cluster.finish_migration(slot, from, 2);
    thread::sleep(Duration::from_millis(300));
    assert!(!blocking.is_finished() && !asynchronous.is_finished());
    lease.done().unwrap();
    blocking.join().unwrap().unwrap();
    rt.block_on(asynchronous).unwrap().unwrap();
    assert!(exists_on(
        &cluster,
        2,
        &format!("headcount:{{{name}}}:state")
    ));
}
