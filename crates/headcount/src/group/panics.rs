//! [`Panicked`]: the panics of a group's tasks, as a value.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::panic;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::pool::Payload;

/// The panics of a group's tasks, returned by the `wait_recover` methods instead of being
/// re-raised (conc's `WaitAndRecover`).
///
/// Every payload is kept, in the order the panics were caught, each exactly as the task passed
/// it to `panic!` / `panic_any` / `resume_unwind` (downcast it to the original type).
/// [`Group::wait`](crate::Group::wait) and its siblings re-raise the [`first`](Self::first) with
/// [`resume`](Self::resume) and drop the others.
///
/// It is `Send + Sync + 'static` and a [`std::error::Error`], so it converts into
/// `Box<dyn Error + Send + Sync>` or `anyhow::Error` and crosses threads. (A payload is only
/// `Send`; the payloads sit behind a lock that [`first`](Self::first) takes for as long as its
/// guard lives, which is what makes sharing a `&Panicked` sound.)
///
/// # Examples
///
/// ```
/// use headcount::Group;
///
/// let group = Group::new();
/// group.spawn(|| std::panic::panic_any(7_u32));
/// group.spawn(|| {});
/// let panicked = group.wait_recover().unwrap_err();
/// assert_eq!(panicked.len(), 1);
/// assert_eq!(panicked.first().downcast_ref::<u32>(), Some(&7));
/// ```
pub struct Panicked {
    /// Never empty. Behind a lock only to be `Sync` (payloads are `Send` only): `&self`
    /// methods lock it, `self` methods take it out.
    payloads: Mutex<Vec<Payload>>,
    /// The first panic's message, when its payload is a string; read by `&self` without the
    /// lock.
    message: Option<String>,
}

// Sharing a `&Panicked` gives shared access to payloads only through the lock.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Panicked>();
};

impl Panicked {
    /// `None` when no task panicked.
    pub(crate) fn from_payloads(payloads: Vec<Payload>) -> Option<Self> {
        if payloads.is_empty() {
            None
        } else {
            let message = message(&*payloads[0]).map(str::to_owned);
            Some(Panicked {
                payloads: Mutex::new(payloads),
                message,
            })
        }
    }

    /// How many tasks panicked (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// for _ in 0..3 {
    ///     group.spawn(|| panic!("boom"));
    /// }
    /// assert_eq!(group.wait_recover().unwrap_err().len(), 3);
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Payload>> {
        // No code that can panic runs while it is held.
        self.payloads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The payload of the first panic caught, behind a guard that derefs to it (downcast it
    /// to the original type). Other calls on the same `Panicked` wait while the guard lives;
    /// drop it before calling them.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// let disk = 3;
    /// group.spawn(move || panic!("disk {disk} full")); // a `String` payload
    /// let panicked = group.wait_recover().unwrap_err();
    /// assert_eq!(panicked.first().downcast_ref::<String>().unwrap(), "disk 3 full");
    /// ```
    pub fn first(&self) -> impl Deref<Target = dyn Any + Send> + '_ {
        First(self.lock())
    }

    /// The panic message of the first panic, when its payload is a `&str` or a `String` (as
    /// `panic!` makes it).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// group.spawn(|| panic!("boom"));
    /// assert_eq!(group.wait_recover().unwrap_err().message(), Some("boom"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Every payload, in the order the panics were caught.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new().limit(1); // one at a time: a known order
    /// group.spawn(|| std::panic::panic_any(1));
    /// group.spawn(|| std::panic::panic_any(2));
    /// let payloads = group.wait_recover().unwrap_err().into_payloads();
    /// let values: Vec<i32> = payloads.iter().map(|p| *p.downcast_ref::<i32>().unwrap()).collect();
    /// assert_eq!(values, [1, 2]);
    /// ```
    pub fn into_payloads(self) -> Vec<Box<dyn Any + Send + 'static>> {
        self.payloads
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-raises the first panic with its original payload (`std::panic::resume_unwind`); the
    /// others are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = headcount::Group::new();
    /// group.spawn(|| std::panic::panic_any(42_u64));
    /// let panicked = group.wait_recover().unwrap_err();
    /// let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| panicked.resume())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<u64>(), Some(&42));
    /// ```
    pub fn resume(self) -> ! {
        let first = self
            .into_payloads()
            .into_iter()
            .next()
            .expect("Panicked is never empty");
        panic::resume_unwind(first)
    }
}

/// Reports panics that no `wait` will re-raise (a group dropped while its thread was already
/// panicking, or closed by its own last task): through `tracing::error!` (target `headcount`)
/// when feature `diagnostics` is on and a subscriber wants it, else on stderr. Never silent.
pub(crate) fn report_unraised(what: &str, payloads: Vec<Payload>) {
    let Some(panicked) = Panicked::from_payloads(payloads) else {
        return;
    };
    let report = format!("{what}: {panicked}; not re-raised, as no `wait` will");
    #[cfg(feature = "diagnostics")]
    if tracing::enabled!(target: "headcount", tracing::Level::ERROR) {
        tracing::error!(target: "headcount", "{report}");
        return;
    }
    eprintln!("headcount: {report}");
}

/// The cancellation cause a task's panic gives its group's token.
pub(crate) fn cause_of(payload: &(dyn Any + Send)) -> super::cancel::CancelCause {
    super::cancel::CancelCause::Panicked(message(payload).unwrap_or("<non-string payload>").into())
}

/// The guard [`Panicked::first`] returns.
struct First<'a>(MutexGuard<'a, Vec<Payload>>);

impl Deref for First<'_> {
    type Target = dyn Any + Send;

    fn deref(&self) -> &Self::Target {
        &*self.0[0]
    }
}

/// The message of a panic payload made by `panic!`.
pub(crate) fn message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("len", &self.len())
            .field("first", &self.message().unwrap_or("<non-string payload>"))
            .finish()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(msg) => write!(f, "{} task(s) panicked; the first with: {msg}", self.len()),
            None => write!(
                f,
                "{} task(s) panicked; the first with a non-string payload",
                self.len()
            ),
        }
    }
}

impl std::error::Error for Panicked {}
