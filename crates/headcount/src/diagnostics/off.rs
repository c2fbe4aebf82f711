//! Without the `diagnostics` feature: the crate-internal surface of
//! [`call_sites`](super) and [`stall`](super) as zero-sized types and empty
//! `#[inline(always)]` functions, so the group stays 16 bytes and its sync paths compile to the
//! same code as if there were no hooks (`benches/diagnostics.rs` measures it).

use std::panic::Location;
use std::time::Instant;

use crate::WaitGroup;

/// Where a change of the counter came from (nothing, without the feature).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin;

impl Origin {
    #[inline(always)]
    pub(crate) fn add() -> Self {
        Origin
    }
    #[inline(always)]
    pub(crate) fn enter() -> Self {
        Origin
    }
    #[inline(always)]
    pub(crate) fn go() -> Self {
        Origin
    }
    #[inline(always)]
    #[allow(dead_code)] // for the group layer's spawns
    pub(crate) fn spawn() -> Self {
        Origin
    }
    #[inline(always)]
    pub(crate) fn location(self) -> Option<&'static Location<'static>> {
        None
    }
}

#[inline(always)]
pub(crate) fn record_add(_wg: &WaitGroup, _n: usize, _origin: Origin) {}

#[inline(always)]
pub(crate) fn add_refused(_wg: &WaitGroup, _n: usize, _origin: Origin) {}

#[inline(always)]
pub(crate) fn record_release(_wg: &WaitGroup, _n: usize, _origin: Origin) {}

#[inline(always)]
pub(crate) fn forget_group(_wg: &WaitGroup) {}

/// A blocking wait's stall timer (nothing, without the feature).
#[derive(Debug)]
pub(crate) struct Stall;

impl Stall {
    #[inline(always)]
    pub(crate) fn start(_wg: &WaitGroup) -> Self {
        Stall
    }
    #[inline(always)]
    pub(crate) fn park_deadline(&self, deadline: Option<Instant>) -> Option<Instant> {
        deadline
    }
    #[inline(always)]
    pub(crate) fn timed_out(&mut self, _wg: &WaitGroup, _deadline: Option<Instant>) -> bool {
        false
    }
}

/// An async wait's stall timer (nothing, without the feature).
#[derive(Debug)]
pub(crate) struct AsyncStall;

impl AsyncStall {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        AsyncStall
    }
    #[inline(always)]
    pub(crate) fn arm(&mut self, _wg: &WaitGroup) {}
    #[inline(always)]
    pub(crate) fn disarm(&mut self) {}
}
