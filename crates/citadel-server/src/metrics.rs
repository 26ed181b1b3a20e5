//! The gateway's Prometheus metrics: requests, latency and time-to-first-token histograms,
//! tokens, rate-limited and blocked calls, authentication failures, model loads and traffic drift,
//! served as text at `/metrics` to a `metrics`-scoped token.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A call's route, as a label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are lower case in Prometheus
pub enum RouteLabel {
    completions,
    chat,
    invocations,
    control,
    oauth,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: RouteLabel,
    pub endpoint: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub endpoint: String,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Direction {
    input,
    output,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub endpoint: String,
    pub limit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BlockLabels {
    pub endpoint: String,
    pub rule: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub endpoint: String,
    /// A model version, or `all` for the endpoint's whole traffic.
    pub version: String,
    /// A drift feature (`prompt_chars`, `latency_ms`, `block_rate`, …), or `score` for the
    /// highest of them.
    pub feature: String,
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<EndpointLabels, Histogram>,
    pub time_to_first_token: Family<EndpointLabels, Histogram>,
    pub tokens: Family<TokenLabels, Counter>,
    pub rate_limited: Family<LimitLabels, Counter>,
    pub blocked: Family<BlockLabels, Counter>,
    pub auth_failures: Counter,
    pub model_loads: Counter,
    pub model_unloads: Counter,
    pub models_loaded: Gauge,
    pub log_dropped: Gauge,
    pub rate_limit_degraded: Gauge,
    pub drift_score: Family<DriftLabels, Gauge<f64, AtomicU64>>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 65 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("citadel");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let time_to_first_token = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        let rate_limited = Family::<LimitLabels, Counter>::default();
        let blocked = Family::<BlockLabels, Counter>::default();
        let auth_failures = Counter::default();
        let model_loads = Counter::default();
        let model_unloads = Counter::default();
        let models_loaded = Gauge::default();
        let log_dropped = Gauge::default();
        let rate_limit_degraded = Gauge::default();
        let drift_score = Family::<DriftLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "requests",
            "Requests by route, endpoint and HTTP status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            latency.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from the request's arrival to its first generated text",
            time_to_first_token.clone(),
        );
        registry.register(
            "tokens",
            "Tokens in prompts and completions",
            tokens.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "guardrail_blocked",
            "Requests refused by a guardrail, by rule",
            blocked.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused for a missing, malformed, unknown, revoked or expired credential",
            auth_failures.clone(),
        );
        registry.register(
            "model_loads",
            "Models loaded (verified first)",
            model_loads.clone(),
        );
        registry.register(
            "model_unloads",
            "Idle models unloaded",
            model_unloads.clone(),
        );
        registry.register(
            "models_loaded",
            "Models in memory now",
            models_loaded.clone(),
        );
        registry.register(
            "inference_log_dropped_rows",
            "Inference-table rows dropped because the writer's queue was full",
            log_dropped.clone(),
        );
        registry.register(
            "rate_limit_degraded",
            "1 when the shared rate-limit store is unreachable and limits are per replica",
            rate_limit_degraded.clone(),
        );
        registry.register(
            "drift_score",
            "Population stability index of the last drift window against its baseline, by \
             endpoint, model version and feature (absent while data is insufficient)",
            drift_score.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            time_to_first_token,
            tokens,
            rate_limited,
            blocked,
            auth_failures,
            model_loads,
            model_unloads,
            models_loaded,
            log_dropped,
            rate_limit_degraded,
            drift_score,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::default();
        let labels = RequestLabels {
            route: RouteLabel::chat,
            endpoint: "prod.support.assistant".into(),
            status: 200,
        };
        metrics.requests.get_or_create(&labels).inc();
        metrics
            .latency
            .get_or_create(&EndpointLabels {
                endpoint: "prod.support.assistant".into(),
            })
            .observe(0.002);
        metrics.auth_failures.inc();
        metrics
            .drift_score
            .get_or_create(&DriftLabels {
                endpoint: "prod.support.assistant".into(),
                version: "all".into(),
                feature: "latency_ms".into(),
            })
            .set(0.25);
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                "citadel_requests_total{route=\"chat\",endpoint=\"prod.support.assistant\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("citadel_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("citadel_auth_failures_total 1"), "{text}");
        assert!(
            text.contains(
                "citadel_drift_score{endpoint=\"prod.support.assistant\",version=\"all\",feature=\"latency_ms\"} 0.25"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
