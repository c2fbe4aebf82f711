//! [`Guard`] and [`OwnedGuard`]: a `done` that cannot be forgotten.

use std::fmt;
use std::sync::Arc;

use crate::diagnostics::Origin;
use crate::WaitGroup;

/// Holds one count of a [`WaitGroup`] and calls `done` when dropped: Go's
/// `wg.Add(1); defer wg.Done()`, by construction. Returned by [`WaitGroup::enter`].
///
/// The `done` also happens when the guard is dropped by a panic's unwinding, so a panicking
/// task cannot leave the counter stuck above zero.
///
/// # Examples
///
/// ```
/// use headcount::WaitGroup;
///
/// let wg = WaitGroup::new();
/// std::thread::scope(|s| {
///     for _ in 0..3 {
///         let guard = wg.enter(); // counted before the thread starts
///         s.spawn(move || {
///             let _guard = guard;
///             // work; `done` when `_guard` drops, even on panic
///         });
///     }
///     wg.wait();
/// });
/// ```
#[must_use = "the guard calls `done` when dropped: bind it (`let _guard = ...`) for as long as the work runs"]
pub struct Guard<'a> {
    wg: &'a WaitGroup,
    /// Where the guard was taken (feature `diagnostics`; zero-sized otherwise).
    origin: Origin,
}

/// A [`Guard`] that owns an `Arc` of its group, for tasks that must be `'static`
/// (`std::thread::spawn`, `tokio::spawn`). Returned by [`WaitGroup::enter_owned`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use headcount::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// let guard = wg.enter_owned();
/// std::thread::spawn(move || {
///     let _guard = guard;
/// });
/// wg.wait();
/// ```
#[must_use = "the guard calls `done` when dropped: bind it (`let _guard = ...`) for as long as the work runs"]
pub struct OwnedGuard {
    wg: Arc<WaitGroup>,
    /// Where the guard was taken (feature `diagnostics`; zero-sized otherwise).
    origin: Origin,
}

impl WaitGroup {
    /// Adds one to the counter and returns a guard that calls `done` when dropped (also while
    /// unwinding from a panic).
    ///
    /// # Panics
    ///
    /// If the counter is at [`WaitGroup::MAX_COUNT`] ("overflow"); it is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// {
    ///     let _guard = wg.enter();
    ///     assert_eq!(wg.count(), 1);
    /// }
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn enter(&self) -> Guard<'_> {
        let origin = Origin::enter();
        self.add_from(1, origin);
        Guard { wg: self, origin }
    }

    /// Like [`enter`](Self::enter), for a group behind an `Arc`: the guard keeps the group
    /// alive and is `'static` (tokio's `acquire_owned` convention).
    ///
    /// # Panics
    ///
    /// If the counter is at [`WaitGroup::MAX_COUNT`] ("overflow"); it is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(headcount::WaitGroup::new());
    /// let guard = wg.enter_owned();
    /// assert_eq!(wg.count(), 1);
    /// drop(guard);
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn enter_owned(self: &Arc<Self>) -> OwnedGuard {
        let origin = Origin::enter();
        self.add_from(1, origin);
        OwnedGuard {
            wg: Arc::clone(self),
            origin,
        }
    }

    /// The `done` of a guard. A guard's count can only be missing if someone else called
    /// `done` too often; that is reported by a panic, except while already unwinding (a second
    /// panic would abort the process).
    #[inline]
    pub(crate) fn release_guard(&self, origin: Origin) {
        if let Err(err) = self.update_from(-1, false, origin) {
            if !std::thread::panicking() {
                panic!("{err} (while dropping a WaitGroup guard)");
            }
        }
    }
}

impl Guard<'_> {
    /// The group this guard counts in.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// let guard = wg.enter();
    /// assert!(std::ptr::eq(guard.wait_group(), &wg));
    /// ```
    pub fn wait_group(&self) -> &WaitGroup {
        self.wg
    }
}

impl OwnedGuard {
    /// The group this guard counts in.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(headcount::WaitGroup::new());
    /// let guard = wg.enter_owned();
    /// assert!(Arc::ptr_eq(guard.wait_group(), &wg));
    /// ```
    pub fn wait_group(&self) -> &Arc<WaitGroup> {
        &self.wg
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.wg.release_guard(self.origin);
    }
}

impl Drop for OwnedGuard {
    fn drop(&mut self) {
        self.wg.release_guard(self.origin);
    }
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("wait_group", self.wg)
            .finish()
    }
}

impl fmt::Debug for OwnedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedGuard")
            .field("wait_group", &*self.wg)
            .finish()
    }
}
