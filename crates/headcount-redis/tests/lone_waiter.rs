//! A lone blocking waiter reads its group's stream on its own thread (the watcher
//! thread is for waiters that arrive while another one reads), on one connection,
//! which is closed once nobody waits. A test binary of its own: the threads of the
//! process are counted.

mod support;

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::RedisWaitGroup;
use support::{connected_clients, RedisServer};

/// The tests count the threads of the process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The threads of this process named `name` (Linux: `/proc/self/task/*/comm`).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

/// Waits (up to 20 s) until `connected_clients` is at most `n`.
fn await_clients_at_most(server: &RedisServer, n: i64) {
    let t = Instant::now();
    while connected_clients(server) > n {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the connection stayed open"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 20 s) until the watcher threads of earlier tests have ended.
fn await_no_watcher_thread() {
    let t = Instant::now();
    while threads_named("headcount-watch") > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "a watcher thread stayed"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_lone_blocking_waiter_reads_on_its_own_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    await_no_watcher_thread();
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "lone").unwrap();
    wg.add(1).unwrap();
    drop(wg);
    thread::sleep(Duration::from_millis(100));
    let baseline = connected_clients(&server);
    let client = server.client();
    let waiter = thread::spawn(move || {
        let wg = RedisWaitGroup::open(client, "lone").unwrap();
        wg.wait_timeout(Duration::from_secs(60))
    });
    server.await_blocked_readers(1);
    assert_eq!(
        threads_named("headcount-watch"),
        0,
        "a lone waiter was served by the watcher thread"
    );
    assert_eq!(connected_clients(&server) - baseline, 1);
    RedisWaitGroup::open(server.client(), "lone")
        .unwrap()
        .done()
        .unwrap();
    waiter.join().unwrap().unwrap();
    // Nobody waits: the connection is closed.
    await_clients_at_most(&server, baseline);
}

/// The same for a lone `wait_async()`: it reads in its own future, on its runtime.
#[test]
fn a_lone_async_waiter_reads_in_its_own_future() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    await_no_watcher_thread();
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "lone-async").unwrap();
    wg.add(1).unwrap();
    drop(wg);
    thread::sleep(Duration::from_millis(100));
    let baseline = connected_clients(&server);
    let client = server.client();
    let waiter = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let wg = RedisWaitGroup::open(client, "lone-async").unwrap();
        rt.block_on(wg.wait_timeout_async(Duration::from_secs(60)))
    });
    server.await_blocked_readers(1);
    assert_eq!(
        threads_named("headcount-watch"),
        0,
        "a lone async waiter was served by the watcher thread"
    );
    assert_eq!(connected_clients(&server) - baseline, 1);
    RedisWaitGroup::open(server.client(), "lone-async")
        .unwrap()
        .done()
        .unwrap();
    waiter.join().unwrap().unwrap();
    await_clients_at_most(&server, baseline);
}

/// Connections the server has accepted so far (`INFO stats`), asked on `conn`.
fn connections_received(conn: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("stats").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Consecutive `wait_async()` calls on one runtime read on one connection: the
/// snapshot and the read of a wait, and the waits after it, use the connection
/// the first one opened (a new connection per wait delayed each wake-up).
#[test]
fn async_waits_on_one_runtime_reuse_one_connection() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = RedisServer::start();
    let mut info = server.conn();
    let wg = RedisWaitGroup::open(server.client(), "reuse").unwrap();
    let other = RedisWaitGroup::open(server.client(), "reuse").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every connection of the test opened: the handles' and the waiter's.
    wg.add(1).unwrap();
    other.done().unwrap();
    rt.block_on(wg.wait_async()).unwrap();
    let opened = connections_received(&mut info);
    for _ in 0..3 {
        wg.add(1).unwrap();
        let releaser = {
            let (wg, other) = (wg.clone(), other.clone());
            thread::spawn(move || {
                support::await_local_waiters(&wg, 1);
                other.done().unwrap();
            })
        };
        rt.block_on(wg.wait_timeout_async(Duration::from_secs(20)))
            .unwrap();
        releaser.join().unwrap();
        rt.block_on(wg.wait_async()).unwrap();
    }
    assert_eq!(
        connections_received(&mut info) - opened,
        0,
        "an async wait opened a connection of its own"
    );
}

/// A connection an async waiter left is served by a task of its runtime: a waiter
/// on another runtime opens its own (the first runtime is idle here and would
/// never send its requests) and is released at its zero.
#[test]
fn an_async_waiter_on_another_runtime_reads_on_its_own_connection() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "runtimes").unwrap();
    let other = RedisWaitGroup::open(server.client(), "runtimes").unwrap();
    wg.add(1).unwrap();
    other.done().unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    first.block_on(wg.wait_async()).unwrap();
    wg.add(1).unwrap();
    let releaser = {
        let wg = wg.clone();
        thread::spawn(move || {
            support::await_local_waiters(&wg, 1);
            other.done().unwrap();
        })
    };
    let started = Instant::now();
    runtime()
        .block_on(wg.wait_timeout_async(Duration::from_secs(30)))
        .unwrap();
    releaser.join().unwrap();
    // A request sent on the first runtime's connection would have waited out its
    // attempt (7 s with the default timeouts) before a new connection was tried.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "released {:?} after it started waiting",
        started.elapsed()
    );
    drop(first);
}
