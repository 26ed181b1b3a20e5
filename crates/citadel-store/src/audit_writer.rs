//! Group commit: many concurrent callers' events appended in one durable transaction.
//!
//! Callers send drafts over a channel and await their seq; one task drains whatever is queued
//! (up to a batch limit) into a single [`WriteTx`](crate::WriteTx), so one fsync covers the batch.

use std::sync::Arc;

use citadel_audit::EventDraft;
use tokio::sync::{mpsc, oneshot};

use crate::db::Store;
use crate::error::StoreError;
use crate::Result;

/// Largest batch one transaction carries by default.
pub const DEFAULT_MAX_BATCH: usize = 4096;

struct Pending {
    draft: EventDraft,
    reply: oneshot::Sender<Result<u64>>,
}

/// Handle to the group-commit task; clone it freely. The task ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    sender: mpsc::Sender<Pending>,
}

impl AuditWriter {
    /// Spawns the writer task on the current tokio runtime.
    pub fn spawn(store: Store, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (sender, receiver) = mpsc::channel(max_batch * 2);
        tokio::spawn(run(store, receiver, max_batch));
        AuditWriter { sender }
    }

    /// Appends `draft` durably and returns its seq once its batch has committed.
    pub async fn append(&self, draft: EventDraft) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { draft, reply })
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        answer.await.map_err(|_| StoreError::WriterClosed)?
    }
}

async fn run(store: Store, mut receiver: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        let (drafts, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.draft, p.reply)).unzip();
        let result = match store.begin_write().await {
            Ok(tx) => tx.commit_events(drafts).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(appended) => {
                for (seq, reply) in (appended.first_seq..).zip(replies) {
                    // A caller that stopped waiting no longer needs its seq.
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::GroupCommit(Arc::clone(&error))));
                }
            }
        }
    }
}
