//! A lone blocking waiter reads its group's stream on its own thread (the watcher
//! thread is for waiters that arrive while another one reads), on one connection,
//! which is closed once nobody waits. A test binary of its own: the threads of the
//! process are counted.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::RedisWaitGroup;
use support::RedisServer;

/// `connected_clients` of `INFO clients` (this query's own connection included).
fn connected_clients(server: &RedisServer) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(&mut server.conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The threads of this process named `name` (Linux: `/proc/self/task/*/comm`).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

#[test]
fn a_lone_blocking_waiter_reads_on_its_own_thread() {
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
    let t = Instant::now();
    while connected_clients(&server) > baseline {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the connection stayed open"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
