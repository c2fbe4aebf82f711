//! No thread of a group is left running for long after its `wait` returns: counted through
//! `/proc/self/task` (Linux). A group's workers go back to the process-wide cache of idle
//! workers when it closes, and an idle worker that no group hires within a second exits, so
//! the count settles back to where it was. One test in its own binary, so no other test's
//! threads come and go while it counts.
#![cfg(all(not(loom), not(miri), target_os = "linux"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headcount::{ErrGroup, Group, ResultGroup, TryResultGroup};

fn live_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once it has settled at `expected`, or what it is after 20 s. A joined
/// thread may linger in `/proc` for a moment after `join` returns; a thread still *running*
/// never settles.
fn settled(expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = live_threads();
        if now == expected || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn busy(count: &AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_micros(200));
}

#[test]
fn no_thread_is_left_after_wait() {
    let before = live_threads();
    let count = Arc::new(AtomicUsize::new(0));

    // Group, limited and not.
    for limit in [None, Some(1), Some(8), Some(100)] {
        let group = match limit {
            Some(n) => Group::new().limit(n),
            None => Group::new(),
        };
        for _ in 0..300 {
            let count = Arc::clone(&count);
            group.spawn(move || busy(&count));
        }
        assert!(live_threads() > before, "the group started no worker");
        group.wait();
        assert_eq!(
            settled(before),
            before,
            "Group (limit {limit:?}) left threads running"
        );
    }

    // A panicking group.
    let group = Group::new().limit(4);
    group.spawn(|| panic!("expected"));
    group.spawn(|| ());
    assert!(group.wait_recover().is_err());
    assert_eq!(
        settled(before),
        before,
        "a panicking Group left threads running"
    );

    // The scoped form.
    headcount::Group::new().limit(16).scope(|s| {
        for _ in 0..300 {
            s.spawn(|| busy(&count));
        }
    });
    assert_eq!(settled(before), before, "Group::scope left threads running");

    // ErrGroup, with a failing task and cancellation.
    let group = ErrGroup::new().limit(10);
    for i in 0..100 {
        group.spawn(move |token| {
            if i == 5 {
                return Err(i);
            }
            token.wait_timeout(Duration::from_millis(5));
            Ok(())
        });
    }
    assert_eq!(group.wait(), Err(5));
    assert_eq!(settled(before), before, "ErrGroup left threads running");

    // The ordered-results groups.
    let group = ResultGroup::new().limit(10);
    for i in 0..100 {
        group.spawn(move || i);
    }
    assert_eq!(group.wait().len(), 100);
    let group = TryResultGroup::<u32, ()>::new().limit(10);
    for i in 0..100 {
        group.spawn(move |_| Ok(i));
    }
    assert_eq!(group.wait().unwrap().len(), 100);
    assert_eq!(
        settled(before),
        before,
        "a result group left threads running"
    );

    // Dropped without waiting.
    {
        let group = Group::new().limit(5);
        for _ in 0..50 {
            let count = Arc::clone(&count);
            group.spawn(move || busy(&count));
        }
    }
    assert_eq!(
        settled(before),
        before,
        "a dropped Group left threads running"
    );
    assert!(count.load(Ordering::Relaxed) >= 1500);
}
