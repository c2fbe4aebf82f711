//! The leak checker costs nothing unless it is used: until the first `LeakCheck` of the process
//! no spawn and no release is recorded. One test in this file, so that no other test's check
//! switches the checker on first.

#![cfg(not(loom))]

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use headcount::leak::{LeakCheck, ThreadState};
use headcount::WaitGroup;

#[test]
fn nothing_is_tracked_before_the_first_leak_check_and_everything_after() {
    let wg = Arc::new(WaitGroup::new());

    // Before any `LeakCheck`: a `go` task blocked on a rendezvous channel...
    let (early_tx, early_rx) = mpsc::sync_channel::<()>(0);
    wg.go(move || early_tx.send(()).unwrap());
    // ...and a plain thread that released a count and keeps running (with the `diagnostics`
    // feature, such threads are tracked too once the checker is in use).
    let guard = wg.enter_owned();
    let (released_tx, released_rx) = mpsc::channel::<()>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let plain = thread::spawn(move || {
        drop(guard);
        released_tx.send(()).unwrap();
        let _ = stop_rx.recv();
    });
    released_rx.recv().unwrap();

    // The first check of the process: neither thread was recorded, not even for `all()`.
    LeakCheck::new()
        .all()
        .timeout(Duration::from_millis(50))
        .check()
        .expect("threads started before the first LeakCheck are not tracked");

    // From now on spawns are tracked: a task started after the first check is found.
    let check = LeakCheck::new().timeout(Duration::from_millis(50));
    let (late_tx, late_rx) = mpsc::sync_channel::<()>(0);
    let line = line!() + 1;
    wg.go(move || late_tx.send(()).unwrap());
    let leaks = check.check().expect_err("the late task is still running");
    assert_eq!(leaks.threads().len(), 1, "{leaks}");
    let leaked = &leaks.threads()[0];
    assert_eq!(leaked.spawned_by, "WaitGroup::go");
    assert_eq!(leaked.spawned_at.unwrap().line(), line);
    assert_eq!(leaked.state, ThreadState::Counted);

    early_rx.recv().unwrap();
    late_rx.recv().unwrap();
    stop_tx.send(()).unwrap();
    plain.join().unwrap();
    wg.wait();
    LeakCheck::new()
        .all()
        .check()
        .expect("every thread has ended");
}
