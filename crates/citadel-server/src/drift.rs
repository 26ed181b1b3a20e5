//! The gateway's periodic drift check: every `drift_interval_secs`, each serving endpoint's last
//! hour of traffic is compared with the week before it ([`Citadel::serving_drift`]); drifting
//! features are logged as warnings and every score goes to the `citadel_drift_score` gauge.
//!
//! [`evaluate`] is the one entry point: the scheduler calls it, and so can an alert engine that
//! wants the reports themselves.
//!
//! [`Citadel::serving_drift`]: citadel_service::Citadel::serving_drift

use std::sync::Arc;
use std::time::Duration;

use citadel_service::monitoring::{
    DriftReport, DriftSummary, Verdict, DEFAULT_BASELINE, DEFAULT_WINDOW,
};
use time::OffsetDateTime;

use crate::metrics::{DriftLabels, Metrics};
use crate::state::Gateway;

/// Evaluates drift for every serving endpoint at `now`, replaces the scores in the gateway's
/// metrics and logs drift as warnings; returns the reports. An endpoint whose log cannot be read
/// is logged and skipped (its scores are absent until it can), so one failure does not hide the
/// others' drift.
pub async fn evaluate(gateway: &Gateway, now: OffsetDateTime) -> Vec<DriftReport> {
    let endpoints = match gateway.citadel.serving_endpoints().await {
        Ok(endpoints) => endpoints,
        Err(err) => {
            tracing::warn!(error = %err, "drift check: cannot list the serving endpoints");
            return Vec::new();
        }
    };
    let mut reports = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        match gateway
            .citadel
            .serving_drift(
                endpoint.id,
                &endpoint.name,
                now,
                DEFAULT_WINDOW,
                DEFAULT_BASELINE,
            )
            .await
        {
            Ok(report) => {
                warn_on_drift(&report);
                reports.push(report);
            }
            Err(err) => tracing::warn!(
                endpoint = %endpoint.name,
                error = %err,
                "drift check: cannot read the endpoint's inference log"
            ),
        }
    }
    record(&gateway.metrics, &reports);
    reports
}

/// Runs [`evaluate`] every `drift_interval_secs` until aborted; `None` when the interval is 0.
pub fn spawn_scheduler(gateway: Arc<Gateway>) -> Option<tokio::task::JoinHandle<()>> {
    let secs = gateway.config.drift_interval_secs;
    if secs == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let every = Duration::from_secs(secs);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            evaluate(&gateway, OffsetDateTime::now_utc()).await;
        }
    }))
}

/// Replaces the drift gauges with `reports`: a gauge per assessed feature and per summary's
/// score. Features without enough data, and endpoints or versions no longer reported (deleted,
/// unreadable, no traffic left in either span), have none, so a stale score never lingers.
fn record(metrics: &Metrics, reports: &[DriftReport]) {
    metrics.drift_score.clear();
    for report in reports {
        for (version, summary) in report.summaries() {
            let labels = |feature: &str| DriftLabels {
                endpoint: report.endpoint.clone(),
                version: version_label(version),
                feature: feature.to_owned(),
            };
            let assessed = summary
                .features
                .iter()
                .filter(|f| f.verdict != Verdict::InsufficientData)
                .filter_map(|f| Some((f.feature.as_str(), f.psi?)));
            for (feature, psi) in assessed.chain(summary.score.map(|s| ("score", s))) {
                metrics.drift_score.get_or_create(&labels(feature)).set(psi);
            }
        }
    }
}

/// A version as a label: its number, or `all` for the endpoint's whole traffic.
fn version_label(version: Option<u32>) -> String {
    version.map_or_else(|| "all".to_owned(), |v| v.to_string())
}

fn warn_on_drift(report: &DriftReport) {
    for (version, summary) in report.summaries() {
        if summary.verdict == Verdict::Drift {
            tracing::warn!(
                endpoint = %report.endpoint,
                version = %version_label(version),
                score = summary.score.unwrap_or_default(),
                features = %drifting_features(summary),
                "traffic drift: `citadel monitor drift {}` shows the details",
                report.endpoint
            );
        }
    }
}

fn drifting_features(summary: &DriftSummary) -> String {
    summary
        .features
        .iter()
        .filter(|f| f.verdict == Verdict::Drift)
        .map(|f| f.feature.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(endpoint: &str, psi: f64, verdict: &str) -> DriftReport {
        let summary = |features| json!({ "score": psi, "verdict": verdict, "features": features });
        let latency = json!({
            "feature": "latency_ms", "baseline_count": 500, "window_count": 200,
            "baseline_value": 250.0, "window_value": 500.0, "psi": psi, "ks": 0.9,
            "p_value": 1e-9, "verdict": verdict,
        });
        let mut version = summary(json!([]));
        version["model_version"] = json!(3);
        serde_json::from_value(json!({
            "endpoint": endpoint,
            "baseline": { "start": "2026-11-24T00:00:00Z", "end": "2026-12-01T00:00:00Z" },
            "window": { "start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z" },
            "thresholds": citadel_service::monitoring::Thresholds::default(),
            "score": psi,
            "verdict": verdict,
            "all": summary(json!([latency])),
            "versions": [version],
        }))
        .unwrap()
    }

    #[test]
    fn gauges_follow_the_latest_reports_and_skip_unassessed_features() {
        let metrics = Metrics::default();
        record(&metrics, &[report("prod.endpoints.bot", 0.5, "drift")]);
        let text = metrics.render().unwrap();
        for series in [
            "citadel_drift_score{endpoint=\"prod.endpoints.bot\",version=\"all\",feature=\"latency_ms\"} 0.5",
            "citadel_drift_score{endpoint=\"prod.endpoints.bot\",version=\"all\",feature=\"score\"} 0.5",
            "citadel_drift_score{endpoint=\"prod.endpoints.bot\",version=\"3\",feature=\"score\"} 0.5",
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
        // Too little data: the feature has no gauge.
        record(
            &metrics,
            &[report("prod.endpoints.bot", 0.5, "insufficient_data")],
        );
        assert!(!metrics.render().unwrap().contains("latency_ms"));
        // An endpoint no longer reported loses its gauges.
        record(&metrics, &[]);
        assert!(!metrics.render().unwrap().contains("prod.endpoints.bot"));
    }
}
