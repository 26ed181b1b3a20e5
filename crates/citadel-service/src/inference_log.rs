//! The inference table in the service layer: the record the gateway fills for every request, the
//! batched writer that stores records without ever blocking a response ([`InferenceLogWriter`]),
//! and the authorized, audited reads and exports (JSONL and Parquet) of an endpoint's log.
//!
//! Records are data-plane facts, not state changes: they are stored without an audit event each.
//! Reading or exporting them needs `MANAGE` on the endpoint (prompts and completions are user
//! data), and every read and export is audited.

mod export;
#[cfg(test)]
pub(crate) mod tests;
mod writer;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use citadel_core::{FullName, PrincipalId, Privilege, SecurableId, SecurableKind};
use citadel_store::{InferenceLogRecord, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Error, Result, SecurableRef};

pub use export::{ExportReport, LogFormat};
pub use writer::{InferenceLogConfig, InferenceLogWriter, RecordOutcome};

/// The most rows [`Citadel::query_inference_log`] returns; larger reads are exports.
pub const MAX_QUERY_ROWS: u32 = 10_000;

/// Which API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceRoute {
    /// `/v1/completions`.
    Completions,
    /// `/v1/chat/completions`.
    Chat,
    /// `/serving-endpoints/{name}/invocations`.
    Invocations,
}

impl InferenceRoute {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completions => "completions",
            Self::Chat => "chat",
            Self::Invocations => "invocations",
        }
    }
}

impl FromStr for InferenceRoute {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "completions" => Ok(Self::Completions),
            "chat" => Ok(Self::Chat),
            "invocations" => Ok(Self::Invocations),
            other => Err(Error::InvalidInput(format!(
                "unknown route {other:?}: expected completions, chat or invocations"
            ))),
        }
    }
}

impl fmt::Display for InferenceRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a request ended. Every status but [`InferenceStatus::Ok`] is always logged, whatever the
/// sampling rate: refused and failed requests matter most to security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceStatus {
    /// Answered.
    Ok,
    /// Refused by a guardrail.
    Blocked,
    /// Refused by a rate limit (429).
    RateLimited,
    /// Refused because the model's queue was full (503).
    Overloaded,
    /// Refused by authorization (401/403).
    Denied,
    /// Refused as malformed (400).
    Invalid,
    /// The engine did not answer in time (504).
    Timeout,
    /// The client went away before the answer was complete.
    Cancelled,
    /// The engine or the gateway failed (5xx).
    Error,
}

impl InferenceStatus {
    const ALL: [Self; 9] = [
        Self::Ok,
        Self::Blocked,
        Self::RateLimited,
        Self::Overloaded,
        Self::Denied,
        Self::Invalid,
        Self::Timeout,
        Self::Cancelled,
        Self::Error,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Blocked => "blocked",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }
}

impl FromStr for InferenceStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown inference status {s:?}: expected one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for InferenceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request as the gateway records it (and as JSONL exports write it, one object per line).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceRecord {
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The endpoint's full name, `catalog.schema.name`.
    pub endpoint: String,
    /// The endpoint's securable id.
    pub endpoint_id: SecurableId,
    /// The model's full name, once a version was chosen (`None` when refused before routing).
    pub model: Option<String>,
    pub model_version: Option<u32>,
    pub principal_id: Option<PrincipalId>,
    pub principal_name: Option<String>,
    pub request_id: String,
    pub route: InferenceRoute,
    /// Already redacted as the endpoint's policy says (in full, PII-masked, or `None`).
    pub prompt: Option<String>,
    /// Already redacted as the endpoint's policy says (in full, PII-masked, or `None`).
    pub completion: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency_ms: u64,
    /// Time to first token, for streamed answers.
    pub ttft_ms: Option<u64>,
    /// Guardrail decisions, in the order they were taken.
    pub guardrails: Vec<serde_json::Value>,
    pub status: InferenceStatus,
    pub http_status: u16,
    pub client_addr: Option<String>,
}

impl fmt::Debug for InferenceRecord {
    /// Prompts and completions are shown by length only, so a logged record leaks no user text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceRecord")
            .field("time", &self.time)
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("model_version", &self.model_version)
            .field("principal_name", &self.principal_name)
            .field("request_id", &self.request_id)
            .field("route", &self.route)
            .field(
                "prompt_chars",
                &self.prompt.as_ref().map(|p| p.chars().count()),
            )
            .field(
                "completion_chars",
                &self.completion.as_ref().map(|c| c.chars().count()),
            )
            .field("status", &self.status)
            .field("http_status", &self.http_status)
            .finish_non_exhaustive()
    }
}

impl InferenceRecord {
    fn to_store(&self) -> InferenceLogRecord {
        InferenceLogRecord {
            time: self.time,
            endpoint: self.endpoint.clone(),
            endpoint_id: self.endpoint_id,
            model: self.model.clone(),
            model_version: self.model_version,
            principal_id: self.principal_id,
            principal_name: self.principal_name.clone(),
            request_id: self.request_id.clone(),
            route: self.route.as_str().to_owned(),
            prompt: self.prompt.clone(),
            completion: self.completion.clone(),
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            guardrails: serde_json::Value::Array(self.guardrails.clone()).to_string(),
            status: self.status.as_str().to_owned(),
            http_status: self.http_status,
            client_addr: self.client_addr.clone(),
        }
    }

    fn from_store(row: InferenceLogRecord) -> Result<Self> {
        let corrupt = |what: &'static str, value: &str| {
            Error::Store(StoreError::Corrupt {
                what,
                value: value.chars().take(80).collect(),
            })
        };
        let route = row
            .route
            .parse()
            .map_err(|_| corrupt("inference_log.route", &row.route))?;
        let status = row
            .status
            .parse()
            .map_err(|_| corrupt("inference_log.status", &row.status))?;
        let guardrails = serde_json::from_str(&row.guardrails)
            .map_err(|_| corrupt("inference_log.guardrails", &row.guardrails))?;
        Ok(Self {
            time: row.time,
            endpoint: row.endpoint,
            endpoint_id: row.endpoint_id,
            model: row.model,
            model_version: row.model_version,
            principal_id: row.principal_id,
            principal_name: row.principal_name,
            request_id: row.request_id,
            route,
            prompt: row.prompt,
            completion: row.completion,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            latency_ms: row.latency_ms,
            ttft_ms: row.ttft_ms,
            guardrails,
            status,
            http_status: row.http_status,
            client_addr: row.client_addr,
        })
    }
}

impl Citadel {
    /// Starts a batched writer of inference records into this home's database; see
    /// [`InferenceLogWriter`]. Must be called within a Tokio runtime (it spawns the flushing task).
    pub fn inference_log_writer(&self, config: InferenceLogConfig) -> Result<InferenceLogWriter> {
        InferenceLogWriter::start(self.store.clone(), config)
    }

    /// An endpoint's most recent records at or after `since`, at most `limit` (1 to
    /// [`MAX_QUERY_ROWS`]), oldest first. Needs `MANAGE` on the endpoint; audited.
    pub async fn query_inference_log(
        &self,
        ctx: &Context,
        endpoint: &FullName,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<InferenceRecord>> {
        const ACTION: &str = "endpoint.logs.read";
        if limit == 0 || limit > MAX_QUERY_ROWS {
            return Err(Error::InvalidInput(format!(
                "a log query returns 1 to {MAX_QUERY_ROWS} rows, not {limit}; export larger \
                 ranges to a file instead"
            )));
        }
        let target = SecurableRef::new(SecurableKind::Endpoint, endpoint.clone())?;
        self.authorize_read(ctx, ACTION, Privilege::Manage, &target)
            .await?;
        let endpoint_row = self.securable_named(&target).await?;
        let rows = self
            .store
            .recent_inference_log(endpoint_row.id, since, limit)
            .await?;
        let records = rows
            .into_iter()
            .map(|stored| InferenceRecord::from_store(stored.record))
            .collect::<Result<Vec<_>>>()?;
        self.store
            .audit(
                ctx.event(ACTION)
                    .on(target.audit_label())
                    .with_params(json!({
                        "since": since.map(export::rfc3339),
                        "limit": limit,
                        "rows": records.len(),
                    })),
            )
            .await?;
        Ok(records)
    }

    /// Writes an endpoint's records at or after `since` and before `until` to `out`, a new file
    /// (mode 0600: prompts are user data), as JSONL or Parquet, reading one page at a time. The
    /// file appears complete or not at all. Needs `MANAGE` on the endpoint; the export and its
    /// outcome are audited.
    pub async fn export_inference_log(
        &self,
        ctx: &Context,
        endpoint: &FullName,
        format: LogFormat,
        since: Option<OffsetDateTime>,
        until: Option<OffsetDateTime>,
        out: &Path,
    ) -> Result<ExportReport> {
        const ACTION: &str = "endpoint.logs.export";
        let target = SecurableRef::new(SecurableKind::Endpoint, endpoint.clone())?;
        self.authorize_read(ctx, ACTION, Privilege::Manage, &target)
            .await?;
        let endpoint_row = self.securable_named(&target).await?;
        let outcome = export::export(&self.store, endpoint_row.id, format, since, until, out).await;
        let params = json!({
            "format": format.as_str(),
            "since": since.map(export::rfc3339),
            "until": until.map(export::rfc3339),
            "path": out.display().to_string(),
            "rows": outcome.as_ref().ok().map(|report| report.rows),
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
}
