//! Stall reports, feature `diagnostics`: a wait that stays blocked past a threshold reports
//! once who still owes a `done`, from the [call-site registry](super::call_sites).
//!
//! A blocking wait times its own report (it parks with the report's deadline, see [`Stall`]).
//! A pending [`WaitFuture`](crate::WaitFuture) is not polled until it is woken, so one watchdog
//! thread per process (started by the first async wait that stays pending, asleep while none
//! is) reports for it ([`AsyncStall`]). The watchdog keeps each pending wait's group *key*
//! only, never a reference, so a leaked future cannot make it read a dropped group.
//!
//! The threshold, the sink and the report's wording are here too.

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::call_sites::outstanding_at;
use super::Outstanding;
use crate::WaitGroup;

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

fn stall_report_of(outstanding: Vec<Outstanding>, blocked: Duration, at: &Location<'_>) -> String {
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

// --- the watchdog of async waits ---

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
/// group's key, never a reference: the report lists the group's registry entries.
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
            addr: wg.key(),
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
