//! Diagnostics for the bugs a `WaitGroup` cannot prevent: a task waiting for its own group, a
//! `done` that never comes, and (in [`crate::leak`]) threads that outlive their `wait`.
//!
//! Two parts, chosen here and nowhere else:
//!
//! * **Self-deadlock detection, always on.** A task started by [`WaitGroup::go`] (or a task
//!   group's worker) holds a count of its group until it returns, so a `wait` on that group from
//!   inside the task can never see zero. The task wrapper marks its thread with the group's
//!   address (a small fixed stack in a thread-local: no allocation), and the *slow* path of every
//!   blocking wait (the counter is above zero) checks the mark and panics instead of hanging. The
//!   fast paths do not look at it.
//! * **Stall reports and `WaitGroup::outstanding`, feature `diagnostics`.** Every `add`,
//!   `enter`, `enter_owned` and `go*` records its caller's [`Location`](std::panic::Location) in a
//!   registry *outside* the group (a sharded global map keyed by the group's address, emptied when
//!   the counter reaches zero and when the group is dropped), and a blocking wait that stays
//!   blocked past a threshold reports once who still owes a `done`:
//!
//!   ```text
//!   wait blocked for 5.0 s on a group at src/main.rs:10; still outstanding: 2 x src/worker.rs:40 (enter), 1 x src/main.rs:22 (go)
//!   ```
//!
//!   An async wait ([`WaitGroup::wait_async`]) that stays pending past the threshold is reported
//!   the same way, naming the line that called `wait_async`: a pending future is not polled
//!   until it is woken, so one watchdog thread per process (started by the first async wait
//!   that stays pending, asleep while none is) sends those reports. It keeps each pending
//!   wait's group *address* only, never a reference, so a leaked future cannot make it read a
//!   dropped group; its report lists the registry's entries for that address.
//!
//!   The report goes to the sink set with `set_report_sink` if any, else through
//!   `tracing::warn!` (target `headcount`) when a subscriber wants it, else to stderr.
//!   Without the feature every hook below is an empty `#[inline(always)]` function over
//!   zero-sized types: the group stays 16 bytes and its sync paths allocate nothing and compile
//!   to the same code (`benches/diagnostics.rs` measures it).
//!
//! # Attribution of a `done`
//!
//! A `done` does not say which `add` it answers. With the feature on, the registry keeps one
//! entry per (location, kind) with a count and the time it last rose from zero. A count released
//! by a [`Guard`](crate::Guard) or a `go` task goes back to its own entry (the guard and the task
//! remember their location, in a field that is zero-sized without the feature). A plain `done` or
//! negative `add` releases first-in-first-out: the oldest `add` entry first, then the oldest
//! entry of any kind. An `add` is recorded just before the counter changes and a release just
//! after it (without holding the registry lock across the update, which may run the wake-ups of
//! a round's end), so the totals follow the counter except in the instant of a race between the
//! last `done` of a round and the first `add` of the next; counts without an entry are listed
//! as `unknown location`.
//!
//! A group that is *moved* while its counter is above zero leaves its entries behind under its
//! old address; they go when a group at that address next reaches zero or is dropped, and the
//! moved group lists its counts as `unknown location`.

use std::cell::Cell;
use std::marker::PhantomData;

use crate::WaitGroup;

/// The address that identifies a group in the thread-local marks and in the registries.
#[inline]
pub(crate) fn address(wg: &WaitGroup) -> usize {
    wg as *const WaitGroup as usize
}

// --- self-deadlock detection (always on) ---

/// How many nested groups one thread can be a task of and still be checked. Deeper marks are
/// counted but not checked (no false positive, only a missed detection).
const OWN_GROUPS: usize = 4;

/// The groups the current thread is a task of, innermost last.
struct OwnGroups {
    addrs: [Cell<usize>; OWN_GROUPS],
    who: [Cell<&'static str>; OWN_GROUPS],
    depth: Cell<usize>,
}

impl OwnGroups {
    const fn new() -> Self {
        OwnGroups {
            addrs: [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)],
            who: [Cell::new(""), Cell::new(""), Cell::new(""), Cell::new("")],
            depth: Cell::new(0),
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static OWN: OwnGroups = const { OwnGroups::new() };
}

#[cfg(loom)]
loom::thread_local! {
    static OWN: OwnGroups = OwnGroups::new();
}

/// Marks the current thread as a task of a group until dropped; see [`enter_own_group`].
#[must_use = "the thread is marked only while the mark lives"]
pub(crate) struct OwnGroupMark {
    pushed: bool,
    /// Thread-bound: it pops the current thread's stack.
    _not_send: PhantomData<*const ()>,
}

/// **Hook** (task wrappers, and the group layer's worker threads): marks the current thread as
/// running a task that holds a count of `wg` until the returned mark drops. While marked, a
/// blocking wait on `wg` from this thread with the counter above zero panics ("self-deadlock")
/// instead of hanging. `who` names the spawner in the message, e.g. `"WaitGroup::go"`.
///
/// Marks nest (drop them in reverse order, as scopes do); no allocation.
#[inline]
pub(crate) fn enter_own_group(wg: &WaitGroup, who: &'static str) -> OwnGroupMark {
    let addr = address(wg);
    let pushed = OWN
        .try_with(|own| {
            let depth = own.depth.get();
            if depth < OWN_GROUPS {
                own.addrs[depth].set(addr);
                own.who[depth].set(who);
            }
            own.depth.set(depth + 1);
        })
        .is_ok();
    OwnGroupMark {
        pushed,
        _not_send: PhantomData,
    }
}

impl Drop for OwnGroupMark {
    fn drop(&mut self) {
        if self.pushed {
            let _ = OWN.try_with(|own| own.depth.set(own.depth.get().saturating_sub(1)));
        }
    }
}

/// Called by the slow path of every blocking wait (the counter was above zero): panics if the
/// current thread is a task of `wg`.
#[inline]
#[track_caller]
pub(crate) fn check_self_wait(wg: &WaitGroup) {
    let addr = address(wg);
    let who = OWN
        .try_with(|own| {
            let depth = own.depth.get().min(OWN_GROUPS);
            (0..depth)
                .rev()
                .find(|&i| own.addrs[i].get() == addr)
                .map(|i| own.who[i].get())
        })
        .ok()
        .flatten();
    if let Some(who) = who {
        self_deadlock(who, wg.count());
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn self_deadlock(who: &str, count: usize) -> ! {
    panic!(
        "self-deadlock: a task started by {who} is waiting for its own group (counter {count}); \
         the task's own count is released only when it returns, so this wait could never see \
         zero. Wait from outside the task, or give the task a group of its own."
    )
}

// --- stall reports and `outstanding()` (feature `diagnostics`) ---

#[cfg(feature = "diagnostics")]
pub use enabled::{set_report_sink, set_stall_threshold, stall_threshold, Kind, Outstanding};

#[cfg(feature = "diagnostics")]
pub(crate) use enabled::{AsyncStall, Origin, Stall};

#[cfg(not(feature = "diagnostics"))]
pub(crate) use disabled::{AsyncStall, Origin, Stall};

/// Without the feature: zero-sized types and empty inline functions.
#[cfg(not(feature = "diagnostics"))]
mod disabled {
    use std::time::Instant;

    use crate::{AddError, WaitGroup};

    /// Where a change of the counter came from (nothing, without the feature).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Origin;

    impl Origin {
        #[inline(always)]
        pub(crate) fn add() -> Self {
            Origin
        }
        #[inline(always)]
        pub(crate) fn enter() -> Self {
            Origin
        }
        #[inline(always)]
        pub(crate) fn go() -> Self {
            Origin
        }
        #[inline(always)]
        #[allow(dead_code)] // for the group layer's spawns
        pub(crate) fn spawn() -> Self {
            Origin
        }
    }

    impl WaitGroup {
        /// [`update`](WaitGroup::update): without the feature there is nothing to record.
        #[inline(always)]
        pub(crate) fn update_from(
            &self,
            delta: isize,
            panicked: bool,
            _origin: Origin,
        ) -> Result<(), AddError> {
            self.update(delta, panicked)
        }
    }

    /// A blocking wait's stall timer (nothing, without the feature).
    #[derive(Debug)]
    pub(crate) struct Stall;

    /// An async wait's stall timer (nothing, without the feature).
    #[derive(Debug)]
    pub(crate) struct AsyncStall;

    impl AsyncStall {
        #[inline(always)]
        pub(crate) fn new() -> Self {
            AsyncStall
        }
        #[inline(always)]
        pub(crate) fn arm(&mut self, _wg: &WaitGroup) {}
        #[inline(always)]
        pub(crate) fn disarm(&mut self) {}
    }

    impl Stall {
        #[inline(always)]
        pub(crate) fn start(_wg: &WaitGroup) -> Self {
            Stall
        }
        #[inline(always)]
        pub(crate) fn park_deadline(&self, deadline: Option<Instant>) -> Option<Instant> {
            deadline
        }
        #[inline(always)]
        pub(crate) fn timed_out(&mut self, _wg: &WaitGroup, _deadline: Option<Instant>) -> bool {
            false
        }
    }
}

#[cfg(feature = "diagnostics")]
mod enabled {
    use std::collections::HashMap;
    use std::fmt;
    use std::panic::Location;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use super::address;
    use crate::{AddError, WaitGroup};

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
            outstanding_at(address(self), || Some(self.count() as u64))
        }
    }

    /// The entries of the group at `addr`. `count` (read under the registry lock) adds the
    /// counts no entry explains; `None` when the group may be gone (the stall watchdog holds
    /// only its address).
    fn outstanding_at(addr: usize, count: impl FnOnce() -> Option<u64>) -> Vec<Outstanding> {
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

    impl Drop for WaitGroup {
        /// Feature `diagnostics` only: forgets the group's registry entries.
        fn drop(&mut self) {
            let addr = address(self);
            if let Some(groups) = lock_shard(addr).as_mut() {
                groups.remove(&addr);
            }
            crate::leak::forget_group(addr);
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

    /// Shards of the registry, by group address: groups on different shards do not contend.
    const SHARDS: usize = 16;

    #[allow(clippy::declare_interior_mutable_const)] // only used to initialize `REGISTRY`
    const EMPTY_SHARD: Mutex<Option<Groups>> = Mutex::new(None);

    static REGISTRY: [Mutex<Option<Groups>>; SHARDS] = [EMPTY_SHARD; SHARDS];

    fn lock_shard(addr: usize) -> MutexGuard<'static, Option<Groups>> {
        // Groups are 16 bytes: the low four address bits carry no information.
        REGISTRY[(addr >> 4) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    impl WaitGroup {
        /// [`update`](WaitGroup::update), recorded in the registry.
        ///
        /// The registry is not locked across the update itself (that would run the wake-ups of
        /// a round's end, executor code among them, under a global lock). Instead an `add` is
        /// recorded *before* the counter changes (and taken back if refused) and a release
        /// *after*, so the registry never lacks a count that a `done` could already release.
        /// When a release leaves the counter at zero, the group's entries go. A concurrent
        /// `add` starting the next round in that instant can lose its entry; its counts are then
        /// listed as `unknown location`.
        pub(crate) fn update_from(
            &self,
            delta: isize,
            panicked: bool,
            origin: Origin,
        ) -> Result<(), AddError> {
            let addr = address(self);
            if delta > 0 {
                with_entries(addr, |entries| take(entries, delta as u64, origin));
                let result = self.update(delta, panicked);
                if result.is_err() {
                    with_entries(addr, |entries| {
                        release(entries, delta as u64, origin, true);
                    });
                }
                return result;
            }
            let result = self.update(delta, panicked);
            if result.is_ok() && delta < 0 {
                let mut shard = lock_shard(addr);
                if let Some(groups) = shard.as_mut() {
                    // Read under the lock: an `add` of this group records (under it) before
                    // counting, so a zero here has no recorded `add` in flight but a lost one.
                    if self.count() == 0 {
                        groups.remove(&addr);
                    } else if let Some(entries) = groups.get_mut(&addr) {
                        release(entries, delta.unsigned_abs() as u64, origin, false);
                    }
                }
                drop(shard);
                crate::leak::released(addr, origin.location);
            }
            result
        }
    }

    /// Runs `f` on the entries of the group at `addr`, under its shard's lock.
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

    /// Threshold in milliseconds; `UNSET` until read from the environment, `NEVER` when off.
    static THRESHOLD_MS: AtomicU64 = AtomicU64::new(UNSET);
    const UNSET: u64 = u64::MAX;
    const NEVER: u64 = u64::MAX - 1;
    /// The threshold when neither code nor `HEADCOUNT_STALL_MS` sets one.
    const DEFAULT_MS: u64 = 5_000;

    /// Sets how long a blocking wait may stay blocked before it reports what it waits for;
    /// `None` turns stall reports off. Overrides `HEADCOUNT_STALL_MS`. Feature `diagnostics`.
    ///
    /// Each wait reports at most once. Millisecond resolution.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use headcount::diagnostics;
    ///
    /// diagnostics::set_stall_threshold(Some(Duration::from_secs(2)));
    /// assert_eq!(diagnostics::stall_threshold(), Some(Duration::from_secs(2)));
    /// diagnostics::set_stall_threshold(None);
    /// assert_eq!(diagnostics::stall_threshold(), None);
    /// ```
    pub fn set_stall_threshold(threshold: Option<Duration>) {
        let ms = threshold.map_or(NEVER, |t| (t.as_millis() as u64).min(NEVER - 1));
        THRESHOLD_MS.store(ms, Relaxed);
    }

    /// The stall threshold: set by [`set_stall_threshold`], else the environment variable
    /// `HEADCOUNT_STALL_MS` (milliseconds; `0` or `off` for no reports), else 5 s. Feature
    /// `diagnostics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// headcount::diagnostics::set_stall_threshold(Some(Duration::from_millis(1500)));
    /// assert_eq!(headcount::diagnostics::stall_threshold(), Some(Duration::from_millis(1500)));
    /// ```
    pub fn stall_threshold() -> Option<Duration> {
        let mut ms = THRESHOLD_MS.load(Relaxed);
        if ms == UNSET {
            ms = match std::env::var("HEADCOUNT_STALL_MS") {
                Ok(v) => match v.trim().parse::<u64>() {
                    Ok(0) => NEVER,
                    Ok(n) => n.min(NEVER - 1),
                    Err(_) => NEVER, // "off", or anything unreadable
                },
                Err(_) => DEFAULT_MS,
            };
            // Lose a race with `set_stall_threshold` rather than overwrite it.
            let _ = THRESHOLD_MS.compare_exchange(UNSET, ms, Relaxed, Relaxed);
            ms = THRESHOLD_MS.load(Relaxed);
        }
        (ms != NEVER).then(|| Duration::from_millis(ms))
    }

    static SINK: Mutex<Option<fn(&str)>> = Mutex::new(None);

    /// Sends stall reports to `sink` instead of `tracing`/stderr; `None` restores the default.
    /// Feature `diagnostics`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use headcount::{diagnostics, WaitGroup};
    ///
    /// fn sink(report: &str) {
    ///     assert!(report.starts_with("wait blocked for"));
    /// }
    /// diagnostics::set_report_sink(Some(sink));
    /// diagnostics::set_stall_threshold(Some(Duration::from_millis(10)));
    /// let wg = WaitGroup::new();
    /// wg.add(1);
    /// assert!(!wg.wait_timeout(Duration::from_millis(50))); // reports once, through `sink`
    /// diagnostics::set_report_sink(None);
    /// ```
    pub fn set_report_sink(sink: Option<fn(&str)>) {
        *SINK.lock().unwrap_or_else(PoisonError::into_inner) = sink;
    }

    /// Sends one report: the sink, else `tracing`, else stderr.
    fn emit(report: &str) {
        let sink = *SINK.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sink) = sink {
            sink(report);
        } else if tracing::enabled!(target: "headcount", tracing::Level::WARN) {
            tracing::warn!(target: "headcount", "{report}");
        } else {
            eprintln!("headcount: {report}");
        }
    }

    /// The stall timer of one blocking wait.
    pub(crate) struct Stall {
        /// The caller of `wait`: names the group in the report.
        at: &'static Location<'static>,
        start: Instant,
        /// When to report; `None` once reported, or when reports are off.
        report_at: Option<Instant>,
    }

    impl Stall {
        #[inline]
        #[track_caller]
        pub(crate) fn start(_wg: &WaitGroup) -> Self {
            let start = Instant::now();
            Stall {
                at: Location::caller(),
                start,
                report_at: stall_threshold().and_then(|t| start.checked_add(t)),
            }
        }

        /// The deadline to park with: the earlier of the wait's own and the report's.
        #[inline]
        pub(crate) fn park_deadline(&self, deadline: Option<Instant>) -> Option<Instant> {
            match (self.report_at, deadline) {
                (Some(r), Some(d)) => Some(r.min(d)),
                (Some(r), None) => Some(r),
                (None, d) => d,
            }
        }

        /// The park timed out: `true` (park again) when it was the report's deadline, not the
        /// wait's; the report is sent then.
        pub(crate) fn timed_out(&mut self, wg: &WaitGroup, deadline: Option<Instant>) -> bool {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            if self.report_at.is_some_and(|r| now >= r) {
                self.report_at = None;
                emit(&stall_report(wg, now - self.start, self.at));
            }
            true
        }
    }

    fn stall_report(wg: &WaitGroup, blocked: Duration, at: &Location<'_>) -> String {
        stall_report_of(wg.outstanding(), blocked, at)
    }

    fn stall_report_of(
        outstanding: Vec<Outstanding>,
        blocked: Duration,
        at: &Location<'_>,
    ) -> String {
        let list = if outstanding.is_empty() {
            "none".to_string()
        } else {
            outstanding
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "wait blocked for {:.1} s on a group at {}:{}; still outstanding: {list}",
            blocked.as_secs_f64(),
            at.file(),
            at.line()
        )
    }

    // --- the stall watchdog of async waits ---

    /// A pending `wait_async` the watchdog reports on.
    struct Watched {
        id: u64,
        addr: usize,
        at: &'static Location<'static>,
        start: Instant,
        report_at: Instant,
    }

    struct Watch {
        next_id: u64,
        entries: Vec<Watched>,
        running: bool,
    }

    static WATCH: Mutex<Watch> = Mutex::new(Watch {
        next_id: 1,
        entries: Vec::new(),
        running: false,
    });
    static WATCH_CHANGED: Condvar = Condvar::new();

    fn lock_watch() -> MutexGuard<'static, Watch> {
        WATCH.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stall timer of one [`WaitFuture`](crate::WaitFuture). A blocking wait times its own
    /// report (it parks with the report's deadline); a pending future is never polled until it
    /// is woken, so a watchdog thread (one per process, started by the first async wait that
    /// stays pending, sleeping while none is) reports for it. The watchdog keeps only the
    /// group's address, never a reference: the report lists the group's registry entries.
    #[derive(Debug)]
    pub(crate) struct AsyncStall {
        at: &'static Location<'static>,
        /// The watchdog's entry; 0: none.
        id: u64,
    }

    impl AsyncStall {
        #[inline]
        #[track_caller]
        pub(crate) fn new() -> Self {
            AsyncStall {
                at: Location::caller(),
                id: 0,
            }
        }

        /// The wait on `wg` is pending: report it if it still is after the threshold.
        pub(crate) fn arm(&mut self, wg: &WaitGroup) {
            if self.id != 0 {
                return;
            }
            let Some(threshold) = stall_threshold() else {
                return;
            };
            let start = Instant::now();
            let Some(report_at) = start.checked_add(threshold) else {
                return;
            };
            let mut watch = lock_watch();
            if !watch.running {
                let spawned = std::thread::Builder::new()
                    .name("headcount-stall-watchdog".into())
                    .spawn(watchdog);
                if spawned.is_err() {
                    return; // no report rather than a failed wait
                }
                watch.running = true;
            }
            let id = watch.next_id;
            watch.next_id += 1;
            watch.entries.push(Watched {
                id,
                addr: address(wg),
                at: self.at,
                start,
                report_at,
            });
            drop(watch);
            WATCH_CHANGED.notify_one();
            self.id = id;
        }

        /// The wait is over (resolved or dropped): no report from now on.
        pub(crate) fn disarm(&mut self) {
            if self.id != 0 {
                let id = std::mem::replace(&mut self.id, 0);
                lock_watch().entries.retain(|e| e.id != id);
            }
        }
    }

    impl Drop for AsyncStall {
        fn drop(&mut self) {
            self.disarm();
        }
    }

    /// The watchdog thread: sends the report of every entry whose time has come (once; the
    /// entry goes), sleeps until the next one otherwise.
    fn watchdog() {
        let mut watch = lock_watch();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            watch.entries.retain(|e| {
                let is_due = e.report_at <= now;
                if is_due {
                    due.push((e.addr, now - e.start, e.at));
                }
                !is_due
            });
            if !due.is_empty() {
                drop(watch);
                for (addr, blocked, at) in due {
                    emit(&stall_report_of(outstanding_at(addr, || None), blocked, at));
                }
                watch = lock_watch();
                continue;
            }
            let next = watch.entries.iter().map(|e| e.report_at).min();
            watch = match next {
                None => WATCH_CHANGED
                    .wait(watch)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    WATCH_CHANGED
                        .wait_timeout(watch, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}
