//! The audit append benchmark behind `citadel bench store`: durable events per second through
//! the group-commit path.

use std::time::Instant;

use citadel_audit::{Actor, EventDraft};
use serde_json::json;

use crate::audit_writer::{AuditWriter, DEFAULT_MAX_BATCH};
use crate::{Result, Store};

/// Result of [`bench_audit_append`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditBench {
    /// Events appended.
    pub events: u64,
    /// Concurrent producers.
    pub concurrency: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Durable events per second.
    pub events_per_s: f64,
}

/// Appends `n_events` events from `concurrency` concurrent producers, each awaiting its event's
/// durable commit, through one [`AuditWriter`]. Run it on a fresh store (e.g. a new SQLite file)
/// so the figure reflects an empty chain.
pub async fn bench_audit_append(
    store: &Store,
    n_events: u64,
    concurrency: usize,
) -> Result<AuditBench> {
    let concurrency = concurrency.max(1);
    let writer = AuditWriter::spawn(store.clone(), DEFAULT_MAX_BATCH);
    let actor = Actor::principal("00000000-0000-7000-8000-000000000000", "bench");
    let producers = u64::try_from(concurrency).unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for producer in 0..producers {
        let writer = writer.clone();
        let actor = actor.clone();
        let count = n_events / producers + u64::from(producer < n_events % producers);
        tasks.spawn(async move {
            for i in 0..count {
                let draft =
                    EventDraft::new(&actor, format!("bench-{producer}-{i}"), "bench.append")
                        .on("catalog:dev")
                        .with_params(json!({ "producer": producer, "i": i }));
                writer.append(draft).await?;
            }
            Ok::<(), crate::StoreError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|_| crate::StoreError::WriterClosed)??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let events_per_s = n_events as f64 / seconds.max(f64::EPSILON);
    Ok(AuditBench {
        events: n_events,
        concurrency,
        seconds,
        events_per_s,
    })
}
