//! The reusable, counter-based wait groups behind one small trait, so a workload is written once
//! and monomorphised per peer (no dynamic dispatch inside a timed loop).
//!
//! Each method is the call the peer's documentation shows for that step; nothing is tuned.

use crate::baselines::{AtomicParkWaitGroup, CondvarWaitGroup};

/// A wait group that can be counted up and down and waited on, and reused.
pub(crate) trait CountingGroup: Send + Sync + 'static {
    /// A fresh group at zero.
    fn fresh() -> Self;
    /// Go's `Add(1)`.
    fn add_one(&self);
    /// Go's `Done()`.
    fn done_one(&self);
    /// Go's `Wait()`, blocking the thread.
    fn wait_zero(&self);
}

impl CountingGroup for headcount::WaitGroup {
    fn fresh() -> Self {
        headcount::WaitGroup::new()
    }
    #[inline]
    fn add_one(&self) {
        self.add(1);
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}

impl CountingGroup for wg::WaitGroup {
    fn fresh() -> Self {
        wg::WaitGroup::new()
    }
    #[inline]
    fn add_one(&self) {
        // `add` returns a handle to the same counter; dropping it is what its docs call valid.
        drop(self.add(1));
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}

impl CountingGroup for wg::future::WaitGroup {
    fn fresh() -> Self {
        wg::future::WaitGroup::new()
    }
    #[inline]
    fn add_one(&self) {
        drop(self.add(1));
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        // Its documented blocking escape hatch for non-async code.
        self.wait_blocking();
    }
}

impl CountingGroup for CondvarWaitGroup {
    fn fresh() -> Self {
        CondvarWaitGroup::default()
    }
    #[inline]
    fn add_one(&self) {
        self.add(1);
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}

impl CountingGroup for AtomicParkWaitGroup {
    fn fresh() -> Self {
        AtomicParkWaitGroup::default()
    }
    #[inline]
    fn add_one(&self) {
        self.add(1);
    }
    #[inline]
    fn done_one(&self) {
        self.done();
    }
    #[inline]
    fn wait_zero(&self) {
        self.wait();
    }
}
