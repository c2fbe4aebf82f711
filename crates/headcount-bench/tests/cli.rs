//! The command line as a user meets it: bad arguments are refused with exit code 2 before
//! anything is measured; `--write` and `--svg` produce their files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headcount-bench"))
        .args(args)
        .output()
        .expect("the benchmark tool starts")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn an_unknown_workload_is_an_error_listing_the_valid_names() {
    let out = bench(&["--only", "W9", "--no-go"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown workload `W9`"), "{err}");
    assert!(
        err.contains("W1, W2, W3, W4, W5, W6, W7, CPU"),
        "the valid names are listed: {err}"
    );
    assert!(out.stdout.is_empty(), "no table is printed");
}

#[test]
fn a_typo_among_known_workloads_is_still_an_error() {
    let out = bench(&["--only", "W1,W44", "--no-go"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("`W44`"));
    let out = bench(&["--only", ",", "--no-go"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an empty list: {}",
        stderr(&out)
    );
}

#[test]
fn options_without_their_value_are_errors() {
    for option in ["--write", "--svg", "--html", "--note", "--only", "--json"] {
        let out = bench(&[option]);
        assert_eq!(out.status.code(), Some(2), "{option}: {}", stderr(&out));
        assert!(stderr(&out).contains(option), "{option}: {}", stderr(&out));
    }
}

#[test]
fn write_refuses_a_document_without_markers_before_measuring() {
    let dir = scratch("write-without-markers");
    let doc = dir.join("doc.md");
    std::fs::write(&doc, "# Performance\n\nno markers here\n").unwrap();
    let out = bench(&["--write", doc.to_str().unwrap(), "--no-go"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("marker"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing was measured");
    assert_eq!(
        std::fs::read_to_string(&doc).unwrap(),
        "# Performance\n\nno markers here\n",
        "the document is left as it was"
    );
    let missing = dir.join("missing.md");
    let out = bench(&["--write", missing.to_str().unwrap(), "--no-go"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
}

#[test]
fn write_and_svg_hold_the_results_of_the_run() {
    let dir = scratch("write-and-svg");
    let doc = dir.join("doc.md");
    let svg = dir.join("chart.svg");
    let html = dir.join("chart.html");
    let begin =
        "<!-- results: begin (written by `headcount-bench --write`; edit the text outside) -->";
    let end = "<!-- results: end -->";
    std::fs::write(
        &doc,
        format!("# Method\n\nkept\n\n{begin}\nstale figures\n{end}\n\n## After\n\nkept too\n"),
    )
    .unwrap();
    let out = bench(&[
        "--smoke",
        "--no-go",
        "--only",
        "W1",
        "--note",
        "A test run.",
        "--write",
        doc.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(!text.contains("stale figures"), "{text}");
    assert!(text.starts_with("# Method\n\nkept\n\n"), "{text}");
    assert!(
        text.ends_with(&format!("{end}\n\n## After\n\nkept too\n")),
        "{text}"
    );
    assert!(
        text.contains(
            "`cargo run --release -p headcount-bench -- --smoke --no-go --only W1 --write "
        ),
        "the command, without the note: {text}"
    );
    for expected in [
        "Run: ",
        "commit ",
        "--only W1",
        "A test run.",
        "Machine: ",
        "| workload | peer |",
        "**W1**",
        "crossbeam-utils WaitGroup",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from\n{text}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"));
    assert!(chart.contains("crossbeam-utils WaitGroup"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("A test run."));
}
