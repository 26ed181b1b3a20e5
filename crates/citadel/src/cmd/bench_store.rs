//! `citadel bench store`: artifact throughput and audit append rate on this machine.

use std::path::PathBuf;

use serde_json::json;

use super::{output, session, GlobalArgs};

/// Measures artifact write/read throughput (encrypt + hash + store; load + decrypt + verify) in a
/// local folder and the durable audit append rate on SQLite with group commit.
#[derive(Debug, clap::Args)]
pub struct BenchStoreArgs {
    /// Artifact size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// Audit events to append.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Concurrent audit writers feeding the group commit (each durable commit costs one fsync,
    /// so the rate grows with the writers that share it).
    #[arg(long, default_value_t = 256)]
    pub writers: usize,
    /// Scratch folder [default: a temporary folder].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn run(global: &GlobalArgs, args: BenchStoreArgs) -> anyhow::Result<()> {
    session::with_context(global, |_, _| async move { Ok(()) }).await?;
    let scratch = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let report = citadel_service::bench::store(
        scratch.path(),
        args.size_mib * 1024 * 1024,
        args.events,
        args.writers,
    )
    .await?;
    if global.json {
        return output::json(&json!({
            "artifact_size_bytes": report.artifact_size_bytes,
            "artifact_write_bytes_per_s": report.artifact_write_bytes_per_s,
            "artifact_read_bytes_per_s": report.artifact_read_bytes_per_s,
            "audit_events": report.audit_events,
            "audit_events_per_s": report.audit_events_per_s,
        }));
    }
    let gb = |bytes_per_s: f64| format!("{:.2} GB/s", bytes_per_s / 1e9);
    output::table(
        ["measure", "result", "target"],
        [
            [
                "artifact write".to_owned(),
                gb(report.artifact_write_bytes_per_s),
                "≥ 1 GB/s".to_owned(),
            ],
            [
                "artifact read".to_owned(),
                gb(report.artifact_read_bytes_per_s),
                "≥ 1 GB/s".to_owned(),
            ],
            [
                "audit append (durable)".to_owned(),
                format!("{:.0} events/s", report.audit_events_per_s),
                "≥ 20,000 events/s".to_owned(),
            ],
        ],
    );
    Ok(())
}
