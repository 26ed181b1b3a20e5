//! The report as Markdown: a summary, one table of findings per section with its evidence, the
//! traffic as a table (Markdown has no charts) and the control mapping. Cells are escaped so a
//! user-chosen name can neither break a table nor inject HTML into a renderer.

use std::fmt::Write as _;

use super::html::{bucket_label, list};
use super::{display_time, ComplianceReport, Evidence, Section, Status};

/// The Markdown document.
pub(super) fn render(report: &ComplianceReport) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = writeln!(out, "# Citadel compliance report\n");
    let _ = writeln!(
        out,
        "- Overall status: **{}**\n- Activity from {} to {}\n- Generated {} by {}\n- Schema \
         version {}\n",
        report.status.as_str(),
        display_time(report.period.since),
        display_time(report.period.until),
        display_time(report.generated_at),
        cell(&report.generated_by),
        report.schema_version
    );
    out.push_str("## Summary\n\n| Item | Status | Findings | To act on |\n|---|---|---|---|\n");
    for s in &report.sections {
        let needing = s
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .count();
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {needing} |",
            s.title,
            s.title.to_lowercase().replace(' ', "-").replace(',', ""),
            s.status.as_str(),
            s.findings.len()
        );
    }
    out.push('\n');
    for section in &report.sections {
        section_text(&mut out, section);
    }
    traffic(&mut out, report);
    out.push_str("## Control mapping\n\n| Item | SOC 2 | HIPAA | GDPR |\n|---|---|---|---|\n");
    for s in &report.sections {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.title,
            list(s.controls.soc2),
            list(s.controls.hipaa),
            list(s.controls.gdpr)
        );
    }
    let _ = writeln!(out, "\n{}", report.controls_note);
    out
}

/// Text made safe for a table cell: no line breaks, pipes escaped, HTML neutralized.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn section_text(out: &mut String, section: &Section) {
    let _ = writeln!(
        out,
        "## {}\n\nStatus: **{}**\n\n| Status | Subject | Finding | How to fix |\n|---|---|---|---|",
        section.title,
        section.status.as_str()
    );
    for f in &section.findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            f.status.as_str(),
            cell(&f.subject),
            cell(&f.finding),
            cell(f.fix.as_deref().unwrap_or("—"))
        );
    }
    out.push('\n');
    for table in &section.evidence {
        evidence(out, table);
    }
    let _ = writeln!(
        out,
        "Supports SOC 2 {} · HIPAA {} · GDPR {}\n",
        list(section.controls.soc2),
        list(section.controls.hipaa),
        list(section.controls.gdpr)
    );
}

fn evidence(out: &mut String, table: &Evidence) {
    let _ = writeln!(out, "**{}**\n", cell(&table.caption));
    if table.rows.is_empty() {
        out.push_str("(none)\n\n");
        return;
    }
    let headers: Vec<String> = table.columns.iter().map(|c| cell(c)).collect();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn traffic(out: &mut String, report: &ComplianceReport) {
    let traffic = &report.charts.traffic;
    out.push_str("## Serving over time\n\n");
    if traffic.points.is_empty() {
        out.push_str("No requests in this period.\n\n");
    } else {
        out.push_str(
            "| Bucket (UTC) | Requests | Blocked | Denied | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n",
        );
        let ms = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
        for p in &traffic.points {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                bucket_label(traffic.bucket, p.start),
                p.requests,
                p.blocked,
                p.denied,
                ms(p.p50_ms),
                ms(p.p99_ms)
            );
        }
        out.push('\n');
    }
    drift(out, report);
    for note in &report.charts.notes {
        let _ = writeln!(out, "{}\n", cell(note));
    }
}

fn drift(out: &mut String, report: &ComplianceReport) {
    for series in &report.charts.drift {
        if series.points.iter().all(|p| p.score.is_none()) {
            continue;
        }
        let _ = writeln!(
            out,
            "**Drift of {}**\n\n| Window ending | Score |\n|---|---|",
            cell(&series.endpoint)
        );
        for p in &series.points {
            let score = p
                .score
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.3}"));
            let _ = writeln!(out, "| {} | {score} |", display_time(p.time));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::report;
    use super::super::SectionId;
    use super::*;

    #[test]
    fn every_section_and_the_mapping_are_present() {
        let md = render(&report());
        for id in SectionId::ALL {
            assert!(md.contains(&format!("## {}\n", id.title())), "{id:?}");
        }
        assert!(md.contains("## Control mapping"));
        assert!(md.contains("| Production endpoints | CC8.1, CC6.8 | — | Art. 32(1)(b) |"));
    }

    #[test]
    fn hostile_names_cannot_break_a_table_or_inject_html() {
        let md = render(&report());
        assert!(!md.contains("<script"));
        assert!(!md.contains("<img"));
        assert!(md.contains("a \\| b"));
        for line in md.lines().filter(|l| l.starts_with('|')) {
            assert!(line.ends_with('|'), "a broken table row: {line}");
        }
    }

    #[test]
    fn traffic_and_drift_are_tables() {
        let md = render(&report());
        assert!(md.contains("| 10:00 | 3 | 1 | 0 | 12 | 40 |"), "{md}");
        assert!(md.contains("| 2026-12-01 11:00 UTC | 0.250 |"), "{md}");
    }
}
