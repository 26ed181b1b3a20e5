//! Retention policies (keep the newest N versions, drop versions older than an age) and the plan
//! of which versions a garbage collection deletes.
//!
//! Rules, in order:
//! - versions already deleted are ignored;
//! - the latest version (highest number) is never expired, whatever its age;
//! - with both limits set, a version expires if it breaks either (beyond the newest N, or older
//!   than the maximum age): retention is a promise to delete;
//! - a version that would expire but is protected by the caller (still referenced, for example
//!   by a training run or as the source of lineage) is kept and reported as held.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::{DataError, Result};
use crate::version::VersionInfo;

/// How long and how many versions of a dataset are kept. Serialized with `max_age` as text
/// (`"30d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredPolicy", into = "StoredPolicy")]
pub struct RetentionPolicy {
    keep_versions: Option<u32>,
    max_age: Option<Duration>,
}

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_versions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age: Option<String>,
}

impl TryFrom<StoredPolicy> for RetentionPolicy {
    type Error = DataError;

    fn try_from(stored: StoredPolicy) -> Result<RetentionPolicy> {
        let max_age = stored.max_age.as_deref().map(parse_duration).transpose()?;
        RetentionPolicy::new(stored.keep_versions, max_age)
    }
}

impl From<RetentionPolicy> for StoredPolicy {
    fn from(policy: RetentionPolicy) -> StoredPolicy {
        StoredPolicy {
            keep_versions: policy.keep_versions,
            max_age: policy.max_age.map(format_duration),
        }
    }
}

impl RetentionPolicy {
    /// A policy with at least one limit; `keep_versions` must be ≥ 1 and `max_age` positive.
    pub fn new(keep_versions: Option<u32>, max_age: Option<Duration>) -> Result<RetentionPolicy> {
        let describe = || {
            format!(
                "keep_versions={} max_age={}",
                keep_versions.map_or("none".into(), |n| n.to_string()),
                max_age.map_or("none".into(), format_duration)
            )
        };
        if keep_versions.is_none() && max_age.is_none() {
            return Err(DataError::parse(
                "retention policy",
                &describe(),
                "set --keep-versions, --max-age or both",
            ));
        }
        if keep_versions == Some(0) {
            return Err(DataError::parse(
                "retention policy",
                &describe(),
                "keep at least 1 version (the latest is always kept)",
            ));
        }
        if max_age.is_some_and(|age| !age.is_positive()) {
            return Err(DataError::parse(
                "retention policy",
                &describe(),
                "the maximum age must be positive",
            ));
        }
        Ok(RetentionPolicy {
            keep_versions,
            max_age,
        })
    }

    /// The number of newest versions kept, if limited.
    pub fn keep_versions(&self) -> Option<u32> {
        self.keep_versions
    }

    /// The maximum age of a version, if limited.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Which versions a garbage collection at `now` deletes, and which it holds for `protected`.
    pub fn plan<V: VersionInfo>(
        &self,
        versions: &[V],
        now: OffsetDateTime,
        protected: &BTreeSet<u32>,
    ) -> RetentionPlan {
        let mut live: Vec<&V> = versions
            .iter()
            .filter(|v| v.deleted_at().is_none())
            .collect();
        live.sort_by_key(|v| std::cmp::Reverse(v.number()));
        let mut plan = RetentionPlan::default();
        for (rank, version) in live.iter().enumerate().skip(1) {
            let beyond_count = self.keep_versions.is_some_and(|keep| rank >= keep as usize);
            let too_old = self
                .max_age
                .is_some_and(|age| now - version.created_at() > age);
            if beyond_count || too_old {
                if protected.contains(&version.number()) {
                    plan.held.push(version.number());
                } else {
                    plan.expired.push(version.number());
                }
            }
        }
        plan.expired.reverse();
        plan.held.reverse();
        plan
    }

    /// Only the versions to delete (see [`RetentionPolicy::plan`]).
    pub fn expired<V: VersionInfo>(
        &self,
        versions: &[V],
        now: OffsetDateTime,
        protected: &BTreeSet<u32>,
    ) -> Vec<u32> {
        self.plan(versions, now, protected).expired
    }
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.keep_versions, self.max_age) {
            (Some(n), Some(age)) => {
                write!(f, "keep {n} versions, max age {}", format_duration(age))
            }
            (Some(n), None) => write!(f, "keep {n} versions"),
            (None, Some(age)) => write!(f, "max age {}", format_duration(age)),
            (None, None) => f.write_str("keep everything"),
        }
    }
}

/// The outcome of [`RetentionPolicy::plan`], version numbers ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPlan {
    /// Versions whose bytes are to be deleted (rows kept as tombstones).
    pub expired: Vec<u32>,
    /// Versions past the policy but kept because the caller protected them.
    pub held: Vec<u32>,
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s`, `1w` or a sum like `1d12h`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let help = "expected a number and a unit s, m, h, d or w, such as 30d, 12h or 1d12h";
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(DataError::parse("duration", text, help));
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let mut units = after.chars();
        let unit = units.next();
        rest = units.as_str();
        let n: i64 = number
            .parse()
            .map_err(|_| DataError::parse("duration", text, help))?;
        let seconds_per = match unit {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            Some('w') => 604_800,
            _ => return Err(DataError::parse("duration", text, help)),
        };
        total = n
            .checked_mul(seconds_per)
            .map(Duration::seconds)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| DataError::parse("duration", text, "too long"))?;
    }
    Ok(total)
}

/// Writes a duration in the largest units that divide it (`30d`, `1d12h`), as [`parse_duration`] reads.
pub fn format_duration(duration: Duration) -> String {
    let mut seconds = duration.whole_seconds();
    if seconds <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ('w', 604_800),
        ('d', 86_400),
        ('h', 3600),
        ('m', 60),
        ('s', 1),
    ] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

impl FromStr for RetentionPolicy {
    type Err = DataError;

    /// Parses the stored JSON form, e.g. `{"keep_versions":5,"max_age":"30d"}`.
    fn from_str(s: &str) -> Result<RetentionPolicy> {
        serde_json::from_str(s).map_err(|e| DataError::parse("retention policy", s, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::VersionMeta;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 12:00 UTC);

    /// Versions 1..=n, version k created (n - k) days before NOW.
    fn daily(n: u32) -> Vec<VersionMeta> {
        (1..=n)
            .map(|k| VersionMeta {
                number: k,
                created_at: NOW - Duration::days(i64::from(n - k)),
                deleted_at: None,
            })
            .collect()
    }

    fn none() -> BTreeSet<u32> {
        BTreeSet::new()
    }

    #[test]
    fn parses_and_formats_durations() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_duration("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_duration("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("1w").unwrap(), Duration::weeks(1));
        assert_eq!(parse_duration("45s").unwrap(), Duration::seconds(45));
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::days(1) + Duration::hours(12)
        );
        for bad in [
            "",
            "30",
            "d",
            "30x",
            "-1d",
            "1.5d",
            "30 d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("9999999999999999w")
            .unwrap_err()
            .to_string()
            .contains("too long"));
        assert_eq!(format_duration(Duration::days(30)), "4w2d");
        assert_eq!(format_duration(Duration::minutes(90)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for d in ["1w", "1d12h", "45s", "4w2d3h4m5s"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn policy_validation_and_serde() {
        assert!(RetentionPolicy::new(None, None).is_err());
        assert!(RetentionPolicy::new(Some(0), None).is_err());
        assert!(RetentionPolicy::new(None, Some(Duration::ZERO)).is_err());
        let p = RetentionPolicy::new(Some(5), Some(Duration::days(30))).unwrap();
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"keep_versions":5,"max_age":"4w2d"}"#);
        assert_eq!(text.parse::<RetentionPolicy>().unwrap(), p);
        let only_age: RetentionPolicy = r#"{"max_age":"12h"}"#.parse().unwrap();
        assert_eq!(only_age.max_age(), Some(Duration::hours(12)));
        assert_eq!(only_age.keep_versions(), None);
        assert_eq!(
            serde_json::to_string(&only_age).unwrap(),
            r#"{"max_age":"12h"}"#
        );
        assert!(r#"{"keep_versions":0}"#.parse::<RetentionPolicy>().is_err());
        assert!(r#"{"max_age":"soon"}"#.parse::<RetentionPolicy>().is_err());
        assert!("{}".parse::<RetentionPolicy>().is_err());
        assert_eq!(p.to_string(), "keep 5 versions, max age 4w2d");
    }

    #[test]
    fn keep_n_expires_older_versions() {
        let p = RetentionPolicy::new(Some(2), None).unwrap();
        assert_eq!(p.expired(&daily(5), NOW, &none()), vec![1, 2, 3]);
        assert!(p.expired(&daily(2), NOW, &none()).is_empty());
        let keep_one = RetentionPolicy::new(Some(1), None).unwrap();
        assert_eq!(keep_one.expired(&daily(3), NOW, &none()), vec![1, 2]);
    }

    #[test]
    fn max_age_expires_old_versions_but_never_the_latest() {
        let p = RetentionPolicy::new(None, Some(Duration::days(2))).unwrap();
        // Ages 4, 3, 2, 1, 0 days: strictly older than 2 days expires.
        assert_eq!(p.expired(&daily(5), NOW, &none()), vec![1, 2]);
        // Every version old, the latest still stays.
        let all_old: Vec<_> = daily(3)
            .into_iter()
            .map(|mut v| {
                v.created_at -= Duration::days(100);
                v
            })
            .collect();
        assert_eq!(p.expired(&all_old, NOW, &none()), vec![1, 2]);
    }

    #[test]
    fn either_limit_expires_when_both_are_set() {
        let p = RetentionPolicy::new(Some(4), Some(Duration::days(2))).unwrap();
        assert_eq!(p.expired(&daily(5), NOW, &none()), vec![1, 2]);
        let p = RetentionPolicy::new(Some(2), Some(Duration::days(30))).unwrap();
        assert_eq!(p.expired(&daily(5), NOW, &none()), vec![1, 2, 3]);
    }

    #[test]
    fn protected_versions_are_held_and_deleted_ones_ignored() {
        let p = RetentionPolicy::new(Some(1), None).unwrap();
        let protected: BTreeSet<u32> = [2].into();
        let plan = p.plan(&daily(4), NOW, &protected);
        assert_eq!(plan.expired, vec![1, 3]);
        assert_eq!(plan.held, vec![2]);

        let mut v = daily(4);
        v[0].deleted_at = Some(NOW - Duration::days(1));
        // v1 is already gone: keep-2 counts only live versions and does not re-delete v1.
        let p = RetentionPolicy::new(Some(2), None).unwrap();
        assert_eq!(p.expired(&v, NOW, &none()), vec![2]);
        assert!(p.expired::<VersionMeta>(&[], NOW, &none()).is_empty());
    }
}
