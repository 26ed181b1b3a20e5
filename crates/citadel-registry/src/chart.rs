//! Loss curves: an SVG chart for reports and the web (drawn with plotters' SVG backend, which
//! writes its own `<text>` elements and needs no fonts), and a compact character chart for
//! terminals. Non-finite values are skipped; an empty chart is an error for SVG and a one-line
//! message in a terminal.

use std::ops::Range;

use plotters::prelude::*;

use crate::{Error, Result};

/// One named curve: `(step, value)` points, in any order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The legend label (`train loss`, `eval loss`…).
    pub name: String,
    /// `(step, value)` pairs; points with a non-finite coordinate are skipped.
    pub points: Vec<(f64, f64)>,
}

/// The SVG's size in pixels.
const SVG_SIZE: (u32, u32) = (800, 480);

/// The terminal markers, one per series (cycled past eight series).
const MARKERS: [char; 8] = ['●', '▲', '■', '◆', '○', '△', '□', '◇'];

/// The narrowest plot area a terminal chart is drawn with, in columns.
const MIN_COLUMNS: usize = 8;

/// What the terminal chart says when there is nothing to draw.
const NO_DATA: &str = "no data points to chart yet";

/// The series' finite points, sorted by step.
fn finite(series: &Series) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = series
        .points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The smallest and largest of `values`, or `None` when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A drawable range for `[lo, hi]`: widened around a single value, padded by 5% otherwise.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        lo - pad..hi + pad
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo - pad..hi + pad
    }
}

/// A drawing error as the crate's error.
fn chart_error(error: impl std::fmt::Display) -> Error {
    Error::Chart(error.to_string())
}

/// An SVG line chart of `series` with a title, axis labels and a legend; a series with a single
/// point is drawn as a dot. [`Error::Chart`] when no series has a finite point.
pub fn svg(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<String> {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| (s.name.as_str(), finite(s)))
        .collect();
    let all = || curves.iter().flat_map(|(_, points)| points.iter().copied());
    let (Some((x_lo, x_hi)), Some((y_lo, y_hi))) =
        (bounds(all().map(|(x, _)| x)), bounds(all().map(|(_, y)| y)))
    else {
        return Err(Error::Chart("no series has a finite point".to_owned()));
    };
    let (x, y) = (padded(x_lo, x_hi), padded(y_lo, y_hi));
    if [x.start, x.end, y.start, y.end]
        .iter()
        .any(|v| !v.is_finite())
    {
        return Err(Error::Chart("the values are too large to draw".to_owned()));
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SVG_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let axes = Axes {
            title,
            x_label,
            y_label,
            x,
            y,
        };
        draw_svg(&root, &axes, &curves)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

/// The SVG chart's title, axis labels and ranges.
struct Axes<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: Range<f64>,
    y: Range<f64>,
}

/// Draws the mesh, one line per curve and the legend.
fn draw_svg(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    axes: &Axes<'_>,
    curves: &[(&str, Vec<(f64, f64)>)],
) -> Result<()> {
    let mut chart = ChartBuilder::on(root)
        .caption(axes.title, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(axes.x.clone(), axes.y.clone())
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .x_desc(axes.x_label)
        .y_desc(axes.y_label)
        .draw()
        .map_err(chart_error)?;
    for (index, (name, points)) in curves.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(chart_error)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if points.len() == 1 {
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(chart_error)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(chart_error)
}

/// A character chart of `series` for terminals, lines joined by `\n` without a final newline:
///
/// * `height` plot rows (at least 2), each starting with a y-axis gutter that labels the top row
///   with the largest value and the bottom row with the smallest;
/// * the x axis, then a line with the first and last step under its ends;
/// * one legend line per series: its marker (`●`, `▲`, `■`…), its name and its last value, or
///   `no data` when it has no finite point.
///
/// Every line is at most `width` characters wide as long as `width` leaves room for the labels
/// and 8 columns of plot. Each series is drawn with its own marker, linearly interpolated
/// between points, one mark per column it spans. Without any finite point the chart is the single
/// line `no data points to chart yet`.
pub fn terminal(series: &[Series], width: usize, height: usize) -> String {
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(finite).collect();
    let all = || curves.iter().flat_map(|points| points.iter().copied());
    let (Some(x_bounds), Some(y_bounds)) =
        (bounds(all().map(|(x, _)| x)), bounds(all().map(|(_, y)| y)))
    else {
        return NO_DATA.to_owned();
    };
    let top = short(y_bounds.1);
    let bottom = short(y_bounds.0);
    let label_width = top.chars().count().max(bottom.chars().count());
    let gutter = label_width + 2;
    let grid = Grid {
        columns: width.saturating_sub(gutter).max(MIN_COLUMNS),
        rows: height.max(2),
        x: x_bounds,
        y: y_bounds,
    };
    let mut cells = vec![vec![' '; grid.columns]; grid.rows];
    for (index, points) in curves.iter().enumerate() {
        grid.plot(&mut cells, points, MARKERS[index % MARKERS.len()]);
    }
    let mut lines = plot_lines(&cells, &top, &bottom, label_width);
    lines.push(format!(
        "{} └{}",
        " ".repeat(label_width),
        "─".repeat(grid.columns)
    ));
    lines.push(x_range_line(x_bounds, gutter, grid.columns));
    for (index, (s, points)) in series.iter().zip(&curves).enumerate() {
        lines.push(legend_line(
            MARKERS[index % MARKERS.len()],
            &s.name,
            points,
            width,
        ));
    }
    lines.join("\n")
}

/// The terminal plot area: its size in cells and the data bounds it maps.
struct Grid {
    columns: usize,
    rows: usize,
    x: (f64, f64),
    y: (f64, f64),
}

impl Grid {
    /// The column of step `x`: the middle column when every point has the same step.
    fn column(&self, x: f64) -> usize {
        let (lo, hi) = self.x;
        if hi > lo {
            scale(x, lo, hi, self.columns)
        } else {
            self.columns / 2
        }
    }

    /// The row of value `y`, 0 at the top: the middle row when every value is the same.
    fn row(&self, y: f64) -> usize {
        let (lo, hi) = self.y;
        if hi > lo {
            self.rows - 1 - scale(y, lo, hi, self.rows)
        } else {
            self.rows / 2
        }
    }

    /// Marks `points` (sorted by step) with `marker`, one mark per column between neighbours.
    fn plot(&self, cells: &mut [Vec<char>], points: &[(f64, f64)], marker: char) {
        if let [(x, y)] = points {
            self.mark(cells, self.column(*x), *y, marker);
        }
        for pair in points.windows(2) {
            let [(x0, y0), (x1, y1)] = [pair[0], pair[1]];
            let (c0, c1) = (self.column(x0), self.column(x1));
            if c0 == c1 {
                self.mark(cells, c0, y0, marker);
                self.mark(cells, c0, y1, marker);
                continue;
            }
            for column in c0..=c1 {
                let t = (column - c0) as f64 / (c1 - c0) as f64;
                self.mark(cells, column, y0 + (y1 - y0) * t, marker);
            }
        }
    }

    /// Puts `marker` in `column` at the row of value `y`.
    fn mark(&self, cells: &mut [Vec<char>], column: usize, y: f64, marker: char) {
        if let Some(cell) = cells
            .get_mut(self.row(y))
            .and_then(|row| row.get_mut(column))
        {
            *cell = marker;
        }
    }
}

/// The index (0 to `cells - 1`) of `value` in `[lo, hi]` split into `cells` equal steps.
fn scale(value: f64, lo: f64, hi: f64, cells: usize) -> usize {
    let fraction = ((value - lo) / (hi - lo)).clamp(0.0, 1.0);
    let last = cells.saturating_sub(1);
    ((fraction * last as f64).round() as usize).min(last)
}

/// The plot rows behind the y-axis gutter: the largest value's label on the top row, the
/// smallest's on the bottom row.
fn plot_lines(cells: &[Vec<char>], top: &str, bottom: &str, label_width: usize) -> Vec<String> {
    let last = cells.len().saturating_sub(1);
    cells
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let (label, tick) = match index {
                0 => (top, '┤'),
                i if i == last => (bottom, '┤'),
                _ => ("", '│'),
            };
            let plot: String = row.iter().collect();
            format!("{label:>label_width$} {tick}{}", plot.trim_end())
        })
        .collect()
}

/// The first and last step under the ends of the x axis.
fn x_range_line(x: (f64, f64), gutter: usize, columns: usize) -> String {
    let (first, last) = (short(x.0), short(x.1));
    let room = columns.saturating_sub(first.chars().count());
    format!("{}{first}{last:>room$}", " ".repeat(gutter))
}

/// `<marker> <name>` and the last value, cut to `width` characters.
fn legend_line(marker: char, name: &str, points: &[(f64, f64)], width: usize) -> String {
    let detail = match points.last() {
        Some((x, y)) => format!("last {} at step {}", short(*y), short(*x)),
        None => "no data".to_owned(),
    };
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = format!("{marker} {name}  ({detail})");
    line.chars().take(width.max(1)).collect()
}

/// A number in at most about seven characters: four significant digits, trailing zeros
/// dropped; scientific notation for very large or very small magnitudes.
fn short(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        return "0".to_owned();
    }
    if !(1e-3..1e6).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 4) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.to_owned(),
            points: points.to_vec(),
        }
    }

    fn decreasing() -> Series {
        let points: Vec<(f64, f64)> = (0..=50)
            .map(|step| (f64::from(step * 10), f64::from(300 - 5 * step) / 100.0))
            .collect();
        series("train loss", &points)
    }

    #[test]
    fn svg_has_the_title_and_a_line_per_series() {
        let eval = series("eval loss", &[(0.0, 2.9), (250.0, 2.0), (500.0, 1.4)]);
        let text = svg("Loss <run-7> & co", "step", "loss", &[decreasing(), eval]).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..80]);
        assert!(text.trim_end().ends_with("</svg>"));
        assert!(text.contains("Loss &lt;run-7&gt; &amp; co"));
        for label in ["step", "loss", "train loss", "eval loss"] {
            assert!(text.contains(&format!("\n{label}\n")), "{label}");
        }
        let curves = text
            .split("<polyline")
            .skip(1)
            .filter(|rest| {
                let tag = &rest[..rest.find('>').unwrap()];
                tag.contains(r#"stroke-width="2""#) && !tag.contains(r##"stroke="#000000""##)
            })
            .count();
        assert_eq!(curves, 4, "a line and a legend sample per series");
    }

    #[test]
    fn svg_draws_single_points_constant_values_and_skips_nan() {
        let text = svg(
            "t",
            "x",
            "y",
            &[
                series("one", &[(5.0, 2.0)]),
                series("flat", &[(5.0, 2.0), (f64::NAN, 1.0), (5.0, f64::INFINITY)]),
            ],
        )
        .unwrap();
        assert!(text.contains("<circle"), "the single point is a dot");
        assert!(!text.contains("NaN"));
    }

    #[test]
    fn svg_without_points_is_an_error() {
        for input in [
            vec![],
            vec![series("a", &[]), series("b", &[(f64::NAN, 1.0)])],
        ] {
            let error = svg("t", "x", "y", &input).unwrap_err();
            assert!(matches!(error, Error::Chart(_)), "{error}");
            assert_eq!(
                error.to_string(),
                "cannot draw the chart: no series has a finite point"
            );
        }
        let huge = series("huge", &[(0.0, -1e308), (1.0, 1e308)]);
        assert!(matches!(svg("t", "x", "y", &[huge]), Err(Error::Chart(_))));
    }

    #[test]
    fn terminal_chart_has_the_promised_size() {
        let input = [
            decreasing(),
            series("eval loss", &[(0.0, 2.0), (500.0, 1.4)]),
        ];
        let text = terminal(&input, 60, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10 + 2 + 2, "{text}");
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{text}");
        assert_eq!(lines[10].chars().count(), 60, "the axis spans the width");
        assert!(lines[0].starts_with("  3 ┤●"), "{text}");
        assert!(lines[9].starts_with("0.5 ┤"), "{text}");
        assert!(lines[9].ends_with('●'), "{text}");
        assert!(
            lines[11].starts_with("     0 ") && lines[11].ends_with(" 500"),
            "{text}"
        );
        assert_eq!(lines[11].chars().count(), 60, "{text}");
        assert_eq!(lines[12], "● train loss  (last 0.5 at step 500)");
        assert_eq!(lines[13], "▲ eval loss  (last 1.4 at step 500)");
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn a_decreasing_series_goes_from_top_left_to_bottom_right() {
        let text = terminal(&[decreasing()], 40, 8);
        let lines: Vec<Vec<char>> = text.lines().take(8).map(|l| l.chars().collect()).collect();
        let column_of = |row: &Vec<char>| row.iter().position(|&c| c == '●');
        let plot_start = lines[0].iter().position(|&c| c == '┤').unwrap() + 1;
        assert_eq!(column_of(&lines[0]), Some(plot_start), "{text}");
        assert_eq!(lines[7].len(), 40, "{text}");
        assert_eq!(lines[7][39], '●', "{text}");
        let first_marks: Vec<usize> = lines.iter().filter_map(column_of).collect();
        assert!(first_marks.windows(2).all(|w| w[0] <= w[1]), "{text}");
    }

    #[test]
    fn terminal_handles_odd_input() {
        assert_eq!(terminal(&[], 40, 8), NO_DATA);
        assert_eq!(
            terminal(&[series("a", &[(f64::NAN, f64::NAN)])], 40, 8),
            NO_DATA
        );

        let one = terminal(&[series("one", &[(3.0, 0.25)])], 30, 5);
        assert_eq!(one.lines().count(), 5 + 2 + 1, "{one}");
        assert_eq!(one.matches('●').count(), 2, "a dot and the legend's: {one}");

        let flat = terminal(
            &[series("flat", &[(0.0, 2.0), (10.0, 2.0), (20.0, f64::NAN)])],
            30,
            5,
        );
        let lines: Vec<&str> = flat.lines().collect();
        assert!(lines[2].contains("●●●"), "the middle row: {flat}");
        assert!(
            lines[0].starts_with("2 ┤") && lines[4].starts_with("2 ┤"),
            "{flat}"
        );

        let empty_and_full = terminal(&[series("none", &[]), decreasing()], 40, 4);
        assert!(
            empty_and_full.contains("● none  (no data)"),
            "{empty_and_full}"
        );
        assert!(empty_and_full.contains('▲'));

        let tiny = terminal(&[decreasing()], 0, 0);
        assert_eq!(tiny.lines().count(), 2 + 2 + 1, "{tiny}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(3.0), "3");
        assert_eq!(short(2.34567), "2.346");
        assert_eq!(short(123.456), "123.5");
        assert_eq!(short(0.000_123), "1.23e-4");
        assert_eq!(short(2_500_000.0), "2.50e6");
        assert_eq!(short(-0.5), "-0.5");
    }
}
