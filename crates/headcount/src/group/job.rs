//! A job of the worker pool: a task closure with its type erased, stored inline when it is
//! small (as a closure that captures an index and a reference or an `Arc` is), boxed
//! otherwise.
//!
//! A boxed `dyn FnOnce` would cost a `malloc` on the spawning thread and a `free` on the
//! worker for every task: a free from another thread than the allocating one misses the
//! allocator's thread cache, and takes the allocating arena's lock. Small tasks, the common
//! case, need neither.

use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};

/// Words of inline storage: a closure of up to this many words, aligned to at most a word,
/// is stored in the job itself.
const WORDS: usize = 3;

type Storage = [MaybeUninit<usize>; WORDS];

/// A type-erased `FnOnce() + Send` task, run or dropped exactly once.
pub(crate) struct Job {
    /// The closure itself (inline), or a `Box` of it: `consume` knows which.
    storage: Storage,
    /// Takes the closure out of `storage` and runs it (`true`) or drops it (`false`).
    consume: unsafe fn(*mut Storage, bool),
}

impl Job {
    /// Wraps a task.
    #[inline]
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Job {
        // SAFETY: `F: 'static` borrows nothing that could end before the job is consumed.
        unsafe { Job::new_unchecked(f) }
    }

    /// Wraps a task that may borrow from `'env`, erasing that lifetime.
    ///
    /// # Safety
    ///
    /// The job must be run or dropped before `'env` ends (the scoped form guarantees it by
    /// waiting for every accepted task before `'env` can end: see `scope.rs`).
    #[inline]
    pub(crate) unsafe fn new_unchecked<'env, F: FnOnce() + Send + 'env>(f: F) -> Job {
        let mut storage: Storage = [MaybeUninit::uninit(); WORDS];
        let at = storage.as_mut_ptr();
        if size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>() {
            // SAFETY: `F` fits in `storage` and its alignment is at most the storage's (just
            // checked); the storage is uninitialized, so nothing is overwritten.
            unsafe { at.cast::<F>().write(f) };
            Job {
                storage,
                consume: consume_inline::<F>,
            }
        } else {
            let boxed: *mut F = Box::into_raw(Box::new(f));
            // SAFETY: a thin pointer is one word, word-aligned: it fits in `storage`.
            unsafe { at.cast::<*mut F>().write(boxed) };
            Job {
                storage,
                consume: consume_boxed::<F>,
            }
        }
    }

    /// Runs the task (which consumes it). A panic of the task unwinds out of this call; the
    /// task's captures are then dropped by the unwinding, exactly once.
    #[inline]
    pub(crate) fn run(self) {
        let mut job = ManuallyDrop::new(self);
        // SAFETY: `storage` holds the closure `consume` was built for, not consumed yet (a
        // `Job` is consumed only here or in `drop`, and `ManuallyDrop` keeps `drop` from
        // running after this).
        unsafe { (job.consume)(&mut job.storage, true) }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: as in `run`: the closure is still in `storage` (`run` does not drop the
        // job), and this is the last use of it.
        unsafe { (self.consume)(&mut self.storage, false) }
    }
}

/// Takes an inline `F` out of `storage` and runs or drops it.
///
/// # Safety
///
/// `storage` holds an `F` written by [`Job::new_unchecked`] and not consumed yet; after this
/// call it holds nothing.
unsafe fn consume_inline<F: FnOnce()>(storage: *mut Storage, run: bool) {
    // SAFETY: the caller's contract: a live `F`, aligned (checked when it was written), which
    // is moved out here and never read again.
    let f = unsafe { storage.cast::<F>().read() };
    if run {
        f();
    }
}

/// Takes a boxed `F` out of `storage` and runs or drops it.
///
/// # Safety
///
/// `storage` holds a pointer from `Box::into_raw(Box<F>)` written by [`Job::new_unchecked`]
/// and not consumed yet; after this call it holds nothing.
unsafe fn consume_boxed<F: FnOnce()>(storage: *mut Storage, run: bool) {
    // SAFETY: the caller's contract: the pointer came from `Box::into_raw` and is turned back
    // into its `Box` exactly once.
    let f = unsafe { Box::from_raw(storage.cast::<*mut F>().read()) };
    if run {
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::Job;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    /// Counts its drops.
    struct Token(Arc<AtomicUsize>);
    impl Drop for Token {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn inline_and_boxed_jobs_run_once_and_drop_their_captures_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        // One word of captures (inline), then a large array (boxed).
        let small = {
            let (token, ran) = (Token(drops.clone()), ran.clone());
            Job::new(move || {
                let _token = token;
                ran.fetch_add(1, Relaxed);
            })
        };
        let big = {
            let (token, ran, pad) = (Token(drops.clone()), ran.clone(), [7_u64; 16]);
            Job::new(move || {
                let _token = token;
                ran.fetch_add(pad.iter().sum::<u64>() as usize, Relaxed);
            })
        };
        small.run();
        big.run();
        assert_eq!(ran.load(Relaxed), 1 + 7 * 16);
        assert_eq!(drops.load(Relaxed), 2);

        // Dropped without running: the captures are dropped, the task does not run.
        let unrun = [
            Job::new({
                let token = Token(drops.clone());
                move || drop(token)
            }),
            Job::new({
                let (token, pad) = (Token(drops.clone()), [1_u8; 100]);
                move || drop((token, pad))
            }),
        ];
        drop(unrun);
        assert_eq!(drops.load(Relaxed), 4);
    }

    #[test]
    fn a_panicking_job_drops_its_captures_once() {
        fn run_panicking(job: Job) {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
            assert!(caught.is_err());
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let token = Token(drops.clone());
        run_panicking(Job::new(move || {
            let _token = token;
            panic!("an inline task panicked");
        }));
        let (token, pad) = (Token(drops.clone()), [3_u64; 8]);
        run_panicking(Job::new(move || {
            let _keep = (token, pad);
            panic!("a boxed task panicked");
        }));
        assert_eq!(drops.load(Relaxed), 2);
    }
}
