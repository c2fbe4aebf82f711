//! `done` latency and wake-up latency of `RedisWaitGroup` on loopback, against the
//! peers measured in the same run on the same server (which the bench starts):
//!
//! * `done/raw_incrby`: one `INCRBY` round trip (the floor for any remote counter);
//! * `done/raw_evalsha`: one `EVALSHA` of a one-line `INCRBY` script;
//! * `done/redisson_countdown`: Redisson `RCountDownLatch.countDown`'s script
//!   (`DECR`, `DEL` + `PUBLISH` at zero);
//! * `done/headcount`: `RedisWaitGroup::done` (script with op id, reaping, events);
//! * `wakeup/redisson_pubsub`: last `countDown` to a subscribed waiter returning;
//! * `wakeup/raw_incrby_same_loop`: one `INCRBY` round trip timed in the same loop
//!   shape as the wake-ups (the unit for the wake-up target);
//! * `wakeup/headcount_sync`: last `done` to a blocked `wait()` returning.
//!
//! Targets (issue 6): `done/headcount` at most 1.5x `done/raw_evalsha`; wake-up
//! under two round trips (2x `wakeup/raw_incrby_same_loop`).
//!
//! Run: `cargo bench -p headcount-redis --bench redis_wait_group`.

#[path = "../tests/support/mod.rs"]
mod support;

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

fn done_latency(c: &mut Criterion, server: &RedisServer) {
    let mut g = c.benchmark_group("done");
    g.measurement_time(Duration::from_secs(3));
    let mut conn = server.conn();

    g.bench_function("raw_incrby", |b| {
        b.iter(|| {
            let _: i64 = redis::cmd("INCRBY")
                .arg("bench:raw")
                .arg(-1)
                .query(&mut conn)
                .unwrap();
        })
    });

    let incr = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    g.bench_function("raw_evalsha", |b| {
        b.iter(|| {
            let _: i64 = incr.key("bench:eval").arg(-1).invoke(&mut conn).unwrap();
        })
    });

    let countdown = redis::Script::new(REDISSON_COUNTDOWN);
    let _: () = redis::cmd("SET")
        .arg("bench:latch")
        .arg(1_000_000_000_000i64)
        .query(&mut conn)
        .unwrap();
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

    let wg = RedisWaitGroup::open(server.client(), "bench-done").unwrap();
    wg.add(1_000_000_000_000).unwrap();
    g.bench_function("headcount", |b| b.iter(|| wg.done().unwrap()));
    g.finish();
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
                    let t0 = Instant::now();
                    let _: i64 = redis::cmd("INCRBY")
                        .arg("bench:rt")
                        .arg(1)
                        .query(&mut conn)
                        .unwrap();
                    total += t0.elapsed();
                }
                total
            })
        });
    }

    // headcount: a thread blocked in `wait()`, released by the last `done()`.
    {
        let wg = RedisWaitGroup::open(server.client(), "bench-wake").unwrap();
        let waiter_wg = wg.clone();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
        thread::spawn(move || {
            while go_rx.recv().is_ok() {
                waiter_wg.wait().unwrap();
                woke_tx.send(Instant::now()).unwrap();
            }
        });
        g.bench_function("headcount_sync", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    wg.add(1).unwrap();
                    go_tx.send(()).unwrap();
                    server.await_blocked_readers(1); // untimed: the waiter is parked
                    let t0 = Instant::now();
                    wg.done().unwrap();
                    total += woke_rx.recv().unwrap() - t0;
                }
                total
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let server = RedisServer::start();
    done_latency(c, &server);
    wakeup_latency(c, &server);
}

mod harness {
    // criterion's macro generates an undocumented `pub fn`.
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(redis_wait_group, benches);
}
criterion_main!(harness::redis_wait_group);
