//! Reading the audit log: filtered queries, the full chain in seq order, checkpoints, and the
//! verify and export operations built on them.

use std::io::Write;

use citadel_audit::export::ExportWriter;
use citadel_audit::{
    AuditEvent, ChainStart, Checkpoint, Failure, FailureKind, Outcome, PublicKey, Verifier,
    VerifyReport,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::audit::{checkpoint_from_row, event_from_row, event_select, read_head, AuditHead};
use crate::codec::{time_text, u64_col};
use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::Result;

/// Filters of `citadel audit query`; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Actor name or principal id.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `*` (`principal.*`).
    pub action: Option<String>,
    /// Exact securable (`kind:full.name`).
    pub securable: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events before this time.
    pub until: Option<OffsetDateTime>,
    /// At most this many events: the most recent ones.
    pub limit: Option<u32>,
}

impl Store {
    /// Events matching `filter`, in seq order.
    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut clauses = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(actor) = &filter.actor {
            let a = bind_text(&mut values, actor.clone());
            let b = bind_text(&mut values, actor.clone());
            clauses.push(format!("(actor_name = {a} OR actor_id = {b})"));
        }
        if let Some(action) = &filter.action {
            match action.strip_suffix('*') {
                Some(prefix) => {
                    let len = prefix.chars().count();
                    let p = bind_text(&mut values, prefix.to_owned());
                    clauses.push(format!("substr(action, 1, {len}) = {p}"));
                }
                None => {
                    let p = bind_text(&mut values, action.clone());
                    clauses.push(format!("action = {p}"));
                }
            }
        }
        if let Some(securable) = &filter.securable {
            let p = bind_text(&mut values, securable.clone());
            clauses.push(format!("securable = {p}"));
        }
        if let Some(outcome) = filter.outcome {
            let p = bind_text(&mut values, outcome.as_str().to_owned());
            clauses.push(format!("outcome = {p}"));
        }
        if let Some(since) = filter.since {
            let p = bind_text(&mut values, time_text(since)?);
            clauses.push(format!("time >= {p}"));
        }
        if let Some(until) = filter.until {
            let p = bind_text(&mut values, time_text(until)?);
            clauses.push(format!("time < {p}"));
        }
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = match filter.limit {
            Some(limit) => format!(
                "{}{where_clause} ORDER BY seq DESC LIMIT {limit}",
                event_select!()
            ),
            None => format!("{}{where_clause} ORDER BY seq", event_select!()),
        };
        let mut query = sqlx::query(&sql);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    /// Every event from seq `from_seq` on, streamed in seq order.
    pub fn audit_stream(&self, from_seq: u64) -> BoxStream<'_, Result<AuditEvent>> {
        let from = i64::try_from(from_seq).unwrap_or(i64::MAX);
        sqlx::query(concat!(event_select!(), " WHERE seq >= $1 ORDER BY seq"))
            .bind(from)
            .fetch(self.pool())
            .map(|row| event_from_row(&row?))
            .boxed()
    }

    /// Every signed checkpoint, in seq order.
    pub async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let mut conn = self.pool().acquire().await?;
        fetch_checkpoints(&mut conn).await
    }

    /// The head as recorded in `audit_head`.
    pub async fn audit_head(&self) -> Result<AuditHead> {
        let mut conn = self.pool().acquire().await?;
        read_head(&mut conn).await
    }

    /// Verifies the whole chain from genesis, its checkpoints, and that it ends at the recorded
    /// head, all from one consistent snapshot.
    pub async fn verify_audit(&self, public_key: &PublicKey) -> Result<VerifyReport> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let head = read_head(&mut tx).await?;
        let checkpoints = fetch_checkpoints(&mut tx).await?;
        let mut verifier = Verifier::new(public_key, checkpoints, ChainStart::Genesis);
        {
            let mut rows = sqlx::query(concat!(event_select!(), " ORDER BY seq")).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let accepted = match event_from_row(&row) {
                    Ok(event) => verifier.push(event),
                    Err(StoreError::Corrupt { what, value }) => {
                        let detail = format!("the row cannot be read: {what} is {value:?}");
                        verifier.push_unreadable(u64_col(&row, "seq")?, detail);
                        false
                    }
                    Err(other) => return Err(other),
                };
                if !accepted {
                    break;
                }
            }
        }
        let mut report = verifier.finish();
        if report.failure.is_none() {
            report.failure = head_failure(&report, &head);
        }
        Ok(report)
    }

    /// Writes the verifiable JSONL export of the events at or after `since` (all when `None`)
    /// with every checkpoint; returns the number of events written.
    pub async fn export_audit<W: Write>(
        &self,
        out: W,
        public_key: &PublicKey,
        since: Option<OffsetDateTime>,
    ) -> Result<(W, u64)> {
        let from_seq = match since {
            None => 1,
            Some(since) => {
                let row =
                    sqlx::query("SELECT MIN(seq) AS first FROM audit_events WHERE time >= $1")
                        .bind(time_text(since)?)
                        .fetch_one(self.pool())
                        .await?;
                match row.try_get::<Option<i64>, _>("first")? {
                    Some(first) => u64::try_from(first).unwrap_or(u64::MAX),
                    None => u64::MAX,
                }
            }
        };
        let checkpoints = self.audit_checkpoints().await?;
        let mut writer = ExportWriter::new(out, public_key, checkpoints)?;
        let mut count = 0;
        let mut events = self.audit_stream(from_seq);
        while let Some(event) = events.try_next().await? {
            writer.write_event(&event)?;
            count += 1;
        }
        Ok((writer.finish()?, count))
    }
}

/// Adds `value` to the parameter list and returns its placeholder.
fn bind_text(values: &mut Vec<String>, value: String) -> String {
    values.push(value);
    format!("${}", values.len())
}

async fn fetch_checkpoints(conn: &mut AnyConnection) -> Result<Vec<Checkpoint>> {
    let rows = sqlx::query(
        "SELECT seq, head_hash, time, key_id, signature FROM audit_checkpoints ORDER BY seq",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(checkpoint_from_row).collect()
}

/// A chain that verified on its own but disagrees with the recorded head was cut or extended.
fn head_failure(report: &VerifyReport, head: &AuditHead) -> Option<Failure> {
    let last = report.last_seq.unwrap_or(0);
    if last < head.seq {
        Some(Failure {
            seq: last + 1,
            kind: FailureKind::Truncated,
            detail: format!(
                "the chain ends at seq {last} but the recorded head is seq {}",
                head.seq
            ),
        })
    } else if last > head.seq {
        Some(Failure {
            seq: head.seq + 1,
            kind: FailureKind::Inserted,
            detail: format!(
                "events after the recorded head (seq {}) were added",
                head.seq
            ),
        })
    } else if report.head_hash.as_deref().is_some_and(|h| h != head.hash) {
        Some(Failure {
            seq: last,
            kind: FailureKind::Edited,
            detail: "the last event's hash differs from the recorded head".to_owned(),
        })
    } else {
        None
    }
}
