//! The sync paths allocate nothing: checked with a counting global allocator.
//!
//! The contract is for the default build: the `diagnostics` feature records every `add`'s
//! caller in a registry, which allocates by design.

#![cfg(not(any(loom, feature = "diagnostics")))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headcount::WaitGroup;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn sync_paths_do_not_allocate() {
    let wg = Arc::new(WaitGroup::new());
    // Warm up: this thread's first park lets parking_lot create its per-thread data once.
    wg.add(1);
    assert!(!wg.wait_timeout(Duration::from_millis(1)));
    wg.done();

    let n = allocations(|| {
        let local = WaitGroup::new();
        for _ in 0..100 {
            local.add(3);
            local.done();
            {
                let _g = local.enter();
            }
            local.add(-2);
            local.wait();
            assert!(local.wait_timeout(Duration::from_millis(1)));
            assert!(local.wait_deadline(Instant::now()));
            let _ = local.try_add(-1);
            let _ = local.count();
        }
        // Blocking and timing out allocates nothing either.
        local.add(1);
        assert!(!local.wait_timeout(Duration::from_millis(2)));
        assert!(!local.wait_deadline(Instant::now() + Duration::from_millis(2)));
        local.done();
    });
    assert_eq!(n, 0, "allocations on the sync paths");

    // A blocking wait released by another thread allocates nothing on the waiting thread.
    wg.add(1);
    let wg2 = wg.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let n = allocations(|| wg2.done());
        assert_eq!(n, 0, "allocations in done");
    });
    let n = allocations(|| wg.wait());
    releaser.join().unwrap();
    // Under Miri (which runs this file too) the emulated platform layer allocates twice on
    // this thread while it blocks; the contract is about native builds, checked here.
    if !cfg!(miri) {
        assert_eq!(n, 0, "allocations in a blocking wait");
    }
}

/// A `Group` stores a small task in its job queue inline: spawning one allocates nothing on
/// the spawning thread (the queue allocates one block per 63 jobs; starting a worker thread
/// allocates a little), where a boxed task cost an allocation per spawn.
#[test]
fn group_spawn_of_a_small_task_does_not_allocate_per_task() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static SUM: AtomicU64 = AtomicU64::new(0);
    const TASKS: u64 = 1_000;

    let group = headcount::Group::new().limit(4);
    let n = allocations(|| {
        for item in 0..TASKS {
            let sum: &'static AtomicU64 = &SUM;
            group.spawn(move || {
                sum.fetch_add(item, Relaxed);
            });
        }
    });
    group.wait();
    assert_eq!(SUM.load(Relaxed), TASKS * (TASKS - 1) / 2);
    assert!(
        n < (TASKS / 4) as usize,
        "{n} allocations for {TASKS} spawns of a two-word task"
    );
}
