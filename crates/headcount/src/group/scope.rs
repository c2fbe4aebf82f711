//! The scoped form: [`scope`], [`Group::scope`] and [`Scope`], for tasks that borrow from the
//! caller's stack.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::group::{self, Group};
use super::panics::Panicked;
use super::pool::{Job, Pool};

/// Spawns tasks that may borrow from outside the [`scope`] call; handed to its closure.
///
/// Like `std::thread::scope`'s, but the tasks run on the group's reused worker threads (at
/// most `limit` of them with [`Group::scope`]), and a task's panic reaches the caller with its
/// original payload instead of a generic "a scoped thread panicked".
///
/// A task that wants to spawn more tasks takes a clone of the `Scope` (`Scope` is a cheap,
/// reference-counted handle).
///
/// # Examples
///
/// ```
/// let words = vec!["a", "bb", "ccc"];
/// let mut lengths = vec![0; words.len()];
/// headcount::scope(|s| {
///     for (word, len) in words.iter().zip(&mut lengths) {
///         s.spawn(move || *len = word.len()); // borrows `words` and `lengths`
///     }
/// });
/// assert_eq!(lengths, [1, 2, 3]);
/// ```
pub struct Scope<'env> {
    pool: Arc<Pool>,
    /// Invariant in `'env`, as `std::thread::Scope`: tasks borrow for exactly `'env`.
    env: PhantomData<&'env mut &'env ()>,
}

/// Runs `f` with a [`Scope`] for spawning tasks that borrow from the caller's stack, waits
/// for every task, then returns `f`'s value. An unlimited [`Group::scope`].
///
/// # Panics
///
/// After every task has ended: with `f`'s own panic if it panicked, otherwise with the first
/// task panic's original payload (the others are dropped; use
/// [`Group::scope_recover`] to get all of them).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let numbers: Vec<u64> = (1..=100).collect();
/// let total = AtomicU64::new(0);
/// headcount::scope(|s| {
///     for chunk in numbers.chunks(10) {
///         let total = &total;
///         s.spawn(move || { total.fetch_add(chunk.iter().sum::<u64>(), Ordering::Relaxed); });
///     }
/// });
/// assert_eq!(total.into_inner(), 5050);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: FnOnce(&Scope<'env>) -> T,
{
    Group::new().scope(f)
}

impl Group {
    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller's stack, on this
    /// group's workers and under its limit; then waits for every task (also the group's
    /// `'static` ones), joins the workers, and returns `f`'s value.
    ///
    /// # Panics
    ///
    /// After every task has ended: with `f`'s own panic if it panicked, otherwise with the first
    /// task panic's original payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    ///
    /// let items: Vec<u32> = (0..1000).collect();
    /// let squares = Mutex::new(Vec::new());
    /// headcount::Group::new().limit(8).scope(|s| {
    ///     for item in &items {
    ///         let squares = &squares;
    ///         s.spawn(move || squares.lock().unwrap().push(item * item));
    ///     }
    /// });
    /// assert_eq!(squares.into_inner().unwrap().len(), 1000);
    /// ```
    #[track_caller]
    pub fn scope<'env, F, T>(self, f: F) -> T
    where
        F: FnOnce(&Scope<'env>) -> T,
    {
        match self.scope_recover(f) {
            Ok(value) => value,
            Err(panicked) => panicked.resume(),
        }
    }

    /// [`scope`](Self::scope), returning the tasks' panics (and `f`'s, first) as a value.
    ///
    /// # Errors
    ///
    /// [`Panicked`] when `f` or a task panicked; `f`'s panic comes first.
    ///
    /// # Examples
    ///
    /// ```
    /// let data = [1, 2, 3];
    /// let result = headcount::Group::new().scope_recover(|s| {
    ///     s.spawn(|| assert_eq!(data.len(), 4, "wrong length"));
    /// });
    /// assert_eq!(result.unwrap_err().len(), 1);
    /// ```
    pub fn scope_recover<'env, F, T>(self, f: F) -> Result<T, Panicked>
    where
        F: FnOnce(&Scope<'env>) -> T,
    {
        let scope = Scope {
            pool: Arc::clone(self.pool()),
            env: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        // This wait is what makes `Scope::spawn`'s lifetime erasure sound: whether `f` returned
        // or panicked, no task of the scope runs (or is queued) after this line, and the pool
        // refuses every later spawn.
        let mut panics = self.finish();
        match result {
            Ok(value) => match Panicked::from_payloads(panics) {
                None => Ok(value),
                Some(panicked) => Err(panicked),
            },
            Err(payload) => {
                panics.insert(0, payload);
                Err(Panicked::from_payloads(panics).expect("not empty"))
            }
        }
    }
}

impl<'env> Scope<'env> {
    /// Runs `f`, which may borrow anything that outlives the scope call, on a worker thread.
    /// Blocks while the group's limit is reached.
    ///
    /// # Panics
    ///
    /// If the scope has ended (a `Scope` cloned and kept past its `scope` call). A panic in
    /// `f` does not panic here; it reaches the end of the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut counts = [0_u32; 4];
    /// headcount::scope(|s| {
    ///     for (i, count) in counts.iter_mut().enumerate() {
    ///         s.spawn(move || *count = i as u32 * 10);
    ///     }
    /// });
    /// assert_eq!(counts, [0, 10, 20, 30]);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'env,
    {
        // SAFETY: a `Scope<'env>` queueing `f` in its own pool: `erase_lifetime`'s contract.
        group::spawn(&self.pool, "Scope::spawn", f, |f| unsafe {
            erase_lifetime(f)
        });
    }

    /// Runs `f` on a worker thread if the limit is not reached; otherwise hands it back.
    ///
    /// # Errors
    ///
    /// `Err(f)`, not run, at the limit or after the scope has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// headcount::Group::new().limit(1).scope(|s| {
    ///     s.spawn(|| { barrier.wait(); });       // holds the only slot until we meet it
    ///     assert!(s.try_spawn(|| ()).is_err()); // so this one is handed back
    ///     barrier.wait();
    /// });
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, f: F) -> Result<(), F>
    where
        F: FnOnce() + Send + 'env,
    {
        match self.pool.acquire(false) {
            Ok(slot) => {
                // SAFETY: a `Scope<'env>` queueing `f` in its own pool: `erase_lifetime`'s
                // contract.
                group::submit(&self.pool, slot, unsafe { erase_lifetime(f) });
                Ok(())
            }
            Err(_) => Err(f),
        }
    }
}

/// Erases the lifetime of a scoped task so that it can be queued in the pool.
///
/// # Safety
///
/// Called only by a `Scope<'env>` queueing `f` in its own pool. That is sound: the task is only
/// reachable through the pool, and it never outlives `'env`: a `Scope<'env>` exists only
/// inside `Group::scope_recover`, which does not return or unwind before `finish` has waited
/// for every accepted task to be run and dropped (the count covers the task from `acquire`
/// until after it ran), and `finish` closes the pool under its lock so that a `Scope` clone
/// kept past the call cannot queue anything more (`acquire` is refused). The workers keep
/// no reference to a task after running it.
unsafe fn erase_lifetime<'env, F: FnOnce() + Send + 'env>(f: F) -> Job {
    // SAFETY: the caller's contract (above) is `Job::new_unchecked`'s: the job is run or
    // dropped before `'env` ends.
    unsafe { Job::new_unchecked(f) }
}

impl Clone for Scope<'_> {
    fn clone(&self) -> Self {
        Scope {
            pool: Arc::clone(&self.pool),
            env: PhantomData,
        }
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.pool).finish()
    }
}
