//! Exercise 3: "pass the WaitGroup by value".
//!
//! In Go, `func doWork(wg sync.WaitGroup)` copies the group: `Done` decrements the copy, and
//! `Wait` on the original blocks forever (only `go vet` warns). In Rust a `WaitGroup` is
//! neither `Clone` nor `Copy`, so "by value" means *moved*, and the caller cannot wait on a
//! group it gave away:
//!
//! ```text
//! fn do_work(wg: WaitGroup) { wg.done(); }
//!
//! let wg = WaitGroup::new();
//! wg.add(1);
//! std::thread::spawn(move || do_work(wg));
//! wg.wait(); // error[E0382]: borrow of moved value: `wg`
//! ```
//!
//! (The core crate checks this with a `compile_fail` doctest on `WaitGroup`.) This example
//! runs the three fixes: pass a reference (scoped threads), an `Arc`, or use a `static`.
//!
//! Run with `cargo run -p headcount --example pass_by_value`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use headcount::WaitGroup;

static WORK_DONE: AtomicUsize = AtomicUsize::new(0);

/// Go's fix, `func doWork(wg *sync.WaitGroup)`: take the group by reference.
fn do_work(wg: &WaitGroup) {
    WORK_DONE.fetch_add(1, Ordering::Relaxed);
    wg.done();
}

fn main() {
    // Fix 1: a reference, with scoped threads (the group outlives them).
    let wg = WaitGroup::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            wg.add(1);
            s.spawn(|| do_work(&wg));
        }
        wg.wait();
    });
    assert_eq!(WORK_DONE.load(Ordering::Relaxed), 4);
    println!("fix 1, &WaitGroup: 4 tasks done");

    // Fix 2: an `Arc` for 'static threads; every clone is the same group.
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..4 {
        wg.add(1);
        let wg = Arc::clone(&wg);
        std::thread::spawn(move || do_work(&wg));
    }
    wg.wait();
    assert_eq!(WORK_DONE.load(Ordering::Relaxed), 8);
    println!("fix 2, Arc<WaitGroup>: 4 more tasks done");

    // Fix 3: a `static` group (`WaitGroup::new` is `const`), like Go's package-level `var wg`.
    static WG: WaitGroup = WaitGroup::new();
    for _ in 0..4 {
        WG.go_static(|| {
            WORK_DONE.fetch_add(1, Ordering::Relaxed);
        });
    }
    WG.wait();
    assert_eq!(WORK_DONE.load(Ordering::Relaxed), 12);
    println!("fix 3, static WaitGroup: 4 more tasks done");
}
