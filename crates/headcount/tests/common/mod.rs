//! Helpers shared by the integration tests (each test file includes this module).
#![allow(dead_code)] // each test binary uses its own subset

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

/// Runs `f` with the default panic hook silenced (expected panics make noise otherwise),
/// serialized with the other quiet runs of this test binary; a panic of `f` carries on.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    static HOOK: Mutex<()> = Mutex::new(());
    let _serial = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    result.unwrap_or_else(|p| panic::resume_unwind(p))
}

/// The message of a panic payload (`&str` or `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

/// A two-worker tokio runtime with timers, for the async group tests.
#[cfg(feature = "tokio")]
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Loop counts: `native`, or `miri` under Miri, which is ~1000x slower.
pub(crate) const fn n(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}
