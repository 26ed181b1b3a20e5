//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script and no
//! external resource (a Content-Security-Policy says so to the browser), every piece of text
//! escaped, since endpoint, model and principal names are chosen by users.

use std::fmt::Write as _;

use super::svg::{line_chart, Series};
use super::{
    display_time, BucketWidth, ComplianceReport, DriftSeries, Evidence, Section, Status, Traffic,
};

const STYLE: &str = "\
body{margin:0;background:#f4f5f7;color:#1c2430;font:14px/1.45 'DejaVu Sans',system-ui,sans-serif}\
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px}\
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px;display:flex;gap:10px;align-items:center}\
h3{font-size:14px;margin:16px 0 6px;color:#445}\
.meta{color:#556;margin:0 0 16px}\
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:18px 20px;margin:0 0 18px}\
table{border-collapse:collapse;width:100%;margin:4px 0 8px}\
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #e6e9ee;word-break:break-word}\
th{background:#f0f2f5;font-weight:600;font-size:13px}\
.badge{display:inline-block;border-radius:10px;padding:1px 10px;font-size:12px;font-weight:700;\
text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}\
.pass{background:#dcf3e3;color:#14632f}.attention{background:#fff1c9;color:#7a5300}\
.fail{background:#fbdcdc;color:#9b1c1c}\
.overall{font-size:14px;padding:3px 14px}\
.controls,.note{color:#556;font-size:13px;margin:8px 0 0}\
.chart{width:100%;height:auto;display:block;margin:4px 0 12px}\
.chart-title{font-weight:700;font-size:13px;fill:#1c2430}\
.legend,.tick{font-size:12px;fill:#445}.empty{font-size:14px;fill:#889}\
.grid{stroke:#e6e9ee}.axis{stroke:#99a}\
td.status{width:110px}td.subject{width:200px}";

/// The HTML page.
pub(super) fn render(report: &ComplianceReport) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Citadel compliance report</title><style>{STYLE}</style></head><body><main>"
    );
    let _ = write!(
        out,
        "<header class=\"card\"><h1>Citadel compliance report {}</h1>\
         <p class=\"meta\">Activity from {} to {} · generated {} by {} · schema version {}</p>",
        badge(report.status, "overall"),
        escape(&display_time(report.period.since)),
        escape(&display_time(report.period.until)),
        escape(&display_time(report.generated_at)),
        escape(&report.generated_by),
        report.schema_version
    );
    summary(&mut out, report);
    out.push_str("</header>");
    charts(
        &mut out,
        &report.charts.traffic,
        &report.charts.drift,
        &report.charts.notes,
    );
    for section in &report.sections {
        section_card(&mut out, section);
    }
    control_mapping(&mut out, report);
    out.push_str("</main></body></html>\n");
    out
}

/// Escapes text for HTML and XML content and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(status: Status, extra: &str) -> String {
    format!(
        "<span class=\"badge {} {extra}\">{}</span>",
        status.as_str(),
        status.as_str()
    )
}

fn summary(out: &mut String, report: &ComplianceReport) {
    out.push_str("<table><tr><th>Item</th><th>Status</th><th>Findings</th></tr>");
    for s in &report.sections {
        let needing = s
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .count();
        let _ = write!(
            out,
            "<tr><td><a href=\"#{}\">{}</a></td><td class=\"status\">{}</td><td>{} checked, {} \
             to act on</td></tr>",
            s.id.key(),
            escape(s.title),
            badge(s.status, ""),
            s.findings.len(),
            needing
        );
    }
    out.push_str("</table>");
}

/// The x label of a bucket starting at `t`.
pub(super) fn bucket_label(bucket: BucketWidth, t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    match bucket {
        BucketWidth::Minute => format!("{:02}:{:02}", t.hour(), t.minute()),
        BucketWidth::Hour => format!("{:02}-{:02} {:02}h", u8::from(t.month()), t.day(), t.hour()),
        BucketWidth::Day => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
    }
}

fn charts(out: &mut String, traffic: &Traffic, drift: &[DriftSeries], notes: &[String]) {
    let labels: Vec<String> = traffic
        .points
        .iter()
        .map(|p| bucket_label(traffic.bucket, p.start))
        .collect();
    let ms = |f: fn(&super::TrafficPoint) -> Option<u64>| -> Vec<Option<f64>> {
        traffic
            .points
            .iter()
            .map(|p| f(p).map(|v| v as f64))
            .collect()
    };
    let count = |f: fn(&super::TrafficPoint) -> u64| -> Vec<Option<f64>> {
        traffic.points.iter().map(|p| Some(f(p) as f64)).collect()
    };
    let per = match traffic.bucket {
        BucketWidth::Minute => "minute",
        BucketWidth::Hour => "hour",
        BucketWidth::Day => "day",
    };
    out.push_str("<section class=\"card\" id=\"charts\"><h2>Serving over time</h2>");
    out.push_str(&line_chart(
        &format!("Latency of answered requests, per {per} (UTC)"),
        "ms",
        &labels,
        &[
            Series {
                name: "p50",
                color: "#2563eb",
                values: ms(|p| p.p50_ms),
            },
            Series {
                name: "p99",
                color: "#dc2626",
                values: ms(|p| p.p99_ms),
            },
        ],
    ));
    out.push_str(&line_chart(
        &format!("Requests and refusals, per {per} (UTC)"),
        "requests",
        &labels,
        &[
            Series {
                name: "requests",
                color: "#2563eb",
                values: count(|p| p.requests),
            },
            Series {
                name: "blocked by guardrails",
                color: "#d97706",
                values: count(|p| p.blocked),
            },
            Series {
                name: "denied",
                color: "#dc2626",
                values: count(|p| p.denied),
            },
        ],
    ));
    drift_chart(out, drift);
    for note in notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
    }
    out.push_str("</section>");
}

/// Series colours, in turn.
const PALETTE: [&str; 6] = [
    "#7c3aed", "#059669", "#db2777", "#0891b2", "#ca8a04", "#4b5563",
];

/// One line per endpoint with a score, over the windows' end times (shared by every endpoint).
fn drift_chart(out: &mut String, drift: &[DriftSeries]) {
    let scored: Vec<&DriftSeries> = drift
        .iter()
        .filter(|s| s.points.iter().any(|p| p.score.is_some()))
        .collect();
    let Some(first) = scored.first() else {
        return;
    };
    let labels: Vec<String> = first
        .points
        .iter()
        .map(|p| bucket_label(BucketWidth::Hour, p.time))
        .collect();
    let series: Vec<Series> = scored
        .iter()
        .zip(PALETTE.iter().cycle())
        .map(|(s, color)| Series {
            name: &s.endpoint,
            color,
            values: s.points.iter().map(|p| p.score).collect(),
        })
        .collect();
    out.push_str(&line_chart(
        "Drift score by endpoint, per window (UTC)",
        "score",
        &labels,
        &series,
    ));
}

fn section_card(out: &mut String, section: &Section) {
    let _ = write!(
        out,
        "<section class=\"card\" id=\"{}\"><h2>{} {}</h2>\
         <table><tr><th>Status</th><th>Subject</th><th>Finding</th><th>How to fix</th></tr>",
        section.id.key(),
        escape(section.title),
        badge(section.status, "")
    );
    for f in &section.findings {
        let _ = write!(
            out,
            "<tr><td class=\"status\">{}</td><td class=\"subject\">{}</td><td>{}</td><td>{}</td></tr>",
            badge(f.status, ""),
            escape(&f.subject),
            escape(&f.finding),
            escape(f.fix.as_deref().unwrap_or("—"))
        );
    }
    out.push_str("</table>");
    for table in &section.evidence {
        evidence(out, table);
    }
    let _ = write!(
        out,
        "<p class=\"controls\">Supports SOC 2 {} · HIPAA {} · GDPR {}</p></section>",
        escape(&list(section.controls.soc2)),
        escape(&list(section.controls.hipaa)),
        escape(&list(section.controls.gdpr))
    );
}

fn evidence(out: &mut String, table: &Evidence) {
    let _ = write!(out, "<h3>{}</h3>", escape(&table.caption));
    if table.rows.is_empty() {
        out.push_str("<p class=\"note\">(none)</p>");
        return;
    }
    out.push_str("<table><tr>");
    for c in &table.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr>");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// Controls joined with commas, `—` when there are none.
pub(super) fn list(controls: &[&str]) -> String {
    if controls.is_empty() {
        "—".to_owned()
    } else {
        controls.join(", ")
    }
}

fn control_mapping(out: &mut String, report: &ComplianceReport) {
    out.push_str(
        "<section class=\"card\" id=\"controls\"><h2>Control mapping</h2><table><tr><th>Item</th>\
         <th>SOC 2</th><th>HIPAA</th><th>GDPR</th></tr>",
    );
    for s in &report.sections {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s.title),
            escape(&list(s.controls.soc2)),
            escape(&list(s.controls.hipaa)),
            escape(&list(s.controls.gdpr))
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"note\">{}</p></section>",
        escape(report.controls_note)
    );
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{parse_xml, report, HOSTILE};
    use super::super::SectionId;
    use super::*;

    #[test]
    fn user_text_is_escaped_everywhere() {
        let html = render(&report());
        assert!(!html.contains("<script"), "raw script tag in:\n{html}");
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=&quot;boom&quot;&gt;"));
        assert!(!escape(HOSTILE).contains('<'));
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&report());
        assert!(!html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("://"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn drift_is_charted_only_where_a_score_exists() {
        let mut report = report();
        assert!(render(&report).contains("Drift score by endpoint"));
        for series in &mut report.charts.drift {
            series.points.iter_mut().for_each(|p| p.score = None);
        }
        let html = render(&report);
        assert!(!html.contains("Drift score by endpoint"));
        assert_eq!(html.matches("<svg").count(), 2);
    }

    #[test]
    fn every_section_and_the_mapping_are_present() {
        let html = render(&report());
        for id in SectionId::ALL {
            assert!(html.contains(&format!("id=\"{}\"", id.key())), "{id:?}");
        }
        assert!(html.contains("id=\"controls\""));
        assert!(html.contains("164.312(a)(2)(iv)"));
    }

    #[test]
    fn the_page_body_is_well_formed_xml_with_three_charts() {
        let html = render(&report());
        let start = html.find("<main>").unwrap();
        let end = html.find("</main>").unwrap() + "</main>".len();
        let names = parse_xml(&html[start..end]);
        assert_eq!(names.iter().filter(|n| *n == "svg").count(), 3);
        assert!(names.iter().filter(|n| *n == "polyline").count() >= 2);
    }
}
