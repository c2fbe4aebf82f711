//! The registry of wakers of pending [`WaitFuture`](crate::WaitFuture)s.
//!
//! A group allocates it the first time a future has to wait (futures are outside the
//! allocation-free contract of the sync paths). Every change happens under its mutex; the state
//! word's `ASYNC` bit, set under the same mutex, tells the thread that ends a round to come here.

use std::task::Waker;

use slab::Slab;

use crate::sync::{lock, Mutex};

/// Wakers of pending futures, keyed by slab index.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: Slab<Entry>,
    /// Entries in the `Waiting` state.
    waiting: usize,
}

#[derive(Debug)]
enum Entry {
    /// Waiting for the round with this epoch to end.
    Waiting { epoch: u32, waker: Waker },
    /// Released by the end of its round; `panicked` is that round's panic flag.
    Released { panicked: bool },
}

/// What a registered future finds when it is polled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poll {
    Pending,
    Released { panicked: bool },
}

/// How many wakers are woken per lock acquisition when a round ends (tokio's `WakeList`).
const BATCH: usize = 32;

impl Wakers {
    pub(crate) fn lock(&self) -> crate::sync::MutexGuard<'_, Registry> {
        lock(&self.inner)
    }

    /// Marks every future waiting for `epoch` as released, and wakes them, without allocating:
    /// wakers are taken in batches into a stack array and woken with the lock released.
    pub(crate) fn release(&self, epoch: u32, panicked: bool) {
        loop {
            let mut batch: [Option<Waker>; BATCH] = Default::default();
            let mut taken = 0;
            let mut more = false;
            {
                let mut reg = self.lock();
                let reg = &mut *reg;
                for (_, entry) in reg.entries.iter_mut() {
                    if matches!(entry, Entry::Waiting { epoch: e, .. } if *e == epoch) {
                        if taken == BATCH {
                            more = true;
                            break;
                        }
                        if let Entry::Waiting { waker, .. } =
                            std::mem::replace(entry, Entry::Released { panicked })
                        {
                            batch[taken] = Some(waker);
                        }
                        taken += 1;
                        reg.waiting -= 1;
                    }
                }
            }
            // Wake outside the lock: a waker may run arbitrary executor code.
            for waker in batch.iter_mut().take(taken) {
                if let Some(w) = waker.take() {
                    w.wake();
                }
            }
            if !more {
                return;
            }
        }
    }
}

impl Registry {
    /// Adds a future waiting for the round `epoch`; returns its key.
    pub(crate) fn insert(&mut self, epoch: u32, waker: Waker) -> usize {
        self.waiting += 1;
        self.entries.insert(Entry::Waiting { epoch, waker })
    }

    /// Polls the entry `key`: a released entry is removed, a waiting one gets `waker`. The
    /// replaced waker is returned so the caller drops it after unlocking.
    pub(crate) fn poll(&mut self, key: usize, waker: &Waker) -> (Poll, Option<Waker>) {
        match &mut self.entries[key] {
            Entry::Released { panicked } => {
                let panicked = *panicked;
                self.entries.remove(key);
                (Poll::Released { panicked }, None)
            }
            Entry::Waiting { waker: w, .. } => {
                if w.will_wake(waker) {
                    (Poll::Pending, None)
                } else {
                    (Poll::Pending, Some(std::mem::replace(w, waker.clone())))
                }
            }
        }
    }

    /// Removes the entry of a dropped future. Returns `true` when no future is waiting any
    /// more (the caller then clears `ASYNC`), and the entry's waker to drop after unlocking.
    pub(crate) fn remove(&mut self, key: usize) -> (bool, Option<Waker>) {
        let waker = match self.entries.remove(key) {
            Entry::Waiting { waker, .. } => {
                self.waiting -= 1;
                Some(waker)
            }
            Entry::Released { .. } => None,
        };
        (self.waiting == 0, waker)
    }

    /// Number of futures waiting (for tests and `Debug`).
    #[allow(dead_code)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }
}
