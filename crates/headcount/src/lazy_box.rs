//! A box allocated on first use and freed with its owner: one pointer wide, `const`-constructible.
//!
//! `once_cell::race::OnceBox` is the same idea; this copy exists so that it is built from the
//! [`crate::sync`] facade and so checked by loom together with the code that uses it (and by
//! Miri, which runs the crate's tests over it).

use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicPtr, Ordering::*};

/// A lazily allocated `Box<T>`.
pub(crate) struct LazyBox<T> {
    /// Null, or a pointer from `Box::into_raw` owned by this `LazyBox`.
    ptr: AtomicPtr<T>,
    /// Owns a `T`: `Send`/`Sync` only when `T` is.
    _owns: PhantomData<Box<T>>,
}

impl<T> LazyBox<T> {
    /// An empty box.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        LazyBox {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// An empty box.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        LazyBox {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The value, if it was initialized.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire pairs with the AcqRel compare-exchange in `get_or_init` that published the
        // pointer: the pointee's initialization happens-before our reads through it.
        let p = self.ptr.load(Acquire);
        // SAFETY: a non-null pointer here came from `Box::into_raw` in `get_or_init`, was
        // published fully initialized (see above), and is freed only by `drop`, which needs
        // `&mut self` and so cannot run while the returned `&T` (borrowing `self`) lives.
        unsafe { p.as_ref() }
    }

    /// The value, initialized by `init` if it was empty. Racing initializers each allocate;
    /// one wins and the others free theirs.
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        let new = Box::into_raw(Box::new(init()));
        // Release publishes the initialized box (pairs with the Acquire load in `get`); Acquire
        // on failure pairs with the winner's Release so we may read its box.
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, AcqRel, Acquire)
        {
            // SAFETY: we just stored `new`, a valid box pointer, freed only by `drop(&mut self)`.
            Ok(_) => unsafe { &*new },
            Err(existing) => {
                // SAFETY: `new` came from `Box::into_raw` above and was never shared.
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: `existing` is non-null (the exchange failed against null) and was
                // published by the winner's Release; it lives until `drop(&mut self)`.
                unsafe { &*existing }
            }
        }
    }
}

impl<T> Drop for LazyBox<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the pointer; Acquire keeps the pairing with
        // the publishing Release explicit.
        let p = self.ptr.load(Acquire);
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` and is owned by us; with `&mut self` no
            // reference obtained from `get`/`get_or_init` can still be alive.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl<T> std::fmt::Debug for LazyBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyBox")
            .field("initialized", &self.get().is_some())
            .finish()
    }
}
