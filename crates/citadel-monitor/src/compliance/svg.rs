//! Inline SVG line charts for the HTML report: fixed size, no scripts, no external fonts, every
//! label escaped. A series may have gaps (a bucket with no value), drawn as breaks in its line.

use std::fmt::Write as _;

use super::html::escape;

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 36.0;
/// Horizontal grid lines above the axis.
const GRID_STEPS: u32 = 4;
/// At most this many time labels under the axis.
const MAX_X_LABELS: usize = 8;
/// Points are marked with dots up to this many per series.
const MAX_DOTS: usize = 120;

/// One line of a chart.
#[derive(Debug)]
pub(super) struct Series<'a> {
    pub name: &'a str,
    /// A CSS colour.
    pub color: &'a str,
    /// One value per label; `None` is a gap.
    pub values: Vec<Option<f64>>,
}

/// A line chart of `series` over the x `labels`, values in `unit`.
pub(super) fn line_chart(title: &str, unit: &str, labels: &[String], series: &[Series]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="18" class="chart-title">{}</text>"#,
        escape(title)
    );
    legend(&mut svg, series);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |m, v| m.max(*v));
    let top = nice_ceiling(max);
    grid(&mut svg, top, unit);
    if labels.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="empty" text-anchor="middle">no requests in this period</text>"#,
            LEFT + plot_width() / 2.0,
            TOP + plot_height() / 2.0
        );
    } else {
        x_labels(&mut svg, labels);
        for (i, s) in series.iter().enumerate() {
            // Earlier series get bigger dots, so equal values stay visible as rings.
            let radius = 3.0 + 1.5 * (series.len() - 1 - i) as f64;
            line(&mut svg, s, labels.len(), top, radius);
        }
    }
    svg.push_str("</svg>");
    svg
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn x_at(index: usize, count: usize) -> f64 {
    if count <= 1 {
        LEFT + plot_width() / 2.0
    } else {
        LEFT + plot_width() * index as f64 / (count - 1) as f64
    }
}

fn y_at(value: f64, top: f64) -> f64 {
    TOP + plot_height() * (1.0 - value / top)
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1).
fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn legend(svg: &mut String, series: &[Series]) {
    let mut x = WIDTH - RIGHT;
    for s in series.iter().rev() {
        // Labels are short; 7 px per character is DejaVu Sans at 12 px, roughly.
        x -= 24.0 + 7.0 * s.name.chars().count() as f64;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="9" width="12" height="4" fill="{c}"/><text x="{:.1}" y="16" class="legend">{}</text>"#,
            x + 16.0,
            escape(s.name),
            c = escape(s.color)
        );
    }
}

fn grid(svg: &mut String, top: f64, unit: &str) {
    for step in 0..=GRID_STEPS {
        let value = top * f64::from(step) / f64::from(GRID_STEPS);
        let y = y_at(value, top);
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="{}"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            if step == 0 { "axis" } else { "grid" },
            LEFT - 6.0,
            y + 4.0,
            number(value)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="14" y="{:.1}" class="tick" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        TOP + plot_height() / 2.0,
        TOP + plot_height() / 2.0,
        escape(unit)
    );
}

fn x_labels(svg: &mut String, labels: &[String]) {
    let step = labels.len().div_ceil(MAX_X_LABELS).max(1);
    let last = labels.len() - 1;
    for (i, label) in labels.iter().enumerate() {
        // Every step-th label, and the last one, whose neighbour gives way if too close.
        let shown = i == last || (i % step == 0 && last - i >= step);
        if !shown {
            continue;
        }
        let anchor = match (labels.len(), i) {
            (1, _) => "middle",
            (_, 0) => "start",
            (_, i) if i == last => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="{anchor}">{}</text>"#,
            x_at(i, labels.len()),
            HEIGHT - BOTTOM + 18.0,
            escape(label)
        );
    }
}

fn line(svg: &mut String, series: &Series, count: usize, top: f64, radius: f64) {
    let color = escape(series.color);
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |svg: &mut String, run: &mut Vec<(f64, f64)>| {
        if run.len() > 1 {
            let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                points.join(" ")
            );
        }
        run.clear();
    };
    for (i, value) in series.values.iter().enumerate() {
        match value {
            Some(v) => run.push((x_at(i, count), y_at(*v, top))),
            None => flush(svg, &mut run),
        }
    }
    flush(svg, &mut run);
    if count <= MAX_DOTS {
        for (i, value) in series.values.iter().enumerate() {
            if let Some(v) = value {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{radius:.1}" fill="{color}"/>"#,
                    x_at(i, count),
                    y_at(*v, top)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::parse_xml;
    use super::*;

    fn series(values: Vec<Option<f64>>) -> Series<'static> {
        Series {
            name: "p50 <ms>",
            color: "#1f77b4",
            values,
        }
    }

    #[test]
    fn a_chart_is_well_formed_svg_with_a_line_per_unbroken_run() {
        let labels: Vec<String> = (0..5).map(|i| format!("10:0{i}")).collect();
        let svg = line_chart(
            "latency & <co>",
            "ms",
            &labels,
            &[series(vec![
                Some(1.0),
                Some(3.0),
                None,
                Some(2.0),
                Some(9.0),
            ])],
        );
        let names = parse_xml(&svg);
        assert_eq!(names[0], "svg");
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 2);
        assert_eq!(names.iter().filter(|n| *n == "circle").count(), 4);
        assert!(svg.contains("latency &amp; &lt;co&gt;"));
        assert!(svg.contains("p50 &lt;ms&gt;"));
    }

    #[test]
    fn one_point_and_no_points_still_draw() {
        let one = line_chart("t", "ms", &["10:00".into()], &[series(vec![Some(5.0)])]);
        assert_eq!(parse_xml(&one).iter().filter(|n| *n == "circle").count(), 1);
        let none = line_chart("t", "ms", &[], &[series(Vec::new())]);
        parse_xml(&none);
        assert!(none.contains("no requests in this period"));
    }

    #[test]
    fn time_labels_never_crowd_the_last_one() {
        let labels: Vec<String> = (0..21).map(|i| format!("L{i:02}")).collect();
        let svg = line_chart("t", "ms", &labels, &[series(vec![Some(1.0); 21])]);
        let shown: Vec<usize> = (0..21)
            .filter(|i| svg.contains(&format!(">L{i:02}<")))
            .collect();
        assert_eq!(shown, [0, 3, 6, 9, 12, 15, 20]);
    }

    #[test]
    fn the_scale_rounds_up_to_a_readable_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(17.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }
}
