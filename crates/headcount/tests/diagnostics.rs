//! Diagnostics: self-deadlock detection (always on), the leak checker (on from the first
//! `LeakCheck`; `tests/leak_lazy.rs` checks that it records nothing before), stall reports and
//! `outstanding()` (feature `diagnostics`:
//! `cargo test -p headcount --features diagnostics --test diagnostics`).

#![cfg(not(loom))]

mod common;
use common::panic_message;

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use headcount::leak::{LeakCheck, ThreadState};
use headcount::WaitGroup;

/// This file, as `Location`s and reports name it.
const FILE: &str = file!();

// --- self-deadlock ---

#[test]
fn go_task_waiting_for_its_own_group_panics_instead_of_hanging() {
    let wg = Arc::new(WaitGroup::new());
    let inner = Arc::clone(&wg);
    let handle = wg.go(move || inner.wait());
    let payload = handle.join().expect_err("the self-wait must panic");
    let msg = panic_message(&*payload);
    assert!(
        msg.starts_with(
            "self-deadlock: a task started by WaitGroup::go is waiting for its own group"
        ),
        "{msg}"
    );
    assert!(msg.contains("(counter 1)"), "{msg}");
    // The task's count was released while unwinding; the round ends poisoned.
    assert_eq!(wg.count(), 0);
    let waited = panic::catch_unwind(AssertUnwindSafe(|| wg.wait()));
    assert!(
        waited.is_err(),
        "the round with the panicked task re-raises"
    );
}

#[test]
fn self_wait_with_a_timeout_panics_too() {
    static WG: WaitGroup = WaitGroup::new();
    let handle = WG.go_static(|| {
        // Could only ever time out.
        WG.wait_timeout(Duration::from_secs(30));
    });
    let msg = panic_message(&*handle.join().unwrap_err());
    assert!(
        msg.starts_with("self-deadlock: a task started by WaitGroup::go_static"),
        "{msg}"
    );
    let _ = panic::catch_unwind(|| WG.wait());
}

#[test]
fn scoped_self_wait_panics_and_other_groups_are_not_affected() {
    let wg = WaitGroup::new();
    let other = WaitGroup::new();
    let (go, ready) = mpsc::channel::<()>();
    thread::scope(|s| {
        // Waiting for *another* group from a task is fine, also while that group counts.
        other.add(1);
        let other = &other;
        let fine = wg.go_scoped(s, move || {
            ready.recv().unwrap();
            other.wait();
        });
        go.send(()).unwrap();
        other.done();
        fine.join().unwrap();
        wg.wait();

        let bad = wg.go_scoped(s, || {
            wg.wait_deadline(std::time::Instant::now());
        });
        let msg = panic_message(&*bad.join().unwrap_err());
        assert!(
            msg.contains("go_scoped is waiting for its own group"),
            "{msg}"
        );
        let _ = panic::catch_unwind(AssertUnwindSafe(|| wg.wait()));
    });
}

#[test]
fn the_mark_ends_with_the_task() {
    // A thread that was a task of a group is no longer one once the task returned: a plain
    // thread of the same group waits normally.
    let wg = Arc::new(WaitGroup::new());
    wg.go(|| {}).join().unwrap();
    let wg2 = Arc::clone(&wg);
    let waiter = thread::spawn(move || wg2.wait());
    waiter.join().unwrap();
    // Waiting at zero from inside a task is not a deadlock either.
    let inner = Arc::clone(&wg);
    let done = Arc::new(WaitGroup::new());
    let probe = Arc::clone(&done);
    done.go(move || inner.wait()).join().unwrap();
    probe.wait();
}

// --- leak checker (on from the first `LeakCheck`: each test creates its check first) ---

#[test]
fn leak_check_catches_a_task_blocked_on_a_rendezvous_channel() {
    let check = LeakCheck::new().timeout(Duration::from_millis(50));
    let wg = Arc::new(WaitGroup::new());
    let (tx, rx) = mpsc::sync_channel::<u32>(0); // unbuffered: a send waits for a receiver
    let (started_tx, started) = mpsc::channel();
    let line = line!() + 1;
    wg.go(move || {
        started_tx.send(()).unwrap();
        tx.send(7).unwrap()
    });
    // The task's thread runs (and has recorded its id) before the check looks: on a loaded
    // machine a thread can take longer than the check's timeout to start.
    started.recv().unwrap();

    let leaks = check
        .check()
        .expect_err("the blocked task is still running");
    assert_eq!(leaks.threads().len(), 1, "{leaks}");
    let t = &leaks.threads()[0];
    assert_eq!(t.state, ThreadState::Counted);
    assert_eq!(t.spawned_by, "WaitGroup::go");
    assert_eq!(t.spawned_at.unwrap().line(), line);
    assert!(t.id.is_some());
    let report = leaks.to_string();
    assert!(
        report.contains(&format!("{FILE}:{line} by WaitGroup::go: counted")),
        "{report}"
    );
    assert!(report.starts_with("1 thread started or counted through headcount still running"));

    // The ignore list.
    LeakCheck::new()
        .timeout(Duration::from_millis(10))
        .ignore(&format!("{FILE}:{line}"))
        .check()
        .expect("ignored");

    // Receive: the task ends, and the check passes (retrying while the thread exits).
    assert_eq!(rx.recv().unwrap(), 7);
    wg.wait();
    LeakCheck::new().group(&wg).check().expect("nothing left");
}

#[test]
fn leak_check_passes_a_clean_run() {
    let _check = LeakCheck::new(); // asserts on drop
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..32 {
        wg.go(|| thread::sleep(Duration::from_millis(1)));
    }
    wg.wait();
    thread::scope(|s| {
        for _ in 0..4 {
            wg.go_scoped(s, || {});
        }
        wg.wait();
    });
}

#[test]
fn leak_check_covers_tasks_started_by_tasks() {
    let check = LeakCheck::new().timeout(Duration::from_millis(30));
    let wg = Arc::new(WaitGroup::new());
    let (tx, rx) = mpsc::sync_channel::<()>(0);
    let inner = Arc::clone(&wg);
    let line = line!() + 2;
    wg.go(move || {
        inner.go(move || tx.send(()).unwrap()); // a grandchild, started by a task
    })
    .join()
    .unwrap();
    let leaks = check
        .check()
        .expect_err("the grandchild is in this test's scope");
    assert_eq!(leaks.threads().len(), 1, "{leaks}");
    assert_eq!(leaks.threads()[0].spawned_at.unwrap().line(), line);
    rx.recv().unwrap();
    wg.wait();
    LeakCheck::new().check().unwrap();
}

#[test]
fn a_leak_check_guard_panics_when_dropped_with_leaks() {
    let wg = Arc::new(WaitGroup::new());
    let (tx, rx) = mpsc::sync_channel::<()>(0);
    let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
        let _check = LeakCheck::new().timeout(Duration::from_millis(20));
        wg.go(move || tx.send(()).unwrap());
    }));
    let msg = panic_message(&*dropped.unwrap_err());
    assert!(msg.contains("by WaitGroup::go: counted"), "{msg}");
    rx.recv().unwrap();
    wg.wait();
}

// --- feature `diagnostics` ---

#[cfg(feature = "diagnostics")]
mod with_feature {
    use std::sync::{Mutex, PoisonError};
    use std::time::Instant;

    use headcount::diagnostics::{self, Kind};

    use super::*;

    static REPORTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// Serializes the tests that change the process-wide sink.
    pub(super) static SINK_TESTS: Mutex<()> = Mutex::new(());

    fn capture(report: &str) {
        REPORTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report.to_owned());
    }

    /// Reports naming the wait at `{FILE}:{line}` (other tests run in parallel and
    /// share the sink).
    /// The one report of the wait at `line`, checked to say how long (under a second) and to
    /// end with `outstanding`.
    fn assert_one_report(line: u32, outstanding: &str) {
        let reports = reports_for(line);
        assert_eq!(reports.len(), 1, "{reports:?}");
        let report = &reports[0];
        assert!(report.starts_with("wait blocked for 0."), "{report}");
        assert!(
            report.ends_with(&format!("; still outstanding: {outstanding}")),
            "{report}"
        );
    }

    fn reports_for(line: u32) -> Vec<String> {
        let at = format!("on a group at {FILE}:{line};");
        REPORTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.contains(&at))
            .cloned()
            .collect()
    }

    #[test]
    fn outstanding_lists_locations_kinds_and_counts() {
        let wg = Arc::new(WaitGroup::new());
        let add_line = line!() + 1;
        wg.add(2);
        let enter_line = line!() + 1;
        let guard = wg.enter();
        let (tx, rx) = mpsc::sync_channel::<()>(0);
        let go_line = line!() + 1;
        wg.go(move || tx.send(()).unwrap());

        let out = wg.outstanding();
        let summary: Vec<(u32, Kind, usize)> = out
            .iter()
            .map(|o| (o.location.unwrap().line(), o.kind, o.count))
            .collect();
        assert_eq!(
            summary,
            [
                (add_line, Kind::Add, 2),
                (enter_line, Kind::Enter, 1),
                (go_line, Kind::Go, 1)
            ]
        );
        assert!(
            out.windows(2).all(|w| w[0].since <= w[1].since),
            "oldest first"
        );
        assert_eq!(
            out[1].to_string(),
            format!("1 x {FILE}:{enter_line} (enter)")
        );

        // A guard releases its own entry; a plain `done` the oldest `add` (FIFO).
        drop(guard);
        wg.done();
        let summary: Vec<(u32, usize)> = wg
            .outstanding()
            .iter()
            .map(|o| (o.location.unwrap().line(), o.count))
            .collect();
        assert_eq!(summary, [(add_line, 1), (go_line, 1)]);

        // The go task releases its own entry when it ends.
        rx.recv().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while wg.count() != 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        let summary: Vec<(u32, Kind, usize)> = wg
            .outstanding()
            .iter()
            .map(|o| (o.location.unwrap().line(), o.kind, o.count))
            .collect();
        assert_eq!(summary, [(add_line, Kind::Add, 1)]);
        wg.done();
        assert!(wg.outstanding().is_empty());
        wg.wait();
    }

    #[test]
    fn a_refused_add_leaves_no_entry() {
        let wg = WaitGroup::new();
        assert!(wg.try_add(-1).is_err());
        assert!(wg.outstanding().is_empty());
        wg.add(1);
        assert!(wg.try_add(WaitGroup::MAX_COUNT as isize).is_err());
        let out = wg.outstanding();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].count, 1);
        wg.done();
    }

    #[test]
    fn a_stalled_wait_reports_once_with_its_outstanding_counts() {
        let _serial = SINK_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
        diagnostics::set_report_sink(Some(capture));
        diagnostics::set_stall_threshold(Some(Duration::from_millis(50)));

        let wg = Arc::new(WaitGroup::new());
        let add_line = line!() + 1;
        wg.add(2);
        let enter_line = line!() + 1;
        let _guard = wg.enter();
        let (tx, rx) = mpsc::sync_channel::<()>(0);
        let go_line = line!() + 1;
        wg.go(move || tx.send(()).unwrap());

        // A timed wait that times out after several thresholds: one report, not several.
        let wait_line = line!() + 1;
        assert!(!wg.wait_timeout(Duration::from_millis(400)));
        assert_one_report(
            wait_line,
            &format!(
                "2 x {FILE}:{add_line} (add), \
                 1 x {FILE}:{enter_line} (enter), \
                 1 x {FILE}:{go_line} (go)"
            ),
        );

        // A blocking wait, released later by other threads: reports once, then returns.
        let releaser = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(300));
                wg.done();
                wg.done();
                rx.recv().unwrap();
            })
        };
        drop(_guard);
        let wait_line = line!() + 1;
        wg.wait();
        releaser.join().unwrap();
        let reports = reports_for(wait_line);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0].contains(&format!("{FILE}:{add_line} (add)")),
            "{reports:?}"
        );
        assert!(
            !reports[0].contains("(enter)"),
            "the guard was dropped: {reports:?}"
        );

        // A wait that is not blocked long does not report.
        wg.add(1);
        let wg2 = Arc::clone(&wg);
        let quick = thread::spawn(move || wg2.done());
        let wait_line = line!() + 1;
        wg.wait();
        quick.join().unwrap();
        // (The done above comes well within 50 ms on any machine this runs on; if not, the
        // report would be legitimate, so only a report naming no count at all is an error.)
        assert!(reports_for(wait_line).iter().all(|r| r.contains(" x ")));
        assert!(wg.outstanding().is_empty());
    }

    #[test]
    fn a_stalled_async_wait_is_reported_once_by_the_watchdog() {
        let _serial = SINK_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
        diagnostics::set_report_sink(Some(capture));
        diagnostics::set_stall_threshold(Some(Duration::from_millis(50)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();

        let wg = Arc::new(WaitGroup::new());
        let enter_line = line!() + 1;
        let guard = wg.enter_owned();

        // Pending for several thresholds, then dropped by the timeout: one report, then none.
        let wait_line = line!() + 1;
        let pending = wg.wait_async();
        let timed_out = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(400), pending)
                .await
                .is_err()
        });
        assert!(timed_out);
        assert_one_report(wait_line, &format!("1 x {FILE}:{enter_line} (enter)"));

        // Released after the threshold: reported once, then it resolves.
        let wait_line = line!() + 1;
        let released = wg.wait_async();
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            drop(guard);
        });
        rt.block_on(released);
        releaser.join().unwrap();
        assert_eq!(reports_for(wait_line).len(), 1);

        // Never pending (the counter is zero): never watched.
        let wait_line = line!() + 1;
        let ready = wg.wait_async();
        rt.block_on(ready);
        // A future dropped before the threshold is not reported later.
        wg.add(1);
        let dropped_line = line!() + 1;
        let dropped = wg.wait_async();
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_millis(5), dropped).await;
        });
        wg.done();
        thread::sleep(Duration::from_millis(200));
        assert!(reports_for(wait_line).is_empty());
        assert!(reports_for(dropped_line).is_empty());
    }

    #[test]
    fn the_threshold_comes_from_code() {
        diagnostics::set_stall_threshold(Some(Duration::from_millis(75)));
        assert_eq!(
            diagnostics::stall_threshold(),
            Some(Duration::from_millis(75))
        );
        diagnostics::set_stall_threshold(Some(Duration::from_millis(50)));
    }

    #[test]
    fn leak_check_reports_threads_that_called_done_and_still_run() {
        // The e-commerce goroutine-leak incident: `done`, then a send on an unbuffered channel
        // nobody reads.
        let wg = Arc::new(WaitGroup::new());
        let check = LeakCheck::new()
            .group(&wg)
            .timeout(Duration::from_millis(100));
        let (tx, rx) = mpsc::sync_channel::<usize>(0);
        let mut handles = Vec::new();
        let enter_line = line!() + 2;
        for i in 0..3 {
            let guard = wg.enter_owned();
            let tx = tx.clone();
            let handle = thread::Builder::new()
                .name(format!("order-{i}"))
                .spawn(move || {
                    let result = i * 10;
                    drop(guard); // done...
                    tx.send(result).unwrap(); // ...then blocked: nobody receives
                })
                .unwrap();
            handles.push(handle);
        }
        wg.wait(); // returns: every task called done

        let leaks = check
            .check()
            .expect_err("three threads are blocked after their done");
        assert_eq!(leaks.threads().len(), 3, "{leaks}");
        let mut names: Vec<_> = leaks
            .threads()
            .iter()
            .map(|t| t.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["order-0", "order-1", "order-2"]);
        for t in leaks.threads() {
            assert_eq!(t.state, ThreadState::DoneButRunning);
            assert_eq!(t.spawned_by, "thread");
            assert_eq!(t.released_at.unwrap().line(), enter_line);
        }
        let report = leaks.to_string();
        assert!(report.contains("thread 'order-1'"), "{report}");
        assert!(
            report.contains(&format!(
                "done-but-running (released a count at {FILE}:{enter_line})"
            )),
            "{report}"
        );

        // The fix: consume the results. Then the check passes.
        let mut results: Vec<usize> = (0..3).map(|_| rx.recv().unwrap()).collect();
        results.sort();
        assert_eq!(results, [0, 10, 20]);
        for h in handles {
            h.join().unwrap();
        }
        LeakCheck::new()
            .group(&wg)
            .check()
            .expect("all threads exited");
    }
}

#[cfg(feature = "diagnostics")]
mod through_tracing {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use headcount::{diagnostics, WaitGroup};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::FILE;

    /// A subscriber that keeps the `message` of every event with its level and target.
    #[derive(Default)]
    struct Capture {
        events: Arc<Mutex<Vec<(Level, String, String)>>>,
        ids: AtomicU64,
    }

    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(self.ids.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            let meta = event.metadata();
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((*meta.level(), meta.target().to_owned(), message.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn without_a_sink_the_report_is_a_tracing_warning() {
        let _serial = super::with_feature::SINK_TESTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        diagnostics::set_report_sink(None);
        diagnostics::set_stall_threshold(Some(Duration::from_millis(50)));
        let capture = Capture::default();
        let events = Arc::clone(&capture.events);
        let wg = WaitGroup::new();
        let add_line = line!() + 1;
        wg.add(3);
        let wait_line = tracing::subscriber::with_default(capture, || {
            let line = line!() + 1;
            assert!(!wg.wait_timeout(Duration::from_millis(300)));
            line
        });
        wg.add(-3);
        let events = events.lock().unwrap_or_else(PoisonError::into_inner);
        let ours: Vec<_> = events
            .iter()
            .filter(|(_, _, m)| m.contains(&format!("on a group at {FILE}:{wait_line};")))
            .collect();
        assert_eq!(ours.len(), 1, "{events:?}");
        let (level, target, message) = ours[0];
        assert_eq!(*level, Level::WARN);
        assert_eq!(target, "headcount");
        assert!(
            message.ends_with(&format!("still outstanding: 3 x {FILE}:{add_line} (add)")),
            "{message}"
        );
    }
}
