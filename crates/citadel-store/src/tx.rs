//! [`WriteTx`]: the only way to change state, and the only commit, which appends the audit event.

use citadel_audit::EventDraft;
use sqlx::{Any, AnyConnection, Transaction};

use crate::audit::{append_events, Appended};
use crate::db::Store;
use crate::Result;

/// A write transaction holding the audit chain's lock.
///
/// Its first statement writes the `audit_head` row, which takes SQLite's write lock at once (no
/// deferred lock upgrade that could deadlock; the busy timeout applies) and PostgreSQL's row lock,
/// so appends from any number of processes are serialized. Repositories take `&mut WriteTx`;
/// [`WriteTx::commit`] appends the event and commits. Dropping it without commit rolls back.
#[derive(Debug)]
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    store: Store,
}

impl WriteTx {
    pub(crate) async fn begin(store: &Store) -> Result<Self> {
        let mut tx = store.pool().begin().await?;
        lock_audit_head(&mut tx).await?;
        Ok(WriteTx {
            tx,
            store: store.clone(),
        })
    }

    /// Appends `event` to the audit chain in this transaction and commits both; returns its seq.
    pub async fn commit(self, event: EventDraft) -> Result<u64> {
        Ok(self.commit_events(vec![event]).await?.last_seq)
    }

    /// Appends several events (the group-commit path) and commits.
    pub(crate) async fn commit_events(mut self, events: Vec<EventDraft>) -> Result<Appended> {
        let appended = append_events(&mut self.tx, &self.store, events).await?;
        self.tx.commit().await?;
        Ok(appended)
    }

    /// The connection, for repository statements.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// Takes the audit lock; must be the first statement of every writing transaction.
pub(crate) async fn lock_audit_head(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}
