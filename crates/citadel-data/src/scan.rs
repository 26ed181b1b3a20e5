//! PII scan of a version's rows: per-field entity counts, masked samples, and whether any
//! high-confidence finding is left in clear (the training guard's question).
//!
//! Every string value is analyzed, at any depth, and so is every number's text (CSV typing turns
//! card and phone numbers into integers). Fields are named by path: `user.email`, with array
//! positions folded into `[]` (`messages[].content`) so that a field is a column, not a cell.
//! Samples are masked before they are kept: no raw value ever enters a verdict.

use std::collections::BTreeMap;
use std::fmt;

use citadel_pii::{Analyzer, EntityType, Finding};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::format::Row;
use crate::schema::MAX_COLUMNS;

/// Findings scoring at least this are high-confidence by default.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// Masked samples kept per field by default.
pub const DEFAULT_SAMPLES_PER_FIELD: usize = 3;

/// The field findings are counted under once [`MAX_COLUMNS`] distinct fields have been seen.
pub const OTHER_FIELDS: &str = "*";

/// One finding, shown masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The field path.
    pub field: String,
    /// What was found.
    pub entity_type: EntityType,
    /// The matched text with all but its first and last characters (and an e-mail's top-level
    /// domain) replaced by `*`; values of four characters or fewer are fully starred.
    pub masked_text: String,
    /// The finding's confidence.
    pub score: f64,
}

/// The recorded outcome of a scan. Serialized for storage beside the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PiiVerdict {
    /// Rows scanned.
    pub rows_scanned: u64,
    /// Findings per field path and entity type.
    pub columns: BTreeMap<String, BTreeMap<EntityType, u64>>,
    /// A few masked findings per field.
    pub samples: Vec<Sample>,
    /// The score at or above which a finding is high-confidence.
    pub threshold: f64,
    /// Whether any finding scored at or above `threshold`.
    pub high_confidence_unredacted: bool,
    /// When the scan finished.
    #[serde(with = "time::serde::rfc3339")]
    pub scanned_at: OffsetDateTime,
}

impl PiiVerdict {
    /// Findings of `entity_type` over every field.
    pub fn total(&self, entity_type: EntityType) -> u64 {
        self.columns
            .values()
            .filter_map(|counts| counts.get(&entity_type))
            .sum()
    }

    /// Whether nothing at all was found.
    pub fn is_clean(&self) -> bool {
        self.columns.is_empty()
    }
}

/// Scans rows one at a time; memory grows with the number of distinct fields, not rows.
pub struct PiiScanner<'a> {
    analyzer: &'a Analyzer,
    threshold: f64,
    samples_per_field: usize,
    rows: u64,
    fields: BTreeMap<String, FieldStats>,
    samples: Vec<Sample>,
    high_confidence: bool,
    path: String,
}

#[derive(Default)]
struct FieldStats {
    counts: BTreeMap<EntityType, u64>,
    samples: usize,
}

impl fmt::Debug for PiiScanner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiScanner")
            .field("threshold", &self.threshold)
            .field("rows", &self.rows)
            .field("fields", &self.fields.len())
            .finish_non_exhaustive()
    }
}

impl<'a> PiiScanner<'a> {
    /// A scanner with [`DEFAULT_THRESHOLD`] and [`DEFAULT_SAMPLES_PER_FIELD`].
    pub fn new(analyzer: &'a Analyzer) -> Self {
        PiiScanner {
            analyzer,
            threshold: DEFAULT_THRESHOLD,
            samples_per_field: DEFAULT_SAMPLES_PER_FIELD,
            rows: 0,
            fields: BTreeMap::new(),
            samples: Vec::new(),
            high_confidence: false,
            path: String::new(),
        }
    }

    /// Sets the high-confidence threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets how many masked samples are kept per field (0 for none).
    pub fn with_samples_per_field(mut self, samples_per_field: usize) -> Self {
        self.samples_per_field = samples_per_field;
        self
    }

    /// Scans one row.
    pub fn observe(&mut self, row: &Row) {
        self.rows += 1;
        for (name, value) in row {
            self.path.clear();
            self.path.push_str(name);
            self.walk(value);
        }
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.analyze(text),
            Value::Number(n) => self.analyze(&n.to_string()),
            Value::Array(items) => {
                let len = self.path.len();
                self.path.push_str("[]");
                for item in items {
                    self.walk(item);
                }
                self.path.truncate(len);
            }
            Value::Object(map) => {
                let len = self.path.len();
                for (key, item) in map {
                    self.path.push('.');
                    self.path.push_str(key);
                    self.walk(item);
                    self.path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn analyze(&mut self, text: &str) {
        let findings = self.analyzer.analyze(text);
        if findings.is_empty() {
            return;
        }
        let field = if self.fields.contains_key(&self.path) || self.fields.len() < MAX_COLUMNS {
            self.path.clone()
        } else {
            OTHER_FIELDS.to_owned()
        };
        let stats = self.fields.entry(field.clone()).or_default();
        for finding in &findings {
            *stats.counts.entry(finding.entity_type).or_default() += 1;
            if finding.score >= self.threshold {
                self.high_confidence = true;
            }
            if stats.samples < self.samples_per_field {
                if let Some(matched) = char_slice(text, finding) {
                    stats.samples += 1;
                    self.samples.push(Sample {
                        field: field.clone(),
                        entity_type: finding.entity_type,
                        masked_text: mask_sample(finding.entity_type, matched),
                        score: finding.score,
                    });
                }
            }
        }
    }

    /// The verdict over every row observed.
    pub fn finish(self, scanned_at: OffsetDateTime) -> PiiVerdict {
        PiiVerdict {
            rows_scanned: self.rows,
            columns: self
                .fields
                .into_iter()
                .map(|(field, stats)| (field, stats.counts))
                .collect(),
            samples: self.samples,
            threshold: self.threshold,
            high_confidence_unredacted: self.high_confidence,
            scanned_at,
        }
    }
}

/// The text a finding covers (its offsets count chars), if they fit.
pub(crate) fn char_slice<'t>(text: &'t str, finding: &Finding) -> Option<&'t str> {
    let byte_at = |chars: usize| {
        text.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .nth(chars)
    };
    let start = byte_at(finding.start)?;
    let end = byte_at(finding.end)?;
    text.get(start..end)
}

/// Masks a sample: e-mails as `j***@e******.com`, anything else as first and last character
/// around stars (`4**************1`); four characters or fewer are all stars.
pub fn mask_sample(entity_type: EntityType, text: &str) -> String {
    if entity_type == EntityType::EmailAddress {
        if let Some((local, domain)) = text.rsplit_once('@') {
            let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
            let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
            let stars = |s: &str| "*".repeat(s.chars().count().saturating_sub(1).max(1));
            let dot_tld = if tld.is_empty() {
                String::new()
            } else {
                format!(".{tld}")
            };
            return format!(
                "{}***@{}{}{dot_tld}",
                first(local),
                first(host),
                stars(host)
            );
        }
    }
    let chars: Vec<char> = text.chars().collect();
    match chars.as_slice() {
        [first, middle @ .., last] if chars.len() > 4 => {
            format!("{first}{}{last}", "*".repeat(middle.len()))
        }
        _ => "*".repeat(chars.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_pii::AnalyzerConfig;
    use serde_json::json;
    use time::macros::datetime;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    fn scan(rows: &[Value]) -> PiiVerdict {
        let analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let mut scanner = PiiScanner::new(&analyzer);
        for r in rows {
            scanner.observe(&row(r.clone()));
        }
        scanner.finish(datetime!(2026-11-22 10:00 UTC))
    }

    const CARD: &str = "4111111111111111";

    #[test]
    fn counts_per_field_and_entity_through_nesting() {
        let rows: Vec<Value> = (0..5)
            .map(|i| {
                json!({
                    "id": i,
                    "email": format!("person{i}@example.com"),
                    "profile": {"contact": {"mail": "jane.doe@corp.example.org"}},
                    "messages": [
                        {"role": "user", "content": format!("my card is {CARD}")},
                        {"role": "assistant", "content": "noted"}
                    ],
                    "note": "nothing to see here",
                })
            })
            .collect();
        let v = scan(&rows);
        assert_eq!(v.rows_scanned, 5);
        assert_eq!(v.columns["email"][&EntityType::EmailAddress], 5);
        assert_eq!(
            v.columns["profile.contact.mail"][&EntityType::EmailAddress],
            5
        );
        assert_eq!(v.columns["messages[].content"][&EntityType::CreditCard], 5);
        assert!(!v.columns.contains_key("note"));
        assert!(!v.columns.contains_key("id"));
        assert_eq!(v.total(EntityType::EmailAddress), 10);
        assert!(v.high_confidence_unredacted);
        assert!(!v.is_clean());
        // At most the default number of samples per field.
        let email_samples = v.samples.iter().filter(|s| s.field == "email").count();
        assert_eq!(email_samples, DEFAULT_SAMPLES_PER_FIELD);
    }

    #[test]
    fn numbers_are_scanned_as_text() {
        let v = scan(&[json!({"card": 4_111_111_111_111_111_u64})]);
        assert_eq!(v.columns["card"][&EntityType::CreditCard], 1);
    }

    #[test]
    fn samples_never_hold_the_raw_value() {
        let raw = ["ann.smith@example.com", CARD];
        let v = scan(&[json!({"a": raw[0], "b": format!("pay with {}", raw[1])})]);
        assert_eq!(v.samples.len(), 2);
        let text = serde_json::to_string(&v).unwrap();
        for r in raw {
            assert!(!text.contains(r), "{text}");
        }
        let email = v.samples.iter().find(|s| s.field == "a").unwrap();
        assert_eq!(email.masked_text, "a***@e******.com");
        let card = v.samples.iter().find(|s| s.field == "b").unwrap();
        assert_eq!(card.masked_text, "4**************1");
    }

    #[test]
    fn clean_data_is_clean_and_threshold_matters() {
        let v = scan(&[json!({"a": "hello world", "b": 3, "c": [true, null]})]);
        assert!(v.is_clean());
        assert!(!v.high_confidence_unredacted);
        assert!(v.samples.is_empty());

        let analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let mut strict = PiiScanner::new(&analyzer)
            .with_threshold(1.01)
            .with_samples_per_field(0);
        strict.observe(&row(json!({"e": "ann@example.com"})));
        let v = strict.finish(datetime!(2026-11-22 10:00 UTC));
        assert_eq!(v.columns["e"][&EntityType::EmailAddress], 1);
        assert!(!v.high_confidence_unredacted, "no finding reaches 1.01");
        assert!(v.samples.is_empty());
    }

    #[test]
    fn verdict_serde_round_trip() {
        let v = scan(&[json!({"email": "ann@example.com"})]);
        let text = serde_json::to_string(&v).unwrap();
        assert!(
            text.contains(r#""columns":{"email":{"EMAIL_ADDRESS":1}}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""scanned_at":"2026-11-22T10:00:00Z""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<PiiVerdict>(&text).unwrap(), v);
    }

    #[test]
    fn sample_masking() {
        assert_eq!(
            mask_sample(EntityType::EmailAddress, "john@example.com"),
            "j***@e******.com"
        );
        assert_eq!(
            mask_sample(EntityType::EmailAddress, "j@localhost"),
            "j***@l********"
        );
        assert_eq!(mask_sample(EntityType::Person, "John Smith"), "J********h");
        assert_eq!(mask_sample(EntityType::UsSsn, "1234"), "****");
        assert_eq!(mask_sample(EntityType::Person, "Zoë"), "***");
        assert_eq!(mask_sample(EntityType::Url, "ab"), "**");
    }

    #[test]
    fn char_offsets_slice_unicode_text() {
        let f = Finding {
            entity_type: EntityType::Person,
            start: 2,
            end: 5,
            score: 0.9,
            kind: None,
        };
        assert_eq!(char_slice("héllo wörld", &f), Some("llo"));
        let past = Finding { end: 50, ..f };
        assert_eq!(char_slice("short", &past), None);
    }
}
