//! Erasure (GDPR article 17): rows whose column equals a value, removed by streaming a stored
//! version into a new one.
//!
//! Matching is on one top-level column with [`values_match`]: exact JSON equality, numbers by
//! value, and a string equal to a number's or boolean's text (`id=42` erases `"42"` and `42`).
//! Text compares exactly (case-sensitive); the value is not searched for in other columns.

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encode::{RowWriter, StoredRows};
use crate::error::{DataError, Result};
use crate::format::{kind_name, typed_value, Row};
use crate::rules::values_match;

/// Which rows to erase: those whose `column` matches `value`.
///
/// Its `Debug` form hides the value, which is personal data by nature.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseCondition {
    /// The top-level column compared.
    pub column: String,
    /// The value to erase (never null).
    pub value: Value,
}

impl fmt::Debug for EraseCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EraseCondition")
            .field("column", &self.column)
            .field("value", &format_args!("<{}>", kind_name(&self.value)))
            .finish()
    }
}

impl EraseCondition {
    /// Whether `row` is to be erased.
    pub fn matches(&self, row: &Row) -> bool {
        row.get(&self.column)
            .is_some_and(|v| values_match(v, &self.value))
    }
}

impl FromStr for EraseCondition {
    type Err = DataError;

    /// Parses `COLUMN=VALUE`. VALUE is typed like a CSV cell (`42`, `true`, text) unless quoted
    /// (`'42'` or `"42"` is text; a quote is doubled inside). Errors never repeat the value.
    fn from_str(s: &str) -> Result<EraseCondition> {
        let Some((column, raw)) = s.split_once('=') else {
            return Err(DataError::parse(
                "erase condition",
                "…",
                "expected COLUMN=VALUE, such as email='ann@example.com'",
            ));
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(DataError::parse(
                "erase condition",
                "…",
                "the column before `=` is empty; write COLUMN=VALUE",
            ));
        }
        let raw = raw.trim();
        let shown = format!("{column}=…");
        let value = match raw.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let inner = raw
                    .strip_prefix(q)
                    .and_then(|r| r.strip_suffix(q))
                    .filter(|_| raw.len() >= 2)
                    .ok_or_else(|| {
                        DataError::parse("erase condition", &shown, format!("unclosed {q}"))
                    })?;
                let doubled = format!("{q}{q}");
                if inner.replace(&doubled, "").contains(q) {
                    return Err(DataError::parse(
                        "erase condition",
                        &shown,
                        format!("a {q} inside quoted text must be doubled"),
                    ));
                }
                Value::String(inner.replace(&doubled, &q.to_string()))
            }
            None => {
                return Err(DataError::parse(
                    "erase condition",
                    &shown,
                    "the value is empty; to erase an empty text write COLUMN=''",
                ))
            }
            Some(_) => typed_value(raw),
        };
        Ok(EraseCondition {
            column: column.to_owned(),
            value,
        })
    }
}

/// What [`erase_rows`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseReport {
    /// Rows copied to the output.
    pub kept: u64,
    /// Rows left out.
    pub erased: u64,
}

/// Copies every row of `input` that does not match `condition` into `out`, one row at a time.
/// The caller finishes `out` and keeps the new version only if `erased > 0` (or always, to record
/// the request).
pub fn erase_rows<R: BufRead, W: Write>(
    input: StoredRows<R>,
    out: &mut RowWriter<W>,
    condition: &EraseCondition,
) -> Result<EraseReport> {
    let mut report = EraseReport::default();
    for row in input {
        let row = row?;
        if condition.matches(&row) {
            report.erased += 1;
        } else {
            out.write_row(&row)?;
            report.kept += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(s: &str) -> EraseCondition {
        s.parse().unwrap()
    }

    #[test]
    fn parses_typed_and_quoted_values() {
        assert_eq!(cond("id=42").value, json!(42));
        assert_eq!(cond(" id = 42 ").column, "id");
        assert_eq!(cond("id='42'").value, json!("42"));
        assert_eq!(cond("ok=true").value, json!(true));
        assert_eq!(cond("score=0.5").value, json!(0.5));
        assert_eq!(
            cond("email=ann@example.com").value,
            json!("ann@example.com")
        );
        assert_eq!(cond("name=\"O'Brien\"").value, json!("O'Brien"));
        assert_eq!(cond("name='O''Brien'").value, json!("O'Brien"));
        assert_eq!(cond("note=a=b").value, json!("a=b"));
        assert_eq!(cond("zip=02134").value, json!("02134"));
        assert_eq!(cond("blank=''").value, json!(""));
    }

    #[test]
    fn parse_errors_never_repeat_the_value() {
        for bad in [
            "email",
            "=x@y.z",
            "email=",
            "email='x@y.z",
            "email='x'y@z'",
            "email='",
        ] {
            let err = bad.parse::<EraseCondition>().unwrap_err().to_string();
            assert!(err.starts_with("invalid erase condition"), "{bad}: {err}");
            assert!(
                !err.contains("x@y.z") && !err.contains("y@z"),
                "{bad}: {err}"
            );
        }
        let c = cond("email=secret@example.com");
        let debug = format!("{c:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(
            debug.contains("email") && debug.contains("a string"),
            "{debug}"
        );
    }

    #[test]
    fn matches_top_level_column_loosely_typed() {
        let row = |v: Value| v.as_object().unwrap().clone();
        assert!(cond("id=42").matches(&row(json!({"id": 42}))));
        assert!(cond("id=42").matches(&row(json!({"id": "42"}))));
        assert!(cond("id='42'").matches(&row(json!({"id": 42}))));
        assert!(!cond("id=42").matches(&row(json!({"id": 420}))));
        assert!(!cond("id=42").matches(&row(json!({"other": 42}))));
        assert!(!cond("id=42").matches(&row(json!({"id": null}))));
        assert!(!cond("email=Ann@x.org").matches(&row(json!({"email": "ann@x.org"}))));
        assert!(!cond("a.b=1").matches(&row(json!({"a": {"b": 1}}))));
    }

    #[test]
    fn erase_streams_and_leaves_no_trace() {
        let mut src = RowWriter::new(Vec::new());
        for i in 0..1000u32 {
            let email = if i % 100 == 7 {
                "victim@example.com".to_owned()
            } else {
                format!("user{i}@example.com")
            };
            src.write_row(json!({"id": i, "email": email}).as_object().unwrap())
                .unwrap();
        }
        let (stored, _) = src.finish().unwrap();
        assert!(stored.windows(6).any(|w| w == b"victim"));

        let mut out = RowWriter::new(Vec::new());
        let report = erase_rows(
            StoredRows::new(&stored[..]),
            &mut out,
            &cond("email=victim@example.com"),
        )
        .unwrap();
        assert_eq!(
            report,
            EraseReport {
                kept: 990,
                erased: 10
            }
        );
        let (bytes, summary) = out.finish().unwrap();
        assert_eq!(summary.rows, 990);
        assert!(!bytes.windows(6).any(|w| w == b"victim"));
        assert!(bytes.windows(18).any(|w| w == b"user8@example.com\""));

        // Nothing matching: every row kept, identical bytes.
        let mut same = RowWriter::new(Vec::new());
        let report = erase_rows(StoredRows::new(&bytes[..]), &mut same, &cond("id=-1")).unwrap();
        assert_eq!(
            report,
            EraseReport {
                kept: 990,
                erased: 0
            }
        );
        assert_eq!(same.finish().unwrap().0, bytes);
    }

    #[test]
    fn erase_stops_on_corrupt_input() {
        let mut out = RowWriter::new(Vec::new());
        let err = erase_rows(
            StoredRows::new(&b"{\"a\":1}\nnot json\n"[..]),
            &mut out,
            &cond("a=1"),
        )
        .unwrap_err();
        assert!(
            matches!(err, DataError::InvalidJson { line: 2, .. }),
            "{err:?}"
        );
    }
}
