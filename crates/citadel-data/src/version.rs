//! Version selectors (`NAME`, `NAME@v3`, `NAME@2026-11-22T10:00:00Z`) and choosing a version by one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{rfc3339, DataError, Result};

/// What the selection needs to know of a stored version; implement it for your database row.
pub trait VersionInfo {
    /// The version number (1, 2, ...).
    fn number(&self) -> u32;
    /// When the version was created.
    fn created_at(&self) -> OffsetDateTime;
    /// When retention deleted its bytes, if it did (the row stays as a tombstone).
    fn deleted_at(&self) -> Option<OffsetDateTime>;
}

/// A plain [`VersionInfo`], for callers without a row type of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// The version number.
    pub number: u32,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When retention deleted its bytes.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

impl VersionInfo for VersionMeta {
    fn number(&self) -> u32 {
        self.number
    }
    fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
    fn deleted_at(&self) -> Option<OffsetDateTime> {
        self.deleted_at
    }
}

/// Which version of a dataset to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// The highest-numbered version (`NAME` or `NAME@latest`).
    Latest,
    /// One version by number (`NAME@v3` or `NAME@3`).
    Number(u32),
    /// Time travel: the latest version created at or before this time (`NAME@<RFC 3339>`).
    AsOf(OffsetDateTime),
}

const SELECTOR_HELP: &str =
    "expected vN, N, latest, or an RFC 3339 time such as 2026-11-22T10:00:00Z";

impl FromStr for VersionSelector {
    type Err = DataError;

    fn from_str(s: &str) -> Result<VersionSelector> {
        let text = s.trim();
        if text.eq_ignore_ascii_case("latest") {
            return Ok(VersionSelector::Latest);
        }
        let digits = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return match digits.parse::<u32>() {
                Ok(0) => Err(DataError::parse(
                    "version selector",
                    s,
                    "versions are numbered from 1",
                )),
                Ok(n) => Ok(VersionSelector::Number(n)),
                Err(_) => Err(DataError::parse(
                    "version selector",
                    s,
                    "version number too large",
                )),
            };
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map(VersionSelector::AsOf)
            .map_err(|_| DataError::parse("version selector", s, SELECTOR_HELP))
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Latest => f.write_str("latest"),
            VersionSelector::Number(n) => write!(f, "v{n}"),
            VersionSelector::AsOf(t) => f.write_str(&rfc3339(*t)),
        }
    }
}

/// Splits `NAME[@SELECTOR]` into the name and its selector ([`VersionSelector::Latest`] without `@`).
pub fn split_name_selector(input: &str) -> Result<(&str, VersionSelector)> {
    match input.split_once('@') {
        None if input.is_empty() => Err(DataError::parse(
            "dataset reference",
            input,
            "expected NAME or NAME@VERSION",
        )),
        None => Ok((input, VersionSelector::Latest)),
        Some(("", _)) => Err(DataError::parse(
            "dataset reference",
            input,
            "the name before `@` is empty",
        )),
        Some((name, selector)) => Ok((name, selector.parse()?)),
    }
}

/// The version the selector names, refusing one whose bytes retention deleted.
///
/// `versions` may come in any order. Time travel picks the version with the latest `created_at` at
/// or before the time (the higher number on a tie).
pub fn select<'a, V: VersionInfo>(versions: &'a [V], selector: &VersionSelector) -> Result<&'a V> {
    let latest = versions
        .iter()
        .max_by_key(|v| v.number())
        .ok_or(DataError::NoVersions)?;
    let chosen = match *selector {
        VersionSelector::Latest => latest,
        VersionSelector::Number(n) => {
            versions
                .iter()
                .find(|v| v.number() == n)
                .ok_or(DataError::VersionNotFound {
                    number: n,
                    latest: latest.number(),
                })?
        }
        VersionSelector::AsOf(at) => versions
            .iter()
            .filter(|v| v.created_at() <= at)
            .max_by_key(|v| (v.created_at(), v.number()))
            .ok_or_else(|| DataError::NoVersionAt {
                at: rfc3339(at),
                first: versions
                    .iter()
                    .map(VersionInfo::created_at)
                    .min()
                    .map_or_else(String::new, rfc3339),
            })?,
    };
    match chosen.deleted_at() {
        Some(deleted_at) => Err(DataError::VersionDeleted {
            number: chosen.number(),
            deleted_at: rfc3339(deleted_at),
        }),
        None => Ok(chosen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn versions() -> Vec<VersionMeta> {
        vec![
            VersionMeta {
                number: 2,
                created_at: datetime!(2026-11-20 12:00 UTC),
                deleted_at: None,
            },
            VersionMeta {
                number: 1,
                created_at: datetime!(2026-11-01 09:00 UTC),
                deleted_at: Some(datetime!(2026-11-21 00:00 UTC)),
            },
            VersionMeta {
                number: 3,
                created_at: datetime!(2026-11-22 10:00 UTC),
                deleted_at: None,
            },
        ]
    }

    #[test]
    fn parses_selectors() {
        assert_eq!(
            "v3".parse::<VersionSelector>().unwrap(),
            VersionSelector::Number(3)
        );
        assert_eq!(
            "V12".parse::<VersionSelector>().unwrap(),
            VersionSelector::Number(12)
        );
        assert_eq!(
            "7".parse::<VersionSelector>().unwrap(),
            VersionSelector::Number(7)
        );
        assert_eq!(
            "latest".parse::<VersionSelector>().unwrap(),
            VersionSelector::Latest
        );
        assert_eq!(
            "2026-11-22T10:00:00Z".parse::<VersionSelector>().unwrap(),
            VersionSelector::AsOf(datetime!(2026-11-22 10:00 UTC))
        );
        assert_eq!(
            "2026-11-22T12:00:00+02:00"
                .parse::<VersionSelector>()
                .unwrap(),
            VersionSelector::AsOf(datetime!(2026-11-22 10:00 UTC))
        );
        for bad in [
            "v0",
            "v",
            "",
            "v99999999999",
            "yesterday",
            "2026-11-22",
            "v3x",
        ] {
            let err = bad.parse::<VersionSelector>().unwrap_err();
            assert!(matches!(err, DataError::Parse { .. }), "{bad}: {err:?}");
        }
        let msg = "2026-11-22"
            .parse::<VersionSelector>()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("RFC 3339"), "{msg}");
        for s in ["v3", "latest", "2026-11-22T10:00:00Z"] {
            assert_eq!(s.parse::<VersionSelector>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn splits_name_and_selector() {
        assert_eq!(
            split_name_selector("dev.data.x@v2").unwrap(),
            ("dev.data.x", VersionSelector::Number(2))
        );
        assert_eq!(
            split_name_selector("dev.data.x").unwrap(),
            ("dev.data.x", VersionSelector::Latest)
        );
        assert_eq!(
            split_name_selector("a.b.c@2026-11-22T10:00:00Z").unwrap().1,
            VersionSelector::AsOf(datetime!(2026-11-22 10:00 UTC))
        );
        assert!(split_name_selector("@v2").is_err());
        assert!(split_name_selector("").is_err());
        assert!(split_name_selector("a.b.c@").is_err());
        assert!(split_name_selector("a.b.c@v1@v2").is_err());
    }

    #[test]
    fn selects_by_number_latest_and_time() {
        let v = versions();
        assert_eq!(select(&v, &VersionSelector::Latest).unwrap().number, 3);
        assert_eq!(select(&v, &VersionSelector::Number(2)).unwrap().number, 2);
        let at = |t| select(&v, &VersionSelector::AsOf(t)).map(|m| m.number);
        assert_eq!(at(datetime!(2026-11-22 10:00 UTC)).unwrap(), 3, "inclusive");
        assert_eq!(at(datetime!(2026-11-22 09:59:59 UTC)).unwrap(), 2);
        assert_eq!(at(datetime!(2030-01-01 00:00 UTC)).unwrap(), 3);
        assert_eq!(at(datetime!(2026-11-20 12:00 UTC)).unwrap(), 2);
    }

    #[test]
    fn refuses_missing_deleted_and_too_early() {
        let v = versions();
        let err = select(&v, &VersionSelector::Number(9)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "version v9 does not exist; the latest is v3"
        );

        let err = select(&v, &VersionSelector::Number(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "version v1 was deleted by retention at 2026-11-21T00:00:00Z; select a later version"
        );
        let err = select(&v, &VersionSelector::AsOf(datetime!(2026-11-10 00:00 UTC))).unwrap_err();
        assert!(
            matches!(err, DataError::VersionDeleted { number: 1, .. }),
            "{err:?}"
        );

        let err = select(&v, &VersionSelector::AsOf(datetime!(2026-10-01 00:00 UTC))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no version existed at 2026-10-01T00:00:00Z; the first was created at 2026-11-01T09:00:00Z"
        );
        let none: Vec<VersionMeta> = Vec::new();
        assert!(matches!(
            select(&none, &VersionSelector::Latest),
            Err(DataError::NoVersions)
        ));
    }

    #[test]
    fn ties_in_time_pick_the_higher_number() {
        let t = datetime!(2026-11-22 10:00 UTC);
        let v = vec![
            VersionMeta {
                number: 4,
                created_at: t,
                deleted_at: None,
            },
            VersionMeta {
                number: 5,
                created_at: t,
                deleted_at: None,
            },
        ];
        assert_eq!(select(&v, &VersionSelector::AsOf(t)).unwrap().number, 5);
    }

    #[test]
    fn meta_serde_uses_rfc3339() {
        let m = &versions()[1];
        let text = serde_json::to_string(m).unwrap();
        assert_eq!(
            text,
            r#"{"number":1,"created_at":"2026-11-01T09:00:00Z","deleted_at":"2026-11-21T00:00:00Z"}"#
        );
        assert_eq!(&serde_json::from_str::<VersionMeta>(&text).unwrap(), m);
    }
}
