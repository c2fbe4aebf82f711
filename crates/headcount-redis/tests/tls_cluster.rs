//! A group's slot migrated while waiters wait, on a Redis Cluster that speaks
//! only TLS (to clients and on the cluster bus, client certificates required).
//! The handle reaches it through one `rediss://` initial node that does not own
//! the slot, with a private CA and a client certificate. Mid-migration the owner
//! answers `ASK`: every operation and a waiter joining then follow it; the
//! waiters (a thread in `wait`, a tokio task in `wait_async`) keep waiting
//! through the migration, with no error and no false zero; moved again while
//! they only wait (the server ends the watcher's subscription), they wait on at
//! the new owner, and are released at the true zero there. Without the client
//! certificate the nodes want, or with one they refuse, a call and a waiter are
//! `Error::Tls` at once.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use cluster::Cluster;
use headcount_redis::{Error, Options, RedisWaitGroup};

const LONG: Duration = Duration::from_secs(60);

/// Whether `key` is on node `node`.
fn exists_on(cluster: &Cluster, node: usize, key: &str) -> bool {
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query(&mut cluster.nodes[node].conn())
        .unwrap();
    n == 1
}

/// How many keys of `slot` node `node` holds (answered also mid-migration).
fn keys_in_slot(cluster: &Cluster, node: usize, slot: u16) -> i64 {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut cluster.nodes[node].conn())
        .unwrap()
}

type Waiter = thread::JoinHandle<Result<(), Error>>;
type AsyncWaiter = tokio::task::JoinHandle<Result<(), Error>>;

/// A thread in `wait` and a tokio task in `wait_async` on `wg`'s group.
fn start_waiters(wg: &RedisWaitGroup, rt: &tokio::runtime::Runtime) -> (Waiter, AsyncWaiter) {
    let blocking = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let asynchronous = {
        let wg = wg.clone();
        rt.spawn(async move { wg.wait_timeout_async(LONG).await })
    };
    (blocking, asynchronous)
}

#[test]
fn a_slot_migrated_mid_wait_on_a_tls_only_cluster_releases_the_waiters_at_the_true_zero() {
    let certs = tls::Certs::make();
    let cluster = Cluster::start_tls(&certs);
    let name = cluster.name_on(0, "tls-moving");
    let slot = cluster.slot_of(&name);
    let state = format!("headcount:{{{name}}}:state");
    // Through node 2 only: every node is found, and reached, over TLS.
    let seed = cluster.nodes[2].url();
    assert!(seed.starts_with("rediss://"));
    let wg =
        RedisWaitGroup::open_cluster(&[seed.as_str()], &name, certs.options("ca.crt")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    wg.add(4).unwrap();
    let first = start_waiters(&wg, &rt);
    cluster.await_watched(&wg, 0, 2);

    // Mid-migration: the keys are on node 1, node 0 answers ASK for them.
    let from = cluster.begin_migration(slot, 1);
    assert_eq!(keys_in_slot(&cluster, 0, slot), 0);
    assert!(keys_in_slot(&cluster, 1, slot) > 0);
    wg.done().unwrap();
    rt.block_on(wg.done_async()).unwrap();
    assert_eq!(wg.count().unwrap(), 2, "a done through ASK was lost");
    let lease = wg.join(Duration::from_secs(20)).unwrap();
    assert_eq!(wg.status().unwrap().leases.len(), 1);
    // A waiter joining mid-migration (its snapshot read through ASK).
    let joined = start_waiters(&wg, &rt);
    let t = Instant::now();
    while wg.local_waiters() < 4 {
        assert!(t.elapsed() < Duration::from_secs(30), "no waiter joined");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(300));
    for (b, a) in [&first, &joined] {
        assert!(
            !b.is_finished() && !a.is_finished(),
            "a waiter returned mid-migration"
        );
    }

    // The slot is node 1's: the waiters follow the group there.
    cluster.finish_migration(slot, from, 1);
    assert_eq!(cluster.owner(slot), 1);
    cluster.await_watched(&wg, 1, 4);
    wg.done().unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    thread::sleep(Duration::from_millis(300));
    for (b, a) in [&first, &joined] {
        assert!(
            !b.is_finished() && !a.is_finished(),
            "a waiter returned before the zero"
        );
    }

    // Moved again while the waiters only wait on node 1: the server ends the
    // watcher's subscription there, and the waiters wait on, now on node 2.
    cluster.migrate(slot, 2);
    cluster.await_watched(&wg, 2, 4);
    thread::sleep(Duration::from_millis(300));
    for (b, a) in [&first, &joined] {
        assert!(
            !b.is_finished() && !a.is_finished(),
            "a waiter returned when its subscription was moved"
        );
    }
    assert_eq!(wg.count().unwrap(), 1);
    lease.done().unwrap();
    for (b, a) in [first, joined] {
        b.join().unwrap().unwrap();
        rt.block_on(a).unwrap().unwrap();
    }
    assert_eq!(wg.count().unwrap(), 0);
    assert!(exists_on(&cluster, 2, &state));
    assert_eq!(wg.local_waiters(), 0);

    // The right CA but no client certificate, which the nodes want, or one they
    // refuse (signed by another CA): `Tls` at the first attempt (not retried for
    // the 20 s retry window), for a call and a waiter, blocking and async.
    certs.make_foreign_client();
    let opts = || {
        Options::new()
            .tls_ca(certs.read("ca.crt"))
            .retry_window(Duration::from_secs(20))
    };
    let refused = [
        ("no client certificate", opts()),
        (
            "a foreign client certificate",
            opts().tls_client_cert(certs.read("foreign.crt"), certs.read("foreign.key")),
        ),
    ];
    for (what, opts) in refused {
        let wg = RedisWaitGroup::open_cluster(&[seed.as_str()], &name, opts).unwrap();
        for attempt in ["count", "wait", "wait_async"] {
            let t = Instant::now();
            let r = match attempt {
                "count" => wg.count().map(drop),
                "wait" => wg.wait_timeout(LONG),
                _ => rt.block_on(wg.wait_timeout_async(LONG)),
            };
            assert!(
                matches!(r, Err(Error::Tls { .. })),
                "{what}, {attempt}: {r:?}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what}, {attempt}: {:?}",
                t.elapsed()
            );
        }
    }
}
