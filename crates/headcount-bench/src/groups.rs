//! headcount's rows for W6 (the bounded `Group`) and W7 (the `AsyncGroup`, feature `tokio`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::model::{Case, Workload};
use crate::workloads::{check_sum, process, repeat, ITEMS, LIMIT};

/// W6's headcount row: `Group::new().limit(100)`, a `spawn` per item (tasks run on at most
/// 100 reused worker threads), then `wait`.
pub(crate) fn bounded_group_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        format!("headcount Group::new().limit({LIMIT})"),
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
