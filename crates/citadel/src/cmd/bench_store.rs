//! `citadel bench store`: artifact throughput, audit append rate, and model pull + verify
//! throughput from a loopback HTTPS hub on this machine.

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
    /// Size in MiB of the safetensors file pulled from a loopback HTTPS hub (hash checks, scan,
    /// encrypted store, signed manifest) and then verified; 0 skips it.
    #[arg(long, default_value_t = 1024)]
    pub pull_mib: u64,
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
    let pull = if args.pull_mib > 0 {
        Some(citadel_service::bench::pull(scratch.path(), args.pull_mib * 1024 * 1024).await?)
    } else {
        None
    };
    if global.json {
        return output::json(&json!({
            "model_pull_bytes": pull.map(|p| p.file_bytes),
            "model_pull_bytes_per_s": pull.map(|p| p.pull_bytes_per_s),
            "model_verify_bytes_per_s": pull.map(|p| p.verify_bytes_per_s),
            "artifact_size_bytes": report.artifact_size_bytes,
            "artifact_write_bytes_per_s": report.artifact_write_bytes_per_s,
            "artifact_read_bytes_per_s": report.artifact_read_bytes_per_s,
            "audit_events": report.audit_events,
            "audit_events_per_s": report.audit_events_per_s,
        }));
    }
    let gb = |bytes_per_s: f64| format!("{:.2} GB/s", bytes_per_s / 1e9);
    let pull_rows = pull.into_iter().flat_map(|p| {
        [
            [
                "model pull (TLS + verify + scan + store)".to_owned(),
                gb(p.pull_bytes_per_s),
                "≥ 0.8 GB/s".to_owned(),
            ],
            [
                "model verify (decrypt + re-hash)".to_owned(),
                gb(p.verify_bytes_per_s),
                "-".to_owned(),
            ],
        ]
    });
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
        ]
        .into_iter()
        .chain(pull_rows),
    );
    Ok(())
}
