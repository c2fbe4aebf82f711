//! `ResultGroup` and `TryResultGroup`: values in spawn order whatever the finishing order.
#![cfg(not(loom))]

mod common;
use common::quietly;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use headcount::{ResultGroup, TryResultGroup};

/// A small deterministic pseudo-random sequence (xorshift), for task durations.
fn durations(count: usize, seed: u64) -> Vec<Duration> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 2000)
        })
        .collect()
}

const TASKS: usize = if cfg!(miri) { 8 } else { 200 };

#[test]
fn results_come_back_in_spawn_order_under_random_durations() {
    for (limit, seed) in [(1, 1), (8, 2), (64, 3)] {
        let group = ResultGroup::new().limit(limit);
        for (i, d) in durations(TASKS, seed).into_iter().enumerate() {
            group.spawn(move || {
                thread::sleep(d);
                i
            });
        }
        assert_eq!(
            group.wait(),
            (0..TASKS).collect::<Vec<_>>(),
            "limit {limit}"
        );
    }
}

#[test]
fn unlimited_result_group_keeps_the_order() {
    let group = ResultGroup::new();
    for (i, d) in durations(50, 9).into_iter().enumerate() {
        group.spawn(move || {
            thread::sleep(d);
            format!("item {i}")
        });
    }
    let values = group.wait();
    assert!(values
        .iter()
        .enumerate()
        .all(|(i, v)| *v == format!("item {i}")));
}

#[test]
fn result_group_try_spawn_takes_no_position_when_refused() {
    let group = ResultGroup::new().limit(1);
    let (release, held) = std::sync::mpsc::channel::<()>();
    group.spawn(move || {
        held.recv().unwrap();
        1
    });
    assert!(group.try_spawn(|| 2).is_err());
    release.send(()).unwrap();
    let mut task = Some(|| 3);
    while let Some(t) = task.take() {
        if let Err(t) = group.try_spawn(t) {
            task = Some(t);
            thread::yield_now();
        }
    }
    assert_eq!(group.wait(), [1, 3]);
}

#[derive(Debug, PartialEq)]
struct Boom(u8);

#[test]
fn result_group_panic_payload_reaches_wait() {
    let group = ResultGroup::new();
    group.spawn(|| 1);
    quietly(|| group.spawn(|| panic::panic_any(Boom(4))));
    let payload =
        quietly(|| panic::catch_unwind(AssertUnwindSafe(move || group.wait()))).unwrap_err();
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(4)));

    let group = ResultGroup::<u8>::new();
    quietly(|| group.spawn(|| panic!("boom")));
    assert_eq!(
        quietly(|| group.wait_recover()).unwrap_err().message(),
        Some("boom")
    );
}

#[test]
fn try_result_group_values_in_order() {
    let group = TryResultGroup::<usize, String>::new().limit(8);
    for (i, d) in durations(TASKS, 5).into_iter().enumerate() {
        group.spawn(move |_| {
            thread::sleep(d);
            Ok(i * 2)
        });
    }
    assert_eq!(
        group.wait(),
        Ok((0..TASKS).map(|i| i * 2).collect::<Vec<_>>())
    );
}

#[test]
fn try_result_group_first_error_cancels_siblings() {
    let group = TryResultGroup::<(), &str>::new();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    group.spawn(move |token| {
        c.store(
            token.wait_timeout(Duration::from_secs(60)),
            Ordering::SeqCst,
        );
        Ok(())
    });
    group.spawn(|_| Err("bad input"));
    assert_eq!(group.wait(), Err("bad input"));
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn try_result_group_first_error_is_in_failure_order() {
    let group = TryResultGroup::<u8, u8>::new().limit(1);
    group.spawn(|_| Ok(0));
    group.spawn(|_| Err(1));
    group.spawn(|_| Err(2));
    assert_eq!(group.wait(), Err(1));
}

#[test]
fn try_result_group_wait_all_in_spawn_order() {
    let group = TryResultGroup::new().limit(4).cancel_on_error(false);
    for (i, d) in durations(40, 7).into_iter().enumerate() {
        group.spawn(move |_| {
            thread::sleep(d);
            if i % 5 == 0 {
                Err(i)
            } else {
                Ok(i)
            }
        });
    }
    let outcomes = group.wait_all();
    assert_eq!(outcomes.len(), 40);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert_eq!(outcome, if i % 5 == 0 { Err(i) } else { Ok(i) });
    }
}

#[test]
fn try_result_group_panic_wins() {
    let group = TryResultGroup::<u8, u8>::new();
    group.spawn(|_| Err(1));
    quietly(|| group.spawn(|_| panic::panic_any(Boom(2))));
    let panicked = quietly(|| group.wait_recover()).unwrap_err();
    assert_eq!(panicked.first().downcast_ref::<Boom>(), Some(&Boom(2)));
}

#[test]
fn try_result_group_try_spawn_at_the_limit() {
    let group = TryResultGroup::<u8, ()>::new().limit(1);
    let token = group.token();
    group.spawn(|token| {
        token.wait();
        Ok(1)
    });
    assert!(group.try_spawn(|_| Ok(2)).is_err());
    token.cancel();
    assert_eq!(group.wait(), Ok(vec![1]));
}

#[test]
fn debug_output() {
    let group = ResultGroup::<u8>::new();
    assert!(format!("{group:?}").contains("ResultGroup"));
    let group = TryResultGroup::<u8, u8>::new();
    assert!(format!("{group:?}").contains("TryResultGroup"));
}
