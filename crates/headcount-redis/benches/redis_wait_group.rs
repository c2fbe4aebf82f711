//! `done` latency and wake-up latency of `RedisWaitGroup` on loopback, against the
//! peers measured in the same run on the same server (which the bench starts):
//!
//! * `done/raw_incrby`: one `INCRBY` round trip (the floor for any remote counter);
//! * `done/raw_evalsha`: one `EVALSHA` of a one-line `INCRBY` script;
//! * `done/redisson_countdown`: Redisson `RCountDownLatch.countDown`'s script
//!   (`DECR`, `DEL` + `PUBLISH` at zero);
//! * `done/headcount`: `RedisWaitGroup::done` (exactly-once session record, reaping, events);
//! * `wakeup/redisson_pubsub`: last `countDown` to a subscribed waiter returning;
//! * `wakeup/raw_incrby_same_loop`: one `INCRBY` round trip timed in the same loop
//!   shape as the wake-ups (the unit for the wake-up target);
//! * `wakeup/headcount_sync`: last `done` to a blocked `wait()` returning;
//! * `wakeup/headcount_async`: last `done` to a pending `wait_async()` returning (a
//!   current-thread tokio runtime on the waiter's thread).
//!
//! Targets: `done/headcount` at most 1.5x `done/raw_evalsha`; wake-up
//! under two round trips (2x `wakeup/raw_incrby_same_loop`).
//!
//! After criterion's runs the bench prints the server-side time per call of each
//! `done` variant (`INFO commandstats`) and the two targets as ratios of medians
//! of paired samples (peer and headcount timed back to back in one loop), which a
//! noisy machine skews far less than separate runs.
//!
//! Then a bare `XREAD BLOCK` on a multiplexed connection woken by an `XADD`, on a
//! connection kept from one read to the next and on a new one per read (what a
//! new connection per read costs a wake-up, apart from this crate).
//!
//! Then 1,000 waiters (threads in `wait()` and tokio tasks in `wait_async()`) on one
//! group and on 100 groups: the connections they hold (`INFO clients`; target at
//! most 4) and the spread of their wake-ups after the zero (target: all within
//! 50 ms); and how long a new group's waiter takes to join the watcher's blocked
//! read.
//!
//! Last, with 200,000 idle client-session records in one group (what as many
//! abandoned clients leave), it runs a mix of every operation and prints the
//! slowest script call the server's `SLOWLOG` recorded (target: under 2 ms; no
//! script's work grows with the number of sessions, participants or rounds).
//!
//! Then the same paired figures over TLS (a `rediss://` server with test
//! certificates) and on a 3-master Redis Cluster, each against a raw `EVALSHA` of
//! the one-line script on the same connection type (a TLS connection; a cluster
//! connection, its key in the group's slot), both for `done` and as the unit of
//! the wake-ups.
//!
//! Each wake-up figure comes with its split: how long the releasing `done()` call
//! itself took, and when the waiter returned relative to that call's return (the
//! server writes the waiter's reply in the same turn, before `done`'s). On TLS and
//! the cluster, a last `done` with nobody waiting is timed too (against the raw
//! `EVALSHA` just before it): the cost of the release itself, without a reader.
//!
//! Run: `cargo bench -p headcount-redis --bench redis_wait_group` (or `-- paired`
//! for everything but criterion's runs, `-- topologies` for the TLS and cluster
//! figures alone).

#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/support/tls.rs"]
mod tls;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use headcount_redis::RedisWaitGroup;
use support::RedisServer;

/// Redisson's `RedissonCountDownLatch.countDownAsync` script.
const REDISSON_COUNTDOWN: &str = "local v = redis.call('decr', KEYS[1]);\
     if v <= 0 then redis.call('del', KEYS[1]) end;\
     if v == 0 then redis.call('publish', KEYS[2], ARGV[1]) end;";

/// Server-side microseconds per call of `command` since the last `CONFIG
/// RESETSTAT` (from `INFO commandstats`): the cost on the server alone, which the
/// loopback's noise does not touch.
/// `None` when the command did not run (its benchmark was filtered out).
fn server_usec(conn: &mut redis::Connection, command: &str) -> Option<f64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))?;
    line.split(',')
        .find_map(|f| f.strip_prefix("usec_per_call="))
        .and_then(|v| v.parse().ok())
}

fn reset_stats(conn: &mut redis::Connection) {
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(conn).unwrap();
}

/// A waiter thread on `wg`: each message on the returned sender starts one wait
/// (`wait()`, or `wait_async()` on a current-thread tokio runtime), and the time it
/// returned comes back on the returned receiver.
fn spawn_waiter(
    wg: &RedisWaitGroup,
    run_async: bool,
) -> (mpsc::Sender<()>, mpsc::Receiver<Instant>) {
    let wg = wg.clone();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        while go_rx.recv().is_ok() {
            if run_async {
                rt.block_on(wg.wait_async()).unwrap();
            } else {
                wg.wait().unwrap();
            }
            if woke_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    (go_tx, woke_rx)
}

/// One wake-up: the waiter started and blocked, then the last `done`, timed until
/// the waiter returned.
fn wake_once(
    server: &RedisServer,
    wg: &RedisWaitGroup,
    go: &mpsc::Sender<()>,
    woke: &mpsc::Receiver<Instant>,
) -> Duration {
    wg.add(1).unwrap();
    go.send(()).unwrap();
    server.await_blocked_readers(1); // untimed: the waiter is blocked in XREAD
    let t0 = Instant::now();
    wg.done().unwrap();
    woke.recv().unwrap() - t0
}

/// One `INCRBY` round trip on `conn`, timed.
fn round_trip(conn: &mut redis::Connection, key: &str) -> Duration {
    let t0 = Instant::now();
    let _: i64 = redis::cmd("INCRBY").arg(key).arg(1).query(conn).unwrap();
    t0.elapsed()
}

fn done_latency(c: &mut Criterion, server: &RedisServer) {
    let mut g = c.benchmark_group("done");
    g.measurement_time(Duration::from_secs(3));
    let mut conn = server.conn();

    let mut stats = server.conn();
    let mut server_side = Vec::new();
    reset_stats(&mut stats);
    g.bench_function("raw_incrby", |b| {
        b.iter(|| {
            let _: i64 = redis::cmd("INCRBY")
                .arg("bench:raw")
                .arg(-1)
                .query(&mut conn)
                .unwrap();
        })
    });

    server_side.push(("raw_incrby", server_usec(&mut stats, "incrby")));
    let incr = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    reset_stats(&mut stats);
    g.bench_function("raw_evalsha", |b| {
        b.iter(|| {
            let _: i64 = incr.key("bench:eval").arg(-1).invoke(&mut conn).unwrap();
        })
    });

    server_side.push(("raw_evalsha", server_usec(&mut stats, "evalsha")));
    let countdown = redis::Script::new(REDISSON_COUNTDOWN);
    let _: () = redis::cmd("SET")
        .arg("bench:latch")
        .arg(1_000_000_000_000i64)
        .query(&mut conn)
        .unwrap();
    reset_stats(&mut stats);
    g.bench_function("redisson_countdown", |b| {
        b.iter(|| {
            let _: () = countdown
                .key("bench:latch")
                .key("bench:latch:channel")
                .arg(0)
                .invoke(&mut conn)
                .unwrap();
        })
    });

    server_side.push(("redisson_countdown", server_usec(&mut stats, "evalsha")));
    let wg = RedisWaitGroup::open(server.client(), "bench-done").unwrap();
    wg.add(1_000_000_000_000).unwrap();
    reset_stats(&mut stats);
    g.bench_function("headcount", |b| b.iter(|| wg.done().unwrap()));
    server_side.push(("headcount", server_usec(&mut stats, "evalsha")));
    g.finish();
    println!("server-side time per done (INFO commandstats):");
    for (name, us) in server_side {
        if let Some(us) = us {
            println!("  done/{name:<20} {us:6.2} us");
        }
    }
}

fn wakeup_latency(c: &mut Criterion, server: &RedisServer) {
    let mut g = c.benchmark_group("wakeup");
    g.measurement_time(Duration::from_secs(2)).sample_size(20);

    // Redisson-style: a waiter subscribed to the latch channel; countDown publishes.
    {
        let countdown = redis::Script::new(REDISSON_COUNTDOWN);
        let mut conn = server.conn();
        let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let client = server.client();
        thread::spawn(move || {
            let mut sub = client.get_connection().unwrap();
            let mut ps = sub.as_pubsub();
            ps.subscribe("bench:rlatch:channel").unwrap();
            ready_tx.send(()).unwrap();
            while ps.get_message().is_ok() {
                if woke_tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        ready_rx.recv().unwrap();
        g.bench_function("redisson_pubsub", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let _: () = redis::cmd("SET")
                        .arg("bench:rlatch")
                        .arg(1)
                        .query(&mut conn)
                        .unwrap();
                    server.await_blocked_readers(0); // same untimed step as headcount's
                    let t0 = Instant::now();
                    let _: () = countdown
                        .key("bench:rlatch")
                        .key("bench:rlatch:channel")
                        .arg(0)
                        .invoke(&mut conn)
                        .unwrap();
                    total += woke_rx.recv().unwrap() - t0;
                }
                total
            })
        });
    }

    // One raw round trip measured under the same conditions as the wake-ups (an
    // untimed `CLIENT LIST` before each timed step, threads handing off): the unit
    // for "wake-up under 2 round trips".
    {
        let mut conn = server.conn();
        g.bench_function("raw_incrby_same_loop", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    server.await_blocked_readers(0);
                    total += round_trip(&mut conn, "bench:rt");
                }
                total
            })
        });
    }

    // headcount: a thread blocked in `wait()` (or a task in `wait_async()`),
    // released by the last `done()`.
    for (name, run_async) in [("headcount_sync", false), ("headcount_async", true)] {
        let wg = RedisWaitGroup::open(server.client(), &format!("bench-{name}")).unwrap();
        let (go, woke) = spawn_waiter(&wg, run_async);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| wake_once(server, &wg, &go, &woke)).sum())
        });
    }
    g.finish();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints the medians of paired samples and their ratio, followed by `unit`.
fn report_paired(ours: &str, ours_t: Vec<Duration>, peer: &str, peer_t: Vec<Duration>, unit: &str) {
    let (o, p) = (median(ours_t).as_secs_f64(), median(peer_t).as_secs_f64());
    println!(
        "paired medians: {ours} {:.1} us, {peer} {:.1} us: {:.2}{unit}",
        o * 1e6,
        p * 1e6,
        o / p
    );
}

/// Where a wake-up's time goes: the median time the releasing `done()` call
/// itself took (its round trip, with the script's run at zero on the server), and
/// the median of each waiter's return after that call returned (negative: before;
/// the server writes the waiter's reply first).
fn report_split(name: &str, done: &[Duration], wake: &[Duration]) {
    let ms = |d: &Duration| d.as_secs_f64() * 1e6;
    let mut after: Vec<f64> = done.iter().zip(wake).map(|(d, w)| ms(w) - ms(d)).collect();
    after.sort_by(f64::total_cmp);
    println!(
        "  split of {name}: the releasing done() took {:.1} us; the waiter returned {:+.1} us after it",
        median(done.to_vec()).as_secs_f64() * 1e6,
        after[after.len() / 2]
    );
}

/// The targets as ratios of medians from *paired* samples: each iteration times
/// the peer and headcount back to back, so a slow spell of the (shared, noisy)
/// machine or its loopback hits both alike. Criterion's figures above are each
/// taken in a window of their own and can drift apart by more than the gap
/// measured.
fn paired(server: &RedisServer) {
    let mut conn = server.conn();
    let incr = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let wg = RedisWaitGroup::open(server.client(), "paired-done").unwrap();
    wg.add(1_000_000_000).unwrap();
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for i in 0..4000 {
        let t0 = Instant::now();
        let _: i64 = incr.key("paired:eval").arg(-1).invoke(&mut conn).unwrap();
        let t1 = Instant::now();
        wg.done().unwrap();
        let t2 = Instant::now();
        if i >= 200 {
            raw.push(t1 - t0);
            ours.push(t2 - t1);
        }
    }
    report_paired(
        "done/headcount",
        ours,
        "done/raw_evalsha",
        raw,
        "x (target <= 1.5x)",
    );

    for (name, run_async) in [("headcount_sync", false), ("headcount_async", true)] {
        let wg = RedisWaitGroup::open(server.client(), &format!("paired-{name}")).unwrap();
        let (go, woke) = spawn_waiter(&wg, run_async);
        let (mut rtt, mut wake, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..500 {
            // The round trip right after the waiter blocked, then the wake-up.
            wg.add(1).unwrap();
            go.send(()).unwrap();
            server.await_blocked_readers(1);
            rtt.push(round_trip(&mut conn, "paired:rt"));
            let t0 = Instant::now();
            wg.done().unwrap();
            done.push(t0.elapsed());
            wake.push(woke.recv().unwrap() - t0);
        }
        report_split(&format!("wakeup/{name}"), &done, &wake);
        report_paired(
            &format!("wakeup/{name}"),
            wake,
            "one INCRBY round trip",
            rtt,
            " round trips (target < 2)",
        );
    }
}

/// A bare `XREAD BLOCK` on a multiplexed connection (a current-thread tokio
/// runtime on its own thread), woken by an `XADD`, the connection kept from one
/// read to the next or made for each read (alternately, so that both see the same
/// spells of the machine): what a new connection per read costs a wake-up, apart
/// from this crate.
fn bare_reads(server: &RedisServer) {
    let client = server.client();
    let (go_tx, go_rx) = mpsc::channel::<bool>();
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut kept = rt
            .block_on(client.get_multiplexed_async_connection())
            .unwrap();
        while let Ok(new) = go_rx.recv() {
            let mut read = redis::cmd("XREAD");
            read.arg("BLOCK")
                .arg(10_000)
                .arg("STREAMS")
                .arg("bare:events")
                .arg("$");
            rt.block_on(async {
                if new {
                    let mut c = client.get_multiplexed_async_connection().await.unwrap();
                    read.query_async::<redis::Value>(&mut c).await.unwrap();
                } else {
                    read.query_async::<redis::Value>(&mut kept).await.unwrap();
                }
            });
            if woke_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    let mut conn = server.conn();
    let mut samples: [(Vec<Duration>, Vec<Duration>); 2] = Default::default();
    for i in 0..600 {
        let new = i % 2 == 1;
        go_tx.send(new).unwrap();
        server.await_blocked_readers(1);
        let rtt = round_trip(&mut conn, "bare:rt");
        let t0 = Instant::now();
        let _: String = redis::cmd("XADD")
            .arg("bare:events")
            .arg("*")
            .arg("e")
            .arg(1)
            .query(&mut conn)
            .unwrap();
        let (wake, unit) = &mut samples[usize::from(new)];
        wake.push(woke_rx.recv().unwrap() - t0);
        unit.push(rtt);
    }
    let [(kept_wake, kept_rtt), (new_wake, new_rtt)] = samples;
    report_paired(
        "bare XREAD wake-up, connection kept",
        kept_wake,
        "one INCRBY round trip",
        kept_rtt,
        " round trips",
    );
    report_paired(
        "bare XREAD wake-up, new connection per read",
        new_wake,
        "one INCRBY round trip",
        new_rtt,
        " round trips",
    );
}

/// `connected_clients` of `INFO clients` (the query's own connection included).
fn connected_clients(server: &RedisServer) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(&mut server.conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// 1,000 waiters (500 threads in `wait()`, 500 tokio tasks in `wait_async()`, each
/// with its own handle) on `groups` groups: the connections they hold, and the
/// spread of their wake-ups after their group's zero.
fn many_waiters(server: &RedisServer, groups: usize) {
    const WAITERS: usize = 1000;
    let names: Vec<String> = (0..groups).map(|g| format!("many-{groups}-{g}")).collect();
    for n in &names {
        RedisWaitGroup::open(server.client(), n)
            .unwrap()
            .add(1)
            .unwrap();
    }
    // The handles above closed their connections; earlier watchers end when idle.
    thread::sleep(Duration::from_millis(800));
    let baseline = connected_clients(server);
    // Handles connect on first use: these only once the waiters are counted.
    let probes: Vec<RedisWaitGroup> = names
        .iter()
        .map(|n| RedisWaitGroup::open(server.client(), n).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    for i in 0..WAITERS {
        let g = i % groups;
        let wg = RedisWaitGroup::open(server.client(), &names[g]).unwrap();
        let tx = tx.clone();
        if i % 2 == 0 {
            thread::spawn(move || {
                wg.wait().unwrap();
                let _ = tx.send((g, Instant::now()));
            });
        } else {
            rt.spawn(async move {
                wg.wait_async().await.unwrap();
                let _ = tx.send((g, Instant::now()));
            });
        }
    }
    drop(tx);
    for p in &probes {
        while p.local_waiters() < WAITERS / groups {
            thread::sleep(Duration::from_millis(5));
        }
    }
    let used = connected_clients(server) - baseline;
    let mut zero_at = Vec::with_capacity(groups);
    for p in &probes {
        let t = Instant::now();
        p.done().unwrap();
        zero_at.push(t);
    }
    let mut after: Vec<Duration> = rx.iter().map(|(g, t)| t - zero_at[g]).collect();
    after.sort();
    let at = |q: f64| after[((after.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{WAITERS} waiters on {groups} group(s): {used} connection(s) while waiting \
         (target <= 4); wake-up after the zero: min {:.1} ms, median {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms (target: all within 50 ms)",
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    rt.shutdown_background();
}

/// How long a waiter on a new group takes to be registered (its snapshot taken and
/// its stream read) while the watcher is blocked on another group's stream.
fn join_while_blocked(server: &RedisServer) {
    let busy = RedisWaitGroup::open(server.client(), "join-busy").unwrap();
    busy.add(1).unwrap();
    let b = busy.clone();
    let holder = thread::spawn(move || b.wait().unwrap());
    server.await_blocked_readers(1);
    let wg = RedisWaitGroup::open(server.client(), "join-new").unwrap();
    let (go, woke) = spawn_waiter(&wg, false);
    let mut joined = Vec::new();
    for _ in 0..100 {
        wg.add(1).unwrap();
        let t0 = Instant::now();
        go.send(()).unwrap();
        while wg.local_waiters() < 1 {
            thread::yield_now();
        }
        joined.push(t0.elapsed());
        wg.done().unwrap();
        woke.recv().unwrap();
    }
    let m = median(joined);
    println!(
        "a new group's waiter joins the watcher's blocked read in {:.2} ms (median; \
         `CLIENT UNBLOCK` ends the read in progress)",
        m.as_secs_f64() * 1e3
    );
    busy.done().unwrap();
    holder.join().unwrap();
}

/// Every `EVALSHA` in the slow log (which records every command here): its
/// operation and duration in µs.
fn slow_scripts(conn: &mut redis::Connection) -> Vec<(String, u64)> {
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query(conn)
        .unwrap();
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    log.iter()
        .filter_map(|e| {
            let redis::Value::Array(e) = e else {
                return None;
            };
            let (redis::Value::Int(us), redis::Value::Array(args)) = (&e[2], &e[3]) else {
                return None;
            };
            // EVALSHA sha numkeys key1..key7 op ...; the peer's (one key) as ''.
            let op = match args.get(2).map(text).as_deref() {
                Some("7") => args.get(10).map(text).unwrap_or_default(),
                _ => String::new(),
            };
            (args.first().map(text).as_deref() == Some("EVALSHA")).then_some((op, *us as u64))
        })
        .collect()
}

/// The slowest script call with 200,000 idle session records in the group.
fn idle_sessions(server: &RedisServer) {
    const IDLE: usize = 200_000;
    let mut conn = server.conn();
    let wg = RedisWaitGroup::open(server.client(), "idle-200k").unwrap();
    wg.add(1_000_000).unwrap();
    // Records of sessions whose last call was long ago, as abandoned clients
    // (killed mid-call, or resent and never ended) leave them.
    for chunk in 0..IDLE / 1000 {
        let mut p = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            p.cmd("HSET")
                .arg("headcount:{idle-200k}:state")
                .arg(format!("s:idle{i:06}"))
                .arg(7)
                .ignore();
            p.cmd("ZADD")
                .arg("headcount:{idle-200k}:sessions")
                .arg(i)
                .arg(format!("idle{i:06}"))
                .ignore();
        }
        p.exec(&mut conn).unwrap();
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .arg("slowlog-max-len")
        .arg(100_000)
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut conn).unwrap();
    // A mix of every operation: plain dones (the fast path), rounds that start and
    // end, leases joined, paid and failed, waiters' checks, status.
    let other = RedisWaitGroup::open(server.client(), "idle-200k").unwrap();
    // The peer, in the same window: a one-line script, whose slowest call shows
    // what the machine alone adds (a descheduled server, a page fault).
    let incr = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    for i in 0..500 {
        for _ in 0..4 {
            let _: i64 = incr.key("idle:peer").arg(1).invoke(&mut conn).unwrap();
        }
        wg.done().unwrap();
        other.count().unwrap();
        let lease = wg
            .join_as(&format!("p{i}"), Duration::from_secs(30), 1)
            .unwrap();
        if i % 10 == 0 {
            lease.fail("bench").unwrap();
            wg.add(1).unwrap();
        } else {
            lease.done().unwrap();
        }
        if i % 50 == 0 {
            let _ = other.status().unwrap();
        }
    }
    let (calls, peer): (Vec<_>, Vec<_>) = slow_scripts(&mut conn)
        .into_iter()
        .partition(|c| !c.0.is_empty());
    let left: usize = redis::cmd("ZCARD")
        .arg("headcount:{idle-200k}:sessions")
        .query(&mut conn)
        .unwrap();
    let mut calls = calls;
    calls.sort_by_key(|c| std::cmp::Reverse(c.1));
    let at = |v: &[(String, u64)], q: f64| v.get((v.len() as f64 * q) as usize).map_or(0, |c| c.1);
    let slowest: Vec<String> = calls
        .iter()
        .take(3)
        .map(|(op, us)| format!("{us} us `{op}`"))
        .collect();
    let mut peer = peer;
    peer.sort_by_key(|c| std::cmp::Reverse(c.1));
    println!(
        "idle sessions: {} script calls with {IDLE} idle session records ({left} left): \
         slowest {} (target < 2000 us, SLOWLOG); 99.9th percentile {} us, median {} us; \
         peer one-line INCRBY script in the same window: slowest {} us, median {} us",
        calls.len(),
        slowest.join(", "),
        at(&calls, 0.001),
        at(&calls, 0.5),
        at(&peer, 0.0),
        at(&peer, 0.5),
    );
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut conn).unwrap();
    wg.delete().unwrap();
    let del = slow_scripts(&mut conn);
    println!(
        "idle sessions: delete of the group: {} us",
        del.first().map(|c| c.1).unwrap_or_default()
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(10_000)
        .query(&mut conn)
        .unwrap();
}

/// Paired figures on one topology: `done` against a raw `EVALSHA` on the same
/// connection type (`raw` times one), and the wake-ups of `wait()` and
/// `wait_async()` in raw `EVALSHA` round trips. `open` opens a group; `blocked`
/// is non-zero once a waiter of the group is ready to be woken (on one server: a
/// client is blocked in the shared read; on a cluster: a waiter is registered
/// with the watcher, after its subscription and snapshot).
fn paired_on(
    topology: &str,
    mut raw: impl FnMut() -> Duration,
    open: impl Fn(&str) -> RedisWaitGroup,
    mut blocked: impl FnMut(&RedisWaitGroup) -> usize,
) {
    let wg = open("bench-done");
    wg.add(1_000_000_000).unwrap();
    let (mut peer, mut ours) = (Vec::new(), Vec::new());
    for i in 0..2200 {
        let r = raw();
        let t1 = Instant::now();
        wg.done().unwrap();
        let t2 = Instant::now();
        if i >= 200 {
            peer.push(r);
            ours.push(t2 - t1);
        }
    }
    report_paired(
        &format!("{topology} done/headcount"),
        ours,
        "done/raw_evalsha",
        peer,
        "x (target <= 1.5x)",
    );
    // The same last `done` with nobody waiting: what serving a blocked reader
    // adds to the server's turn shows against the split of the wake-ups below.
    let wg = open("bench-zero");
    let (mut peer, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        wg.add(1).unwrap();
        peer.push(raw());
        let t1 = Instant::now();
        wg.done().unwrap();
        ours.push(t1.elapsed());
    }
    report_paired(
        &format!("{topology} done/headcount at zero, nobody waiting"),
        ours,
        "done/raw_evalsha",
        peer,
        "x",
    );
    for (name, run_async) in [("headcount_sync", false), ("headcount_async", true)] {
        let wg = open(&format!("bench-{name}"));
        let (go, woke) = spawn_waiter(&wg, run_async);
        let (mut rtt, mut wake, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..300 {
            wg.add(1).unwrap();
            go.send(()).unwrap();
            let t = Instant::now();
            while blocked(&wg) < 1 {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "the waiter never blocked"
                );
                thread::sleep(Duration::from_micros(200));
            }
            rtt.push(raw());
            let t0 = Instant::now();
            wg.done().unwrap();
            done.push(t0.elapsed());
            wake.push(woke.recv().unwrap() - t0);
        }
        report_split(&format!("{topology} wakeup/{name}"), &done, &wake);
        report_paired(
            &format!("{topology} wakeup/{name}"),
            wake,
            "one raw EVALSHA round trip",
            rtt,
            " round trips (target < 2)",
        );
    }
}

/// The floor of a wake-up on one connection type: a bare blocking `XREAD` (a
/// thread on a connection of its own, kept from one read to the next) woken by a
/// one-line script that only appends to the stream, timed like the wake-ups of
/// [`paired_on`], in raw `EVALSHA` round trips timed just before each one.
/// What a wake-up costs with no group logic at all: set against the wake-ups
/// above, it separates the group script's own server time from what the
/// connection type and the machine cost.
fn bare_floor(
    topology: &str,
    key: &str,
    mut reader: redis::Connection,
    mut conn: redis::Connection,
    mut blocked: impl FnMut() -> usize,
) {
    let (go_tx, go_rx) = mpsc::channel::<String>();
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    let events = format!("{key}:events");
    let raw = format!("{key}:raw");
    let stream = events.clone();
    thread::spawn(move || {
        while let Ok(after) = go_rx.recv() {
            let _: redis::Value = redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(10_000)
                .arg("STREAMS")
                .arg(&stream)
                .arg(after)
                .query(&mut reader)
                .unwrap();
            if woke_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    let append = redis::Script::new("return redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])");
    let (mut rtt, mut wake) = (Vec::new(), Vec::new());
    for i in 0..300 {
        let last: String = append.key(&events).arg(i).invoke(&mut conn).unwrap();
        go_tx.send(last).unwrap();
        let t = Instant::now();
        while blocked() < 1 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the reader never blocked"
            );
            thread::sleep(Duration::from_micros(200));
        }
        rtt.push(raw_evalsha(&mut conn, &raw));
        let t0 = Instant::now();
        let _: String = append.key(&events).arg(i).invoke(&mut conn).unwrap();
        wake.push(woke_rx.recv().unwrap() - t0);
    }
    report_paired(
        &format!("{topology} bare XREAD woken by a one-line XADD script"),
        wake,
        "one raw EVALSHA round trip",
        rtt,
        " round trips",
    );
}

/// A raw `EVALSHA` of a one-line `INCRBY` script on `conn`, timed.
fn raw_evalsha(conn: &mut impl redis::ConnectionLike, key: &str) -> Duration {
    let incr = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let t0 = Instant::now();
    let _: i64 = incr.key(key).arg(-1).invoke(conn).unwrap();
    t0.elapsed()
}

/// `blocked_clients` of `INFO clients`, on `conn`.
fn blocked_clients(conn: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// [`paired_on`] over TLS and on a Redis Cluster, each followed by the floor of a
/// wake-up there ([`bare_floor`]).
fn topologies() {
    let certs = tls::Certs::make();
    let server = tls::TlsServer::start(&certs);
    let mut conn = server.conn(&certs);
    let mut stats = server.conn(&certs);
    paired_on(
        "tls",
        || raw_evalsha(&mut conn, "raw:tls"),
        |name| RedisWaitGroup::open_url_with(&server.url(), name, certs.options("ca.crt")).unwrap(),
        |_| blocked_clients(&mut stats),
    );
    bare_floor(
        "tls",
        "floor",
        server.conn(&certs),
        server.conn(&certs),
        || blocked_clients(&mut stats),
    );

    let cluster = cluster::Cluster::start();
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut conn = redis::cluster::ClusterClient::new(seeds.clone())
        .unwrap()
        .get_connection()
        .unwrap();
    // Every group and the raw key on one node (the raw key in the `done` group's slot).
    let raw_key = format!("{{{}}}:raw", cluster.name_on(1, "bench-done"));
    paired_on(
        "cluster",
        || raw_evalsha(&mut conn, &raw_key),
        |group| {
            let name = cluster.name_on(1, group);
            RedisWaitGroup::open_cluster(&seeds, &name, headcount_redis::Options::new()).unwrap()
        },
        // Registered with the watcher: its shard subscription was confirmed before
        // its snapshot.
        RedisWaitGroup::local_waiters,
    );
    // On the groups' node, over plain connections to it.
    let key = format!("{{{}}}", cluster.name_on(1, "floor"));
    let node = &cluster.nodes[1];
    bare_floor("cluster node", &key, node.conn(), node.conn(), || {
        node.blocked_clients()
    });
}

fn benches(c: &mut Criterion) {
    if std::env::args().any(|a| a == "topologies") {
        topologies();
        return;
    }
    let server = RedisServer::start();
    done_latency(c, &server);
    wakeup_latency(c, &server);
    paired(&server);
    bare_reads(&server);
    many_waiters(&server, 1);
    many_waiters(&server, 100);
    join_while_blocked(&server);
    idle_sessions(&server);
    topologies();
}

mod harness {
    // criterion's macro generates an undocumented `pub fn`.
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(redis_wait_group, benches);
}
criterion_main!(harness::redis_wait_group);
