//! `headcount-bench`: how does headcount's `WaitGroup` compare with what you use today?
//!
//! One command, measured live on your machine: headcount against Go's `sync.WaitGroup` (through
//! a Go benchmark file of our own, when `go` is on `PATH`) and every Rust peer, in the same
//! process, with repetitions interleaved across peers so that machine drift hits all alike.
//!
//! ```text
//! cargo run --release -p headcount-bench                 # full run, a few minutes
//! cargo run --release -p headcount-bench -- --quick      # under a minute
//! cargo run --release -p headcount-bench -- --smoke      # CI: every row must produce a number
//! cargo run --release -p headcount-bench -- --json samples.json --only W1,W4
//! cargo run --release -p headcount-bench -- --write docs/PERFORMANCE.md --svg docs/performance.svg
//! ```
//!
//! The markdown table goes to stdout, the progress bar to stderr. `--write` puts the same
//! results (with the date, commit, machine and command) into a document between two marker
//! lines; `--svg` / `--html` draw the ratios as a chart.

mod baselines;
mod chart;
mod document;
mod go;
mod groups;
// The `Mutex`+`Condvar` baseline and the ping-pong and two-thread skeletons, shared with the
// core's criterion bench: one copy, in the core crate (this tool is not published).
#[macro_use]
#[path = "../../headcount/benches/harness/mod.rs"]
mod harness;
mod model;
mod peers;
mod report;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::go::Go;
use crate::model::{Case, Pace, Runner};

const USAGE: &str = "\
headcount-bench: headcount's WaitGroup against Go and the Rust peers, side by side

USAGE: cargo run --release -p headcount-bench -- [OPTIONS]

OPTIONS:
  --quick          fewer, shorter repetitions (under a minute on 2 cores)
  --smoke          one short repetition; exit 1 unless every row produced a number (for CI)
  --reps N         repetitions per row (default 21, --quick 5, --smoke 1)
  --json FILE      write the raw samples and the machine description to FILE
  --write FILE     replace the results section of FILE (between its marker lines) with this run
  --note TEXT      a sentence about the run's conditions, written into the results section
  --svg FILE       draw each workload's ratios against every peer, with the targets, as SVG
  --html FILE      the same chart in an HTML page
  --only LIST      only these workloads: W1, W2, W3, W4, W5, W6, W7, CPU (e.g. --only W1,W4)
  --no-go          do not run the Go benchmarks
  -h, --help       this text
";

/// The run's shape, from the command line.
#[derive(Debug)]
struct Options {
    mode: &'static str,
    reps: usize,
    cpu_reps: usize,
    sample_time: Duration,
    block: Duration,
    json: Option<PathBuf>,
    write: Option<PathBuf>,
    note: Option<String>,
    svg: Option<PathBuf>,
    html: Option<PathBuf>,
    only: Option<Vec<String>>,
    go: bool,
    smoke: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut quick = false;
    let mut smoke = false;
    let mut reps = None;
    let mut json = None;
    let mut write = None;
    let mut note = None;
    let mut svg = None;
    let mut html = None;
    let mut only = None;
    let mut go = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--smoke" => smoke = true,
            "--no-go" => go = false,
            "--reps" => {
                let value = args.next().ok_or("--reps needs a number")?;
                let value: usize = value.parse().map_err(|e| format!("--reps {value}: {e}"))?;
                if value == 0 {
                    return Err("--reps must be at least 1".into());
                }
                reps = Some(value);
            }
            "--json" => json = Some(args.next().ok_or("--json needs a file name")?.into()),
            "--write" => write = Some(args.next().ok_or("--write needs a file name")?.into()),
            "--note" => note = Some(args.next().ok_or("--note needs a sentence")?),
            "--svg" => svg = Some(args.next().ok_or("--svg needs a file name")?.into()),
            "--html" => html = Some(args.next().ok_or("--html needs a file name")?.into()),
            "--only" => {
                let list = args.next().ok_or("--only needs a list such as W1,W4")?;
                only = Some(parse_only(&list)?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let (mode, default_reps, cpu_reps, sample_ms, block_ms) = if smoke {
        ("smoke", 1, 1, 1, 50)
    } else if quick {
        ("quick", 5, 1, 5, 1000)
    } else {
        ("full", 21, 3, 20, 1000)
    };
    let reps = reps.unwrap_or(default_reps);
    Ok(Options {
        mode,
        reps,
        cpu_reps: cpu_reps.min(reps),
        sample_time: Duration::from_millis(sample_ms),
        block: Duration::from_millis(block_ms),
        json,
        write,
        note,
        svg,
        html,
        only,
        go,
        smoke,
    })
}

/// The workloads named by `--only`, each checked against the known ones.
fn parse_only(list: &str) -> Result<Vec<String>, String> {
    let known = || {
        workloads::ALL
            .iter()
            .map(|w| w.id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ids: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(format!(
            "--only needs at least one workload; the workloads are {}",
            known()
        ));
    }
    for id in &ids {
        if !workloads::ALL.iter().any(|w| w.id == id) {
            return Err(format!(
                "--only: unknown workload `{id}`; the workloads are {}",
                known()
            ));
        }
    }
    Ok(ids)
}

/// How many samples a row takes.
fn reps_for(case: &Case, options: &Options) -> usize {
    match case.workload.pace {
        Pace::Cpu => options.cpu_reps,
        Pace::Micro | Pace::Macro => options.reps,
    }
}

/// Finds an iteration count whose run takes about `target`.
fn calibrate(run: &mut model::RunFn, target: Duration) -> u64 {
    let mut n: u64 = 1;
    loop {
        let took = run(n);
        if took >= target / 8 || n >= 1 << 40 {
            let scale = target.as_secs_f64() / took.as_secs_f64().max(1e-9);
            return ((n as f64 * scale) as u64).max(1);
        }
        n = n.saturating_mul(if took < target / 1000 { 100 } else { 8 });
    }
}

/// Takes one sample of one row.
fn sample(case: &mut Case, go: &Go, options: &Options) {
    let divisor = case.divisor;
    match &mut case.runner {
        Runner::Rust { run, calibrate } => {
            let took = run(case.iters);
            case.samples
                .push(took.as_nanos() as f64 / (case.iters as f64 * divisor));
            // Keep samples near the sample time when the cost per operation changes regime
            // (a wake-up that spins vs one that parks differs a hundredfold).
            let target = options.sample_time;
            if *calibrate && (took > target * 2 || took < target / 2) {
                let scale = target.as_secs_f64() / took.as_secs_f64().max(1e-9);
                case.iters = ((case.iters as f64 * scale) as u64).max(1);
            }
        }
        Runner::Go {
            bench,
            metric,
            benchtime,
        } => {
            let benchtime = benchtime
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{}ms", options.sample_time.as_millis()));
            let env = [(
                "HEADCOUNT_BENCH_BLOCK_MS",
                options.block.as_millis().to_string(),
            )];
            match go.run(bench, &benchtime, &env) {
                Ok(metrics) => match metrics.get(*metric) {
                    Some(value) => case.samples.push(value / divisor),
                    None => case.errors.push(format!("no {metric} in the Go output")),
                },
                Err(e) => case.errors.push(e),
            }
        }
        Runner::NotRun(_) => {}
    }
}

fn first_line(command: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(command)
        .args(args)
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    })
}

/// A description of this machine, for the report.
fn machine(go: &Go) -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    serde_json::json!({
        "cpu": cpu,
        "cores": cores,
        "os": format!("{} {}", std::env::consts::OS, kernel),
        "rustc": first_line("rustc", &["--version"]),
        "go": go.version(),
    })
}

/// The command that reproduces the run, for the report: `--note` and its text are left out
/// (the note is printed on its own), arguments with spaces are quoted.
fn command_line(args: impl Iterator<Item = String>) -> String {
    let mut words = vec!["cargo run --release -p headcount-bench --".to_owned()];
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--note" {
            args.next();
        } else if arg.contains(char::is_whitespace) {
            words.push(format!("'{arg}'"));
        } else {
            words.push(arg);
        }
    }
    words.join(" ")
}

/// The one-minute load average from `/proc/loadavg`, where there is one.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

/// When, at which commit, how, and under what load the run was taken.
fn run_line(
    command: &str,
    started_at: std::time::SystemTime,
    load_before: Option<&str>,
    note: Option<&str>,
) -> String {
    let commit = match first_line("git", &["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = first_line("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|line| !line.is_empty());
            if dirty {
                format!("{commit} (with uncommitted changes)")
            } else {
                commit
            }
        }
        None => "unknown (not a git checkout)".to_owned(),
    };
    let date = humantime::format_rfc3339_seconds(started_at).to_string();
    let mut line = format!(
        "Run: {} UTC, commit {commit}, command `{command}`.",
        date.trim_end_matches('Z').replace('T', " ")
    );
    if let Some(load) = load_before {
        line += &format!(" Load average (1 min) before the run: {load}.");
    }
    if let Some(note) = note {
        line += &format!(" {}", note.trim());
    }
    line
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("headcount-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A document without its marker lines is refused now, not after the run.
    if let Some(path) = &options.write {
        if let Err(e) = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|doc| document::section_range(&doc).map(drop))
        {
            eprintln!("headcount-bench: --write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let load_before = load_average();
    let started_at = std::time::SystemTime::now();
    let started = Instant::now();
    let selected = |w: &model::Workload| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|id| id == w.id))
    };

    let go = if options.go {
        eprintln!("headcount-bench: compiling the Go benchmarks …");
        Go::prepare()
    } else {
        Go::Missing("not run: --no-go".to_owned())
    };
    let settings = workloads::Settings {
        block: options.block,
    };
    let mut cases = workloads::build(settings, &selected);
    for case in &mut cases {
        if case.is_go() {
            if let Go::Missing(reason) = &go {
                case.runner = Runner::NotRun(reason.clone());
            }
        }
    }

    // Calibration (also the warm-up) of the nanosecond workloads; one warm-up run of the others.
    let warmups = cases
        .iter()
        .filter(|c| matches!(c.runner, Runner::Rust { .. }) && c.workload.pace != Pace::Cpu)
        .count();
    let total: usize = cases.iter().map(|c| reps_for(c, &options)).sum::<usize>() + warmups;
    let progress = ProgressBar::new(total as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .expect("a valid progress template"),
    );
    for case in &mut cases {
        if case.workload.pace == Pace::Cpu {
            continue;
        }
        if let Runner::Rust { run, calibrate: c } = &mut case.runner {
            progress.set_message(format!("warm-up {} / {}", case.workload.id, case.label));
            case.iters = if *c {
                calibrate(run, options.sample_time)
            } else {
                run(1);
                1
            };
            progress.inc(1);
        }
    }

    // Interleaved repetitions: in each round, every row of a workload takes one sample, starting
    // from a different row each round, so drift and ordering effects hit all peers alike.
    let max_reps = cases
        .iter()
        .map(|c| reps_for(c, &options))
        .max()
        .unwrap_or(0);
    for rep in 0..max_reps {
        for workload in workloads::ALL {
            let rows: Vec<usize> = (0..cases.len())
                .filter(|&i| std::ptr::eq(cases[i].workload, workload))
                .collect();
            if rows.is_empty() {
                continue;
            }
            for k in 0..rows.len() {
                let i = rows[(k + rep) % rows.len()];
                if rep >= reps_for(&cases[i], &options) {
                    continue;
                }
                if !matches!(cases[i].runner, Runner::NotRun(_)) {
                    progress.set_message(format!(
                        "round {}/{}: {} / {}",
                        rep + 1,
                        max_reps,
                        workload.id,
                        cases[i].label
                    ));
                    sample(&mut cases[i], &go, &options);
                }
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    go.clean_up();

    let block_ns = options.block.as_nanos() as f64;
    let machine = machine(&go);
    let command = command_line(std::env::args().skip(1));
    let mut results = format!(
        "Machine: {} ({} cores), {}; {}; {}.\n\n",
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["os"].as_str().unwrap_or("?"),
        machine["rustc"].as_str().unwrap_or("rustc ?"),
        machine["go"].as_str().unwrap_or("go: not run"),
    );
    results += &format!(
        "Repetitions: {} per row ({} for CPU), interleaved across peers; nanosecond rows \
         calibrated to {} ms per sample; CPU waiter blocked {} ms. Ratios are headcount's \
         median ÷ the peer's (below 1 = headcount faster). Took {:.0} s.\n\n",
        options.reps,
        options.cpu_reps,
        options.sample_time.as_millis(),
        options.block.as_millis(),
        started.elapsed().as_secs_f64()
    );
    results += &report::table(&cases, block_ns);

    let missed: Vec<String> = cases
        .iter()
        .filter_map(|case| match report::verdict(case, &cases, block_ns) {
            report::Verdict::Missed(t) => {
                Some(format!("{} vs {}: {}", case.workload.id, case.label, t))
            }
            _ => None,
        })
        .collect();
    let unchecked = cases
        .iter()
        .filter(|case| {
            matches!(
                report::verdict(case, &cases, block_ns),
                report::Verdict::Unchecked(_)
            )
        })
        .count();
    if unchecked > 0 {
        results +=
            &format!("\n{unchecked} target(s) not checked: a row they need has no number.\n");
    }
    if missed.is_empty() {
        results += "\nEvery checked target was met.\n";
    } else {
        results += "\nMissed targets:\n\n";
        for m in &missed {
            results += &format!("- {}\n", m.replace("**", ""));
        }
    }
    println!("# headcount-bench ({} run)\n", options.mode);
    print!("{results}");

    let run = run_line(
        &command,
        started_at,
        load_before.as_deref(),
        options.note.as_deref(),
    );
    let mut failed = false;
    if let Some(path) = &options.write {
        let section = format!("{run}\n\n{results}");
        let written = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|doc| document::replace_section(&doc, &section))
            .and_then(|doc| std::fs::write(path, doc).map_err(|e| e.to_string()));
        match written {
            Ok(()) => eprintln!("headcount-bench: results written into {}", path.display()),
            Err(e) => {
                eprintln!("headcount-bench: --write {}: {e}", path.display());
                failed = true;
            }
        }
    }
    if options.svg.is_some() || options.html.is_some() {
        let charts = chart::svg(&chart::panels(&cases)).and_then(|svg| {
            let mut files = Vec::new();
            if let Some(path) = &options.svg {
                files.push((path, svg.clone()));
            }
            if let Some(path) = &options.html {
                files.push((path, chart::html(&svg, &run.replace('`', ""))));
            }
            for (path, text) in files {
                std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("headcount-bench: chart written to {}", path.display());
            }
            Ok(())
        });
        if let Err(e) = charts {
            eprintln!("headcount-bench: chart: {e}");
            failed = true;
        }
    }

    if let Some(path) = &options.json {
        let meta = serde_json::json!({
            "command": command,
            "mode": options.mode,
            "reps": options.reps,
            "cpu_reps": options.cpu_reps,
            "sample_time_ms": options.sample_time.as_millis() as u64,
            "cpu_block_ms": options.block.as_millis() as u64,
            "machine": machine,
            "seconds": started.elapsed().as_secs_f64(),
        });
        let text =
            serde_json::to_string_pretty(&report::json(&cases, meta)).expect("samples serialise");
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("headcount-bench: writing {}: {e}", path.display());
            failed = true;
        } else {
            eprintln!("headcount-bench: raw samples in {}", path.display());
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }

    if options.smoke {
        let mut failures = report::smoke_failures(&cases);
        // Go missing is allowed ("not run: go not found"); Go present but broken is not.
        if let Go::Missing(reason) = &go {
            if options.go && reason != go::NOT_FOUND {
                failures.push(format!("Go rows: {reason}"));
            }
        }
        if !failures.is_empty() {
            eprintln!("headcount-bench --smoke: rows without a number:");
            for f in &failures {
                eprintln!("  {f}");
            }
            return ExitCode::FAILURE;
        }
        let not_run = cases
            .iter()
            .filter(|c| matches!(c.runner, Runner::NotRun(_)))
            .count();
        eprintln!(
            "headcount-bench --smoke: all {} measured rows produced a number ({not_run} not run)",
            cases.len() - not_run
        );
    }
    ExitCode::SUCCESS
}
