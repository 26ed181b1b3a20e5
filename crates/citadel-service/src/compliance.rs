//! `citadel compliance report`: gathers the facts of a home into a
//! [`citadel_monitor::compliance::ComplianceReport`] — encryption of every artifact, secret and
//! dataset key, key age and rotation, models by status, approvals and separation of duties,
//! what production endpoints serve, secret reads, failed authentications, alerting, PII verdicts
//! and waivers, retention, and the audit chain — for the monitor crate to render.
//!
//! The report reads every principal's activity and the audit log, so it needs what reading the
//! audit log needs: `MANAGE` on the metastore. It reads the store directly (one audited event,
//! `compliance.report`, instead of one per fact) and changes nothing.

mod activity;
mod alerts;

pub use activity::AUTH_FAILURE_BURST;
mod data;
mod drift;
mod registry;
mod storage;

use citadel_core::Privilege;
use citadel_monitor::compliance::{
    Charts, ComplianceReport, Evidence, Finding, Period, Section, SectionId, Status,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{AuditVerification, Citadel, Context, Error, Result, SecurableRef};

const ACTION: &str = "compliance.report";

impl Citadel {
    /// The compliance report of activity since `since` (state as of now). Needs `MANAGE` on the
    /// metastore; the report and its overall status are audited.
    pub async fn compliance_report(
        &self,
        ctx: &Context,
        since: OffsetDateTime,
    ) -> Result<ComplianceReport> {
        self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
            .await?;
        let until = OffsetDateTime::now_utc();
        if since >= until {
            return Err(Error::InvalidInput(
                "the report's period must start in the past: pass --since 30d or an earlier \
                 RFC 3339 time"
                    .into(),
            ));
        }
        let period = Period { since, until };
        let activity = self.inference_activity(period).await?;
        let (traffic, mut notes) = activity.into_traffic();
        let (drift, drift_notes) = self.drift_series(period).await?;
        notes.extend(drift_notes);
        let sections = vec![
            self.encryption_section().await?,
            self.keys_section(ctx, until).await?,
            self.models_section().await?,
            self.approvals_section().await?,
            self.endpoints_section().await?,
            self.secret_reads_section(period).await?,
            self.authentication_section(period).await?,
            self.alerts_section(ctx, period).await?,
            self.datasets_section(until).await?,
            self.retention_section().await?,
            self.audit_log_section().await?,
        ];
        let report = ComplianceReport::new(
            ctx.principal.name.clone(),
            until,
            period,
            sections,
            Charts {
                traffic,
                drift,
                notes,
            },
        );
        let failing: Vec<&str> = report
            .sections
            .iter()
            .filter(|s| s.status == Status::Fail)
            .map(|s| s.id.key())
            .collect();
        self.store
            .audit(ctx.event(ACTION).with_params(json!({
                "since": time_text(since),
                "status": report.status.as_str(),
                "failing": failing,
            })))
            .await?;
        Ok(report)
    }

    /// The audit chain verified against its signed checkpoints (without a separate
    /// `audit.verify` event: the report's own event records the outcome).
    async fn audit_log_section(&self) -> Result<Section> {
        let verification =
            AuditVerification::from(self.store.verify_audit(&self.public_key).await?);
        let finding = if verification.intact {
            Finding::pass(
                "audit verify",
                format!(
                    "the hash chain of {} events and {} signed checkpoints verifies",
                    verification.events_verified, verification.checkpoints_verified
                ),
            )
        } else {
            Finding::fail(
                "audit verify",
                format!(
                    "the audit log was altered: first bad event at seq {} ({})",
                    verification.failed_seq.unwrap_or_default(),
                    verification.failure.as_deref().unwrap_or("unknown failure")
                ),
                "treat it as an incident: restore the database from a backup and compare \
                 exports (docs/AUDIT-VERIFY.md)",
            )
        };
        let mut evidence = Evidence::new(
            "Audit chain",
            ["events", "checkpoints", "head seq", "head hash"],
        );
        evidence.row([
            verification.events_verified.to_string(),
            verification.checkpoints_verified.to_string(),
            verification
                .last_seq
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            verification
                .head_hash
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ]);
        Ok(Section::new(
            SectionId::AuditLog,
            vec![finding],
            vec![evidence],
        ))
    }
}

/// `n` and the noun in its number: `1 source`, `3 sources`.
fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    match n.into() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// RFC 3339 text of a time, for audit parameters and evidence.
pub(crate) fn time_text(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
