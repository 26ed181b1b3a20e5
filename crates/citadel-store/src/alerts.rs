//! Alerts and silences (written only through [`WriteTx`], so each change carries its audit
//! event), and the inference-log samples the alert rules read across every endpoint.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{opt_time_col, time_col, time_text};
use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::{Result, Store};

const ALERT_COLUMNS: &str = "id, rule, severity, group_label, group_key, status, value, summary, \
     started_at, fired_at, resolved_at, acked_at, acked_by, silenced_until, notification";

const SILENCE_COLUMNS: &str = "id, rule, group_key, ends_at, created_by, created_at, reason";

/// An alert as stored. `status` is `pending`, `firing`, `acknowledged` or `resolved`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: String,
    pub rule: String,
    pub severity: String,
    /// The label the rule groups by (`address`, `principal`, …), `None` when it does not group.
    pub group_label: Option<String>,
    pub group_key: String,
    pub status: String,
    /// The rule's value when the alert last changed state.
    pub value: Option<f64>,
    pub summary: String,
    /// When the condition started to hold.
    pub started_at: OffsetDateTime,
    pub fired_at: Option<OffsetDateTime>,
    pub resolved_at: Option<OffsetDateTime>,
    pub acked_at: Option<OffsetDateTime>,
    pub acked_by: Option<String>,
    /// The end of the silence that matched when it fired.
    pub silenced_until: Option<OffsetDateTime>,
    /// The last notification's result.
    pub notification: Option<String>,
}

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: String,
    pub rule: String,
    /// Only this group when set; every group of the rule otherwise.
    pub group_key: Option<String>,
    pub ends_at: OffsetDateTime,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub reason: String,
}

impl SilenceRecord {
    /// Whether this silence covers an alert of `rule` for `group_key` at `at`.
    pub fn covers(&self, rule: &str, group_key: &str, at: OffsetDateTime) -> bool {
        self.rule == rule
            && self.group_key.as_deref().is_none_or(|k| k == group_key)
            && at < self.ends_at
    }
}

/// One inference-log row, reduced to what the alert rules measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceSample {
    pub time: OffsetDateTime,
    pub endpoint: String,
    pub status: String,
    pub http_status: u16,
    pub latency_ms: u64,
}

impl WriteTx {
    /// Stores a new alert; a second open alert for the same rule and group is a conflict.
    pub async fn insert_alert(&mut self, alert: &AlertRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&alert.id)
        .bind(&alert.rule)
        .bind(&alert.severity)
        .bind(&alert.group_label)
        .bind(&alert.group_key)
        .bind(&alert.status)
        .bind(alert.value)
        .bind(&alert.summary)
        .bind(time_text(alert.started_at)?)
        .bind(opt_time_text(alert.fired_at)?)
        .bind(opt_time_text(alert.resolved_at)?)
        .bind(opt_time_text(alert.acked_at)?)
        .bind(&alert.acked_by)
        .bind(opt_time_text(alert.silenced_until)?)
        .bind(&alert.notification)
        .execute(self.conn())
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                "open alert",
                &format!("{}/{}", alert.rule, alert.group_key),
            )
        })?;
        Ok(())
    }

    /// Writes an alert's changing columns (status, value, times, acknowledgement, silence,
    /// notification); `false` when no alert has that id.
    pub async fn update_alert(&mut self, alert: &AlertRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE alerts SET status = $1, value = $2, fired_at = $3, resolved_at = $4, \
             acked_at = $5, acked_by = $6, silenced_until = $7, notification = $8 WHERE id = $9",
        )
        .bind(&alert.status)
        .bind(alert.value)
        .bind(opt_time_text(alert.fired_at)?)
        .bind(opt_time_text(alert.resolved_at)?)
        .bind(opt_time_text(alert.acked_at)?)
        .bind(&alert.acked_by)
        .bind(opt_time_text(alert.silenced_until)?)
        .bind(&alert.notification)
        .bind(&alert.id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a pending alert whose condition cleared before it fired; `false` when there is
    /// no pending alert with that id.
    pub async fn delete_pending_alert(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM alerts WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The alert `id`, read inside this transaction.
    pub async fn alert(&mut self, id: &str) -> Result<Option<AlertRecord>> {
        fetch_alert(self.conn(), id).await
    }

    /// Stores a silence.
    pub async fn insert_silence(&mut self, silence: &SilenceRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO alert_silences ({SILENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&silence.id)
        .bind(&silence.rule)
        .bind(&silence.group_key)
        .bind(time_text(silence.ends_at)?)
        .bind(&silence.created_by)
        .bind(time_text(silence.created_at)?)
        .bind(&silence.reason)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Alerts that are not resolved (pending, firing, acknowledged), oldest first.
    pub async fn open_alerts(&self) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'resolved' ORDER BY started_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// The most recent `limit` alerts (resolved ones included), newest first.
    pub async fn recent_alerts(&self, limit: u32) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY started_at DESC, id DESC LIMIT {limit}"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// The alert `id`.
    pub async fn alert(&self, id: &str) -> Result<Option<AlertRecord>> {
        fetch_alert(self.pool(), id).await
    }

    /// Silences still in force at `at`, oldest first.
    pub async fn active_silences(&self, at: OffsetDateTime) -> Result<Vec<SilenceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE ends_at > $1 \
             ORDER BY created_at, id"
        ))
        .bind(time_text(at)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(silence_from_row).collect()
    }

    /// Every endpoint's inference-log rows at or after `since`, at most `limit` (the most
    /// recent), oldest first.
    pub async fn inference_samples_since(
        &self,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<InferenceSample>> {
        let rows = sqlx::query(&format!(
            "SELECT time, endpoint, status, http_status, latency_ms FROM inference_log \
             WHERE time >= $1 ORDER BY time DESC, seq DESC LIMIT {limit}"
        ))
        .bind(time_text(since)?)
        .fetch_all(self.pool())
        .await?;
        let mut samples = rows
            .iter()
            .map(|row| {
                let http_status: i64 = row.try_get("http_status")?;
                Ok(InferenceSample {
                    time: time_col(row, "time")?,
                    endpoint: row.try_get("endpoint")?,
                    status: row.try_get("status")?,
                    http_status: u16::try_from(http_status).map_err(|_| {
                        crate::codec::corrupt("http_status", &http_status.to_string())
                    })?,
                    latency_ms: crate::codec::u64_col(row, "latency_ms")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        samples.reverse();
        Ok(samples)
    }
}

fn opt_time_text(t: Option<OffsetDateTime>) -> Result<Option<String>> {
    t.map(time_text).transpose()
}

async fn fetch_alert<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    id: &str,
) -> Result<Option<AlertRecord>> {
    let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(alert_from_row).transpose()
}

fn alert_from_row(row: &AnyRow) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        severity: row.try_get("severity")?,
        group_label: row.try_get("group_label")?,
        group_key: row.try_get("group_key")?,
        status: row.try_get("status")?,
        value: row.try_get("value")?,
        summary: row.try_get("summary")?,
        started_at: time_col(row, "started_at")?,
        fired_at: opt_time_col(row, "fired_at")?,
        resolved_at: opt_time_col(row, "resolved_at")?,
        acked_at: opt_time_col(row, "acked_at")?,
        acked_by: row.try_get("acked_by")?,
        silenced_until: opt_time_col(row, "silenced_until")?,
        notification: row.try_get("notification")?,
    })
}

fn silence_from_row(row: &AnyRow) -> Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        ends_at: time_col(row, "ends_at")?,
        created_by: row.try_get("created_by")?,
        created_at: time_col(row, "created_at")?,
        reason: row.try_get("reason")?,
    })
}
