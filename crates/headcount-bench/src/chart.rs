//! The chart (`--svg`, `--html`): for each workload, headcount's ratio against every peer on a
//! log scale, with parity (1×) and the targets drawn in. Drawn by `plotters`' SVG backend.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::model::{Case, Target};
use crate::workloads;

/// One peer's bar: headcount's median divided by the peer's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    /// The peer's name.
    pub(crate) label: String,
    /// headcount ÷ peer (below 1: headcount faster).
    pub(crate) ratio: f64,
    /// The ratio this row must not exceed, if it has a ratio target.
    pub(crate) target: Option<f64>,
}

/// One workload's bars.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    /// `W1 uncontended …`.
    pub(crate) title: String,
    /// One bar per peer with a number.
    pub(crate) bars: Vec<Bar>,
}

/// The bars of every workload that has a headcount number and at least one peer's.
pub(crate) fn panels(cases: &[Case]) -> Vec<Panel> {
    workloads::ALL
        .iter()
        .filter_map(|&workload| {
            let rows = || cases.iter().filter(|c| std::ptr::eq(c.workload, workload));
            let ours = rows().find(|c| c.subject).and_then(Case::median)?;
            let bars: Vec<Bar> = rows()
                .filter(|c| !c.subject)
                .filter_map(|c| {
                    let ratio = ours / c.median()?;
                    (ratio.is_finite() && ratio > 0.0).then(|| Bar {
                        label: c.label.clone(),
                        ratio,
                        target: match c.target {
                            Some(Target::RatioAtMost(max)) => Some(max),
                            _ => None,
                        },
                    })
                })
                .collect();
            (!bars.is_empty()).then(|| Panel {
                title: format!("{} {}", workload.id, workload.title),
                bars,
            })
        })
        .collect()
}

const WIDTH: u32 = 1200;
const ROW_HEIGHT: u32 = 26;
const PANEL_OVERHEAD: u32 = 80;
const LABEL_WIDTH: u32 = 420;
const FASTER: RGBColor = RGBColor(46, 139, 87);
const SLOWER: RGBColor = RGBColor(230, 145, 56);
const TARGET: RGBColor = RGBColor(200, 30, 30);

/// The x range shared by every panel: powers of ten around every ratio, target and 1×.
fn x_range(panels: &[Panel]) -> Range<f64> {
    let values = panels
        .iter()
        .flat_map(|p| &p.bars)
        .flat_map(|b| std::iter::once(b.ratio).chain(b.target));
    let (lo, hi) = values.fold((0.5_f64, 2.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    10f64.powf(lo.log10().floor())..10f64.powf(hi.log10().ceil())
}

/// The chart as an SVG document.
///
/// # Errors
///
/// A drawing error from `plotters`, or no workload with numbers to draw.
pub(crate) fn svg(panels: &[Panel]) -> Result<String, String> {
    if panels.is_empty() {
        return Err("no workload has a headcount number and a peer's to draw".to_owned());
    }
    let heights: Vec<u32> = panels
        .iter()
        .map(|p| PANEL_OVERHEAD + ROW_HEIGHT * p.bars.len() as u32)
        .collect();
    let x = x_range(panels);
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (WIDTH, heights.iter().sum())).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut rest = root.clone();
        for (panel, &height) in panels.iter().zip(&heights) {
            let (area, below) = rest.split_vertically(height);
            draw_panel(&area, panel, x.clone()).map_err(|e| format!("{}: {e}", panel.title))?;
            rest = below;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One workload: a horizontal bar per peer from 1× to its ratio, the target as a red mark.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x: Range<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let rows = panel.bars.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(LABEL_WIDTH)
        .build_cartesian_2d(x.log_scale(), (0..rows).into_segmented())?;
    // The first peer on top, as in the table: bar `k` sits in segment `rows - 1 - k`.
    let segment = |k: u32| rows - 1 - k;
    let label_of = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) if *i < rows => panel.bars[segment(*i) as usize].label.clone(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows as usize)
        .y_label_formatter(&label_of)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 13))
        .x_label_formatter(&|v| format!("{v}×"))
        .x_desc("headcount ÷ peer, log scale (left of 1×: headcount faster; red: the target)")
        .draw()?;
    for (k, bar) in (0u32..).zip(&panel.bars) {
        let i = segment(k);
        let color = if bar.ratio <= 1.0 { FASTER } else { SLOWER };
        let (left, right) = (bar.ratio.min(1.0), bar.ratio.max(1.0));
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (left, SegmentValue::Exact(i)),
                (right, SegmentValue::Exact(i + 1)),
            ],
            color.mix(0.8).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            ratio_text(bar.ratio),
            (right, SegmentValue::CenterOf(i)),
            ("sans-serif", 13),
        )))?;
        if let Some(target) = bar.target {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (target, SegmentValue::Exact(i)),
                    (target, SegmentValue::Exact(i + 1)),
                ],
                TARGET.stroke_width(4),
            )))?;
        }
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![
            (1.0, SegmentValue::Exact(0)),
            (1.0, SegmentValue::Exact(rows)),
        ],
        BLACK.stroke_width(1),
    )))?;
    Ok(())
}

/// A ratio with two significant digits below 0.1 (`0.0042×`), two decimals above.
fn ratio_text(ratio: f64) -> String {
    let decimals = (1.0 - ratio.log10().floor()).clamp(2.0, 6.0) as usize;
    format!("{ratio:.decimals$}×")
}

/// An HTML page holding the chart and a line about the run.
pub(crate) fn html(svg: &str, about: &str) -> String {
    let about = about
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>headcount-bench: headcount against Go and the Rust peers</title>\n</head>\n\
         <body>\n<h1>headcount against Go and the Rust peers</h1>\n<p>{about}</p>\n{svg}\n\
         </body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workloads::{W1, W2};

    fn row(workload: &'static crate::model::Workload, label: &str, samples: &[f64]) -> Case {
        let mut case = Case::rust(workload, label, Box::new(|_| Duration::ZERO));
        case.samples = samples.to_vec();
        case
    }

    #[test]
    fn panels_hold_headcount_over_each_peer_and_the_ratio_targets() {
        let cases = vec![
            row(&W1, "ours", &[10.0, 12.0, 8.0]).subject(),
            row(&W1, "slow peer", &[40.0]).target(Target::RatioAtMost(0.6)),
            row(&W1, "fast peer", &[5.0]),
            row(&W1, "no number", &[]),
            row(&W2, "peer without a headcount row", &[1.0]),
        ];
        let panels = panels(&cases);
        assert_eq!(panels.len(), 1, "W2 has no headcount number");
        assert!(panels[0].title.starts_with("W1 "));
        assert_eq!(
            panels[0].bars,
            vec![
                Bar {
                    label: "slow peer".into(),
                    ratio: 0.25,
                    target: Some(0.6)
                },
                Bar {
                    label: "fast peer".into(),
                    ratio: 2.0,
                    target: None
                },
            ]
        );
    }

    #[test]
    fn svg_names_every_peer_and_draws_the_target() {
        let panels = vec![Panel {
            title: "W1 pairs".into(),
            bars: vec![
                Bar {
                    label: "crossbeam".into(),
                    ratio: 0.6,
                    target: Some(0.5),
                },
                Bar {
                    label: "Go".into(),
                    ratio: 1.5,
                    target: None,
                },
            ],
        }];
        let svg = svg(&panels).expect("draws");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for text in ["W1 pairs", "crossbeam", "Go", "0.60×", "1.50×"] {
            assert!(svg.contains(text), "{text} missing from the chart");
        }
        let red = format!("#{:02X}{:02X}{:02X}", TARGET.0, TARGET.1, TARGET.2);
        assert!(svg.contains(&red), "the target line is drawn in red");
    }

    #[test]
    fn svg_refuses_an_empty_chart() {
        assert!(svg(&[]).is_err());
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio_text(0.6), "0.60×");
        assert_eq!(ratio_text(12.345), "12.35×");
        assert_eq!(ratio_text(0.0042), "0.0042×");
        assert_eq!(ratio_text(0.042), "0.042×");
    }

    #[test]
    fn html_escapes_the_caption() {
        let page = html("<svg></svg>", "a < b & c");
        assert!(page.contains("a &lt; b &amp; c"));
        assert!(page.contains("<svg></svg>"));
    }
}
