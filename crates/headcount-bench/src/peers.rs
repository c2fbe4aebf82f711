//! The peers' implementations of the harness's `CountingGroup` (headcount's and the
//! `Mutex`+`Condvar` baseline's are in the harness itself). Each method is the call the peer's
//! documentation shows for that step; nothing is tuned.

use crate::baselines::AtomicParkWaitGroup;
use crate::harness::CountingGroup;

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

counting_group!(AtomicParkWaitGroup);
