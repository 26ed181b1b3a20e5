//! The configuration of a serving endpoint: the model and its pinned versions with traffic
//! weights, guardrails, rate limits, concurrency, scale to zero and the inference-log policy.
//! Stored as JSON (one document per revision), written by people as TOML (`--config FILE`), and
//! validated the same way whichever way it came in.

use std::fmt;

use citadel_guard::GuardrailPolicy;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// An endpoint routes to at least one and at most this many versions.
pub const MAX_ROUTES: usize = 10;
/// Requests served at once per model version, at most.
pub const MAX_CONCURRENCY: u32 = 1024;
/// Requests waiting per model version, at most.
pub const MAX_QUEUE: u32 = 100_000;
/// The longest idle time before unloading: 30 days.
pub const MAX_IDLE_UNLOAD_SECS: u64 = 30 * 24 * 3600;

/// What an endpoint serves and how. Every revision of an endpoint is one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The model's full name, `catalog.schema.model` (same catalog as the endpoint).
    pub model: String,
    /// Pinned versions and their share of requests (weights sum to 100).
    pub traffic: Vec<TrafficRoute>,
    /// Guardrails on prompts and completions.
    #[serde(default)]
    pub guardrails: GuardrailPolicy,
    /// Requests and tokens per minute.
    #[serde(default)]
    pub limits: RateLimits,
    /// Requests in flight per model version.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// Requests waiting per model version; beyond it the gateway answers 503.
    #[serde(default = "default_max_queue")]
    pub max_queue: u32,
    /// Unload a model version idle this long (scale to zero); 0 keeps it loaded.
    #[serde(default = "default_idle_unload_secs")]
    pub idle_unload_secs: u64,
    /// What the inference log keeps.
    #[serde(default)]
    pub log: LogPolicy,
}

/// One pinned version and its share of requests, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficRoute {
    pub version: u32,
    pub weight: u32,
}

/// Requests and tokens per minute, per calling principal and for the whole endpoint. `None`
/// (written `"unlimited"` in TOML, `null` in JSON) means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    #[serde(deserialize_with = "limit")]
    pub per_principal_requests_per_minute: Option<u32>,
    #[serde(deserialize_with = "limit")]
    pub per_principal_tokens_per_minute: Option<u32>,
    #[serde(deserialize_with = "limit")]
    pub endpoint_requests_per_minute: Option<u32>,
    #[serde(deserialize_with = "limit")]
    pub endpoint_tokens_per_minute: Option<u32>,
}

/// What the inference log keeps of each request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogPolicy {
    /// The share of successful requests logged, 0 to 1 (refused and failed ones are always kept).
    pub sample_rate: f64,
    /// How prompts and completions are kept.
    pub payloads: Payloads,
}

/// How the inference log keeps prompts and completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payloads {
    /// As sent and generated (after the guardrails' masking).
    Full,
    /// With PII masked.
    Redacted,
    /// Not at all: only counts, times and decisions.
    None,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_principal_requests_per_minute: Some(600),
            per_principal_tokens_per_minute: None,
            endpoint_requests_per_minute: None,
            endpoint_tokens_per_minute: None,
        }
    }
}

impl Default for LogPolicy {
    fn default() -> Self {
        Self {
            sample_rate: 1.0,
            payloads: Payloads::Redacted,
        }
    }
}

fn default_max_concurrency() -> u32 {
    4
}

fn default_max_queue() -> u32 {
    64
}

fn default_idle_unload_secs() -> u64 {
    900
}

/// The settings of an endpoint other than its model and traffic, as a `--config` file gives
/// them. A key or table that is present replaces the current value; within a table that is
/// present, a key left out takes its default (so `[limits]` with one key resets the others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    pub guardrails: Option<GuardrailPolicy>,
    pub limits: Option<RateLimits>,
    pub max_concurrency: Option<u32>,
    pub max_queue: Option<u32>,
    pub idle_unload_secs: Option<u64>,
    pub log: Option<LogPolicy>,
}

impl EndpointSettings {
    /// Parses a `--config` file's TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid endpoint config: {}. The file holds [guardrails], [limits], [log], \
                 max_concurrency, max_queue and idle_unload_secs; the model and its traffic come \
                 from --model and --traffic",
                e.message().trim_end()
            ))
        })
    }

    /// Whether the file set nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// `config` with these settings applied.
    pub(crate) fn apply(&self, mut config: EndpointConfig) -> EndpointConfig {
        if let Some(guardrails) = &self.guardrails {
            config.guardrails = guardrails.clone();
        }
        if let Some(limits) = self.limits {
            config.limits = limits;
        }
        if let Some(n) = self.max_concurrency {
            config.max_concurrency = n;
        }
        if let Some(n) = self.max_queue {
            config.max_queue = n;
        }
        if let Some(secs) = self.idle_unload_secs {
            config.idle_unload_secs = secs;
        }
        if let Some(log) = self.log {
            config.log = log;
        }
        config
    }
}

impl EndpointConfig {
    /// A configuration with every setting at its default.
    pub fn new(model: String, traffic: Vec<TrafficRoute>) -> Self {
        Self {
            model,
            traffic,
            guardrails: GuardrailPolicy::default(),
            limits: RateLimits::default(),
            max_concurrency: default_max_concurrency(),
            max_queue: default_max_queue(),
            idle_unload_secs: default_idle_unload_secs(),
            log: LogPolicy::default(),
        }
    }

    /// Checks every field; the error says which one and how to fix it.
    pub fn validate(&self) -> Result<()> {
        self.model
            .parse::<citadel_core::FullName>()
            .ok()
            .filter(|name| name.depth() == 3)
            .ok_or_else(|| {
                invalid(format!(
                    "model {:?}: name a model as CATALOG.SCHEMA.MODEL",
                    self.model
                ))
            })?;
        validate_traffic(&self.traffic)?;
        self.guardrails
            .validate()
            .map_err(|e| invalid(format!("guardrails: {e}")))?;
        self.limits.validate()?;
        if !(1..=MAX_CONCURRENCY).contains(&self.max_concurrency) {
            return Err(invalid(format!(
                "max_concurrency is {}: use 1 to {MAX_CONCURRENCY} requests in flight per version",
                self.max_concurrency
            )));
        }
        if self.max_queue > MAX_QUEUE {
            return Err(invalid(format!(
                "max_queue is {}: use 0 (no waiting) to {MAX_QUEUE}",
                self.max_queue
            )));
        }
        if self.idle_unload_secs > MAX_IDLE_UNLOAD_SECS {
            return Err(invalid(format!(
                "idle_unload_secs is {}: use 0 (never unload) to {MAX_IDLE_UNLOAD_SECS} (30 days)",
                self.idle_unload_secs
            )));
        }
        if !(0.0..=1.0).contains(&self.log.sample_rate) {
            return Err(invalid(format!(
                "log.sample_rate is {}: use a share from 0 to 1 (1 logs every request)",
                self.log.sample_rate
            )));
        }
        Ok(())
    }

    /// `traffic` as `3=90,4=10`.
    pub fn traffic_text(&self) -> String {
        format_traffic(&self.traffic)
    }
}

impl RateLimits {
    fn validate(&self) -> Result<()> {
        for (name, value) in [
            (
                "per_principal_requests_per_minute",
                self.per_principal_requests_per_minute,
            ),
            (
                "per_principal_tokens_per_minute",
                self.per_principal_tokens_per_minute,
            ),
            (
                "endpoint_requests_per_minute",
                self.endpoint_requests_per_minute,
            ),
            (
                "endpoint_tokens_per_minute",
                self.endpoint_tokens_per_minute,
            ),
        ] {
            if value == Some(0) {
                return Err(invalid(format!(
                    "limits.{name} is 0, which would refuse every request: use a positive \
                     number, or \"unlimited\""
                )));
            }
        }
        Ok(())
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(format!("invalid endpoint configuration: {message}"))
}

/// Parses `--traffic 3=90,4=10` (a `v` before a version is allowed) and validates it.
pub fn parse_traffic(text: &str) -> Result<Vec<TrafficRoute>> {
    let mut routes = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        let bad = || {
            Error::InvalidInput(format!(
                "invalid --traffic entry {entry:?}: write VERSION=PERCENT pairs separated by \
                 commas, e.g. 3=90,4=10"
            ))
        };
        let (version, weight) = entry.split_once('=').ok_or_else(bad)?;
        let version = version.trim();
        let version = version
            .strip_prefix(['v', 'V'])
            .unwrap_or(version)
            .parse::<u32>()
            .map_err(|_| bad())?;
        let weight = weight.trim().parse::<u32>().map_err(|_| bad())?;
        routes.push(TrafficRoute { version, weight });
    }
    validate_traffic(&routes)?;
    Ok(routes)
}

/// Checks a traffic split: 1 to 10 routes, distinct versions from 1, weights from 1 that sum
/// to 100.
pub fn validate_traffic(routes: &[TrafficRoute]) -> Result<()> {
    let fail = |why: String| {
        Err(invalid(format!(
            "traffic {}: {why}",
            format_traffic(routes)
        )))
    };
    if routes.is_empty() || routes.len() > MAX_ROUTES {
        return fail(format!(
            "route to 1 to {MAX_ROUTES} versions, not {}",
            routes.len()
        ));
    }
    for (i, route) in routes.iter().enumerate() {
        if route.version == 0 {
            return fail("versions are numbered from 1".into());
        }
        if routes[..i].iter().any(|r| r.version == route.version) {
            return fail(format!(
                "version {} is routed twice; give each version one weight",
                route.version
            ));
        }
        if route.weight == 0 {
            return fail(format!(
                "version {} has weight 0; remove it instead",
                route.version
            ));
        }
    }
    let sum: u64 = routes.iter().map(|r| u64::from(r.weight)).sum();
    if sum != 100 {
        return fail(format!("the weights sum to {sum}; they must sum to 100"));
    }
    Ok(())
}

/// `3=90,4=10`.
pub fn format_traffic(routes: &[TrafficRoute]) -> String {
    routes
        .iter()
        .map(|r| format!("{}={}", r.version, r.weight))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a limit: a non-negative integer, `"unlimited"`, or `null`.
fn limit<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<u32>, D::Error> {
    struct LimitVisitor;

    impl<'de> Visitor<'de> for LimitVisitor {
        type Value = Option<u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number of requests or tokens per minute, or \"unlimited\"")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is too large: use at most {}", u32::MAX)))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
            let v = u64::try_from(v)
                .map_err(|_| E::custom(format!("{v} is negative: use a positive number")))?;
            self.visit_u64(v)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            if v == "unlimited" {
                Ok(None)
            } else {
                Err(E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }

        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> std::result::Result<Self::Value, D::Error> {
            deserializer.deserialize_any(LimitVisitor)
        }
    }

    deserializer.deserialize_any(LimitVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(pairs: &[(u32, u32)]) -> Vec<TrafficRoute> {
        pairs
            .iter()
            .map(|&(version, weight)| TrafficRoute { version, weight })
            .collect()
    }

    fn config() -> EndpointConfig {
        EndpointConfig::new("prod.support.assistant".into(), routes(&[(1, 100)]))
    }

    fn message(result: Result<impl fmt::Debug>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn traffic_parses_pairs_with_spaces_and_v_prefixes() {
        assert_eq!(
            parse_traffic("3=90, v4 = 10").unwrap(),
            routes(&[(3, 90), (4, 10)])
        );
        assert_eq!(parse_traffic("7=100").unwrap(), routes(&[(7, 100)]));
        assert_eq!(format_traffic(&routes(&[(3, 90), (4, 10)])), "3=90,4=10");
    }

    #[test]
    fn traffic_refuses_malformed_entries_with_an_example() {
        for text in ["", "3", "3=", "=90", "x=100", "3=90;4=10", "3=-1", "3=9.5"] {
            let err = message(parse_traffic(text));
            assert!(err.contains("e.g. 3=90,4=10"), "{text:?}: {err}");
        }
    }

    #[test]
    fn traffic_refuses_bad_splits_saying_why() {
        let cases = [
            ("3=90,4=20", "sum to 110"),
            ("3=50", "sum to 50"),
            ("3=50,3=50", "version 3 is routed twice"),
            ("3=100,4=0", "version 4 has weight 0"),
            ("0=100", "numbered from 1"),
            (
                "1=10,2=10,3=10,4=10,5=10,6=10,7=10,8=10,9=10,10=5,11=5",
                "1 to 10 versions, not 11",
            ),
        ];
        for (text, expected) in cases {
            let err = message(parse_traffic(text));
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(message(validate_traffic(&[])).contains("not 0"));
        let ten: Vec<(u32, u32)> = (1..=10).map(|v| (v, 10)).collect();
        assert!(validate_traffic(&routes(&ten)).is_ok());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config();
        assert!(c.validate().is_ok());
        assert_eq!(c.limits.per_principal_requests_per_minute, Some(600));
        assert_eq!(c.limits.endpoint_tokens_per_minute, None);
        assert_eq!(
            (c.max_concurrency, c.max_queue, c.idle_unload_secs),
            (4, 64, 900)
        );
        assert_eq!(c.log, LogPolicy::default());
        assert_eq!(c.log.payloads, Payloads::Redacted);
        assert_eq!(c.guardrails, GuardrailPolicy::default());
        // A stored document with only the model and traffic reads back with the defaults.
        let stored: EndpointConfig = serde_json::from_str(
            r#"{"model":"prod.support.assistant","traffic":[{"version":1,"weight":100}]}"#,
        )
        .unwrap();
        assert_eq!(stored, c);
    }

    #[test]
    fn json_round_trips_and_unlimited_is_null() {
        let mut c = config();
        c.limits.per_principal_requests_per_minute = None;
        c.limits.endpoint_tokens_per_minute = Some(50_000);
        let json = serde_json::to_value(&c).unwrap();
        assert!(json["limits"]["per_principal_requests_per_minute"].is_null());
        assert_eq!(json["log"]["payloads"], "redacted");
        let back: EndpointConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_fields_are_refused_everywhere() {
        let err = serde_json::from_str::<EndpointConfig>(
            r#"{"model":"a.b.c","traffic":[],"colour":"red"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = message(EndpointSettings::from_toml("[limits]\nrpm = 5\n"));
        assert!(err.contains("rpm"), "{err}");
        let err = message(EndpointSettings::from_toml("model = \"prod.x.y\"\n"));
        assert!(err.contains("--model and --traffic"), "{err}");
    }

    #[test]
    fn settings_from_toml_replace_what_they_name() {
        let settings = EndpointSettings::from_toml(
            "max_concurrency = 8\nidle_unload_secs = 0\n\
             [limits]\nper_principal_requests_per_minute = \"unlimited\"\n\
             endpoint_tokens_per_minute = 100000\n\
             [log]\nsample_rate = 0.25\npayloads = \"none\"\n\
             [guardrails]\noutput_pii = \"block\"\n",
        )
        .unwrap();
        assert!(!settings.is_empty());
        let c = settings.apply(config());
        assert!(c.validate().is_ok());
        assert_eq!(c.max_concurrency, 8);
        assert_eq!(c.max_queue, 64);
        assert_eq!(c.idle_unload_secs, 0);
        assert_eq!(c.limits.per_principal_requests_per_minute, None);
        assert_eq!(c.limits.endpoint_tokens_per_minute, Some(100_000));
        assert_eq!(c.log.sample_rate, 0.25);
        assert_eq!(c.log.payloads, Payloads::None);
        assert_eq!(c.guardrails.output_pii, citadel_guard::PiiAction::Block);
        assert!(EndpointSettings::from_toml("").unwrap().is_empty());
        assert_eq!(EndpointSettings::default().apply(config()), config());
    }

    #[test]
    fn invalid_values_name_the_field_and_the_range() {
        let cases: [(&str, &str); 8] = [
            ("max_concurrency = 0", "max_concurrency is 0"),
            ("max_concurrency = 5000", "1 to 1024"),
            ("max_queue = 100001", "max_queue is 100001"),
            ("idle_unload_secs = 99999999", "30 days"),
            ("[log]\nsample_rate = 1.5", "log.sample_rate is 1.5"),
            ("[log]\nsample_rate = nan", "log.sample_rate is NaN"),
            (
                "[limits]\nendpoint_requests_per_minute = 0",
                "limits.endpoint_requests_per_minute is 0",
            ),
            ("[guardrails]\nmax_input_tokens = 0", "guardrails:"),
        ];
        for (toml, expected) in cases {
            let settings = EndpointSettings::from_toml(toml).unwrap();
            let err = message(settings.apply(config()).validate());
            assert!(err.contains(expected), "{toml}: {err}");
        }
        let err = message(EndpointSettings::from_toml(
            "[limits]\nendpoint_requests_per_minute = -5",
        ));
        assert!(err.contains("negative"), "{err}");
        let err = message(EndpointSettings::from_toml(
            "[limits]\nendpoint_requests_per_minute = \"lots\"",
        ));
        assert!(err.contains("unlimited"), "{err}");
        let mut bad_model = config();
        bad_model.model = "prod.support".into();
        assert!(message(bad_model.validate()).contains("CATALOG.SCHEMA.MODEL"));
    }
}
