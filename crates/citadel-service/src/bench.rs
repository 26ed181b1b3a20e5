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

/// The figures of the acquisition benchmark.
#[derive(Debug, Clone, Copy)]
pub struct PullBench {
    pub file_bytes: u64,
    /// Pull from the loopback hub over TLS + hash checks + header scan + encrypted store +
    /// signed registration, in one pass.
    pub pull_bytes_per_s: f64,
    /// `model verify`: decrypt and re-hash every stored byte, check the signature.
    pub verify_bytes_per_s: f64,
}

/// Pulls one safetensors file of `file_bytes` from a loopback HTTPS hub into a fresh home under
/// `scratch`, through the same service call `citadel model pull` makes, then verifies it.
pub async fn pull(scratch: &Path, file_bytes: u64) -> Result<PullBench> {
    use citadel_hub::client::RepoRef;
    use citadel_hub::loopback::{HubFile, LoopbackHub};
    use std::time::Instant;

    use crate::{Citadel, Error, Home, InitOptions, PullOptions};

    let weights = bench_safetensors(file_bytes)?;
    let file_bytes = weights.len() as u64;
    let hub = LoopbackHub::start(
        "bench/model",
        vec![
            HubFile {
                path: "config.json".into(),
                content: br#"{"model_type":"llama"}"#.to_vec().into(),
                lfs: false,
            },
            HubFile {
                path: "model.safetensors".into(),
                content: weights.into(),
                lfs: true,
            },
        ],
    )
    .await
    .map_err(|e| Error::InvalidInput(format!("cannot start the loopback hub: {e}")))?;
    let ca_file = scratch.join("hub-ca.pem");
    std::fs::write(&ca_file, hub.ca_pem()).map_err(|source| Error::Home {
        path: ca_file.clone(),
        action: "write",
        source,
    })?;
    let home = Home::at(scratch.join("home"));
    let init = Citadel::init(
        &home,
        InitOptions {
            admin_name: "bench".into(),
        },
    )
    .await?;
    let citadel = Citadel::open(&home).await?;
    let ctx = citadel.authenticate(Some(&init.admin_token)).await?;
    let options = PullOptions {
        endpoint: Some(hub.endpoint()),
        ca_file: Some(ca_file),
        ..PullOptions::default()
    };
    let repo = RepoRef::parse("hf://bench/model")?;
    let name = "dev.models.bench".parse()?;
    let started = Instant::now();
    citadel
        .pull_model(&ctx, &repo, &name, &options, None)
        .await?;
    let pull_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let verified = citadel.verify_model(&ctx, "dev.models.bench@1").await?;
    let verify_seconds = started.elapsed().as_secs_f64();
    citadel.close().await?;
    if !verified.ok() {
        return Err(Error::ModelTampered {
            model: "dev.models.bench@1".into(),
            problems: verified.problems.join("; "),
        });
    }
    Ok(PullBench {
        file_bytes,
        pull_bytes_per_s: file_bytes as f64 / pull_seconds,
        verify_bytes_per_s: verified.bytes_checked as f64 / verify_seconds,
    })
}

/// A valid safetensors file of about `bytes` bytes: one f32 tensor of varied values.
fn bench_safetensors(bytes: u64) -> Result<Vec<u8>> {
    let values = usize::try_from(bytes / 4)
        .map_err(|_| crate::Error::InvalidInput("the benchmark file is too large".into()))?
        .max(1);
    let mut header = format!(
        r#"{{"weight":{{"dtype":"F32","shape":[{values}],"data_offsets":[0,{}]}}}}"#,
        values * 4
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + values * 4);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..values {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&(state as u32).to_le_bytes());
    }
    Ok(out)
}
