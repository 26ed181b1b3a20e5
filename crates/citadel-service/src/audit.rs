//! Querying, verifying and exporting the audit log (needs `MANAGE` on the metastore). Exports and
//! verifications are themselves audited.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use citadel_audit::{AuditEvent, Outcome, VerifyReport};
use citadel_core::Privilege;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::monitoring::AuditStart;
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Filters of an audit query; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `*`.
    pub action: Option<String>,
    pub securable: Option<String>,
    /// `success`, `denied` or `failed`.
    pub outcome: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub limit: u32,
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Citadel's verifiable JSONL (see docs/AUDIT-VERIFY.md).
    Jsonl,
    /// OCSF events, one per line, for SIEMs.
    Ocsf,
}

impl FromStr for ExportFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "ocsf" => Ok(Self::Ocsf),
            _ => Err(Error::InvalidInput(format!(
                "unknown export format {s:?}; use jsonl or ocsf"
            ))),
        }
    }
}

/// The result of `audit verify`, printable and serializable.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditVerification {
    pub intact: bool,
    pub events_verified: u64,
    pub checkpoints_verified: u64,
    pub last_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// Sequence number of the first bad event.
    pub failed_seq: Option<u64>,
    pub failure_kind: Option<String>,
    pub failure: Option<String>,
}

impl From<VerifyReport> for AuditVerification {
    fn from(report: VerifyReport) -> Self {
        Self {
            intact: report.is_intact(),
            events_verified: report.events_verified,
            checkpoints_verified: report.checkpoints_verified,
            last_seq: report.last_seq,
            head_hash: report.head_hash,
            failed_seq: report.failure.as_ref().map(|f| f.seq),
            failure_kind: report.failure.as_ref().map(|f| f.kind.to_string()),
            failure: report.failure.as_ref().map(ToString::to_string),
        }
    }
}

impl fmt::Display for AuditVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(
                f,
                "audit log intact: {} events, {} signed checkpoints, head seq {}",
                self.events_verified,
                self.checkpoints_verified,
                self.last_seq.unwrap_or(0)
            ),
            Some(failure) => write!(
                f,
                "audit log TAMPERED: first bad event {failure} ({} events verified before it)",
                self.events_verified
            ),
        }
    }
}

impl AuditVerification {
    /// `Err` when the chain is broken, for front ends that exit non-zero.
    pub fn into_result(self) -> Result<()> {
        match self.failed_seq {
            Some(seq) if !self.intact => Err(Error::AuditTampered { seq }),
            _ => Ok(()),
        }
    }
}

impl Citadel {
    /// Events matching `filter`, oldest first (the most recent `limit`).
    pub async fn audit_query(
        &self,
        ctx: &Context,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>> {
        self.authorize_read(
            ctx,
            "audit.query",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let outcome = match &filter.outcome {
            Some(text) => Some(Outcome::parse(text).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown outcome {text:?}; use success, denied or failed"
                ))
            })?),
            None => None,
        };
        let filter = citadel_store::AuditFilter {
            actor: filter.actor.clone(),
            action: filter.action.clone(),
            securable: filter.securable.clone(),
            outcome,
            since: filter.since,
            until: filter.until,
            limit: Some(filter.limit.clamp(1, 100_000)),
        };
        Ok(self.store.audit_query(&filter).await?)
    }

    /// Verifies the whole chain against the signed checkpoints; the verification is audited.
    pub async fn audit_verify(&self, ctx: &Context) -> Result<AuditVerification> {
        const ACTION: &str = "audit.verify";
        self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
            .await?;
        let report = AuditVerification::from(self.store.verify_audit(&self.public_key).await?);
        let event = ctx.event(ACTION).with_params(json!({
            "intact": report.intact,
            "events_verified": report.events_verified,
            "failed_seq": report.failed_seq,
        }));
        self.store.audit(event).await?;
        Ok(report)
    }

    /// Writes an export of the events at or after `since` to `out`: the verifiable JSONL (with
    /// every checkpoint), audited once written, or OCSF lines (see
    /// [`Citadel::audit_export_ocsf`]).
    pub async fn audit_export<W: Write>(
        &self,
        ctx: &Context,
        format: ExportFormat,
        since: Option<OffsetDateTime>,
        out: W,
    ) -> Result<u64> {
        const ACTION: &str = "audit.export";
        if format == ExportFormat::Ocsf {
            let start = since.map_or(AuditStart::Beginning, AuditStart::Since);
            return self
                .audit_export_ocsf(ctx, start, None, std::future::pending(), out)
                .await;
        }
        self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
            .await?;
        let (_, count) = self
            .store
            .export_audit(out, &self.public_key, since)
            .await?;
        let event = ctx.event(ACTION).with_params(json!({
            "format": "jsonl",
            "events": count,
        }));
        self.store.audit(event).await?;
        Ok(count)
    }
}
