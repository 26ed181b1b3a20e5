//! `citadel bench store`: artifact throughput through the encrypted local store and the durable
//! audit append rate through group commit on SQLite.

use std::path::Path;

use citadel_store::{Store, StoreOptions};

use crate::Result;

/// The figures `citadel bench store` prints.
#[derive(Debug, Clone, Copy)]
pub struct StoreBench {
    pub artifact_size_bytes: u64,
    pub artifact_write_bytes_per_s: f64,
    pub artifact_read_bytes_per_s: f64,
    pub audit_events: u64,
    pub audit_events_per_s: f64,
}

/// Runs both measurements in `scratch` (which the caller removes).
pub async fn store(
    scratch: &Path,
    artifact_bytes: u64,
    audit_events: u64,
    writers: usize,
) -> Result<StoreBench> {
    let artifacts =
        citadel_blob::bench_throughput(&scratch.join("artifacts"), artifact_bytes).await?;
    let store = Store::open(StoreOptions::new(citadel_store::sqlite_url(
        &scratch.join("bench.db"),
    )))
    .await?;
    let audit = citadel_store::bench_audit_append(&store, audit_events, writers).await?;
    store.close().await;
    Ok(StoreBench {
        artifact_size_bytes: artifacts.size_bytes,
        artifact_write_bytes_per_s: artifacts.write_bytes_per_s,
        artifact_read_bytes_per_s: artifacts.read_bytes_per_s,
        audit_events,
        audit_events_per_s: audit.events_per_s,
    })
}
