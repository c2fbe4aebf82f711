//! What a measurement is: workloads, the rows (cases) measured for each, and their targets.

use std::time::Duration;

/// `run(n)` performs `n` iterations of a workload and returns the time they took (wall-clock,
/// or CPU time for the CPU workload).
pub(crate) type RunFn = Box<dyn FnMut(u64) -> Duration>;

/// How a row is measured.
pub(crate) enum Runner {
    /// In this process.
    Rust {
        /// The timed body.
        run: RunFn,
        /// Calibrate `n` to the sample time (micro workloads), or run once per sample.
        calibrate: bool,
    },
    /// A benchmark function of our Go file, run with `go test -bench`.
    Go {
        /// The Go benchmark's name, without the `Benchmark` prefix.
        bench: &'static str,
        /// The `go test` metric to read (`ns/op`, or a custom one).
        metric: &'static str,
        /// `-test.benchtime` for this benchmark; `None` uses the sample time.
        benchtime: Option<&'static str>,
    },
    /// Not measured, with the reason shown in the table.
    NotRun(String),
}

/// How the repetitions of a workload are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Nanosecond operations: `n` calibrated to the sample time.
    Micro,
    /// One execution of a millisecond workload per sample.
    Macro,
    /// A one-second blocked waiter per sample (fewer repetitions).
    Cpu,
}

/// A performance target, attached to a row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// headcount's median divided by this row's median must be at most `max`.
    RatioAtMost(f64),
    /// The median of the workload's row with this label (a headcount row other than the
    /// workload's headcount row) divided by this row's median must be at most `max`.
    RowRatioAtMost(&'static str, f64),
    /// This row's median must be below this fraction of the blocked time.
    BelowFractionOfBlock(f64),
}

/// One workload (a section of the table).
#[derive(Debug)]
pub(crate) struct Workload {
    /// `W1` … `W7`, `CPU`.
    pub(crate) id: &'static str,
    /// What it measures, for the table.
    pub(crate) title: &'static str,
    /// How repetitions are paced.
    pub(crate) pace: Pace,
}

/// One row: a peer (or a headcount flavour) under one workload.
pub(crate) struct Case {
    /// The workload this row belongs to.
    pub(crate) workload: &'static Workload,
    /// The peer's name in the table.
    pub(crate) label: String,
    /// Whether this is the row the ratios of this workload are computed from.
    pub(crate) subject: bool,
    /// How to measure it.
    pub(crate) runner: Runner,
    /// Reported value = measured time / (n × divisor): 2 for a round trip reported as one way.
    pub(crate) divisor: f64,
    /// A target checked on this row, if any.
    pub(crate) target: Option<Target>,
    /// Iterations per sample (after calibration).
    pub(crate) iters: u64,
    /// Samples, in nanoseconds per operation.
    pub(crate) samples: Vec<f64>,
    /// Errors met while measuring (a failed Go run, …).
    pub(crate) errors: Vec<String>,
}

impl Case {
    /// A row measured in this process.
    pub(crate) fn rust(workload: &'static Workload, label: impl Into<String>, run: RunFn) -> Self {
        Self {
            workload,
            label: label.into(),
            subject: false,
            runner: Runner::Rust {
                run,
                calibrate: workload.pace == Pace::Micro,
            },
            divisor: 1.0,
            target: None,
            iters: 1,
            samples: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A row measured by the Go benchmark file.
    pub(crate) fn go(workload: &'static Workload, bench: &'static str) -> Self {
        Self {
            workload,
            label: "Go sync.WaitGroup".to_owned(),
            subject: false,
            runner: Runner::Go {
                bench,
                metric: "ns/op",
                benchtime: None,
            },
            divisor: 1.0,
            target: None,
            iters: 1,
            samples: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Marks this row as headcount's (the numerator of every ratio in its workload).
    pub(crate) fn subject(mut self) -> Self {
        self.subject = true;
        self
    }

    /// Attaches a target.
    pub(crate) fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Renames the row.
    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the divisor (see [`Case::divisor`]).
    pub(crate) fn divisor(mut self, divisor: f64) -> Self {
        self.divisor = divisor;
        self
    }

    /// Whether this row is measured by Go.
    pub(crate) fn is_go(&self) -> bool {
        matches!(self.runner, Runner::Go { .. })
    }

    /// Sorted copy of the samples.
    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    /// The median sample, if any.
    pub(crate) fn median(&self) -> Option<f64> {
        let sorted = self.sorted();
        let len = sorted.len();
        match len {
            0 => None,
            _ if len % 2 == 1 => Some(sorted[len / 2]),
            _ => Some((sorted[len / 2 - 1] + sorted[len / 2]) / 2.0),
        }
    }

    /// The smallest and largest sample, if any.
    pub(crate) fn min_max(&self) -> Option<(f64, f64)> {
        let sorted = self.sorted();
        Some((*sorted.first()?, *sorted.last()?))
    }
}
