//! A report with a finding of every status and user-controlled text crafted to break out of
//! HTML, SVG and Markdown, and an XML parser, for the renderers' tests.

use quick_xml::events::Event;
use quick_xml::Reader;
use time::macros::datetime;
use time::Duration;

use super::{
    Charts, ComplianceReport, DriftPoint, DriftSeries, Evidence, Finding, Period, Request,
    RequestOutcome, Section, SectionId, Traffic,
};

/// Text a user could give an endpoint, model or principal.
pub(crate) const HOSTILE: &str =
    "prod.endpoints.<script>alert('x')</script> <img src=x onerror=\"boom\"> a | b\nnext";

pub(crate) fn report() -> ComplianceReport {
    let until = datetime!(2026-12-02 12:00 UTC);
    let start = datetime!(2026-12-01 10:00 UTC);
    let request = |seconds, latency_ms, outcome| Request {
        time: start + Duration::seconds(seconds),
        latency_ms,
        outcome,
    };
    let traffic = Traffic::from_requests(vec![
        request(1, 12, RequestOutcome::Answered),
        request(2, 40, RequestOutcome::Answered),
        request(3, 2, RequestOutcome::Blocked),
        request(70, 15, RequestOutcome::Answered),
    ]);
    let sections = SectionId::ALL
        .into_iter()
        .map(|id| {
            let mut evidence = Evidence::new(HOSTILE, ["name", "count"]);
            evidence.row([HOSTILE.to_owned(), "1".to_owned()]);
            let findings = match id {
                SectionId::Endpoints => vec![Finding::fail(
                    HOSTILE,
                    format!("{HOSTILE} serves an unsigned version"),
                    HOSTILE,
                )],
                SectionId::Alerts => vec![Finding::attention(
                    "alerting",
                    "no alert rule is configured",
                    "define alert rules",
                )],
                _ => vec![Finding::pass(id.key(), "fine")],
            };
            Section::new(id, findings, vec![evidence])
        })
        .collect();
    ComplianceReport::new(
        HOSTILE,
        until,
        Period {
            since: until - Duration::days(30),
            until,
        },
        sections,
        Charts {
            traffic,
            drift: vec![DriftSeries {
                endpoint: HOSTILE.to_owned(),
                points: vec![
                    DriftPoint {
                        time: start,
                        score: None,
                    },
                    DriftPoint {
                        time: start + Duration::hours(1),
                        score: Some(0.25),
                    },
                ],
            }],
            notes: vec![format!("note about {HOSTILE}")],
        },
    )
}

/// Parses `svg` as XML; returns the element names in document order.
pub(crate) fn parse_xml(svg: &str) -> Vec<String> {
    let mut reader = Reader::from_str(svg);
    reader.config_mut().check_end_names = true;
    let mut names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(err) => panic!("not well-formed XML: {err}\n{svg}"),
        }
    }
    names
}
