//! Alert rules: the TOML schema, its validation (every error names the rule, the field and the
//! fix) and the built-in defaults, which a rules file may replace by name or switch off.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

/// The built-in rules (the seeds' defaults), embedded in the binary.
const DEFAULTS: &str = include_str!("defaults.toml");

/// Longest window a rule may look back over: the sources are read for the widest window.
const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A rules file or rule that cannot be used; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct RuleError {
    /// Where the rules came from (a file path, or `built-in rules`).
    pub origin: String,
    pub message: String,
}

/// What a rule measures. Each metric comes from one source and is aggregated one way over the
/// window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Refused authentications (audit log), counted.
    FailedAuthentications,
    /// Refused reads or writes of a model or a secret (audit log), counted.
    DeniedAccesses,
    /// Invocations the gateway failed (5xx in the inference log), counted.
    InvocationErrors,
    /// The 99th percentile of answered invocations' latency, in milliseconds (inference log).
    LatencyP99Ms,
    /// The drift score of an endpoint's traffic against its baseline, the highest in the window.
    DriftScore,
    /// Model scans and acquisitions that found dangerous content (audit log), counted.
    DangerousModelScans,
}

/// How a metric's observations in the window become one value per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Count,
    P99,
    Max,
}

/// A label observations carry, which a rule may group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// The principal's name.
    Principal,
    /// The client's IP address.
    Address,
    /// The endpoint's full name.
    Endpoint,
    /// The model's full name (or the scanned path).
    Model,
    /// The securable, `kind:full.name`.
    Securable,
}

impl Metric {
    pub const ALL: [Self; 6] = [
        Self::FailedAuthentications,
        Self::DeniedAccesses,
        Self::InvocationErrors,
        Self::LatencyP99Ms,
        Self::DriftScore,
        Self::DangerousModelScans,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FailedAuthentications => "failed_authentications",
            Self::DeniedAccesses => "denied_accesses",
            Self::InvocationErrors => "invocation_errors",
            Self::LatencyP99Ms => "latency_p99_ms",
            Self::DriftScore => "drift_score",
            Self::DangerousModelScans => "dangerous_model_scans",
        }
    }

    pub const fn aggregation(self) -> Aggregation {
        match self {
            Self::LatencyP99Ms => Aggregation::P99,
            Self::DriftScore => Aggregation::Max,
            _ => Aggregation::Count,
        }
    }

    /// The labels this metric's observations carry (what a rule may group by).
    pub const fn labels(self) -> &'static [Label] {
        match self {
            Self::FailedAuthentications => &[Label::Address, Label::Principal],
            Self::DeniedAccesses => &[Label::Principal, Label::Securable],
            Self::InvocationErrors | Self::LatencyP99Ms => &[Label::Endpoint],
            Self::DriftScore => &[Label::Endpoint],
            Self::DangerousModelScans => &[Label::Principal, Label::Model],
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl Label {
    pub const ALL: [Self; 5] = [
        Self::Principal,
        Self::Address,
        Self::Endpoint,
        Self::Model,
        Self::Securable,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Address => "address",
            Self::Endpoint => "endpoint",
            Self::Model => "model",
            Self::Securable => "securable",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// How a rule compares its value with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Comparison {
    const ALL: [Self; 4] = [Self::Above, Self::AtLeast, Self::Below, Self::AtMost];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AtLeast => ">=",
            Self::Below => "<",
            Self::AtMost => "<=",
        }
    }

    /// Whether `value` meets the condition against `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses [`Severity::as_str`] output.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

macro_rules! serialize_as_str {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(Metric, Label, Comparison, Severity);

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    pub metric: Metric,
    /// One alert per value of this label; one alert for everything when `None`.
    pub group_by: Option<Label>,
    #[serde(serialize_with = "serialize_duration")]
    pub window: Duration,
    pub comparison: Comparison,
    pub threshold: f64,
    /// How long the condition must hold before the alert fires (pending until then).
    #[serde(rename = "for", serialize_with = "serialize_duration")]
    pub for_duration: Duration,
    pub severity: Severity,
    /// One line for people, without links or secrets.
    pub summary: String,
}

impl Rule {
    /// `metric > threshold over window`, for listings.
    pub fn condition(&self) -> String {
        format!(
            "{} {} {} over {}",
            self.metric,
            self.comparison,
            self.threshold,
            format_duration(self.window)
        )
    }
}

/// The effective rules: the defaults, with a rules file's replacements and switches applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The built-in rules.
    pub fn defaults() -> Result<Self, RuleError> {
        let file = parse_file(DEFAULTS, "built-in rules")?;
        Ok(Self {
            rules: file
                .into_iter()
                .filter_map(|(rule, enabled)| enabled.then_some(rule))
                .collect(),
        })
    }

    /// The defaults overridden by the rules in `text` (read from `origin`): a rule named like a
    /// default replaces it, `enabled = false` removes it, any other rule is added.
    pub fn with_overrides(text: &str, origin: &str) -> Result<Self, RuleError> {
        let mut rules = Self::defaults()?.rules;
        for (rule, enabled) in parse_file(text, origin)? {
            rules.retain(|r| r.name != rule.name);
            if enabled {
                rules.push(rule);
            }
        }
        Ok(Self { rules })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The widest window of any rule on `metric` (how far back its source must be read), `None`
    /// when no rule uses it.
    pub fn lookback(&self, metric: Metric) -> Option<Duration> {
        self.rules
            .iter()
            .filter(|r| r.metric == metric)
            .map(|r| r.window)
            .max()
    }
}

/// A rules file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    metric: Option<String>,
    group_by: Option<String>,
    window: Option<String>,
    comparison: Option<String>,
    threshold: Option<f64>,
    #[serde(rename = "for")]
    for_duration: Option<String>,
    severity: Option<String>,
    summary: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// Parses and validates every rule of a file, with whether it is enabled. A disabled rule needs
/// only its name.
fn parse_file(text: &str, origin: &str) -> Result<Vec<(Rule, bool)>, RuleError> {
    let error = |message: String| RuleError {
        origin: origin.to_owned(),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| error(e.message().to_owned()))?;
    let mut out: Vec<(Rule, bool)> = Vec::with_capacity(raw.rule.len());
    for raw_rule in raw.rule {
        if out.iter().any(|(r, _)| r.name == raw_rule.name) {
            return Err(error(format!(
                "rule {:?} is defined twice; keep one",
                raw_rule.name
            )));
        }
        let enabled = raw_rule.enabled;
        let rule = if enabled {
            validate(raw_rule).map_err(error)?
        } else {
            disabled(raw_rule).map_err(error)?
        };
        out.push((rule, enabled));
    }
    Ok(out)
}

/// A switched-off rule: its name is all that matters.
fn disabled(raw: RawRule) -> Result<Rule, String> {
    check_name(&raw.name)?;
    Ok(Rule {
        name: raw.name,
        metric: Metric::FailedAuthentications,
        group_by: None,
        window: Duration::ZERO,
        comparison: Comparison::Above,
        threshold: 0.0,
        for_duration: Duration::ZERO,
        severity: Severity::Info,
        summary: String::new(),
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "rule name {name:?} must be 1 to 64 lowercase letters, digits or underscores"
        ))
    }
}

fn validate(raw: RawRule) -> Result<Rule, String> {
    check_name(&raw.name)?;
    let name = raw.name;
    let missing = |field: &str| format!("rule {name:?} needs `{field}`");
    let metric_text = raw.metric.ok_or_else(|| missing("metric"))?;
    let metric = Metric::parse(&metric_text).ok_or_else(|| {
        format!(
            "rule {name:?}: unknown metric {metric_text:?}; use one of {}",
            list(Metric::ALL.iter().map(|m| m.as_str()))
        )
    })?;
    let group_by = match raw.group_by {
        None => None,
        Some(text) => {
            let label = Label::parse(&text).filter(|l| metric.labels().contains(l));
            Some(label.ok_or_else(|| {
                format!(
                    "rule {name:?}: {metric} cannot be grouped by {text:?}; use one of {}",
                    list(metric.labels().iter().map(|l| l.as_str()))
                )
            })?)
        }
    };
    let window = parse_duration(&raw.window.ok_or_else(|| missing("window"))?)
        .map_err(|e| format!("rule {name:?}, window: {e}"))?;
    if window.is_zero() || window > MAX_WINDOW {
        return Err(format!(
            "rule {name:?}: window must be more than 0s and at most 7d"
        ));
    }
    let for_duration = match raw.for_duration {
        None => Duration::ZERO,
        Some(text) => parse_duration(&text).map_err(|e| format!("rule {name:?}, for: {e}"))?,
    };
    if for_duration > MAX_WINDOW {
        return Err(format!("rule {name:?}: `for` must be at most 7d"));
    }
    let comparison_text = raw.comparison.ok_or_else(|| missing("comparison"))?;
    let comparison = Comparison::ALL
        .into_iter()
        .find(|c| c.as_str() == comparison_text)
        .ok_or_else(|| {
            format!("rule {name:?}: unknown comparison {comparison_text:?}; use >, >=, < or <=")
        })?;
    let threshold = raw.threshold.ok_or_else(|| missing("threshold"))?;
    if !threshold.is_finite() {
        return Err(format!("rule {name:?}: threshold must be a finite number"));
    }
    let severity_text = raw.severity.ok_or_else(|| missing("severity"))?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        format!(
            "rule {name:?}: unknown severity {severity_text:?}; use one of {}",
            list(Severity::ALL.iter().map(|s| s.as_str()))
        )
    })?;
    let summary = raw.summary.unwrap_or_default();
    if summary.len() > 200 || summary.contains("://") {
        return Err(format!(
            "rule {name:?}: summary must be one line of at most 200 characters, without links"
        ));
    }
    let summary = if summary.is_empty() {
        format!("{metric} {comparison} {threshold}")
    } else {
        summary
    };
    Ok(Rule {
        name,
        metric,
        group_by,
        window,
        comparison,
        threshold,
        for_duration,
        severity,
        summary,
    })
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses `30s`, `5m`, `2h` or `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("bad duration {text:?}: use a whole number and a unit s, m, h or d, e.g. \"5m\"")
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let (_, seconds_per_unit) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
    let number: u64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    number
        .checked_mul(*seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// A duration in the largest unit that states it exactly (`300s` → `5m`).
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (unit, per) = UNITS
        .iter()
        .find(|(_, per)| seconds % per == 0 && seconds >= *per)
        .copied()
        .unwrap_or(('s', 1));
    format!("{}{unit}", seconds / per)
}

fn serialize_duration<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        RuleSet::with_overrides(text, "alerts.toml")
            .unwrap_err()
            .to_string()
    }

    const VALID: &str = r#"
        [[rule]]
        name = "slow"
        metric = "latency_p99_ms"
        group_by = "endpoint"
        window = "10m"
        comparison = ">="
        threshold = 250.5
        for = "30s"
        severity = "low"
    "#;

    #[test]
    fn defaults_hold_the_seeds_rules() {
        let rules = RuleSet::defaults().unwrap();
        let brute = rules.get("failed_authentications").unwrap();
        assert_eq!(brute.metric, Metric::FailedAuthentications);
        assert_eq!(brute.group_by, Some(Label::Address));
        assert_eq!(brute.window, Duration::from_secs(300));
        assert!(brute.comparison.holds(6.0, brute.threshold));
        assert!(!brute.comparison.holds(5.0, brute.threshold));
        assert_eq!(
            rules
                .get("failed_authentications_principal")
                .unwrap()
                .group_by,
            Some(Label::Principal)
        );
        assert_eq!(rules.get("invocation_errors").unwrap().threshold, 10.0);
        assert_eq!(
            rules.get("invocation_errors").unwrap().window,
            Duration::from_secs(60)
        );
        assert_eq!(rules.get("latency_p99").unwrap().threshold, 1000.0);
        assert_eq!(rules.get("drift").unwrap().threshold, 0.15);
        assert_eq!(
            rules.get("dangerous_model_scan").unwrap().severity,
            Severity::Critical
        );
        assert_eq!(
            rules.get("denied_access").unwrap().metric,
            Metric::DeniedAccesses
        );
        assert_eq!(rules.rules().len(), 7);
        assert_eq!(
            rules.lookback(Metric::FailedAuthentications),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn a_file_adds_replaces_and_disables_rules() {
        let text = format!(
            "{VALID}\n[[rule]]\nname = \"drift\"\nenabled = false\n\n[[rule]]\nname = \
             \"invocation_errors\"\nmetric = \"invocation_errors\"\nwindow = \"5m\"\ncomparison = \
             \">\"\nthreshold = 50\nseverity = \"critical\"\n"
        );
        let rules = RuleSet::with_overrides(&text, "alerts.toml").unwrap();
        assert!(rules.get("drift").is_none());
        let slow = rules.get("slow").unwrap();
        assert_eq!(slow.comparison, Comparison::AtLeast);
        assert_eq!(slow.for_duration, Duration::from_secs(30));
        assert_eq!(slow.summary, "latency_p99_ms >= 250.5");
        let errors = rules.get("invocation_errors").unwrap();
        assert_eq!(errors.threshold, 50.0);
        assert_eq!(errors.group_by, None);
        assert_eq!(rules.rules().len(), 7);
    }

    #[test]
    fn bad_rules_say_what_to_fix() {
        let cases = [
            (
                VALID.replace("latency_p99_ms", "latency"),
                "unknown metric \"latency\"; use one of",
            ),
            (
                VALID.replace("\"10m\"", "\"5 minutes\""),
                "window: bad duration \"5 minutes\"",
            ),
            (
                VALID.replace("\"10m\"", "\"5x\""),
                "use a whole number and a unit s, m, h or d",
            ),
            (
                VALID.replace("\"10m\"", "\"0s\""),
                "window must be more than 0s",
            ),
            (VALID.replace("\"30s\"", "\"-1m\""), "for: bad duration"),
            (
                VALID.replace("\">=\"", "\"=>\""),
                "unknown comparison \"=>\"",
            ),
            (
                VALID.replace("\"low\"", "\"urgent\""),
                "unknown severity \"urgent\"",
            ),
            (
                VALID.replace("\"endpoint\"", "\"address\""),
                "cannot be grouped by \"address\"",
            ),
            (
                VALID.replace("name = \"slow\"", "name = \"Slow!\""),
                "lowercase letters",
            ),
            (VALID.replace("threshold = 250.5", ""), "needs `threshold`"),
            (VALID.replace("severity", "level"), "unknown field `level`"),
            (format!("{VALID}{VALID}"), "defined twice"),
            (
                VALID.replace("for = \"30s\"", "summary = \"see https://x\""),
                "without links",
            ),
        ];
        for (text, expected) in cases {
            let err = error_of(&text);
            assert!(err.starts_with("alerts.toml: "), "{err}");
            assert!(err.contains(expected), "{err} (expected {expected})");
        }
    }

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("2h", 7200),
            ("1d", 86_400),
            ("90s", 90),
        ] {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(secs));
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for bad in ["", "m", "5", "5mm", "1.5h", "99999999999999999999d", "ü"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_serialize_as_written() {
        let rules = RuleSet::with_overrides(VALID, "alerts.toml").unwrap();
        let json = serde_json::to_value(rules.get("slow").unwrap()).unwrap();
        assert_eq!(json["metric"], "latency_p99_ms");
        assert_eq!(json["window"], "10m");
        assert_eq!(json["for"], "30s");
        assert_eq!(json["comparison"], ">=");
        assert_eq!(json["group_by"], "endpoint");
    }
}
