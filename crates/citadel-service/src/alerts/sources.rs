//! Where the alert rules' observations come from: refused authentications, denied accesses to
//! models and secrets, and dangerous model scans from the audit log; invocation errors and
//! latencies from the inference log; each serving endpoint's drift score from the drift monitor.
//! Each source is read back only as far as the widest window of the rules that use it.

use std::collections::HashMap;

use citadel_audit::{AuditEvent, Outcome};
use citadel_core::TokenId;
use citadel_monitor::alerts::{Label, Metric, Observation, RuleSet};
use citadel_store::AuditFilter;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::monitoring::DEFAULT_BASELINE;
use crate::{Citadel, Result};

/// Most events or rows read per metric and evaluation.
const READ_LIMIT: u32 = 100_000;

impl Citadel {
    /// Every observation the rules need at `now`.
    pub(super) async fn alert_observations(
        &self,
        rules: &RuleSet,
        now: OffsetDateTime,
    ) -> Result<Vec<Observation>> {
        let mut out = Vec::new();
        for metric in Metric::ALL {
            let Some(lookback) = rules.lookback(metric) else {
                continue;
            };
            let since = now - lookback;
            match metric {
                Metric::FailedAuthentications => {
                    out.extend(self.failed_authentications(since).await?);
                }
                Metric::DeniedAccesses => out.extend(
                    self.audit_since(None, Some(Outcome::Denied), since)
                        .await?
                        .iter()
                        .filter_map(denied_access),
                ),
                Metric::DangerousModelScans => out.extend(
                    self.audit_since(Some("model.*"), None, since)
                        .await?
                        .iter()
                        .filter_map(dangerous_scan),
                ),
                // One read of the inference log serves both; see below.
                Metric::InvocationErrors | Metric::LatencyP99Ms => {}
                Metric::DriftScore => out.extend(self.drift_scores(now, lookback).await?),
            }
        }
        out.extend(self.inference_observations(rules, now).await?);
        Ok(out)
    }

    /// Invocation errors and answered requests' latencies, from one read of the inference log
    /// as far back as the wider of the two metrics' windows.
    async fn inference_observations(
        &self,
        rules: &RuleSet,
        now: OffsetDateTime,
    ) -> Result<Vec<Observation>> {
        let starts: Vec<(Metric, OffsetDateTime)> =
            [Metric::InvocationErrors, Metric::LatencyP99Ms]
                .into_iter()
                .filter_map(|metric| rules.lookback(metric).map(|l| (metric, now - l)))
                .collect();
        let Some(since) = starts.iter().map(|(_, start)| *start).min() else {
            return Ok(Vec::new());
        };
        let samples = self
            .store
            .inference_samples_since(since, READ_LIMIT)
            .await?;
        let mut out = Vec::new();
        for sample in samples {
            for (metric, start) in &starts {
                if sample.time < *start {
                    continue;
                }
                let observation = if *metric == Metric::InvocationErrors {
                    (sample.http_status >= 500).then(|| Observation::event(*metric, sample.time))
                } else {
                    (sample.status == "ok").then(|| {
                        Observation::measured(*metric, sample.time, sample.latency_ms as f64)
                    })
                };
                out.extend(observation.map(|o| o.with(Label::Endpoint, sample.endpoint.clone())));
            }
        }
        Ok(out)
    }

    /// Each serving endpoint's drift score over the rule's window against the week before it
    /// (the drift monitor's default baseline), observed now. An endpoint whose drift cannot be
    /// computed (a window the drift monitor refuses, an unreadable log) is logged and skipped,
    /// so it does not hide the other sources.
    async fn drift_scores(
        &self,
        now: OffsetDateTime,
        window: std::time::Duration,
    ) -> Result<Vec<Observation>> {
        let window = time::Duration::try_from(window)
            .map_err(|e| crate::Error::InvalidInput(format!("drift window: {e}")))?;
        let mut out = Vec::new();
        for endpoint in self.serving_endpoints().await? {
            let report = self
                .serving_drift(endpoint.id, &endpoint.name, now, window, DEFAULT_BASELINE)
                .await;
            match report {
                Ok(report) => out.extend(report.score.map(|score| {
                    Observation::measured(Metric::DriftScore, now, score)
                        .with(Label::Endpoint, endpoint.name.clone())
                })),
                Err(err) => tracing::warn!(
                    endpoint = %endpoint.name,
                    error = %err,
                    "alerts: cannot compute the endpoint's drift score"
                ),
            }
        }
        Ok(out)
    }

    async fn audit_since(
        &self,
        action: Option<&str>,
        outcome: Option<Outcome>,
        since: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>> {
        Ok(self
            .store
            .audit_query(&AuditFilter {
                action: action.map(str::to_owned),
                outcome,
                since: Some(since),
                limit: Some(READ_LIMIT),
                ..AuditFilter::default()
            })
            .await?)
    }

    /// Refused authentications, labelled with the client's address (when the gateway knew it)
    /// and the principal whose token was refused (when the token was known: revoked, expired).
    async fn failed_authentications(&self, since: OffsetDateTime) -> Result<Vec<Observation>> {
        let events = self
            .audit_since(Some("auth.authenticate"), Some(Outcome::Denied), since)
            .await?;
        let mut principals: HashMap<String, Option<String>> = HashMap::new();
        let mut out = Vec::with_capacity(events.len());
        for event in &events {
            let Some(time) = event_time(event) else {
                continue;
            };
            let mut observation = Observation::event(Metric::FailedAuthentications, time);
            if let Some(address) = event.params["client_addr"].as_str() {
                observation = observation.with(Label::Address, address);
            }
            if let Some(token_id) = event.params["token_id"].as_str() {
                if !principals.contains_key(token_id) {
                    let name = self.token_owner(token_id).await?;
                    principals.insert(token_id.to_owned(), name);
                }
                if let Some(Some(name)) = principals.get(token_id) {
                    observation = observation.with(Label::Principal, name.clone());
                }
            }
            out.push(observation);
        }
        Ok(out)
    }

    async fn token_owner(&self, token_id: &str) -> Result<Option<String>> {
        let Ok(id) = token_id.parse::<TokenId>() else {
            return Ok(None);
        };
        let Some(token) = self.store.token(id).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .principal(token.principal_id)
            .await?
            .map(|p| p.name))
    }
}

fn event_time(event: &AuditEvent) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&event.time, &Rfc3339).ok()
}

/// A denied read or write of a model or a secret scope.
fn denied_access(event: &AuditEvent) -> Option<Observation> {
    let securable = event.securable.as_deref()?;
    if !(securable.starts_with("model:") || securable.starts_with("secret_scope:")) {
        return None;
    }
    Some(
        Observation::event(Metric::DeniedAccesses, event_time(event)?)
            .with(Label::Principal, event.actor_name.clone())
            .with(Label::Securable, securable),
    )
}

/// A scan that found dangerous content, or an acquisition refused for it.
fn dangerous_scan(event: &AuditEvent) -> Option<Observation> {
    let scanned_dangerous =
        event.action == "model.scan" && event.params["verdict"].as_str() == Some("dangerous");
    let refused_dangerous = event.outcome == Outcome::Failed
        && event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains(" is dangerous: "));
    if !(scanned_dangerous || refused_dangerous) {
        return None;
    }
    let model = event
        .securable
        .as_deref()
        .map(|s| s.trim_start_matches("model:").to_owned())
        .or_else(|| event.params["path"].as_str().map(str::to_owned))?;
    Some(
        Observation::event(Metric::DangerousModelScans, event_time(event)?)
            .with(Label::Principal, event.actor_name.clone())
            .with(Label::Model, model),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: &str, outcome: Outcome, securable: Option<&str>) -> AuditEvent {
        AuditEvent {
            seq: 1,
            time: "2026-01-01T12:00:00.000000Z".into(),
            actor_id: None,
            actor_name: "mallory".into(),
            action: action.into(),
            securable: securable.map(str::to_owned),
            params: json!({}),
            outcome,
            reason: None,
            request_id: "r".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn only_denials_on_models_and_secrets_count_as_denied_accesses() {
        let model = event("model.read", Outcome::Denied, Some("model:prod.models.bot"));
        let observation = denied_access(&model).unwrap();
        assert_eq!(observation.labels[&Label::Principal], "mallory");
        assert!(denied_access(&event(
            "secret.read",
            Outcome::Denied,
            Some("secret_scope:a.b.c")
        ))
        .is_some());
        assert!(denied_access(&event(
            "dataset.read",
            Outcome::Denied,
            Some("dataset:a.b.c")
        ))
        .is_none());
        assert!(denied_access(&event("auth.authenticate", Outcome::Denied, None)).is_none());
    }

    #[test]
    fn dangerous_scans_and_refused_acquisitions_count() {
        let mut scan = event("model.scan", Outcome::Failed, None);
        scan.params = json!({ "path": "/tmp/evil.bin", "verdict": "dangerous" });
        assert_eq!(
            dangerous_scan(&scan).unwrap().labels[&Label::Model],
            "/tmp/evil.bin"
        );
        let mut pull = event("model.pull", Outcome::Failed, Some("model:dev.models.x"));
        pull.reason = Some("model.bin is dangerous: imports os.system".into());
        assert_eq!(
            dangerous_scan(&pull).unwrap().labels[&Label::Model],
            "dev.models.x"
        );
        let mut clean = event("model.scan", Outcome::Success, None);
        clean.params = json!({ "path": "/tmp/ok", "verdict": "safe" });
        assert!(dangerous_scan(&clean).is_none());
        let mut other = event("model.pull", Outcome::Failed, Some("model:dev.models.x"));
        other.reason = Some("the hub answered 404".into());
        assert!(dangerous_scan(&other).is_none());
    }
}
