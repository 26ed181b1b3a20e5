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

/// Evaluates drift for every serving endpoint at `now`, records the scores in the gateway's
/// metrics and logs drift as warnings; returns the reports. An endpoint whose log cannot be read
/// is logged and skipped, so one failure does not hide the others' drift.
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
                record(&gateway.metrics, &report);
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

/// Sets the gauge of each assessed feature and of each summary's score; removes those without
/// enough data, so a stale score never lingers.
fn record(metrics: &Metrics, report: &DriftReport) {
    for (version, summary) in report.summaries() {
        let version = version_label(version);
        let labels = |feature: &str| DriftLabels {
            endpoint: report.endpoint.clone(),
            version: version.clone(),
            feature: feature.to_owned(),
        };
        for feature in &summary.features {
            let labels = labels(feature.feature.as_str());
            match feature
                .psi
                .filter(|_| feature.verdict != Verdict::InsufficientData)
            {
                Some(psi) => {
                    metrics.drift_score.get_or_create(&labels).set(psi);
                }
                None => {
                    metrics.drift_score.remove(&labels);
                }
            }
        }
        match summary.score {
            Some(score) => {
                metrics
                    .drift_score
                    .get_or_create(&labels("score"))
                    .set(score);
            }
            None => {
                metrics.drift_score.remove(&labels("score"));
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
