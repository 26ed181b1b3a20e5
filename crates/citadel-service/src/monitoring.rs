//! Drift of an endpoint's traffic in the service layer: reads the inference log over a baseline
//! span and the window after it, reduces each request to an [`Observation`] (lengths, tokens,
//! latency, blocked or refused: no text is kept), and compares them with
//! [`citadel_monitor::drift`].
//!
//! The audit log's OCSF export for SIEMs, once or followed, is in [`ocsf_export`].
//!
//! [`Citadel::endpoint_drift`] is a principal's read of the log: it needs `MANAGE` on the
//! endpoint, as reading the log itself does, and is audited. [`Citadel::serving_drift`] is the
//! gateway's own periodic check: it runs as the gateway process that wrote those rows, returns
//! only aggregate statistics, and is not audited (it would add an event per endpoint every few
//! minutes and hands no record to anyone).

mod ocsf_export;
mod tracker;

pub(crate) use tracker::DriftTracker;

use citadel_core::{FullName, Privilege, SecurableId, SecurableKind};
use citadel_store::{InferenceCursor, InferenceLogRecord};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use citadel_monitor::drift::{is_refusal, Observation};
pub use citadel_monitor::drift::{
    DriftReport, DriftSummary, Feature, FeatureDrift, Served, Span, Thresholds, Verdict,
    VersionDrift, DEFAULT_BASELINE, DEFAULT_WINDOW,
};

pub use ocsf_export::AuditStart;

use crate::{Citadel, Context, Error, InferenceStatus, Result, SecurableRef};

/// Rows read from the database at a time.
const READ_PAGE_ROWS: u32 = 4096;
/// The most requests one span may hold; a longer span is refused with advice to shorten it.
pub const MAX_SPAN_ROWS: usize = 2_000_000;
/// The shortest window or baseline.
const MIN_SPAN: Duration = Duration::minutes(1);
/// The longest window.
const MAX_WINDOW: Duration = Duration::days(30);
/// The longest baseline.
const MAX_BASELINE: Duration = Duration::days(90);

/// Checks the window and baseline lengths.
fn check_spans(window: Duration, baseline: Duration) -> Result<()> {
    let human = citadel_data::format_duration;
    if !(MIN_SPAN..=MAX_WINDOW).contains(&window) {
        return Err(Error::InvalidInput(format!(
            "the drift window must be from 1m to 30d, not {}",
            human(window)
        )));
    }
    if !(MIN_SPAN..=MAX_BASELINE).contains(&baseline) {
        return Err(Error::InvalidInput(format!(
            "the drift baseline must be from 1m to 90d, not {}",
            human(baseline)
        )));
    }
    Ok(())
}

/// One logged request as drift sees it.
fn observation(row: &InferenceLogRecord) -> Observation {
    let served = match row.status.parse::<InferenceStatus>() {
        Ok(InferenceStatus::Ok) => Served::Answered,
        Ok(InferenceStatus::Blocked) => Served::Blocked,
        _ => Served::NotServed,
    };
    let chars = |text: &String| text.chars().count() as u64;
    Observation {
        model_version: row.model_version,
        served,
        prompt_chars: row.prompt.as_ref().map(chars),
        completion_chars: row.completion.as_ref().map(chars),
        tokens_in: row.tokens_in,
        tokens_out: row.tokens_out,
        latency_ms: row.latency_ms,
        refusal: row.completion.as_deref().map(is_refusal),
    }
}

/// `window` compared with `baseline` at the default thresholds.
fn report(
    endpoint: &str,
    spans: (Span, Span),
    baseline: &[Observation],
    window: &[Observation],
) -> DriftReport {
    DriftReport::build(endpoint, spans, baseline, window, Thresholds::default())
}

impl Citadel {
    /// The drift of `endpoint`'s traffic over the last `window` against the `baseline` before
    /// it, for all its traffic and each model version. Needs `MANAGE` on the endpoint (as reading
    /// its log does); audited with the spans and the verdict.
    pub async fn endpoint_drift(
        &self,
        ctx: &Context,
        endpoint: &FullName,
        window: Duration,
        baseline: Duration,
    ) -> Result<DriftReport> {
        const ACTION: &str = "endpoint.drift.read";
        check_spans(window, baseline)?;
        let target = SecurableRef::new(SecurableKind::Endpoint, endpoint.clone())?;
        self.authorize_read(ctx, ACTION, Privilege::Manage, &target)
            .await?;
        let endpoint_row = self.securable_named(&target).await?;
        let outcome = self
            .drift_of(
                endpoint_row.id,
                &endpoint.to_string(),
                OffsetDateTime::now_utc(),
                window,
                baseline,
            )
            .await;
        let params = json!({
            "window_secs": window.whole_seconds(),
            "baseline_secs": baseline.whole_seconds(),
            "verdict": outcome.as_ref().ok().map(|r| r.verdict),
            "score": outcome.as_ref().ok().and_then(|r| r.score),
        });
        let event = ctx
            .event(ACTION)
            .on(target.audit_label())
            .with_params(params);
        let event = match &outcome {
            Ok(_) => event,
            Err(err) => event.failed(err.to_string()),
        };
        self.store.audit(event).await?;
        outcome
    }

    /// The gateway's periodic drift check of a serving endpoint, at `now`: no principal and no
    /// audit event (see the module documentation). Reads only the rows written since the last
    /// check of the same endpoint and spans (see the `tracker` module). Front ends acting for a
    /// principal use [`Citadel::endpoint_drift`].
    pub async fn serving_drift(
        &self,
        endpoint_id: SecurableId,
        endpoint_name: &str,
        now: OffsetDateTime,
        window: Duration,
        baseline: Duration,
    ) -> Result<DriftReport> {
        check_spans(window, baseline)?;
        let spans = Span::window_and_baseline(now, window, baseline);
        let (baseline_rows, window_rows) = self
            .tracked_observations(endpoint_id, spans, window, baseline)
            .await?;
        Ok(report(endpoint_name, spans, &baseline_rows, &window_rows))
    }

    async fn drift_of(
        &self,
        endpoint_id: SecurableId,
        endpoint_name: &str,
        now: OffsetDateTime,
        window: Duration,
        baseline: Duration,
    ) -> Result<DriftReport> {
        let spans = Span::window_and_baseline(now, window, baseline);
        let window_rows = self.observations(endpoint_id, spans.0, "--window").await?;
        let baseline_rows = self
            .observations(endpoint_id, spans.1, "--baseline")
            .await?;
        Ok(report(endpoint_name, spans, &baseline_rows, &window_rows))
    }

    /// The endpoint's requests in `span`, one page at a time; refuses spans of more than
    /// [`MAX_SPAN_ROWS`] requests, naming `flag` to shorten.
    async fn observations(
        &self,
        endpoint_id: SecurableId,
        span: Span,
        flag: &str,
    ) -> Result<Vec<Observation>> {
        let mut observations = Vec::new();
        let mut after: Option<InferenceCursor> = None;
        loop {
            let page = self
                .store
                .inference_log_page(
                    endpoint_id,
                    Some(span.start),
                    Some(span.end),
                    after,
                    READ_PAGE_ROWS,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.cursor());
            observations.extend(page.iter().map(|stored| observation(&stored.record)));
            if observations.len() > MAX_SPAN_ROWS {
                return Err(Error::InvalidInput(format!(
                    "the span {flag} covers more than {MAX_SPAN_ROWS} requests; pass a shorter \
                     {flag}"
                )));
            }
        }
        Ok(observations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, prompt: Option<&str>, completion: Option<&str>) -> InferenceLogRecord {
        InferenceLogRecord {
            time: OffsetDateTime::UNIX_EPOCH,
            endpoint: "prod.endpoints.bot".into(),
            endpoint_id: SecurableId::new(),
            model: Some("prod.models.bot".into()),
            model_version: Some(3),
            principal_id: None,
            principal_name: None,
            request_id: "r1".into(),
            route: "chat".into(),
            prompt: prompt.map(Into::into),
            completion: completion.map(Into::into),
            tokens_in: 5,
            tokens_out: 7,
            latency_ms: 120,
            ttft_ms: None,
            guardrails: "[]".into(),
            status: status.into(),
            http_status: 200,
            client_addr: None,
        }
    }

    #[test]
    fn rows_become_observations_without_text() {
        let o = observation(&row("ok", Some("héllo"), Some("I cannot help with that.")));
        assert_eq!(o.served, Served::Answered);
        assert_eq!(o.prompt_chars, Some(5));
        assert_eq!(o.completion_chars, Some(24));
        assert_eq!(o.refusal, Some(true));
        assert_eq!((o.tokens_in, o.tokens_out, o.latency_ms), (5, 7, 120));
        assert_eq!(o.model_version, Some(3));
        let o = observation(&row("blocked", None, None));
        assert_eq!(o.served, Served::Blocked);
        assert_eq!((o.prompt_chars, o.refusal), (None, None));
        assert_eq!(
            observation(&row("rate_limited", None, None)).served,
            Served::NotServed
        );
    }

    #[test]
    fn spans_are_bounded() {
        assert!(check_spans(DEFAULT_WINDOW, DEFAULT_BASELINE).is_ok());
        let err = check_spans(Duration::seconds(10), DEFAULT_BASELINE).unwrap_err();
        assert!(err.to_string().contains("window"), "{err}");
        let err = check_spans(DEFAULT_WINDOW, Duration::days(365)).unwrap_err();
        assert!(err.to_string().contains("baseline"), "{err}");
    }
}
