//! The call-site registry, feature `diagnostics`: who still owes a `done`.
//!
//! Every `add`, `enter`, `enter_owned`, `go*` and task-group `spawn` records its caller's
//! [`Location`] in a registry *outside* the group (a sharded global map keyed by the group's
//! [`key`](WaitGroup::key), emptied when the counter reaches zero and when the group is
//! dropped). [`WaitGroup::outstanding`] lists it, and the stall reports
//! ([`stall`](super::stall)) quote it. The group's own counter calls the hooks at the end of
//! this file from its one update path (`WaitGroup::update_from`) and its `Drop`.
//!
//! How a `done` is attributed to an entry is described in the [module docs](super).

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::WaitGroup;

/// How a count was taken: the API that added it.
///
/// # Examples
///
/// ```
/// use headcount::{diagnostics::Kind, WaitGroup};
///
/// let wg = WaitGroup::new();
/// let _guard = wg.enter();
/// assert_eq!(wg.outstanding()[0].kind, Kind::Enter);
/// assert_eq!(Kind::Enter.to_string(), "enter");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// [`WaitGroup::add`] or [`WaitGroup::try_add`].
    Add,
    /// [`WaitGroup::enter`] or [`WaitGroup::enter_owned`].
    Enter,
    /// [`WaitGroup::go`], [`WaitGroup::go_static`] or [`WaitGroup::go_scoped`].
    Go,
    /// A task group's `spawn`.
    Spawn,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Add => "add",
            Kind::Enter => "enter",
            Kind::Go => "go",
            Kind::Spawn => "spawn",
        })
    }
}

/// Counts of a group still owed a `done`, taken at one place: an entry of
/// [`WaitGroup::outstanding`]. Displays as `2 x src/worker.rs:40 (enter)`.
///
/// # Examples
///
/// ```
/// let wg = headcount::WaitGroup::new();
/// wg.add(2);
/// let out = wg.outstanding();
/// assert_eq!(out[0].count, 2);
/// assert_eq!(out[0].location.unwrap().line(), line!() - 3);
/// assert!(out[0].to_string().starts_with("2 x "));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outstanding {
    /// The caller of `add`/`enter`/`go`; `None` for counts taken where no location was
    /// recorded (see the module docs on moved groups).
    pub location: Option<&'static Location<'static>>,
    /// The API that took the counts.
    pub kind: Kind,
    /// How many counts taken there are still owed a `done`.
    pub count: usize,
    /// When this entry last rose from zero (its oldest outstanding count).
    pub since: Instant,
}

impl fmt::Display for Outstanding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(
                f,
                "{} x {}:{} ({})",
                self.count,
                l.file(),
                l.line(),
                self.kind
            ),
            None => write!(f, "{} x unknown location ({})", self.count, self.kind),
        }
    }
}

impl WaitGroup {
    /// Who still owes a `done`: one entry per place that took counts (`add`, `enter`,
    /// `enter_owned`, `go*`), oldest first. Empty when the counter is zero. Feature
    /// `diagnostics`.
    ///
    /// A `done` is attributed as the [module docs](crate::diagnostics) describe: a guard or
    /// `go` task releases its own entry, a plain `done` the oldest `add`.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = headcount::WaitGroup::new();
    /// wg.add(1);
    /// let guard = wg.enter();
    /// let out = wg.outstanding();
    /// assert_eq!(out.len(), 2);
    /// assert_eq!(out.iter().map(|o| o.count).sum::<usize>(), 2);
    /// drop(guard);
    /// wg.done();
    /// assert!(wg.outstanding().is_empty());
    /// ```
    pub fn outstanding(&self) -> Vec<Outstanding> {
        outstanding_at(self.key(), || Some(self.count() as u64))
    }
}

/// The entries of the group with key `addr`. `count` (read under the registry lock) adds the
/// counts no entry explains; `None` when the group may be gone (the stall watchdog holds
/// only its key).
pub(super) fn outstanding_at(addr: usize, count: impl FnOnce() -> Option<u64>) -> Vec<Outstanding> {
    {
        let shard = lock_shard(addr);
        // Read under the lock: adds record before they count, so `count` below the recorded
        // total only means a release is about to be recorded.
        let count = count();
        let mut out: Vec<Outstanding> = shard
            .as_ref()
            .and_then(|groups| groups.get(&addr))
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| Outstanding {
                        location: e.location,
                        kind: e.kind,
                        count: e.count as usize,
                        since: e.since,
                    })
                    .collect()
            })
            .unwrap_or_default();
        drop(shard);
        let recorded: u64 = out.iter().map(|o| o.count as u64).sum();
        if let Some(count) = count.filter(|&c| c > recorded) {
            out.push(Outstanding {
                location: None,
                kind: Kind::Add,
                count: (count - recorded) as usize,
                since: Instant::now(),
            });
        }
        out.sort_by_key(|o| o.since);
        out
    }
}

/// Where a change of the counter came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    location: Option<&'static Location<'static>>,
    kind: Kind,
}

impl Origin {
    #[inline]
    #[track_caller]
    pub(crate) fn add() -> Self {
        Self::caller(Kind::Add)
    }
    #[inline]
    #[track_caller]
    pub(crate) fn enter() -> Self {
        Self::caller(Kind::Enter)
    }
    #[inline]
    #[track_caller]
    pub(crate) fn go() -> Self {
        Self::caller(Kind::Go)
    }
    /// **Hook** for the group layer: a task group's `spawn` (call it in a `#[track_caller]`
    /// chain from the user's call, and pass it to `WaitGroup::add_from`).
    #[inline]
    #[track_caller]
    #[allow(dead_code)] // for the group layer's spawns
    pub(crate) fn spawn() -> Self {
        Self::caller(Kind::Spawn)
    }
    /// Where the change was made: the caller of `add`/`done`/`enter`/`go`/`spawn`.
    #[inline]
    pub(crate) fn location(self) -> Option<&'static Location<'static>> {
        self.location
    }
    #[inline]
    #[track_caller]
    fn caller(kind: Kind) -> Self {
        Origin {
            location: Some(Location::caller()),
            kind,
        }
    }
}

/// One registry entry: counts taken at `location` by `kind`.
#[derive(Debug)]
struct Entry {
    location: Option<&'static Location<'static>>,
    kind: Kind,
    count: u64,
    since: Instant,
}

type Groups = HashMap<usize, Vec<Entry>>;

/// Shards of the registry, by group key: groups on different shards do not contend.
const SHARDS: usize = 16;

#[allow(clippy::declare_interior_mutable_const)] // only used to initialize `REGISTRY`
const EMPTY_SHARD: Mutex<Option<Groups>> = Mutex::new(None);

static REGISTRY: [Mutex<Option<Groups>>; SHARDS] = [EMPTY_SHARD; SHARDS];

fn lock_shard(addr: usize) -> MutexGuard<'static, Option<Groups>> {
    // Groups are 16 bytes apart at least: the low four bits of their keys carry no information.
    REGISTRY[(addr >> 4) % SHARDS]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

// --- the hooks of `WaitGroup::update_from` and `WaitGroup`'s `Drop` ---
//
// The registry is not locked across the update of the counter itself (that would run the
// wake-ups of a round's end, executor code among them, under a global lock). Instead an `add`
// is recorded *before* the counter changes (and taken back if refused) and a release *after*,
// so the registry never lacks a count that a `done` could already release. When a release
// leaves the counter at zero, the group's entries go. A concurrent `add` starting the next
// round in that instant can lose its entry; its counts are then listed as `unknown location`.

/// **Hook**: `n` counts of `wg` are about to be added by `origin`.
pub(crate) fn record_add(wg: &WaitGroup, n: usize, origin: Origin) {
    with_entries(wg.key(), |entries| take(entries, n as u64, origin));
}

/// **Hook**: the add recorded by [`record_add`] was refused; takes it back.
#[cold]
pub(crate) fn add_refused(wg: &WaitGroup, n: usize, origin: Origin) {
    with_entries(wg.key(), |entries| release(entries, n as u64, origin, true));
}

/// **Hook**: `n` counts of `wg` were released by `origin` (a `done`, a negative `add`, a guard
/// or a task ending).
pub(crate) fn record_release(wg: &WaitGroup, n: usize, origin: Origin) {
    let addr = wg.key();
    let mut shard = lock_shard(addr);
    if let Some(groups) = shard.as_mut() {
        // Read under the lock: an `add` of this group records (under it) before counting, so a
        // zero here has no recorded `add` in flight but a lost one.
        if wg.count() == 0 {
            groups.remove(&addr);
        } else if let Some(entries) = groups.get_mut(&addr) {
            release(entries, n as u64, origin, false);
        }
    }
}

/// **Hook**: `wg` is being dropped; forgets its entries.
pub(crate) fn forget_group(wg: &WaitGroup) {
    let addr = wg.key();
    if let Some(groups) = lock_shard(addr).as_mut() {
        groups.remove(&addr);
    }
}

/// Runs `f` on the entries of the group with key `addr`, under its shard's lock.
fn with_entries(addr: usize, f: impl FnOnce(&mut Vec<Entry>)) {
    let mut shard = lock_shard(addr);
    let groups = shard.get_or_insert_with(HashMap::new);
    let entries = groups.entry(addr).or_default();
    f(entries);
    if entries.is_empty() {
        groups.remove(&addr);
    }
}

fn take(entries: &mut Vec<Entry>, n: u64, origin: Origin) {
    match entries
        .iter_mut()
        .find(|e| e.location == origin.location && e.kind == origin.kind)
    {
        Some(e) => e.count += n,
        None => entries.push(Entry {
            location: origin.location,
            kind: origin.kind,
            count: n,
            since: Instant::now(),
        }),
    }
}

/// Releases `n` counts: from the origin's own entry (guards and `go` tasks; only there when
/// `exact`, to take back a refused add), then FIFO over `add` entries, then FIFO over all.
fn release(entries: &mut Vec<Entry>, mut n: u64, origin: Origin, exact: bool) {
    let from = |e: &mut Entry, n: &mut u64| {
        let k = e.count.min(*n);
        e.count -= k;
        *n -= k;
    };
    if exact || origin.kind != Kind::Add {
        if let Some(e) = entries
            .iter_mut()
            .find(|e| e.location == origin.location && e.kind == origin.kind)
        {
            from(e, &mut n);
        }
    }
    if exact {
        n = 0;
    }
    for e in entries.iter_mut().filter(|e| e.kind == Kind::Add) {
        from(e, &mut n);
    }
    for e in entries.iter_mut() {
        from(e, &mut n);
    }
    entries.retain(|e| e.count > 0);
}
