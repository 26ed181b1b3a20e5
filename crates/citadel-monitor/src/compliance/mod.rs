//! The compliance report: the facts the service layer gathers about a home (encryption, keys,
//! registry, serving, audit activity, datasets, retention, the audit chain), each judged pass,
//! attention or fail with a plain-language finding and its fix, mapped to the SOC 2, HIPAA and
//! GDPR controls it supports, and rendered as Markdown, self-contained HTML (inline SVG charts)
//! or JSON.
//!
//! The JSON form is the serialization of [`ComplianceReport`]; its field names and enum values
//! are a stable schema, versioned by [`SCHEMA_VERSION`] (a change that removes or renames a field
//! raises it).

mod controls;
mod html;
mod markdown;
mod svg;
mod traffic;

use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;

pub use controls::{Controls, CONTROLS_NOTE};
pub use traffic::{BucketWidth, Request, RequestOutcome, Traffic, TrafficPoint};

/// The version of the JSON schema.
pub const SCHEMA_VERSION: u32 = 1;

/// How an item stands. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to do.
    Pass,
    /// Worth a look: not a breach, but not as it should stay.
    Attention,
    /// A control is broken: fix it before relying on this home.
    Fail,
}

impl Status {
    /// The lowercase word used in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Attention => "attention",
            Self::Fail => "fail",
        }
    }
}

/// The report's sections, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionId {
    Encryption,
    Keys,
    Models,
    Approvals,
    Endpoints,
    SecretReads,
    Authentication,
    Alerts,
    Datasets,
    Retention,
    AuditLog,
}

impl SectionId {
    /// Every section, in order.
    pub const ALL: [Self; 11] = [
        Self::Encryption,
        Self::Keys,
        Self::Models,
        Self::Approvals,
        Self::Endpoints,
        Self::SecretReads,
        Self::Authentication,
        Self::Alerts,
        Self::Datasets,
        Self::Retention,
        Self::AuditLog,
    ];

    /// The heading shown for the section.
    pub fn title(self) -> &'static str {
        match self {
            Self::Encryption => "Encryption at rest",
            Self::Keys => "Key age and rotation",
            Self::Models => "Models by status",
            Self::Approvals => "Approvals and separation of duties",
            Self::Endpoints => "Production endpoints",
            Self::SecretReads => "Secret reads",
            Self::Authentication => "Failed authentications",
            Self::Alerts => "Alerts and their handling",
            Self::Datasets => "Datasets, PII verdicts and waivers",
            Self::Retention => "Retention policies",
            Self::AuditLog => "Audit log integrity",
        }
    }

    /// The `snake_case` id used in JSON and as the HTML anchor.
    pub fn key(self) -> &'static str {
        match self {
            Self::Encryption => "encryption",
            Self::Keys => "keys",
            Self::Models => "models",
            Self::Approvals => "approvals",
            Self::Endpoints => "endpoints",
            Self::SecretReads => "secret_reads",
            Self::Authentication => "authentication",
            Self::Alerts => "alerts",
            Self::Datasets => "datasets",
            Self::Retention => "retention",
            Self::AuditLog => "audit_log",
        }
    }
}

/// One judged fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (an artifact kind, an endpoint, a principal…).
    pub subject: String,
    pub status: Status,
    /// What was found, in plain language.
    pub finding: String,
    /// How to fix it; `None` when nothing is to be done.
    pub fix: Option<String>,
}

impl Finding {
    /// A passing finding.
    pub fn pass(subject: impl Into<String>, finding: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Pass,
            finding: finding.into(),
            fix: None,
        }
    }

    /// A finding that needs attention, with its fix.
    pub fn attention(
        subject: impl Into<String>,
        finding: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Attention,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failing finding, with its fix.
    pub fn fail(
        subject: impl Into<String>,
        finding: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            status: Status::Fail,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A table of the facts behind a section's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub caption: String,
    pub columns: Vec<String>,
    /// Each row has one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Evidence {
    /// A table with these column headings and no rows yet.
    pub fn new<const N: usize>(caption: impl Into<String>, columns: [&str; N]) -> Self {
        Self {
            caption: caption.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as columns, checked by the type).
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.into());
    }
}

/// One section: its findings, their evidence and the controls it supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub id: SectionId,
    pub title: &'static str,
    /// The worst of the findings' statuses.
    pub status: Status,
    pub findings: Vec<Finding>,
    pub evidence: Vec<Evidence>,
    pub controls: Controls,
}

impl Section {
    /// A section of `findings` (at least one: a section with nothing to say says so as a
    /// finding) and the tables behind them.
    pub fn new(id: SectionId, findings: Vec<Finding>, evidence: Vec<Evidence>) -> Self {
        Self {
            id,
            title: id.title(),
            status: worst(findings.iter().map(|f| f.status)),
            findings,
            evidence,
            controls: controls::for_section(id),
        }
    }
}

/// The window of activity the report covers (state such as keys and versions is as of
/// `until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// What the charts show, and what they could not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charts {
    /// Requests, refusals and latency over time, every endpoint together.
    pub traffic: Traffic,
    /// Each endpoint's drift score at the end of successive windows of the period.
    pub drift: Vec<DriftSeries>,
    /// Why a chart is missing or what it stands in for (too little traffic for drift).
    pub notes: Vec<String>,
}

/// One endpoint's drift over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftSeries {
    pub endpoint: String,
    pub points: Vec<DriftPoint>,
}

/// The drift of one window against the baseline before it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftPoint {
    /// The end of the window.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The drift score (the highest of the features'); `None` when a span had too few
    /// requests to compare.
    pub score: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub schema_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The principal who generated it.
    pub generated_by: String,
    pub period: Period,
    /// The worst section status.
    pub status: Status,
    /// Every section of [`SectionId::ALL`], in that order.
    pub sections: Vec<Section>,
    pub charts: Charts,
    /// What the control mapping means (and does not).
    pub controls_note: &'static str,
}

impl ComplianceReport {
    /// Assembles a report; sections are put in [`SectionId::ALL`] order.
    pub fn new(
        generated_by: impl Into<String>,
        generated_at: OffsetDateTime,
        period: Period,
        mut sections: Vec<Section>,
        charts: Charts,
    ) -> Self {
        sections.sort_by_key(|s| s.id);
        Self {
            schema_version: SCHEMA_VERSION,
            generated_at,
            generated_by: generated_by.into(),
            period,
            status: worst(sections.iter().map(|s| s.status)),
            sections,
            charts,
            controls_note: CONTROLS_NOTE,
        }
    }

    /// The report in `format`.
    pub fn render(&self, format: Format) -> serde_json::Result<String> {
        Ok(match format {
            Format::Markdown => markdown::render(self),
            Format::Html => html::render(self),
            Format::Json => serde_json::to_string_pretty(self)?,
        })
    }
}

/// The worst status of `statuses`, `Pass` when there are none.
fn worst(statuses: impl Iterator<Item = Status>) -> Status {
    statuses.max().unwrap_or(Status::Pass)
}

/// The formats a report renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "md" | "markdown" => Ok(Self::Markdown),
            "html" => Ok(Self::Html),
            "json" => Ok(Self::Json),
            _ => Err(format!("unknown format {text:?}; use md, html or json")),
        }
    }
}

/// A time as `YYYY-MM-DD HH:MM UTC`, for people.
fn display_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
pub(crate) mod fixture;
