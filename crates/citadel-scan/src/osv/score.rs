//! CVSS base scores and the severity scale.
//!
//! CVSS v3.0 and v3.1 base scores are computed here from the specification's equations (with
//! each version's `Roundup`). CVSS v4.0 scores need the specification's MacroVector lookup table
//! and interpolation: they come from the RustSec `cvss` crate, which implements FIRST's reference
//! algorithm exactly; so do CVSS v2.0 base scores (OSV's `CVSS_V2`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ScanError;

/// How bad a vulnerability is, on the CVSS qualitative scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Score 0.0, or an informational notice (RustSec "unmaintained" advisories).
    None,
    /// Score 0.1–3.9.
    Low,
    /// Score 4.0–6.9.
    Medium,
    /// Score 7.0–8.9.
    High,
    /// Score 9.0–10.0.
    Critical,
}

impl Severity {
    /// The qualitative rating of a CVSS score (v3 and v4 share the scale).
    pub fn from_score(score: f32) -> Self {
        if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else if score > 0.0 {
            Self::Low
        } else {
            Self::None
        }
    }

    /// Reads a textual severity as advisory databases write it: `low`, `medium` or `moderate`
    /// (GitHub), `high`, `critical`, `none`, and Ubuntu's priorities (`negligible`,
    /// `untriaged`). Case does not matter.
    pub(crate) fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "none" | "negligible" => Some(Self::None),
            "low" => Some(Self::Low),
            "medium" | "moderate" => Some(Self::Medium),
            "high" | "important" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    /// The lowercase name (`none`, `low`, `medium`, `high`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ScanError;

    /// Parses `--fail-on` values: `none`, `low`, `medium` (or `moderate`), `high`, `critical`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_label(s).ok_or_else(|| {
            ScanError::InvalidInput(format!(
                "unknown severity {s:?} (expected low, medium, high or critical)"
            ))
        })
    }
}

/// The base score of a CVSS vector: `CVSS:3.0/…` and `CVSS:3.1/…` computed here per the
/// specification, `CVSS:4.0/…` and v2 vectors (`AV:N/AC:L/Au:N/…`) through the `cvss` crate.
/// Temporal, threat and environmental metrics may be present; v3 base scores ignore them, v4
/// scores take them into account as the v4 specification requires. `None` for anything that is
/// not a valid vector.
pub fn cvss_base_score(vector: &str) -> Option<f32> {
    let vector = vector.trim();
    let score = if let Some(metrics) = vector.strip_prefix("CVSS:3.1/") {
        v3_base_score(metrics, V3::One)?
    } else if let Some(metrics) = vector.strip_prefix("CVSS:3.0/") {
        v3_base_score(metrics, V3::Zero)?
    } else if vector.starts_with("CVSS:4.0/") {
        vector.parse::<cvss::v4::Vector>().ok()?.score().value()
    } else if vector.starts_with("AV:") || vector.starts_with("(AV:") {
        let bare = vector.trim_start_matches('(').trim_end_matches(')');
        bare.parse::<cvss::v2::Vector>().ok()?.score().value()
    } else {
        return None;
    };
    if !(0.0..=10.0).contains(&score) {
        return None;
    }
    // One decimal, as every CVSS version reports it.
    Some(((score * 10.0).round() / 10.0) as f32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V3 {
    Zero,
    One,
}

/// CVSS v3.x base score from the metrics after the `CVSS:3.x/` prefix.
fn v3_base_score(metrics: &str, version: V3) -> Option<f64> {
    let mut base: [Option<&str>; 8] = [None; 8];
    const BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
    const OTHER: [&str; 14] = [
        "E", "RL", "RC", "CR", "IR", "AR", "MAV", "MAC", "MPR", "MUI", "MS", "MC", "MI", "MA",
    ];
    let mut others: Vec<&str> = Vec::new();
    for metric in metrics.split('/') {
        let (key, value) = metric.split_once(':')?;
        if let Some(slot) = BASE.iter().position(|k| *k == key) {
            if base[slot].replace(value).is_some() {
                return None;
            }
        } else if OTHER.contains(&key) && !others.contains(&key) {
            others.push(key);
        } else {
            return None;
        }
    }
    let [av, ac, pr, ui, s, c, i, a] = base;
    let changed = match s? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match av? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match ac? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match ui? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |value: Option<&str>| match value? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia(c)?, cia(i)?, cia(a)?);
    let iss = 1.0 - ((1.0 - c) * (1.0 - i) * (1.0 - a));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(match version {
        V3::One => roundup_v31(raw),
        V3::Zero => (raw * 10.0).ceil() / 10.0,
    })
}

/// CVSS v3.1 `Roundup`: the smallest number with one decimal that is at least the input,
/// computed on integers so that floating-point noise (4.000000001) does not round up.
pub(super) fn roundup_v31(input: f64) -> f64 {
    let int_input = (input * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}
