//! The error returned by [`WaitGroup::try_add`](crate::WaitGroup::try_add).

use std::fmt;

/// Why [`WaitGroup::try_add`](crate::WaitGroup::try_add) refused a delta. The counter is left
/// exactly as it was.
///
/// # Examples
///
/// ```
/// use headcount::{AddError, WaitGroup};
///
/// let wg = WaitGroup::new();
/// wg.add(1);
/// let err = wg.try_add(-2).unwrap_err();
/// assert_eq!(err, AddError::Negative { count: 1, delta: -2 });
/// assert!(err.to_string().contains("negative WaitGroup counter"));
/// assert_eq!(wg.count(), 1); // unchanged
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddError {
    /// The delta would have taken the counter below zero: more `done` calls than `add`s
    /// (Go panics with "sync: negative WaitGroup counter").
    Negative {
        /// The counter when the delta was refused.
        count: usize,
        /// The refused delta.
        delta: isize,
    },
    /// The delta would have taken the counter above [`WaitGroup::MAX_COUNT`](crate::WaitGroup::MAX_COUNT).
    Overflow {
        /// The counter when the delta was refused.
        count: usize,
        /// The refused delta.
        delta: isize,
    },
}

impl AddError {
    /// The counter when the delta was refused (it still has this value, unless changed since).
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// assert_eq!(wg.try_add(-1).unwrap_err().count(), 0);
    /// ```
    pub fn count(&self) -> usize {
        match *self {
            AddError::Negative { count, .. } | AddError::Overflow { count, .. } => count,
        }
    }

    /// The refused delta.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// assert_eq!(wg.try_add(-3).unwrap_err().delta(), -3);
    /// ```
    pub fn delta(&self) -> isize {
        match *self {
            AddError::Negative { delta, .. } | AddError::Overflow { delta, .. } => delta,
        }
    }
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddError::Negative { count, delta } => write!(
                f,
                "negative WaitGroup counter: add({delta}) on a counter of {count} \
                 (more done() calls than add(); the counter is unchanged)"
            ),
            AddError::Overflow { count, delta } => write!(
                f,
                "WaitGroup counter overflow: add({delta}) on a counter of {count} exceeds the \
                 maximum of {} (the counter is unchanged)",
                crate::WaitGroup::MAX_COUNT
            ),
        }
    }
}

impl std::error::Error for AddError {}
