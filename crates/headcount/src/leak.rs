//! Leak checking for tests, in the spirit of Go's `uber-go/goleak`: which threads started
//! through headcount are still running?
//!
//! A `WaitGroup` tracks completion, not thread lifetimes: `wait` returns once every count is
//! released, even if a task released its count and then blocked (the e-commerce goroutine-leak
//! incident: `done`, then a send on a channel nobody reads). [`LeakCheck`] lists, at the end of
//! a test, the threads that are still alive, with where and how they were started, retrying
//! briefly (threads that have just released their count need a moment to exit).
//!
//! # What is tracked, and from when
//!
//! Nothing, until the process creates its first [`LeakCheck`]: before that, spawns and
//! releases cost one relaxed load of a global flag and are not recorded anywhere. From then on:
//!
//! * threads started by [`WaitGroup::go`], [`go_static`](WaitGroup::go_static),
//!   [`go_scoped`](WaitGroup::go_scoped), and task groups' worker threads. The registry (a
//!   global `Mutex<Slab>`) is updated when such a thread is spawned and when it ends, which costs
//!   far less than the spawn itself; `add`, `done` and `wait` never touch it.
//! * **with the `diagnostics` feature,** also every other thread that releases a count (`done`,
//!   a dropped guard), from its first release until it exits. That catches the incident's
//!   exact shape with plain `std::thread::spawn` and [`enter_owned`](WaitGroup::enter_owned).
//!
//! So create the check *before* starting the threads it should see, as the examples do. A
//! thread spawned (or, with the feature, first releasing a count) before the first `LeakCheck`
//! is never tracked, and neither are the threads *it* starts later counted in its spawner's
//! lineage (see *Scope*); a spawn racing with the first `LeakCheck::new` on another thread may
//! or may not be. Every spawn that happens after `LeakCheck::new` returned in the same thread,
//! or in a thread synchronized with it, is tracked. Once on, tracking stays on for the life of
//! the process.
//!
//! A tracked thread is in one of two states: **counted** (it still holds the count its `go`
//! took) or **done-but-running** (its count was released, the thread has not exited yet).
//!
//! # Scope
//!
//! Tests run in parallel threads of one process. [`LeakCheck::new`] therefore looks only at the
//! threads started through headcount by the current thread (and, transitively, by those
//! threads); [`group`](LeakCheck::group) adds every thread that counted in a given group
//! (spawned by its `go`, or, with the feature, released one of its counts); [`all`](LeakCheck::all)
//! looks at the whole process. The checking thread itself is never listed.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use headcount::{leak::LeakCheck, WaitGroup};
//!
//! let check = LeakCheck::new();
//! let wg = Arc::new(WaitGroup::new());
//! for _ in 0..4 {
//!     wg.go(|| {});
//! }
//! wg.wait();
//! check.check().expect("no thread outlives the group");
//! ```

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::WaitGroup;

/// Set by the first [`LeakCheck`], never cleared: until then nothing is recorded.
///
/// Relaxed suffices: a spawn that happens after `LeakCheck::new` (same thread, or ordered
/// after it by any synchronization) reads `true` by coherence; one that races with it may read
/// either, which only decides whether that thread is tracked. The registry's lock orders
/// everything else.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Whether a [`LeakCheck`] was ever created in this process.
#[inline]
fn in_use() -> bool {
    IN_USE.load(Relaxed)
}

/// A tracked thread.
#[derive(Debug)]
struct Record {
    /// Distinguishes this record from later ones in the same slab slot.
    serial: u64,
    /// `None` until the thread starts.
    id: Option<ThreadId>,
    name: Option<String>,
    spawned_at: Option<&'static Location<'static>>,
    /// `"WaitGroup::go"`, `"task group worker"`, `"thread"` (not started by headcount), ...
    how: &'static str,
    /// The thread whose lineage this is (see the module docs' *Scope*); `None` if unknown.
    root: Option<ThreadId>,
    /// The group the thread was started for (0: none).
    group: usize,
    /// It still holds the count of `group` that its spawn took.
    counted: bool,
    /// With the `diagnostics` feature: groups it released counts of, and where the last was.
    released: Vec<usize>,
    released_at: Option<&'static Location<'static>>,
}

struct Registry {
    threads: Slab<Record>,
    next_serial: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    threads: Slab::new(),
    next_serial: 0,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

std::thread_local! {
    /// The lineage root of the current thread, when it was started through headcount.
    static ROOT: Cell<Option<ThreadId>> = const { Cell::new(None) };
    /// The current thread's record (slab key, serial), if it is tracked.
    static CURRENT: Cell<Option<(usize, u64)>> = const { Cell::new(None) };
}

/// The lineage root of the current thread: its own root if it was started through headcount,
/// else itself.
fn current_root() -> ThreadId {
    ROOT.try_with(Cell::get)
        .ok()
        .flatten()
        .unwrap_or_else(|| thread::current().id())
}

/// A record in the registry: its slab key, and the serial that tells it from later records in
/// the same slot.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    key: usize,
    serial: u64,
}

/// **Hook** (`go*` wrappers, and the group layer's worker spawns): a thread about to be
/// spawned, registered in the spawning thread so that a check right after the spawn sees it.
/// Move it into the thread and call [`start`](Self::start) there first; if the thread never
/// runs, dropping it unregisters it. Before the first [`LeakCheck`] it records nothing.
#[derive(Debug)]
pub(crate) struct Life {
    tracked: Option<Tracked>,
}

impl Life {
    /// Registers a thread to be started for `wg` by `how` (e.g. `"WaitGroup::go"`, or
    /// `"task group worker"`), at the caller's location, if a [`LeakCheck`] was ever created.
    #[track_caller]
    pub(crate) fn register(wg: &WaitGroup, how: &'static str) -> Life {
        let spawned_at = Location::caller(); // (a closure would not inherit `track_caller`)
        let tracked = in_use().then(|| Self::register_slow(wg, how, spawned_at));
        Life { tracked }
    }

    #[cold]
    fn register_slow(
        wg: &WaitGroup,
        how: &'static str,
        spawned_at: &'static Location<'static>,
    ) -> Tracked {
        let root = current_root();
        let mut reg = registry();
        let serial = reg.next_serial;
        reg.next_serial += 1;
        let key = reg.threads.insert(Record {
            serial,
            id: None,
            name: None,
            spawned_at: Some(spawned_at),
            how,
            root: Some(root),
            group: wg.key(),
            counted: true,
            released: Vec::new(),
            released_at: None,
        });
        Tracked { key, serial }
    }

    /// In the new thread, first thing: records its id and name; the thread counts as alive
    /// until the returned value drops (make it the outermost local of the thread's closure).
    pub(crate) fn start(mut self) -> Alive {
        // `Alive` unregisters from now on.
        let tracked = self.tracked.take().map(Self::start_slow);
        Alive { tracked }
    }

    #[cold]
    fn start_slow(tracked: Tracked) -> Tracked {
        let Tracked { key, serial } = tracked;
        let this = thread::current();
        let root = {
            let mut reg = registry();
            match reg.threads.get_mut(key) {
                Some(r) if r.serial == serial => {
                    r.id = Some(this.id());
                    r.name = this.name().map(str::to_owned);
                    r.root
                }
                _ => None,
            }
        };
        let _ = ROOT.try_with(|c| c.set(root));
        let _ = CURRENT.try_with(|c| c.set(Some((key, serial))));
        tracked
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        if let Some(Tracked { key, serial }) = self.tracked {
            unregister(key, serial);
        }
    }
}

/// A thread that is running, tracked if its [`Life`] was; unregisters it when dropped. See
/// [`Life::start`].
#[derive(Debug)]
pub(crate) struct Alive {
    tracked: Option<Tracked>,
}

impl Alive {
    /// The count the thread's spawn took has been released: from now until this drops, the
    /// thread is "done-but-running".
    #[inline]
    pub(crate) fn count_released(&self) {
        if let Some(Tracked { key, serial }) = self.tracked {
            if let Some(r) = registry().threads.get_mut(key) {
                if r.serial == serial {
                    r.counted = false;
                }
            }
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        if let Some(Tracked { key, serial }) = self.tracked {
            let _ = CURRENT.try_with(|c| c.set(None));
            unregister(key, serial);
        }
    }
}

fn unregister(key: usize, serial: u64) {
    let mut reg = registry();
    if reg.threads.get(key).is_some_and(|r| r.serial == serial) {
        reg.threads.remove(key);
    }
}

/// **Hook** (the group's release path): `wg` released a count, at `at` (the caller of `done`,
/// or of `enter` for a guard; known with the `diagnostics` feature). With that feature and a
/// [`LeakCheck`] in use, the releasing thread is tracked from then on until it exits.
#[inline]
pub(crate) fn released(wg: &WaitGroup, at: Option<&'static Location<'static>>) {
    if cfg!(feature = "diagnostics") && in_use() {
        track_release(wg.key(), at);
    }
}

/// A thread released a count of the group with key `group`: track it until it exits.
#[cold]
fn track_release(group: usize, at: Option<&'static Location<'static>>) {
    /// Unregisters a thread tracked only because it released a count, when it exits.
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            if let Ok(Some((key, serial))) = CURRENT.try_with(Cell::take) {
                unregister(key, serial);
            }
        }
    }
    std::thread_local! {
        static EXIT: Exit = const { Exit };
    }

    let Ok(current) = CURRENT.try_with(Cell::get) else {
        return; // the thread is exiting
    };
    let mut reg = registry();
    if let Some((key, serial)) = current {
        if let Some(r) = reg.threads.get_mut(key).filter(|r| r.serial == serial) {
            if !r.released.contains(&group) {
                r.released.push(group);
            }
            r.released_at = at.or(r.released_at);
        }
        return;
    }
    // First release by a thread headcount did not start: track it until it exits (the
    // thread-local's destructor runs then).
    if EXIT.try_with(|_| ()).is_err() {
        return;
    }
    let this = thread::current();
    let serial = reg.next_serial;
    reg.next_serial += 1;
    let key = reg.threads.insert(Record {
        serial,
        id: Some(this.id()),
        name: this.name().map(str::to_owned),
        spawned_at: None,
        how: "thread",
        root: None,
        group: 0,
        counted: false,
        released: vec![group],
        released_at: at,
    });
    drop(reg);
    let _ = CURRENT.try_with(|c| c.set(Some((key, serial))));
}

/// **Hook** (the group's `Drop`): a dropped group leaves the release lists, so that a later
/// group at the same address does not inherit threads that released counts of this one. (Only
/// [`released`] fills them: with the `diagnostics` feature, and a [`LeakCheck`] in use.)
#[inline]
pub(crate) fn forget_group(wg: &WaitGroup) {
    if cfg!(feature = "diagnostics") && in_use() {
        forget_group_slow(wg.key());
    }
}

#[cold]
fn forget_group_slow(group: usize) {
    for (_, r) in registry().threads.iter_mut() {
        r.released.retain(|g| *g != group);
    }
}

/// The state of a thread listed by [`Leaks`].
///
/// # Examples
///
/// ```
/// use headcount::leak::ThreadState;
///
/// assert_eq!(ThreadState::Counted.to_string(), "counted");
/// assert_eq!(ThreadState::DoneButRunning.to_string(), "done-but-running");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadState {
    /// The thread still holds the count its `go` took: its group's `wait` cannot return yet.
    Counted,
    /// The thread's count was released (a `wait` may have returned) but it is still running:
    /// the goroutine-leak incident's shape.
    DoneButRunning,
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadState::Counted => "counted",
            ThreadState::DoneButRunning => "done-but-running",
        })
    }
}

/// A thread [`LeakCheck`] found still running.
///
/// # Examples
///
/// ```
/// use std::sync::{mpsc, Arc};
/// use std::time::Duration;
/// use headcount::{leak::{LeakCheck, ThreadState}, WaitGroup};
///
/// let check = LeakCheck::new().timeout(Duration::from_millis(20));
/// let wg = Arc::new(WaitGroup::new());
/// let (tx, rx) = mpsc::channel::<()>();
/// wg.go(move || { let _ = rx.recv(); }); // blocked until `tx` drops
/// let leaks = check.check().unwrap_err();
/// assert_eq!(leaks.threads()[0].state, ThreadState::Counted);
/// assert_eq!(leaks.threads()[0].spawned_by, "WaitGroup::go");
/// drop(tx);
/// wg.wait();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakedThread {
    /// The thread's id; `None` if it was spawned but has not started yet.
    pub id: Option<ThreadId>,
    /// The thread's name, if it has one.
    pub name: Option<String>,
    /// Where it was spawned (the caller of `go`, ...); `None` for a thread headcount did not
    /// start (tracked because it released a count).
    pub spawned_at: Option<&'static Location<'static>>,
    /// What started it: `"WaitGroup::go"`, `"WaitGroup::go_static"`, `"WaitGroup::go_scoped"`,
    /// `"task group worker"`, or `"thread"` for a thread headcount did not start.
    pub spawned_by: &'static str,
    /// Counted or done-but-running.
    pub state: ThreadState,
    /// With the `diagnostics` feature: where the count it last released came from: the caller
    /// of `done` (or of a negative `add`), or for a guard the caller of `enter`/`enter_owned`.
    pub released_at: Option<&'static Location<'static>>,
}

impl fmt::Display for LeakedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "thread '{name}'")?,
            None => write!(f, "thread <unnamed>")?,
        }
        if let Some(id) = self.id {
            write!(f, " ({id:?})")?;
        }
        match self.spawned_at {
            Some(l) => write!(
                f,
                " spawned at {}:{} by {}",
                l.file(),
                l.line(),
                self.spawned_by
            )?,
            None => write!(f, " ({})", self.spawned_by)?,
        }
        write!(f, ": {}", self.state)?;
        if let Some(l) = self.released_at {
            write!(f, " (released a count at {}:{})", l.file(), l.line())?;
        }
        Ok(())
    }
}

/// The threads a [`LeakCheck`] found still running after its retries; an error.
///
/// # Examples
///
/// ```
/// use std::sync::{mpsc, Arc};
/// use std::time::Duration;
/// use headcount::{leak::LeakCheck, WaitGroup};
///
/// let check = LeakCheck::new().timeout(Duration::from_millis(20));
/// let wg = Arc::new(WaitGroup::new());
/// let (tx, rx) = mpsc::channel::<()>();
/// wg.go(move || { let _ = rx.recv(); });
/// let leaks = check.check().unwrap_err();
/// assert_eq!(leaks.threads().len(), 1);
/// assert!(leaks.to_string().contains("by WaitGroup::go: counted"));
/// drop(tx);
/// wg.wait();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaks {
    threads: Vec<LeakedThread>,
}

impl Leaks {
    /// The threads still running.
    ///
    /// # Examples
    ///
    /// See [`Leaks`].
    ///
    /// ```
    /// # use headcount::leak::LeakCheck;
    /// assert!(LeakCheck::new().check().is_ok());
    /// ```
    pub fn threads(&self) -> &[LeakedThread] {
        &self.threads
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.threads.len();
        write!(
            f,
            "{n} thread{} started or counted through headcount still running:",
            if n == 1 { "" } else { "s" }
        )?;
        for t in &self.threads {
            write!(f, "\n  - {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

/// A leak check for the end of a test: create it at the start, then call
/// [`check`](Self::check) (or let it drop: it then panics with the report if threads leaked).
///
/// The first `LeakCheck` of the process switches tracking on: threads started before it are
/// not seen (see the [module docs](self)).
///
/// The check retries with backoff for up to [`timeout`](Self::timeout) (1 s by default) before
/// it reports, since a thread whose count was just released needs a moment to exit.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use headcount::{leak::LeakCheck, WaitGroup};
///
/// let _check = LeakCheck::new(); // panics on drop if a thread started below still runs
/// let wg = Arc::new(WaitGroup::new());
/// wg.go(|| {});
/// wg.wait();
/// ```
#[derive(Debug)]
#[must_use = "a LeakCheck checks when it is dropped or when `check` is called"]
pub struct LeakCheck {
    root: ThreadId,
    me: ThreadId,
    all: bool,
    groups: Vec<usize>,
    ignore: Vec<String>,
    /// Records with a serial below this existed at creation (see `ignore_current`).
    first_serial: u64,
    ignore_current: bool,
    timeout: Duration,
    armed: bool,
}

impl Default for LeakCheck {
    /// The same as [`LeakCheck::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// headcount::leak::LeakCheck::default().check().unwrap();
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl LeakCheck {
    /// A check of the threads started through headcount by the current thread (and by those
    /// threads, transitively) from now on. See the [module docs](self) for the other scopes, and
    /// for why a thread started before the process's first `LeakCheck` is never seen.
    ///
    /// # Examples
    ///
    /// ```
    /// headcount::leak::LeakCheck::new().check().unwrap();
    /// ```
    pub fn new() -> Self {
        // Tracking starts here, for good (module docs, *What is tracked, and from when*).
        IN_USE.store(true, Relaxed);
        LeakCheck {
            root: current_root(),
            me: thread::current().id(),
            all: false,
            groups: Vec::new(),
            ignore: Vec::new(),
            first_serial: registry().next_serial,
            ignore_current: false,
            timeout: Duration::from_secs(1),
            armed: true,
        }
    }

    /// Also checks every thread that counted in `wg`: started by its `go*`, or (feature
    /// `diagnostics`) that released one of its counts, whoever started it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use headcount::{leak::LeakCheck, WaitGroup};
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let check = LeakCheck::new().group(&wg);
    /// wg.go(|| {});
    /// wg.wait();
    /// check.check().unwrap();
    /// ```
    pub fn group(mut self, wg: &WaitGroup) -> Self {
        self.groups.push(wg.key());
        self
    }

    /// Checks every tracked thread of the process (other tests' threads included).
    ///
    /// # Examples
    ///
    /// ```
    /// // (A doctest runs in a process of its own.)
    /// headcount::leak::LeakCheck::new().all().check().unwrap();
    /// ```
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }

    /// Skips threads whose name, spawn location or release location (`file:line`) contains
    /// `pattern`. May be given several times.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{mpsc, Arc};
    /// use headcount::{leak::LeakCheck, WaitGroup};
    ///
    /// let check = LeakCheck::new();
    /// let wg = Arc::new(WaitGroup::new());
    /// let (tx, rx) = mpsc::channel::<()>();
    /// wg.go(move || { let _ = rx.recv(); }); // a deliberate long-lived task
    /// check.ignore(&format!("{}:{}", file!(), line!() - 1)).check().unwrap();
    /// drop(tx);
    /// wg.wait();
    /// ```
    pub fn ignore(mut self, pattern: &str) -> Self {
        self.ignore.push(pattern.to_owned());
        self
    }

    /// Skips the threads tracked when this check was created (goleak's `IgnoreCurrent`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{mpsc, Arc};
    /// use headcount::{leak::LeakCheck, WaitGroup};
    ///
    /// let suite = LeakCheck::new(); // e.g. at the start of a test suite: tracking starts
    /// let wg = Arc::new(WaitGroup::new());
    /// let (tx, rx) = mpsc::channel::<()>();
    /// wg.go(move || { let _ = rx.recv(); }); // started before the check below
    /// let check = LeakCheck::new().ignore_current();
    /// check.check().unwrap();
    /// drop(tx);
    /// wg.wait();
    /// suite.check().unwrap();
    /// ```
    pub fn ignore_current(mut self) -> Self {
        self.ignore_current = true;
        self
    }

    /// How long [`check`](Self::check) retries before it reports (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// headcount::leak::LeakCheck::new().timeout(Duration::from_millis(100)).check().unwrap();
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks now: `Ok` as soon as no thread in scope is running, else, after the timeout, the
    /// threads still running.
    ///
    /// # Errors
    ///
    /// [`Leaks`] lists the threads still running after the timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use headcount::{leak::LeakCheck, WaitGroup};
    ///
    /// let check = LeakCheck::new();
    /// let wg = Arc::new(WaitGroup::new());
    /// wg.go(|| {});
    /// wg.wait();
    /// assert_eq!(check.check(), Ok(()));
    /// ```
    pub fn check(mut self) -> Result<(), Leaks> {
        self.armed = false;
        self.run()
    }

    fn run(&self) -> Result<(), Leaks> {
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let threads = self.snapshot();
            if threads.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Leaks { threads });
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    fn snapshot(&self) -> Vec<LeakedThread> {
        let reg = registry();
        reg.threads
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.id != Some(self.me))
            .filter(|r| !(self.ignore_current && r.serial < self.first_serial))
            .filter(|r| {
                self.all
                    || r.root == Some(self.root)
                    || self
                        .groups
                        .iter()
                        .any(|g| r.group == *g || r.released.contains(g))
            })
            .map(|r| LeakedThread {
                id: r.id,
                name: r.name.clone(),
                spawned_at: r.spawned_at,
                spawned_by: r.how,
                state: if r.counted {
                    ThreadState::Counted
                } else {
                    ThreadState::DoneButRunning
                },
                released_at: r.released_at,
            })
            .filter(|t| !self.ignored(t))
            .collect()
    }

    fn ignored(&self, t: &LeakedThread) -> bool {
        let at = |l: Option<&Location<'_>>| l.map(|l| format!("{}:{}", l.file(), l.line()));
        let fields = [t.name.clone(), at(t.spawned_at), at(t.released_at)];
        self.ignore
            .iter()
            .any(|p| fields.iter().flatten().any(|f| f.contains(p.as_str())))
    }
}

impl Drop for LeakCheck {
    fn drop(&mut self) {
        if self.armed && !thread::panicking() {
            if let Err(leaks) = self.run() {
                panic!("{leaks}");
            }
        }
    }
}

/// Checks the threads started through headcount by the current thread, with the defaults of
/// [`LeakCheck::new`]: `Ok` once none is running, else (after up to 1 s) the ones that are.
///
/// Only threads started after the process's first [`LeakCheck`] are tracked: create one at the
/// start (or use it instead of this function).
///
/// # Errors
///
/// [`Leaks`] lists the threads still running.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use headcount::{leak::LeakCheck, WaitGroup};
///
/// let _tracking = LeakCheck::new(); // tracking starts here
/// let wg = Arc::new(WaitGroup::new());
/// wg.go(|| {});
/// wg.wait();
/// headcount::leak::check().unwrap();
/// ```
pub fn check() -> Result<(), Leaks> {
    LeakCheck::new().check()
}
