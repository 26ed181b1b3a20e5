//! The inference table: one row per request the gateway answered or refused, inserted in batches
//! and read back by endpoint and time, a page at a time.
//!
//! These rows are data-plane records, not state changes: they are written in plain transactions
//! without an audit event each (and without the audit-head lock, so logging never waits for
//! control-plane writes on PostgreSQL). Who reads or exports them is authorized and audited by the
//! service layer.

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{corrupt, parse_col, parse_opt_col, time_col, time_text, to_i64, u64_col};
use crate::{Result, Store};

/// One request as stored. Text columns hold what the service layer validated: `route` and
/// `status` are lowercase words, `guardrails` a JSON array.
#[derive(Clone, PartialEq, Eq)]
pub struct InferenceLogRecord {
    /// When the request arrived.
    pub time: OffsetDateTime,
    /// The endpoint's full name, `catalog.schema.name`.
    pub endpoint: String,
    /// The endpoint's securable id.
    pub endpoint_id: SecurableId,
    /// The model's full name, when a version was chosen.
    pub model: Option<String>,
    pub model_version: Option<u32>,
    pub principal_id: Option<PrincipalId>,
    pub principal_name: Option<String>,
    pub request_id: String,
    /// `completions`, `chat` or `invocations`.
    pub route: String,
    /// As the endpoint's policy redacted it; `None` when omitted.
    pub prompt: Option<String>,
    /// As the endpoint's policy redacted it; `None` when omitted or never produced.
    pub completion: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency_ms: u64,
    /// Time to first token, for streamed answers.
    pub ttft_ms: Option<u64>,
    /// Guardrail decisions, a JSON array.
    pub guardrails: String,
    /// `ok`, `blocked`, `rate_limited`, …
    pub status: String,
    pub http_status: u16,
    pub client_addr: Option<String>,
}

impl std::fmt::Debug for InferenceLogRecord {
    /// Prompts and completions are shown by length only, so a logged record leaks no text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceLogRecord")
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

/// A stored row: its sequence number (the page cursor) and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInference {
    pub seq: u64,
    pub record: InferenceLogRecord,
}

/// Where the next page of [`Store::inference_log_page`] starts: after this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceCursor {
    pub time: OffsetDateTime,
    pub seq: u64,
}

impl StoredInference {
    /// The cursor that continues after this row.
    pub fn cursor(&self) -> InferenceCursor {
        InferenceCursor {
            time: self.record.time,
            seq: self.seq,
        }
    }
}

const COLUMNS: &str = "time, endpoint, endpoint_id, model, model_version, principal_id, \
     principal_name, request_id, route, prompt, completion, tokens_in, tokens_out, latency_ms, \
     ttft_ms, guardrails, status, http_status, client_addr";

/// Bound values per row of the insert.
const COLUMN_COUNT: usize = 19;

/// Rows per `INSERT` statement: few round trips, and full chunks of a batch share one prepared
/// statement (a batch's size varies with traffic; a statement per size would be parsed anew).
const ROWS_PER_STATEMENT: usize = 64;

impl Store {
    /// Inserts `rows` in one transaction, several rows per statement, in the order given. No
    /// audit event is written: these are data-plane records (see the module documentation).
    pub async fn insert_inference_log(&self, rows: &[InferenceLogRecord]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", self.row_placeholders(i * COLUMN_COUNT + 1)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO inference_log ({COLUMNS}) VALUES {values}");
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = query
                    .bind(time_text(row.time)?)
                    .bind(&row.endpoint)
                    .bind(row.endpoint_id.to_string())
                    .bind(&row.model)
                    .bind(row.model_version.map(i64::from))
                    .bind(row.principal_id.map(|p| p.to_string()))
                    .bind(&row.principal_name)
                    .bind(&row.request_id)
                    .bind(&row.route)
                    .bind(&row.prompt)
                    .bind(&row.completion)
                    .bind(to_i64("tokens_in", row.tokens_in)?)
                    .bind(to_i64("tokens_out", row.tokens_out)?)
                    .bind(to_i64("latency_ms", row.latency_ms)?)
                    .bind(row.ttft_ms.map(|t| to_i64("ttft_ms", t)).transpose()?)
                    .bind(&row.guardrails)
                    .bind(&row.status)
                    .bind(i64::from(row.http_status))
                    .bind(&row.client_addr);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One row's placeholders, numbered from `first` on PostgreSQL and positional (`?`) on
    /// SQLite: binding a numbered parameter there looks its name up in a list, so a statement
    /// of P of them costs P² steps (500 rows of 19 values took most of the gateway's CPU).
    fn row_placeholders(&self, first: usize) -> String {
        match self.backend() {
            crate::Backend::Postgres => crate::codec::placeholders(first, COLUMN_COUNT),
            crate::Backend::Sqlite => vec!["?"; COLUMN_COUNT].join(", "),
        }
    }

    /// An endpoint's rows written after row `after_seq` (in write order) whose time is at or
    /// after `since`; at most `limit`. Reading from the last row's `seq` picks up exactly what
    /// was written since, even rows whose request began before rows already read.
    pub async fn inference_log_written_after(
        &self,
        endpoint_id: SecurableId,
        since: OffsetDateTime,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredInference>> {
        let rows = sqlx::query(&format!(
            "SELECT seq, {COLUMNS} FROM inference_log WHERE endpoint_id = $1 AND time >= $2 \
             AND seq > $3 ORDER BY seq LIMIT {limit}"
        ))
        .bind(endpoint_id.to_string())
        .bind(time_text(since)?)
        .bind(to_i64("seq", after_seq)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// One page of an endpoint's rows in time order (then write order): those at or after
    /// `since`, before `until`, strictly after `after`; at most `limit`. Pass the last row's
    /// [`StoredInference::cursor`] as `after` to read the next page, so an export of any size
    /// holds one page in memory.
    pub async fn inference_log_page(
        &self,
        endpoint_id: SecurableId,
        since: Option<OffsetDateTime>,
        until: Option<OffsetDateTime>,
        after: Option<InferenceCursor>,
        limit: u32,
    ) -> Result<Vec<StoredInference>> {
        let mut sql = format!("SELECT seq, {COLUMNS} FROM inference_log WHERE endpoint_id = $1");
        let mut texts = vec![endpoint_id.to_string()];
        if let Some(since) = since {
            texts.push(time_text(since)?);
            sql.push_str(&format!(" AND time >= ${}", texts.len()));
        }
        if let Some(until) = until {
            texts.push(time_text(until)?);
            sql.push_str(&format!(" AND time < ${}", texts.len()));
        }
        let after_seq = match after {
            Some(cursor) => {
                // Each placeholder is used once: SQLite and PostgreSQL number them alike then.
                texts.push(time_text(cursor.time)?);
                texts.push(time_text(cursor.time)?);
                let t = texts.len();
                sql.push_str(&format!(
                    " AND (time > ${} OR (time = ${t} AND seq > ${}))",
                    t - 1,
                    t + 1
                ));
                Some(to_i64("seq", cursor.seq)?)
            }
            None => None,
        };
        sql.push_str(&format!(" ORDER BY time, seq LIMIT {limit}"));
        let mut query = sqlx::query(&sql);
        for text in texts {
            query = query.bind(text);
        }
        if let Some(seq) = after_seq {
            query = query.bind(seq);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// An endpoint's most recent rows at or after `since`, at most `limit`, oldest first.
    pub async fn recent_inference_log(
        &self,
        endpoint_id: SecurableId,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<StoredInference>> {
        let rows = match since {
            Some(since) => {
                sqlx::query(&format!(
                    "SELECT seq, {COLUMNS} FROM inference_log WHERE endpoint_id = $1 \
                     AND time >= $2 ORDER BY time DESC, seq DESC LIMIT {limit}"
                ))
                .bind(endpoint_id.to_string())
                .bind(time_text(since)?)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT seq, {COLUMNS} FROM inference_log WHERE endpoint_id = $1 \
                     ORDER BY time DESC, seq DESC LIMIT {limit}"
                ))
                .bind(endpoint_id.to_string())
                .fetch_all(self.pool())
                .await?
            }
        };
        let mut out = rows
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}

fn stored_from_row(row: &AnyRow) -> Result<StoredInference> {
    let model_version = row
        .try_get::<Option<i64>, _>("model_version")?
        .map(|v| u32::try_from(v).map_err(|_| corrupt("model_version", &v.to_string())))
        .transpose()?;
    let ttft_ms = row
        .try_get::<Option<i64>, _>("ttft_ms")?
        .map(|v| u64::try_from(v).map_err(|_| corrupt("ttft_ms", &v.to_string())))
        .transpose()?;
    let http_status: i64 = row.try_get("http_status")?;
    Ok(StoredInference {
        seq: u64_col(row, "seq")?,
        record: InferenceLogRecord {
            time: time_col(row, "time")?,
            endpoint: row.try_get("endpoint")?,
            endpoint_id: parse_col(row, "endpoint_id")?,
            model: row.try_get("model")?,
            model_version,
            principal_id: parse_opt_col(row, "principal_id")?,
            principal_name: row.try_get("principal_name")?,
            request_id: row.try_get("request_id")?,
            route: row.try_get("route")?,
            prompt: row.try_get("prompt")?,
            completion: row.try_get("completion")?,
            tokens_in: u64_col(row, "tokens_in")?,
            tokens_out: u64_col(row, "tokens_out")?,
            latency_ms: u64_col(row, "latency_ms")?,
            ttft_ms,
            guardrails: row.try_get("guardrails")?,
            status: row.try_get("status")?,
            http_status: u16::try_from(http_status)
                .map_err(|_| corrupt("http_status", &http_status.to_string()))?,
            client_addr: row.try_get("client_addr")?,
        },
    })
}
