//! headcount's rows for W6 and W7.
//!
//! FALLBACK: headcount's `Group`/`AsyncGroup` (issue 3) do not exist yet; these rows use the
//! core `WaitGroup` and code of our own, and say so in their labels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::model::{Case, Workload};
use crate::workloads::{ITEMS, LIMIT};

/// W6's headcount row.
pub(crate) fn bounded_group_case(w: &'static Workload) -> Case {
    Case::rust(
        w,
        format!("headcount WaitGroup + {LIMIT} `go` workers (fallback: no Group yet)"),
        Box::new(|n| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                let sum = Arc::new(AtomicU64::new(0));
                let next = Arc::new(AtomicU64::new(0));
                let group = Arc::new(headcount::WaitGroup::new());
                for _ in 0..LIMIT {
                    let (sum, next) = (Arc::clone(&sum), Arc::clone(&next));
                    group.go(move || loop {
                        let item = next.fetch_add(1, Ordering::Relaxed);
                        if item >= ITEMS {
                            break;
                        }
                        sum.fetch_add(std::hint::black_box(item), Ordering::Relaxed);
                    });
                }
                group.wait();
                assert_eq!(sum.load(Ordering::Relaxed), ITEMS * (ITEMS - 1) / 2);
            }
            start.elapsed()
        }),
    )
}

/// W7's headcount row.
pub(crate) fn async_group_case(w: &'static Workload, rt: Arc<tokio::runtime::Runtime>) -> Case {
    Case::rust(
        w,
        "headcount WaitGroup, enter_owned + wait_async (fallback: no AsyncGroup yet)",
        Box::new(move |n| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                rt.block_on(async {
                    let sum = Arc::new(AtomicU64::new(0));
                    let group = Arc::new(headcount::WaitGroup::new());
                    for item in 0..ITEMS {
                        let guard = group.enter_owned();
                        let sum = Arc::clone(&sum);
                        tokio::spawn(async move {
                            sum.fetch_add(std::hint::black_box(item), Ordering::Relaxed);
                            drop(guard);
                        });
                    }
                    group.wait_async().await;
                    assert_eq!(sum.load(Ordering::Relaxed), ITEMS * (ITEMS - 1) / 2);
                });
            }
            start.elapsed()
        }),
    )
}
