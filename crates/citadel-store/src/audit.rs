//! Appending to the audit chain inside a write transaction, signed checkpoints, and the
//! standalone [`Store::audit`] for events that change nothing else.

use citadel_audit::{AuditEvent, Checkpoint, EventDraft, Outcome};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use crate::codec::{corrupt, to_i64, u64_col};
use crate::db::{Backend, Store};
use crate::tx::lock_audit_head;
use crate::Result;

/// Rows per multi-row `INSERT` (12 parameters each, well under both engines' limits).
const ROWS_PER_INSERT: usize = 64;
const EVENT_COLUMNS: &str =
    "seq, time, actor_id, actor_name, action, securable, params, outcome, reason, request_id, prev_hash, hash";

/// What an append added to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the first appended event.
    pub first_seq: u64,
    /// Seq of the last appended event (the new head).
    pub last_seq: u64,
    /// Hash of the last appended event.
    pub head_hash: String,
}

/// The chain head as recorded in `audit_head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Seq of the last event (0 when empty).
    pub seq: u64,
    /// Hash of the last event (genesis hash when empty).
    pub hash: String,
    /// Seq of the last signed checkpoint (0 when none).
    pub checkpoint_seq: u64,
}

impl Store {
    /// Appends a standalone event (a denied attempt, a failed authentication, a read) in its own
    /// durable transaction; returns its seq. For many concurrent events use [`crate::AuditWriter`].
    pub async fn audit(&self, event: EventDraft) -> Result<u64> {
        self.begin_write().await?.commit(event).await
    }

    /// Signs a checkpoint at the current head if a signer is configured and the head moved since
    /// the last checkpoint (call at process exit). Returns the new checkpoint, if any.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>> {
        if self.signer().is_none() {
            return Ok(None);
        }
        let mut tx = self.pool().begin().await?;
        lock_audit_head(&mut tx).await?;
        let head = read_head(&mut tx).await?;
        if head.seq == head.checkpoint_seq {
            return Ok(None);
        }
        let checkpoint = write_checkpoint(&mut tx, self, &head).await?;
        tx.commit().await?;
        Ok(checkpoint)
    }
}

/// Seals `drafts` after the current head, inserts them, moves the head and signs a checkpoint
/// when one is due. The caller holds the head lock (see [`lock_audit_head`]).
pub(crate) async fn append_events(
    conn: &mut AnyConnection,
    store: &Store,
    drafts: Vec<EventDraft>,
) -> Result<Appended> {
    let mut head = read_head(conn).await?;
    let first_seq = head.seq + 1;
    let now = OffsetDateTime::now_utc();
    let mut events = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let event = draft.seal(head.seq + 1, &head.hash, now)?;
        head.seq = event.seq;
        head.hash.clone_from(&event.hash);
        events.push(event);
    }
    for chunk in events.chunks(ROWS_PER_INSERT) {
        insert_events(conn, store.backend(), chunk).await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(to_i64("audit seq", head.seq)?)
        .bind(&head.hash)
        .execute(&mut *conn)
        .await?;
    if head.seq.saturating_sub(head.checkpoint_seq) >= store.checkpoint_every() {
        write_checkpoint(conn, store, &head).await?;
    }
    Ok(Appended {
        first_seq,
        last_seq: head.seq,
        head_hash: head.hash,
    })
}

async fn insert_events(
    conn: &mut AnyConnection,
    backend: Backend,
    events: &[AuditEvent],
) -> Result<()> {
    let placeholders = |n: usize| -> Vec<String> {
        match backend {
            // SQLite finds each `$N` by a linear scan of the statement's parameter names, which
            // makes binding quadratic in the parameter count; plain `?` is bound by position.
            Backend::Sqlite => vec!["?".to_owned(); n],
            Backend::Postgres => (1..=n).map(|i| format!("${i}")).collect(),
        }
    };
    let rows: Vec<String> = placeholders(events.len() * 12)
        .chunks(12)
        .map(|row| format!("({})", row.join(", ")))
        .collect();
    let sql = format!(
        "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES {}",
        rows.join(", ")
    );
    let params: Vec<String> = events.iter().map(|e| e.params.to_string()).collect();
    let mut query = sqlx::query(&sql);
    for (e, params) in events.iter().zip(&params) {
        query = query
            .bind(to_i64("audit seq", e.seq)?)
            .bind(e.time.as_str())
            .bind(e.actor_id.as_deref())
            .bind(e.actor_name.as_str())
            .bind(e.action.as_str())
            .bind(e.securable.as_deref())
            .bind(params.as_str())
            .bind(e.outcome.as_str())
            .bind(e.reason.as_deref())
            .bind(e.request_id.as_str())
            .bind(e.prev_hash.as_str())
            .bind(e.hash.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Signs and stores a checkpoint at `head` (when a signer is configured) and records it in the head.
async fn write_checkpoint(
    conn: &mut AnyConnection,
    store: &Store,
    head: &AuditHead,
) -> Result<Option<Checkpoint>> {
    let Some(signer) = store.signer() else {
        return Ok(None);
    };
    let checkpoint = signer.sign(head.seq, &head.hash, OffsetDateTime::now_utc())?;
    let seq = to_i64("checkpoint seq", checkpoint.seq)?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (seq, head_hash, time, key_id, signature) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(seq)
    .bind(&checkpoint.head_hash)
    .bind(&checkpoint.time)
    .bind(&checkpoint.key_id)
    .bind(&checkpoint.signature)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET checkpoint_seq = $1 WHERE id = 1")
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(Some(checkpoint))
}

pub(crate) async fn read_head(conn: &mut AnyConnection) -> Result<AuditHead> {
    let row = sqlx::query("SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok(AuditHead {
        seq: u64_col(&row, "seq")?,
        hash: row.try_get("hash")?,
        checkpoint_seq: u64_col(&row, "checkpoint_seq")?,
    })
}

/// `SELECT … FROM audit_events` with the columns [`event_from_row`] reads.
macro_rules! event_select {
    () => {
        "SELECT seq, time, actor_id, actor_name, action, securable, params, outcome, reason, \
         request_id, prev_hash, hash FROM audit_events"
    };
}
pub(crate) use event_select;

pub(crate) fn event_from_row(row: &AnyRow) -> Result<AuditEvent> {
    let params: String = row.try_get("params")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(AuditEvent {
        seq: u64_col(row, "seq")?,
        time: row.try_get("time")?,
        actor_id: row.try_get("actor_id")?,
        actor_name: row.try_get("actor_name")?,
        action: row.try_get("action")?,
        securable: row.try_get("securable")?,
        params: serde_json::from_str(&params).map_err(|_| corrupt("audit params", &params))?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("audit outcome", &outcome))?,
        reason: row.try_get("reason")?,
        request_id: row.try_get("request_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub(crate) fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint> {
    Ok(Checkpoint {
        seq: u64_col(row, "seq")?,
        head_hash: row.try_get("head_hash")?,
        time: row.try_get("time")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}
