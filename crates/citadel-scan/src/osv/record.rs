//! The parts of an OSV record (<https://ossf.github.io/osv-schema/>) that matching reads.
//!
//! Unknown fields are ignored and explicit `null`s read as absent, so records written against
//! later schema versions still load.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` or absent reads as the type's default.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One advisory.
#[derive(Debug, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub severity: Vec<SeverityEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub affected: Vec<Affected>,
    #[serde(default, deserialize_with = "nullable")]
    pub database_specific: Option<Value>,
}

/// `severity[]`: a scoring method and its score (a CVSS vector, or a label such as Ubuntu's).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// `affected[]`: one package and the versions of it the advisory covers.
#[derive(Debug, Deserialize)]
pub(crate) struct Affected {
    #[serde(default, deserialize_with = "nullable")]
    pub package: Option<Package>,
    #[serde(default, deserialize_with = "nullable")]
    pub severity: Vec<SeverityEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "nullable")]
    pub versions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub ecosystem_specific: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    pub ecosystem: String,
    pub name: String,
}

/// `ranges[]`: a timeline of events under an ordering (`SEMVER`, `ECOSYSTEM` or `GIT`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub events: Vec<Event>,
}

/// One event; the schema allows exactly one of the four fields per event.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Event {
    #[serde(default, deserialize_with = "nullable")]
    pub introduced: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub fixed: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub last_affected: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub limit: Option<String>,
}

/// `severity` inside a `database_specific` or `ecosystem_specific` object (GitHub's `"HIGH"`,
/// `"MODERATE"`…).
pub(crate) fn label_in(value: Option<&Value>) -> Option<&str> {
    value?.get("severity")?.as_str()
}
