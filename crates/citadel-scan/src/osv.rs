//! Offline OSV matching: loads an OSV database laid out as osv-scanner's offline mode keeps it
//! (`DIR/<ecosystem>/all.zip`, each a zip of `<ID>.json` records, or loose `DIR/<ecosystem>/*.json`)
//! and tells which advisories affect a component, following the schema's evaluation rules
//! (<https://ossf.github.io/osv-schema/#evaluation>).
//!
//! * A version is affected when it is listed in an `affected[].versions` list, or lies in one of
//!   the `SEMVER` or `ECOSYSTEM` ranges: the state after the last event at or below it is
//!   "introduced" (`introduced <= v`, `"0"` before everything; `fixed <= v` and
//!   `last_affected < v` end it), and it is below one of the range's `limit`s when it has any
//!   (`"*"` is infinity). `GIT` ranges need the repository's history and are ignored.
//! * Orderings: SemVer 2.0 precedence for `SEMVER` ranges and for the `ECOSYSTEM` ranges of
//!   crates.io, npm, Go, Hex, Pub and SwiftURL (build metadata ignored, `v` prefixes tolerated);
//!   PEP 440 for PyPI (epochs, release segments, `a`/`b`/`rc`, `.post`, `.dev`, local labels);
//!   for any other ecosystem a dotted fallback (runs of digits compared as numbers). A version
//!   that does not parse under its ecosystem's scheme is compared with the fallback.
//! * Package names match exactly, except PyPI's, which are compared in their PEP 503 normal form;
//!   ecosystems match without their `:release` suffix (`Debian:12` is `Debian`).
//! * Withdrawn records are counted and never match.
//! * Severity: the highest CVSS score among the record's and the matching `affected` entries'
//!   CVSS vectors (v3.x computed here, v4.0 and v2 through the `cvss` crate); failing that, the
//!   highest label (a `severity` of another type such as Ubuntu's, or `database_specific.severity`
//!   / `ecosystem_specific.severity` such as GitHub's `HIGH` / `MODERATE`); failing that,
//!   `None` for RustSec informational notices (`unmaintained`, `notice`) and `Medium` otherwise,
//!   so that an advisory without a rating is neither dropped nor treated as critical.

mod record;
mod score;
#[cfg(test)]
mod tests;
mod version;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::sbom::Component;
use crate::{Result, ScanError};
use record::{label_in, Affected, Record, SeverityEntry};
pub use score::{cvss_base_score, Severity};
use version::Scheme;

/// The largest single record read from a zip (a guard against decompression bombs; the largest
/// real OSV records are a few MiB).
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// An advisory that affects a component.
#[derive(Debug, Clone, Serialize)]
pub struct Vulnerability {
    /// The OSV id (`RUSTSEC-…`, `GHSA-…`, `PYSEC-…`).
    pub id: String,
    /// Other ids of the same vulnerability (CVEs…).
    pub aliases: Vec<String>,
    /// The record's summary, or the first line of its details.
    pub summary: String,
    /// The component's name.
    pub package: String,
    /// The component's version.
    pub version: String,
    /// See the module documentation for how it is chosen.
    pub severity: Severity,
    /// The CVSS score the severity comes from, when it comes from one.
    pub cvss_score: Option<f32>,
    /// That score's vector.
    pub cvss_vector: Option<String>,
    /// The `fixed` versions above the component's version, in the record's order.
    pub fixed_in: Vec<String>,
}

/// The advisories of an offline OSV database, indexed by package.
#[derive(Default)]
pub struct OsvDatabase {
    advisories: Vec<Advisory>,
    /// (ecosystem key, name key) → (advisory, affected entry) pairs.
    index: HashMap<(String, String), Vec<(usize, usize)>>,
    withdrawn: usize,
}

impl fmt::Debug for OsvDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsvDatabase")
            .field("advisories", &self.advisories.len())
            .field("packages", &self.index.len())
            .field("withdrawn", &self.withdrawn)
            .finish()
    }
}

/// A loaded record, reduced to what matching and reporting need.
#[derive(Debug)]
struct Advisory {
    id: String,
    aliases: Vec<String>,
    summary: String,
    severity: Vec<SeverityEntry>,
    label: Option<Severity>,
    informational: bool,
    affected: Vec<AffectedEntry>,
}

#[derive(Debug)]
struct AffectedEntry {
    scheme: Scheme,
    ranges: Vec<record::Range>,
    versions: Vec<String>,
    severity: Vec<SeverityEntry>,
    label: Option<Severity>,
}

impl OsvDatabase {
    /// Loads `DIR/<ecosystem>/all.zip` for every ecosystem folder present, or the loose
    /// `DIR/<ecosystem>/*.json` records of a folder without an `all.zip`. Withdrawn records are
    /// counted and skipped; a record id seen twice (a record covering two ecosystems) is loaded
    /// once. A record that is not valid OSV JSON fails the load (a scan must not silently miss
    /// advisories), and so does a folder holding no record at all.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut builder = Builder::default();
        for folder in sorted_entries(dir)? {
            if !folder.is_dir() {
                continue;
            }
            let zip = folder.join("all.zip");
            if zip.is_file() {
                builder.load_zip(&zip)?;
            } else {
                for file in sorted_entries(&folder)? {
                    let is_json = file
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                    if is_json && file.is_file() {
                        let bytes = fs::read(&file).map_err(|e| ScanError::io(&file, e))?;
                        builder.add(&bytes, &file.display().to_string())?;
                    }
                }
            }
        }
        if builder.seen.is_empty() {
            return Err(ScanError::InvalidInput(format!(
                "no OSV records under {} (expected <ecosystem>/all.zip or <ecosystem>/*.json)",
                dir.display()
            )));
        }
        Ok(builder.db)
    }

    /// The number of advisories loaded (withdrawn ones excluded).
    pub fn advisories(&self) -> usize {
        self.advisories.len()
    }

    /// The number of withdrawn records skipped.
    pub fn withdrawn(&self) -> usize {
        self.withdrawn
    }

    /// The advisories affecting `component` (its `ecosystem`, `name` and `version`), most severe
    /// first, then by id.
    pub fn matches(&self, component: &Component) -> Vec<Vulnerability> {
        let ecosystem = ecosystem_key(&component.ecosystem);
        let name = name_key(&ecosystem, &component.name);
        let Some(hits) = self.index.get(&(ecosystem, name)) else {
            return Vec::new();
        };
        let mut by_advisory: Vec<(usize, Vec<&AffectedEntry>)> = Vec::new();
        for &(advisory, entry) in hits {
            let Some(affected) = self
                .advisories
                .get(advisory)
                .and_then(|a| a.affected.get(entry))
            else {
                continue;
            };
            if !affected.affects(&component.version) {
                continue;
            }
            match by_advisory.iter_mut().find(|(a, _)| *a == advisory) {
                Some((_, entries)) => entries.push(affected),
                None => by_advisory.push((advisory, vec![affected])),
            }
        }
        let mut found: Vec<Vulnerability> = by_advisory
            .into_iter()
            .filter_map(|(index, entries)| {
                let advisory = self.advisories.get(index)?;
                Some(advisory.report(component, &entries))
            })
            .collect();
        found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
        found
    }
}

#[derive(Default)]
struct Builder {
    db: OsvDatabase,
    /// Every record id met, withdrawn or not.
    seen: HashSet<String>,
}

impl Builder {
    fn load_zip(&mut self, path: &Path) -> Result<()> {
        let file = fs::File::open(path).map_err(|e| ScanError::io(path, e))?;
        let invalid = |detail: String| {
            ScanError::InvalidInput(format!("{}: not a valid zip: {detail}", path.display()))
        };
        let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| invalid(e.to_string()))?;
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .map_err(|e| invalid(e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| invalid(e.to_string()))?
                .into_owned();
            if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".json") {
                continue;
            }
            let origin = format!("{}:{name}", path.display());
            if entry.size() > MAX_RECORD_BYTES {
                return Err(ScanError::InvalidInput(format!(
                    "{origin}: record larger than {MAX_RECORD_BYTES} bytes"
                )));
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_RECORD_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| ScanError::io(path, e))?;
            if bytes.len() as u64 > MAX_RECORD_BYTES {
                return Err(ScanError::InvalidInput(format!(
                    "{origin}: record larger than {MAX_RECORD_BYTES} bytes"
                )));
            }
            self.add(&bytes, &origin)?;
        }
        Ok(())
    }

    fn add(&mut self, bytes: &[u8], origin: &str) -> Result<()> {
        let record: Record = serde_json::from_slice(bytes)
            .map_err(|e| ScanError::InvalidInput(format!("{origin}: not an OSV record: {e}")))?;
        if !self.seen.insert(record.id.clone()) {
            return Ok(());
        }
        if record.withdrawn.is_some() {
            self.db.withdrawn += 1;
            return Ok(());
        }
        let index = self.db.advisories.len();
        let mut affected = Vec::new();
        for entry in record.affected {
            let Some(package) = &entry.package else {
                continue;
            };
            let ecosystem = ecosystem_key(&package.ecosystem);
            let name = name_key(&ecosystem, &package.name);
            self.db
                .index
                .entry((ecosystem.clone(), name))
                .or_default()
                .push((index, affected.len()));
            affected.push(AffectedEntry::new(&ecosystem, entry));
        }
        let informational = record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("informational"))
            .and_then(|i| i.as_str())
            .is_some_and(|kind| matches!(kind, "unmaintained" | "notice"));
        let summary = match record.summary.filter(|s| !s.trim().is_empty()) {
            Some(summary) => summary.trim().to_owned(),
            None => record
                .details
                .as_deref()
                .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
                .unwrap_or_default()
                .to_owned(),
        };
        self.db.advisories.push(Advisory {
            id: record.id,
            aliases: record.aliases,
            summary,
            severity: record.severity,
            label: label_in(record.database_specific.as_ref()).and_then(Severity::from_label),
            informational,
            affected,
        });
        Ok(())
    }
}

impl AffectedEntry {
    fn new(ecosystem: &str, entry: Affected) -> Self {
        let informational = entry
            .database_specific
            .as_ref()
            .and_then(|d| d.get("informational"))
            .and_then(|i| i.as_str())
            .is_some_and(|kind| matches!(kind, "unmaintained" | "notice"));
        let label = label_in(entry.database_specific.as_ref())
            .or_else(|| label_in(entry.ecosystem_specific.as_ref()))
            .and_then(Severity::from_label)
            .or(informational.then_some(Severity::None));
        Self {
            scheme: Scheme::for_ecosystem(ecosystem),
            ranges: entry.ranges,
            versions: entry.versions,
            severity: entry.severity,
            label,
        }
    }

    /// Whether `version` is listed or lies in one of the `SEMVER` / `ECOSYSTEM` ranges.
    fn affects(&self, version: &str) -> bool {
        let listed = self.versions.iter().any(|listed| {
            listed == version
                || (self.scheme != Scheme::Generic && self.scheme.compare(listed, version).is_eq())
        });
        listed
            || self
                .ranges
                .iter()
                .any(|range| match self.range_scheme(range) {
                    Some(scheme) => in_range(scheme, version, &range.events),
                    None => false,
                })
    }

    /// The ordering of a range, or `None` for ranges that cannot be evaluated offline (`GIT`)
    /// or whose type is unknown.
    fn range_scheme(&self, range: &record::Range) -> Option<Scheme> {
        match range.kind.as_str() {
            "SEMVER" => Some(Scheme::Semver),
            "ECOSYSTEM" => Some(self.scheme),
            _ => None,
        }
    }

    /// The `fixed` versions above `version` in this entry's evaluable ranges.
    fn fixes_above<'a>(&'a self, version: &str, out: &mut Vec<&'a str>) {
        for range in &self.ranges {
            let Some(scheme) = self.range_scheme(range) else {
                continue;
            };
            for fixed in range.events.iter().filter_map(|e| e.fixed.as_deref()) {
                if scheme.compare(fixed, version).is_gt() && !out.contains(&fixed) {
                    out.push(fixed);
                }
            }
        }
    }
}

/// The schema's `IncludedInRanges` for one range. Rather than sorting the events (an ordering
/// that falls back between schemes is not guaranteed to be total), it finds the greatest event
/// that applies to `version`: the range is affected when that event is an `introduced`. On equal
/// versions an `introduced` sorts before a `fixed` or `last_affected`.
fn in_range(scheme: Scheme, version: &str, events: &[record::Event]) -> bool {
    let limits: Vec<&str> = events.iter().filter_map(|e| e.limit.as_deref()).collect();
    let below_limit = limits.is_empty()
        || limits
            .iter()
            .any(|limit| limit.contains('*') || scheme.compare(version, limit).is_lt());
    if !below_limit {
        return false;
    }
    // (event version, None for the introduced "0"; true when the event closes the range)
    let mut last: Option<(Option<&str>, bool)> = None;
    for event in events {
        let applies = if let Some(introduced) = event.introduced.as_deref() {
            if introduced == "0" {
                Some((None, false))
            } else {
                scheme
                    .compare(version, introduced)
                    .is_ge()
                    .then_some((Some(introduced), false))
            }
        } else if let Some(fixed) = event.fixed.as_deref() {
            scheme
                .compare(version, fixed)
                .is_ge()
                .then_some((Some(fixed), true))
        } else if let Some(last_affected) = event.last_affected.as_deref() {
            scheme
                .compare(version, last_affected)
                .is_gt()
                .then_some((Some(last_affected), true))
        } else {
            None
        };
        let Some(candidate) = applies else {
            continue;
        };
        let later = match last {
            None => true,
            Some(current) => event_cmp(scheme, candidate, current).is_gt(),
        };
        if later {
            last = Some(candidate);
        }
    }
    matches!(last, Some((_, false)))
}

/// Orders two applicable events by version (`None` = the introduced "0", first of all), then
/// introduced before closing.
fn event_cmp(
    scheme: Scheme,
    (a_version, a_closes): (Option<&str>, bool),
    (b_version, b_closes): (Option<&str>, bool),
) -> std::cmp::Ordering {
    let by_version = match (a_version, b_version) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(a), Some(b)) => scheme.compare(a, b),
    };
    by_version.then(a_closes.cmp(&b_closes))
}

impl Advisory {
    fn report(&self, component: &Component, entries: &[&AffectedEntry]) -> Vulnerability {
        let (severity, cvss_score, cvss_vector) = self.rate(entries);
        let mut fixed = Vec::new();
        for entry in entries {
            entry.fixes_above(&component.version, &mut fixed);
        }
        Vulnerability {
            id: self.id.clone(),
            aliases: self.aliases.clone(),
            summary: self.summary.clone(),
            package: component.name.clone(),
            version: component.version.clone(),
            severity,
            cvss_score,
            cvss_vector,
            fixed_in: fixed.into_iter().map(str::to_owned).collect(),
        }
    }

    fn rate(&self, entries: &[&AffectedEntry]) -> (Severity, Option<f32>, Option<String>) {
        let all = self
            .severity
            .iter()
            .chain(entries.iter().flat_map(|e| e.severity.iter()));
        let mut best: Option<(f32, &str)> = None;
        let mut label: Option<Severity> = None;
        for entry in all {
            if entry.kind.starts_with("CVSS") {
                if let Some(score) = cvss_base_score(&entry.score) {
                    if best.is_none_or(|(top, _)| score > top) {
                        best = Some((score, entry.score.trim()));
                    }
                }
            } else if let Some(rated) = Severity::from_label(&entry.score) {
                label = label.max(Some(rated));
            }
        }
        if let Some((score, vector)) = best {
            return (
                Severity::from_score(score),
                Some(score),
                Some(vector.to_owned()),
            );
        }
        let label = entries
            .iter()
            .filter_map(|e| e.label)
            .chain(self.label)
            .chain(label)
            .max();
        let severity = match label {
            Some(label) => label,
            None if self.informational => Severity::None,
            None => Severity::Medium,
        };
        (severity, None, None)
    }
}

/// The ecosystem part that identifies an ordering and a name space: without any `:release`
/// suffix, lowercase.
fn ecosystem_key(ecosystem: &str) -> String {
    ecosystem
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Names as they are compared: PyPI's in PEP 503 normal form (lowercase, runs of `-_.` as one
/// `-`), every other ecosystem's as written.
fn name_key(ecosystem_key: &str, name: &str) -> String {
    if ecosystem_key != "pypi" {
        return name.trim().to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The entries of a directory, sorted by path so that loading is deterministic.
fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| ScanError::io(dir, e))? {
        out.push(entry.map_err(|e| ScanError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}
