//! Go's `sync.WaitGroup`, measured by our own benchmark file (`go/wg_test.go`): compiled once
//! with `go test -c`, then run one benchmark at a time, at its turn in the interleaved order.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The reason shown in the Go rows when `go` is not on `PATH`.
pub(crate) const NOT_FOUND: &str = "not run: go not found";

/// The directory of the Go module.
fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// A compiled Go benchmark binary, or why there is none.
#[derive(Debug)]
pub(crate) enum Go {
    /// Ready to run.
    Ready {
        /// The `go test -c` output.
        binary: PathBuf,
        /// `go version`.
        version: String,
    },
    /// Not run, with the reason shown in every Go row.
    Missing(String),
}

/// Adds the environment `go` needs to build and run here without touching the network.
fn go_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        command.env(
            "GOCACHE",
            std::env::temp_dir().join("headcount-bench-gocache"),
        );
    }
    command
}

impl Go {
    /// Finds `go` on `PATH` and compiles the benchmark file.
    pub(crate) fn prepare() -> Go {
        let version = match go_command("go").arg("version").output() {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
            Ok(out) => {
                return Go::Missing(format!(
                    "not run: `go version` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Go::Missing(NOT_FOUND.to_owned()),
            Err(e) => return Go::Missing(format!("not run: go: {e}")),
        };
        let out_dir = std::env::temp_dir().join(format!("headcount-bench-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&out_dir) {
            return Go::Missing(format!("not run: {}: {e}", out_dir.display()));
        }
        let binary = out_dir.join("wgbench.test");
        let built = go_command("go")
            .args(["test", "-c", "-o"])
            .arg(&binary)
            .arg(".")
            .current_dir(module_dir())
            .output();
        match built {
            Ok(out) if out.status.success() => Go::Ready { binary, version },
            Ok(out) => Go::Missing(format!(
                "not run: go test -c failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            )),
            Err(e) => Go::Missing(format!("not run: go test -c: {e}")),
        }
    }

    /// Runs `Benchmark{bench}` once and returns its metrics by unit (`ns/op`, `cpu-ns/op`).
    pub(crate) fn run(
        &self,
        bench: &str,
        benchtime: &str,
        env: &[(&str, String)],
    ) -> Result<HashMap<String, f64>, String> {
        let Go::Ready { binary, .. } = self else {
            return Err("go is not available".to_owned());
        };
        let mut command = go_command(binary);
        command
            .arg("-test.run=^$")
            .arg(format!("-test.bench=^Benchmark{bench}$"))
            .arg(format!("-test.benchtime={benchtime}"))
            .arg("-test.count=1")
            .current_dir(module_dir());
        for (key, value) in env {
            command.env(key, value);
        }
        let out = command
            .output()
            .map_err(|e| format!("running {}: {e}", binary.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "Benchmark{bench} failed: {}{}",
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse(&stdout, bench).ok_or_else(|| format!("no result for Benchmark{bench} in: {stdout}"))
    }

    /// `go version`, if Go is ready.
    pub(crate) fn version(&self) -> Option<&str> {
        match self {
            Go::Ready { version, .. } => Some(version),
            Go::Missing(_) => None,
        }
    }

    /// Removes the compiled binary.
    pub(crate) fn clean_up(&self) {
        if let Go::Ready { binary, .. } = self {
            if let Some(dir) = binary.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Parses `BenchmarkName-2   1000   12.3 ns/op   4.5 cpu-ns/op` into its metrics.
fn parse(stdout: &str, bench: &str) -> Option<HashMap<String, f64>> {
    let prefix = format!("Benchmark{bench}");
    stdout.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        if name != prefix && !name.starts_with(&format!("{prefix}-")) {
            return None;
        }
        let _iterations: u64 = fields.next()?.parse().ok()?;
        let rest: Vec<&str> = fields.collect();
        let metrics: HashMap<String, f64> = rest
            .chunks(2)
            .filter_map(|pair| match pair {
                [value, unit] => Some(((*unit).to_owned(), value.parse().ok()?)),
                _ => None,
            })
            .collect();
        (!metrics.is_empty()).then_some(metrics)
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_go_bench_lines() {
        let out = "goos: linux\nBenchmarkW1AddDone-2   \t13760408\t         8.912 ns/op\n\
                   BenchmarkCPUBlockedWaiter-2 1 1000949466 ns/op 1473000 cpu-ns/op\nPASS\n";
        assert_eq!(parse(out, "W1AddDone").unwrap()["ns/op"], 8.912);
        assert_eq!(
            parse(out, "CPUBlockedWaiter").unwrap()["cpu-ns/op"],
            1_473_000.0
        );
        assert!(parse(out, "W2WaitAtZero").is_none());
    }
}
