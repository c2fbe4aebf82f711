//! The markdown table, the JSON file of raw samples, and the smoke check.

use std::fmt::Write as _;

use crate::model::{Case, Runner, Target};

/// Formats nanoseconds with a readable unit.
pub(crate) fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.2} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else {
        format!("{:.3} s", ns / 1_000_000_000.0)
    }
}

/// Formats a min–max range in the unit of its upper end.
fn range(min: f64, max: f64) -> String {
    let (scale, unit) = if max < 1_000.0 {
        (1.0, "ns")
    } else if max < 1_000_000.0 {
        (1_000.0, "µs")
    } else if max < 1_000_000_000.0 {
        (1_000_000.0, "ms")
    } else {
        (1_000_000_000.0, "s")
    };
    format!("{:.2}–{:.2} {unit}", min / scale, max / scale)
}

/// The verdict of one row's target.
pub(crate) enum Verdict {
    /// No target on this row.
    None,
    /// Met, with its text.
    Met(String),
    /// Missed, with its text.
    Missed(String),
    /// Could not be checked (a missing number), with its text.
    Unchecked(String),
}

/// Checks a row's target against the workload's headcount row (or the row it names).
pub(crate) fn verdict(case: &Case, cases: &[Case], block_ns: f64) -> Verdict {
    let Some(target) = case.target else {
        return Verdict::None;
    };
    let subject = subject_of(cases, case);
    match target {
        Target::RatioAtMost(max) => {
            let text = format!("≤ {max:.2}×");
            match (subject.and_then(Case::median), case.median()) {
                (Some(ours), Some(theirs)) if ours / theirs <= max => {
                    Verdict::Met(format!("{text}: met"))
                }
                (Some(_), Some(_)) => Verdict::Missed(format!("{text}: **missed**")),
                _ => Verdict::Unchecked(format!("{text}: not checked")),
            }
        }
        Target::RowRatioAtMost(row, max) => {
            let text = format!("{row} ÷ this ≤ {max:.2}×");
            let ours = cases
                .iter()
                .find(|c| std::ptr::eq(c.workload, case.workload) && c.label == row)
                .and_then(Case::median);
            match (ours, case.median()) {
                (Some(ours), Some(theirs)) if ours / theirs <= max => {
                    Verdict::Met(format!("{text}: met ({:.2}×)", ours / theirs))
                }
                (Some(ours), Some(theirs)) => {
                    Verdict::Missed(format!("{text}: **missed** ({:.2}×)", ours / theirs))
                }
                _ => Verdict::Unchecked(format!("{text}: not checked")),
            }
        }
        Target::BelowFractionOfBlock(fraction) => {
            let limit = fraction * block_ns;
            let text = format!("< {}", human(limit));
            match case.median() {
                Some(ours) if ours < limit => Verdict::Met(format!("{text}: met")),
                Some(_) => Verdict::Missed(format!("{text}: **missed**")),
                None => Verdict::Unchecked(format!("{text}: not checked")),
            }
        }
    }
}

/// The workload's headcount row.
pub(crate) fn subject_of<'a>(cases: &'a [Case], case: &Case) -> Option<&'a Case> {
    cases
        .iter()
        .find(|c| c.subject && std::ptr::eq(c.workload, case.workload))
}

/// Why a row has no number.
fn missing_reason(case: &Case) -> String {
    match &case.runner {
        Runner::NotRun(reason) => reason.clone(),
        _ if !case.errors.is_empty() => format!("failed: {}", case.errors[0].replace('\n', " ")),
        _ => "no sample".to_owned(),
    }
}

/// The markdown table.
pub(crate) fn table(cases: &[Case], block_ns: f64) -> String {
    let mut out = String::new();
    out.push_str("| workload | peer | median | min–max | samples | headcount ÷ peer | target |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    let mut last_workload = "";
    for case in cases {
        let workload = if case.workload.id == last_workload {
            String::new()
        } else {
            last_workload = case.workload.id;
            format!("**{}** {}", case.workload.id, case.workload.title)
        };
        let subject = subject_of(cases, case);
        let (median, spread, ratio) = match (case.median(), case.min_max()) {
            (Some(median), Some((min, max))) => {
                let ratio = match subject.and_then(Case::median) {
                    Some(ours) if !case.subject => format!("{:.2}×", ours / median),
                    _ => String::new(),
                };
                (human(median), range(min, max), ratio)
            }
            _ => (missing_reason(case), String::new(), String::new()),
        };
        let target = match verdict(case, cases, block_ns) {
            Verdict::None => String::new(),
            Verdict::Met(t) | Verdict::Missed(t) | Verdict::Unchecked(t) => t,
        };
        let label = if case.subject {
            format!("**{}**", case.label)
        } else {
            case.label.clone()
        };
        let _ = writeln!(
            out,
            "| {workload} | {label} | {median} | {spread} | {} | {ratio} | {target} |",
            case.samples.len()
        );
    }
    out
}

/// The raw samples as JSON.
pub(crate) fn json(cases: &[Case], meta: serde_json::Value) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = cases
        .iter()
        .map(|case| {
            serde_json::json!({
                "workload": case.workload.id,
                "workload_title": case.workload.title,
                "peer": case.label,
                "headcount_row": case.subject,
                "unit": "ns",
                "iterations_per_sample": case.iters,
                "samples": case.samples,
                "median": case.median(),
                "min": case.min_max().map(|m| m.0),
                "max": case.min_max().map(|m| m.1),
                "not_run": match &case.runner { Runner::NotRun(r) => Some(r.clone()), _ => None },
                "errors": case.errors,
            })
        })
        .collect();
    serde_json::json!({ "meta": meta, "rows": rows })
}

/// The smoke check: every row that was meant to run produced a number.
pub(crate) fn smoke_failures(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter(|case| case.median().is_none_or(|m| !m.is_finite()))
        .filter(|case| !matches!(case.runner, Runner::NotRun(_)))
        .map(|case| {
            format!(
                "{} / {}: {}",
                case.workload.id,
                case.label,
                missing_reason(case)
            )
        })
        .collect()
}
