//! The task groups' rows: W5 (the pooled `Group` and `rayon::scope`), W6 (the bounded
//! `Group` and `rayon::scope`) and W7 (the `AsyncGroup`, feature `tokio`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::model::{Case, Target, Workload};
use crate::workloads::{check_sum, process, repeat, FAN_OUT, ITEMS, LIMIT};

/// The label of W5's pooled `Group` row, which the `rayon::scope` and Go rows are held to.
pub(crate) const W5_GROUP: &str = "headcount Group::new() (pooled workers)";

/// W5's pooled row: `Group::new()`, a `spawn` of an empty task per task, then `wait` (tasks
/// run on worker threads the group takes on demand and reuses).
pub(crate) fn fan_out_group_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        W5_GROUP,
        Box::new(|n| {
            repeat(n, || {
                let group = headcount::Group::new();
                for _ in 0..FAN_OUT {
                    group.spawn(|| {});
                }
                group.wait();
            })
        }),
    )
}

/// W5's rayon row: `rayon::scope` on rayon's global pool, a `spawn` of an empty task per task
/// (the scope returns once every task has run). The pooled `Group` is held to at most 1.0×
/// of it.
pub(crate) fn fan_out_rayon_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        "rayon::scope (global pool)",
        Box::new(|n| {
            repeat(n, || {
                rayon::scope(|s| {
                    for _ in 0..FAN_OUT {
                        s.spawn(|_| {});
                    }
                });
            })
        }),
    )
    .target(Target::RowRatioAtMost(W5_GROUP, 1.0))
}

/// W6's scoped row: the same bounded `Group`, in its scoped form: the tasks borrow the sum
/// (as the `rayon::scope` row's do) instead of each holding an `Arc`.
pub(crate) fn bounded_group_scope_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        format!("headcount Group::new().limit({LIMIT}).scope (tasks borrow)"),
        Box::new(|n| {
            repeat(n, || {
                let sum = AtomicU64::new(0);
                headcount::Group::new().limit(LIMIT).scope(|s| {
                    for item in 0..ITEMS {
                        let sum = &sum;
                        s.spawn(move || process(item, sum));
                    }
                });
                check_sum(&sum);
            })
        }),
    )
}

/// W6's rayon row: `rayon::scope`, a `spawn` per item; rayon's pool (one thread per core)
/// bounds how many run at once, well under the limit. The bounded `Group` is held to at most
/// 1.0× of it.
pub(crate) fn bounded_rayon_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        "rayon::scope (a spawn per item; its pool bounds it)",
        Box::new(|n| {
            repeat(n, || {
                let sum = AtomicU64::new(0);
                rayon::scope(|s| {
                    for item in 0..ITEMS {
                        let sum = &sum;
                        s.spawn(move |_| process(item, sum));
                    }
                });
                check_sum(&sum);
            })
        }),
    )
    .target(Target::RatioAtMost(1.0))
}

/// The sum W6's `Group` row folds its items into: a `static`, so that its `'static` tasks
/// capture a plain reference, as the `rayon::scope` row's borrowing tasks do (an `Arc` per
/// task would add two contended reference-count updates per item that the rayon row does not
/// pay; [`bounded_group_arc_case`] measures that cost).
static W6_SUM: AtomicU64 = AtomicU64::new(0);

/// W6's headcount row: `Group::new().limit(100)`, a `spawn` per item (tasks run on at most
/// 100 reused worker threads), then `wait`. Each task captures its item and a reference to
/// the sum, exactly what a task of the `rayon::scope` row captures.
pub(crate) fn bounded_group_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        format!("headcount Group::new().limit({LIMIT})"),
        Box::new(|n| {
            repeat(n, || {
                let sum: &'static AtomicU64 = &W6_SUM;
                sum.store(0, Ordering::Relaxed);
                let group = headcount::Group::new().limit(LIMIT);
                for item in 0..ITEMS {
                    group.spawn(move || process(item, sum));
                }
                group.wait();
                check_sum(sum);
            })
        }),
    )
}

/// W6's `Arc` row: the same bounded `Group`, each task holding a clone of an `Arc` of the sum
/// (how `'static` tasks usually share state): the cost of the clone and drop per item.
pub(crate) fn bounded_group_arc_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        format!("headcount Group::new().limit({LIMIT}) (an Arc clone per task)"),
        Box::new(|n| {
            repeat(n, || {
                let sum = Arc::new(AtomicU64::new(0));
                let group = headcount::Group::new().limit(LIMIT);
                for item in 0..ITEMS {
                    let sum = Arc::clone(&sum);
                    group.spawn(move || process(item, &sum));
                }
                group.wait();
                check_sum(&sum);
            })
        }),
    )
}

/// W7's headcount row: `AsyncGroup::new()`, a `spawn` per task, then `wait().await`.
pub(crate) fn async_group_case(w: &'static Workload, rt: Arc<tokio::runtime::Runtime>) -> Case {
    Case::rust(
        w,
        "headcount AsyncGroup",
        Box::new(move |n| {
            repeat(n, || {
                rt.block_on(async {
                    let sum = Arc::new(AtomicU64::new(0));
                    let group = headcount::AsyncGroup::new();
                    for item in 0..ITEMS {
                        let sum = Arc::clone(&sum);
                        group.spawn(async move { process(item, &sum) });
                    }
                    group.wait().await;
                    check_sum(&sum);
                });
            })
        }),
    )
}
