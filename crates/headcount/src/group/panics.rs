//! [`Panicked`]: the panics of a group's tasks, as a value.

use std::any::Any;
use std::fmt;
use std::panic;

use super::pool::Payload;

/// The panics of a group's tasks, returned by the `wait_recover` methods instead of being
/// re-raised (conc's `WaitAndRecover`).
///
/// Every payload is kept, in the order the panics were caught, each exactly as the task passed
/// it to `panic!` / `panic_any` / `resume_unwind` (downcast it to the original type).
/// [`Group::wait`](crate::Group::wait) and its siblings re-raise the [`first`](Self::first) with
/// [`resume`](Self::resume) and drop the others.
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
    /// Never empty.
    payloads: Vec<Payload>,
}

impl Panicked {
    /// `None` when no task panicked.
    pub(crate) fn from_payloads(payloads: Vec<Payload>) -> Option<Self> {
        if payloads.is_empty() {
            None
        } else {
            Some(Panicked { payloads })
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
        self.payloads.len()
    }

    /// The payload of the first panic caught.
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
    pub fn first(&self) -> &(dyn Any + Send) {
        &*self.payloads[0]
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
        message(self.first())
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
            .payloads
            .into_iter()
            .next()
            .expect("Panicked is never empty");
        panic::resume_unwind(first)
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
