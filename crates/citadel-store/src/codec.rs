//! Conversions between Rust values and their portable column forms (TEXT times and ids).

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::Row;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::StoreError;

/// A time as stored: RFC 3339 UTC with six fractional digits.
pub(crate) fn time_text(t: OffsetDateTime) -> Result<String, StoreError> {
    Ok(citadel_audit::event::format_time(t)?)
}

/// The current time as stored.
pub(crate) fn now_text() -> Result<String, StoreError> {
    time_text(OffsetDateTime::now_utc())
}

/// Reads a text column and parses it with `FromStr`.
pub(crate) fn parse_col<T: FromStr>(row: &AnyRow, col: &'static str) -> Result<T, StoreError> {
    let text: String = row.try_get(col)?;
    text.parse().map_err(|_| corrupt(col, &text))
}

/// Reads a nullable text column and parses it with `FromStr`.
pub(crate) fn parse_opt_col<T: FromStr>(
    row: &AnyRow,
    col: &'static str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| t.parse().map_err(|_| corrupt(col, &t)))
        .transpose()
}

/// Reads a time column.
pub(crate) fn time_col(row: &AnyRow, col: &'static str) -> Result<OffsetDateTime, StoreError> {
    let text: String = row.try_get(col)?;
    OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| corrupt(col, &text))
}

/// Reads a nullable time column.
pub(crate) fn opt_time_col(
    row: &AnyRow,
    col: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| corrupt(col, &t)))
        .transpose()
}

/// Reads a non-negative integer column as `u64`.
pub(crate) fn u64_col(row: &AnyRow, col: &'static str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(col)?;
    u64::try_from(value).map_err(|_| corrupt(col, &value.to_string()))
}

/// A `u64` as the signed 64-bit integer databases store.
pub(crate) fn u32_col(row: &AnyRow, col: &'static str) -> Result<u32, StoreError> {
    let value = u64_col(row, col)?;
    u32::try_from(value).map_err(|_| corrupt(col, &value.to_string()))
}

pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

pub(crate) fn corrupt(what: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.chars().take(80).collect(),
    }
}

/// `$first, $first+1, …` placeholders for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
