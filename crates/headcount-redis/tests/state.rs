//! Lost state is never zero, and nothing is left behind: rollback to an older
//! snapshot or to a replica that missed writes, durable acknowledgements through
//! replicas, one key of a group lost, `delete`, idle expiry, and memory bounded
//! by live participants rather than by calls or rounds. Every test runs against
//! real `redis-server` processes (replica pairs included) on loopback ports.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use support::{script_fields, signal, Proxy, RedisServer};

const LONG: Duration = Duration::from_secs(30);

const KEYS: [&str; 7] = [
    "state", "events", "leases", "members", "fenced", "failures", "sessions",
];

fn open(url: &str, name: &str, opts: Options) -> RedisWaitGroup {
    let client = redis::Client::open(url).unwrap();
    RedisWaitGroup::open_with(client, name, opts).unwrap()
}

fn is_state_lost<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::StateLost { .. }))
}

/// A waiter that has seen round 2 starts, then the server comes back from a
/// snapshot taken at the end of round 1 (count 0): the waiter, the handle and its
/// lease report `StateLost`, never zero.
#[test]
fn a_restart_from_an_older_snapshot_is_state_lost_never_zero() {
    let mut server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "snap").unwrap();
    wg.add(1).unwrap();
    wg.done().unwrap();
    let _: () = redis::cmd("SAVE").query(&mut server.conn()).unwrap();
    wg.add(2).unwrap();
    let lease = wg.join(LONG).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    server.await_blocked_readers(1);
    server.shutdown_nosave();
    server.restart(); // loads the snapshot: round 1, at zero
    assert_eq!(server.raw_count("snap"), Some(0));
    let r = waiter.join().unwrap();
    assert!(is_state_lost(&r), "{r:?}");
    assert!(is_state_lost(&wg.count()), "{:?}", wg.count());
    assert!(is_state_lost(&lease.done()));
}

/// The same with a real replica pair: the replica is promoted before it gets
/// round 2's `add`, and the clients' address moves to it (a failover).
#[test]
fn a_failover_to_a_replica_that_missed_the_add_is_state_lost_never_zero() {
    let mut primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    let proxy = Proxy::start(primary.port);
    let wg = open(&proxy.url(), "fo", Options::new());
    wg.add(1).unwrap();
    wg.done().unwrap();
    // The replica has round 1 ...
    let t = Instant::now();
    while replica.raw_count("fo") != Some(0) {
        assert!(t.elapsed() < LONG, "replica never got round 1");
        thread::sleep(Duration::from_millis(10));
    }
    // ... and is cut off (promoted) before round 2's add.
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut replica.conn())
        .unwrap();
    wg.add(2).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    primary.await_blocked_readers(1);
    proxy.retarget(replica.port);
    primary.shutdown_nosave();
    let r = waiter.join().unwrap();
    assert!(is_state_lost(&r), "{r:?}");
    assert!(is_state_lost(&wg.done()));
    assert_eq!(replica.raw_count("fo"), Some(0), "the replica was written");
}

/// `min_replicas`: acknowledged once a replica has the write; with no replica, or
/// a frozen one, the call fails with `NotReplicated` (the write was applied on
/// the primary).
#[test]
fn durable_acknowledgements_wait_for_replicas() {
    let primary = RedisServer::start();
    let lone = open(
        &primary.url(),
        "durable",
        Options::new()
            .min_replicas(1)
            .replica_timeout(Duration::from_millis(200)),
    );
    let r = lone.add(1);
    assert!(
        matches!(
            &r,
            Err(Error::NotReplicated {
                acked: 0,
                wanted: 1,
                op: "add",
                ..
            })
        ),
        "{r:?}"
    );
    let line = r.unwrap_err().to_string();
    assert!(line.contains("may or may not survive"), "{line}");
    assert_eq!(
        primary.raw_count("durable"),
        Some(1),
        "applied on the primary"
    );

    let replica = RedisServer::replica_of(&primary);
    let wg = open(
        &primary.url(),
        "durable",
        Options::new().min_replicas(1).replica_timeout(LONG),
    );
    wg.add(2).unwrap();
    // Confirmed: the replica has it the moment the call returns.
    assert_eq!(replica.raw_count("durable"), Some(3));
    let lease = wg.join(LONG).unwrap();
    lease.done().unwrap();
    wg.done().unwrap();
    assert_eq!(replica.raw_count("durable"), Some(1));

    // A frozen replica confirms nothing.
    let hurried = open(
        &primary.url(),
        "durable",
        Options::new()
            .min_replicas(1)
            .replica_timeout(Duration::from_millis(300)),
    );
    hurried.add(2).unwrap();
    let mut lease = hurried.join_as("two", LONG, 2).unwrap();
    signal(replica.pid(), "STOP");
    let r = hurried.done();
    assert!(
        matches!(
            &r,
            Err(Error::NotReplicated {
                acked: 0,
                op: "add",
                ..
            })
        ),
        "{r:?}"
    );
    // A lease's done that was applied but not confirmed counts as paid: it is not
    // paid again.
    let r = lease.done_one();
    assert!(
        matches!(&r, Err(Error::NotReplicated { op: "done", .. })),
        "{r:?}"
    );
    assert_eq!(lease.owed(), 1);
    let r = lease.done();
    assert!(matches!(&r, Err(Error::NotReplicated { .. })), "{r:?}");
    assert_eq!(primary.raw_count("durable"), Some(0));
    // A join that is not confirmed fails its lease at once (rather than leaving it
    // to expire as a lost participant).
    assert!(matches!(hurried.add(1), Err(Error::NotReplicated { .. })));
    let r = hurried.join_as("unconfirmed", LONG, 1);
    assert!(
        matches!(&r, Err(Error::NotReplicated { op: "join", .. })),
        "{r:?}"
    );
    signal(replica.pid(), "CONT");
    let plain = RedisWaitGroup::open(primary.client(), "durable").unwrap();
    let broken = plain.status().unwrap().broken;
    assert!(
        matches!(&broken, Some(Error::ParticipantFailed { participant, detail, .. })
            if participant == "unconfirmed" && detail.contains("not confirmed")),
        "{broken:?}"
    );
    assert_eq!(primary.raw_count("durable"), Some(0));
    // The async twin waits too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(wg.add_async(1)).unwrap();
    assert_eq!(replica.raw_count("durable"), Some(1));
}

/// Deleting any one key of a group (as an eviction or a partial restore would) is
/// `StateLost` at the next step: for a blocked waiter, for the lease holder, for
/// a fresh handle. No hang, no false `ParticipantLost`.
#[test]
fn losing_any_one_key_is_state_lost_at_the_next_step() {
    let server = RedisServer::start();
    for key in KEYS {
        let name = format!("one-{key}");
        let wg = RedisWaitGroup::open(server.client(), &name).unwrap();
        wg.add(3).unwrap();
        let lease = wg.join(LONG).unwrap();
        let waiter = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait_timeout(LONG))
        };
        server.await_blocked_readers(1);
        let _: () = redis::cmd("DEL")
            .arg(format!("headcount:{{{name}}}:{key}"))
            .query(&mut server.conn())
            .unwrap();
        let started = Instant::now();
        let r = waiter.join().unwrap();
        assert!(is_state_lost(&r), "{key}: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{key}: slow");
        assert!(is_state_lost(&wg.done()), "{key}");
        assert!(is_state_lost(&lease.done()), "{key}");
        let fresh = RedisWaitGroup::open(server.client(), &name).unwrap();
        assert!(is_state_lost(&fresh.count()), "{key}: {:?}", fresh.count());
        assert!(is_state_lost(&fresh.add(1)), "{key}");
        // What is left can be deleted; the name is then free again.
        fresh.delete().unwrap();
        assert!(server.keys(&format!("headcount:{{{name}}}:*")).is_empty());
        let again = RedisWaitGroup::open(server.client(), &name).unwrap();
        again.add(1).unwrap();
        again.done().unwrap();
        again.wait().unwrap();
    }
}

/// `delete` removes every key; the group's waiters get `StateLost`; a fresh handle
/// gets `NoSuchGroup`.
#[test]
fn delete_removes_every_key_and_waiters_get_state_lost() {
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "del").unwrap();
    wg.add(2).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let wg = RedisWaitGroup::open(server.client(), "del").unwrap();
            thread::spawn(move || wg.wait_timeout(LONG))
        })
        .collect();
    support::await_local_waiters(&wg, 2);
    let deleter = RedisWaitGroup::open(server.client(), "del").unwrap();
    deleter.delete().unwrap();
    assert_eq!(server.dbsize(), 0);
    for w in waiters {
        let r = w.join().unwrap();
        assert!(is_state_lost(&r), "{r:?}");
    }
    assert!(is_state_lost(&wg.done()));
    let fresh = RedisWaitGroup::open(server.client(), "del").unwrap();
    assert!(matches!(fresh.count(), Err(Error::NoSuchGroup { .. })));
    assert!(matches!(fresh.wait(), Err(Error::NoSuchGroup { .. })));
    let again = RedisWaitGroup::open(server.client(), "del").unwrap();
    assert!(matches!(again.delete(), Err(Error::NoSuchGroup { .. })));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wg = RedisWaitGroup::open(server.client(), "del").unwrap();
    rt.block_on(wg.add_async(1)).unwrap();
    rt.block_on(wg.delete_async()).unwrap();
    assert_eq!(server.dbsize(), 0);
}

fn pttls(server: &RedisServer, name: &str) -> Vec<i64> {
    KEYS.iter()
        .map(|k| {
            redis::cmd("PTTL")
                .arg(format!("headcount:{{{name}}}:{k}"))
                .query(&mut server.conn())
                .unwrap()
        })
        .collect()
}

/// Every key expires after the idle period (7 days by default); every operation
/// refreshes it; an expired group is `StateLost` for a handle that saw it.
#[test]
fn every_key_expires_when_idle_and_operations_refresh_it() {
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "default").unwrap();
    wg.add(1).unwrap();
    let week = 7 * 24 * 3600 * 1000;
    for t in pttls(&server, "default") {
        assert!(t > week - 60_000 && t <= week, "{t}");
    }
    // The state records the deadline it set, so that the next calls need not
    // set it again (and can take the fast path).
    let exp: Option<i64> = redis::cmd("HGET")
        .arg("headcount:{default}:state")
        .arg("exp")
        .query(&mut server.conn())
        .unwrap();
    for k in KEYS {
        let at: i64 = redis::cmd("PEXPIRETIME")
            .arg(format!("headcount:{{default}}:{k}"))
            .query(&mut server.conn())
            .unwrap();
        assert_eq!(Some(at), exp, "{k}");
    }

    let idle = Duration::from_secs(2);
    let wg = open(&server.url(), "idle", Options::new().expire_after(idle));
    wg.add(100).unwrap();
    // A round with a failure recreates the fenced and failures keys: they expire too.
    let lease = wg.join(LONG).unwrap();
    lease.fail("boom").unwrap();
    wg.add(1).unwrap();
    for t in pttls(&server, "idle") {
        assert!(t > 0 && t <= 2_000, "{t}");
    }
    // Kept alive by operations for longer than the idle period.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        wg.done().unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(server.keys("headcount:{idle}:*").len(), 7);
    // Then left idle: every key is gone.
    thread::sleep(Duration::from_millis(2_500));
    assert!(server.keys("headcount:{idle}:*").is_empty());
    assert!(is_state_lost(&wg.done()));
}

/// `join` as a participant's own session would send it (1 ms lease); the code
/// of its refusal, if it was refused.
fn raw_join(
    c: &mut redis::Connection,
    group: &str,
    session: &str,
    participant: &str,
) -> Option<String> {
    let script = redis::Script::new(include_str!("../src/group.lua"));
    let mut inv = script.prepare_invoke();
    for k in KEYS {
        inv.key(format!("headcount:{{{group}}}:{k}"));
    }
    inv.arg("join")
        .arg(session)
        .arg(1)
        .arg("")
        .arg(0)
        .arg(604_800_000u64)
        .arg(""); // no wake channel
    inv.arg(participant).arg(1).arg(1);
    let mut fields = script_fields(inv.invoke(c).unwrap());
    fields.remove("e")
}

fn memory(server: &RedisServer, name: &str) -> (usize, i64) {
    let keys = server.keys(&format!("headcount:{{{name}}}:*"));
    let bytes = keys
        .iter()
        .map(|k| {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(k)
                .arg("SAMPLES")
                .arg(0)
                .query::<i64>(&mut server.conn())
                .unwrap()
        })
        .sum();
    (keys.len(), bytes)
}

/// 10,000 calls each from a handle of its own (as the CLI makes them), then 1,000
/// rounds with a failed and a lost participant each: the group keeps its seven
/// keys and its memory stays what a few calls leave.
#[test]
fn memory_is_bounded_by_live_participants_not_by_calls_or_rounds() {
    let server = RedisServer::start();
    let first = RedisWaitGroup::open(server.client(), "mem").unwrap();
    first.add(1).unwrap();
    drop(first);
    for i in 0..10_000 {
        let wg = RedisWaitGroup::open(server.client(), "mem").unwrap();
        if i % 2 == 0 {
            wg.add(1).unwrap();
        } else {
            wg.done().unwrap();
        }
    }
    RedisWaitGroup::open(server.client(), "mem")
        .unwrap()
        .done()
        .unwrap();
    assert_eq!(server.raw_count("mem"), Some(0));
    let (keys, after_calls) = memory(&server, "mem");
    assert_eq!(keys, 7);
    assert!(
        after_calls < 8_000,
        "{after_calls} bytes after 10,000 calls"
    );

    let mut c = server.conn();
    let mut round = 0;
    let mut rounds = |n: usize| {
        for _ in 0..n {
            round += 1;
            let wg = RedisWaitGroup::open(server.client(), "mem").unwrap();
            wg.add(3).unwrap();
            let failing = wg.join_as("failing", LONG, 1).unwrap();
            failing.fail("exit status: 1").unwrap();
            // A participant killed after it joined: joined in a session of its own
            // (as `Lease` does), never heard from again; its lease expires.
            let dead = format!("dead-{round}");
            let joined = raw_join(&mut c, "mem", &dead, &dead);
            assert_eq!(joined, None);
            wg.done().unwrap();
            // The round is broken; it ends once the dead lease is reaped.
            let r = wg.wait_timeout(LONG);
            assert!(matches!(&r, Err(e) if e.is_broken()), "{r:?}");
            let t = Instant::now();
            while wg.count().unwrap() != 0 {
                assert!(t.elapsed() < LONG, "the dead lease was never reaped");
                thread::sleep(Duration::from_millis(1));
            }
        }
    };
    rounds(100);
    let (_, after_100) = memory(&server, "mem");
    rounds(900);
    let (keys, after_1000) = memory(&server, "mem");
    assert_eq!(keys, 7);
    // The event stream keeps its last 100 to 200 events (whole nodes are trimmed);
    // everything else is back to what one round leaves.
    assert!(
        after_1000 <= after_100 + 12_000 && after_1000 < 40_000,
        "{after_100} bytes after 100 rounds, {after_1000} after 1,000"
    );
}
