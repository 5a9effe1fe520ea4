//! The dashboard's chart: status counts over valid time, stacked, drawn on the server as SVG so
//! that it needs no script, with the numbers beside it as a table (its text alternative).

use std::fmt::Write;

use ikrar_core::Status;
use ikrar_state::StatusSeries;

/// Fill colours per status, in the order of [`Status::ALL`]; chosen apart in hue and
/// lightness, each with a legend entry and the table, so colour is never the only cue.
pub(crate) const COLOURS: [&str; 8] = [
    "#6b7280", "#2563eb", "#d97706", "#15803d", "#84cc16", "#b91c1c", "#7c3aed", "#0e7490",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;

/// The chart, drawn.
pub(crate) struct Chart {
    /// The SVG markup (made here from numbers only: nothing from the ledger's text).
    pub(crate) svg: String,
    /// Per point: its date and the count of each status.
    pub(crate) rows: Vec<(String, Vec<u64>)>,
    /// `(status, colour)` for the legend and the table's head.
    pub(crate) legend: Vec<(&'static str, &'static str)>,
}

impl Chart {
    pub(crate) fn of(series: &StatusSeries) -> Chart {
        let legend = Status::ALL
            .iter()
            .zip(COLOURS)
            .map(|(s, c)| (s.as_str(), c))
            .collect();
        let rows: Vec<(String, Vec<u64>)> = series
            .points
            .iter()
            .zip(&series.counts)
            .map(|(p, c)| (p.format("%Y-%m-%d").to_string(), c.to_vec()))
            .collect();
        let mut svg = String::new();
        let max = series
            .counts
            .iter()
            .map(|c| c.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let n = series.points.len();
        let x = |i: usize| {
            if n <= 1 {
                WIDTH
            } else {
                WIDTH * i as f64 / (n - 1) as f64
            }
        };
        let y = |v: u64| HEIGHT - HEIGHT * v as f64 / max;
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 -10 {w} {h}" role="img" aria-labelledby="chart-title" class="chart" preserveAspectRatio="none">"##,
            w = WIDTH,
            h = HEIGHT + 20.0
        );
        let _ = write!(
            svg,
            r#"<title id="chart-title">Commitments by status over valid time: {n} points from {} to {}; the table below gives the numbers</title>"#,
            rows.first().map_or("", |r| r.0.as_str()),
            rows.last().map_or("", |r| r.0.as_str()),
        );
        let _ = write!(
            svg,
            r##"<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="#374151" stroke-width="1"/>"##
        );
        if n > 0 {
            let mut below = vec![0u64; n];
            for (s, colour) in COLOURS.iter().enumerate() {
                let above: Vec<u64> = (0..n).map(|i| below[i] + series.counts[i][s]).collect();
                if above != below {
                    let mut points = String::new();
                    for (i, v) in above.iter().enumerate() {
                        let _ = write!(points, "{:.1},{:.1} ", x(i), y(*v));
                    }
                    for (i, v) in below.iter().enumerate().rev() {
                        let _ = write!(points, "{:.1},{:.1} ", x(i), y(*v));
                    }
                    let _ = write!(
                        svg,
                        r#"<polygon points="{}" fill="{colour}"/>"#,
                        points.trim_end()
                    );
                }
                below = above;
            }
        }
        svg.push_str("</svg>");
        Chart { svg, rows, legend }
    }
}
