//! Exercise 5 with tokio tasks (feature `tokio`): 10,000 items, at most 100 futures running at
//! once (`AsyncGroup::limit`, a tokio `Semaphore`), the high-water mark asserted; then an
//! `AsyncErrGroup` whose first error cancels its siblings through tokio-util's
//! `CancellationToken`.
//!
//! Run with `cargo run -p headcount --features tokio --example async_bounded`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headcount::{AsyncErrGroup, AsyncGroup};

const ITEMS: usize = 10_000;
const LIMIT: usize = 100;

#[tokio::main]
async fn main() {
    let running = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let group = AsyncGroup::new().limit(LIMIT);
    for item in 0..ITEMS {
        let (running, high_water, processed) = (
            Arc::clone(&running),
            Arc::clone(&high_water),
            Arc::clone(&processed),
        );
        group.spawn(async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            high_water.fetch_max(now, Ordering::SeqCst);
            if item % 10 == 0 {
                tokio::task::yield_now().await; // let others overlap
            }
            processed.fetch_add(1, Ordering::Relaxed);
            running.fetch_sub(1, Ordering::SeqCst);
        });
    }
    group.wait().await;
    let high = high_water.load(Ordering::SeqCst);
    println!(
        "AsyncGroup: processed {} items, high-water mark {high} (limit {LIMIT})",
        processed.load(Ordering::Relaxed)
    );
    assert_eq!(processed.load(Ordering::Relaxed), ITEMS);
    assert!((1..=LIMIT).contains(&high), "{high} futures at once");

    // The first error cancels the siblings, which stop waiting at once.
    let group = AsyncErrGroup::new().limit(LIMIT);
    let stopped = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let stopped = Arc::clone(&stopped);
        group.spawn(move |token| async move {
            tokio::select! {
                _ = token.cancelled() => { stopped.fetch_add(1, Ordering::SeqCst); }
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            Ok(())
        });
    }
    group.spawn(|_| async { Err("fetch failed: 503") });
    let err = group.wait().await.unwrap_err();
    println!(
        "AsyncErrGroup: {err}; {} siblings stopped by the cancellation",
        stopped.load(Ordering::SeqCst)
    );
    assert_eq!(err, "fetch failed: 503");
    assert_eq!(stopped.load(Ordering::SeqCst), 10);
}
