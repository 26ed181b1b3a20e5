//! Throughput benchmark of the local store, for `citadel bench store`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::BlobConfig;
use crate::error::{Error, Result};
use crate::kek::{random_fill, Kek};
use crate::local::run_blocking;
use crate::store::BlobStore;

/// Bytes of random data repeated (with a counter) to build the input file.
const PATTERN_BYTES: usize = 4 * 1024 * 1024;

/// Measured artifact throughput.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThroughputReport {
    /// Size of the artifact written and read.
    pub size_bytes: u64,
    /// Plaintext bytes per second for put (read file, encrypt, hash, store, fsync, publish).
    pub write_bytes_per_s: f64,
    /// Plaintext bytes per second for read (load, authenticate, decrypt, verify digest).
    pub read_bytes_per_s: f64,
}

/// Writes a file of `size_bytes` random-looking bytes under `dir`, puts it into a fresh local store
/// there and reads it back, timing both; removes everything it created.
pub async fn bench_throughput(dir: &Path, size_bytes: u64) -> Result<ThroughputReport> {
    let work = dir.join(format!(
        "citadel-blob-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = measure(&work, size_bytes).await;
    let cleanup = work.clone();
    run_blocking(move || std::fs::remove_dir_all(&cleanup).map_err(|e| Error::io(&cleanup, e)))
        .await?;
    result
}

async fn measure(work: &Path, size_bytes: u64) -> Result<ThroughputReport> {
    let input = work.join("input.bin");
    write_input(input.clone(), size_bytes).await?;
    let store = BlobStore::open(
        &BlobConfig::local(work.join("store")),
        Arc::new(Kek::generate()?),
    )
    .await?;

    let started = Instant::now();
    let reference = store.put_file(&input).await?;
    let write_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let read = store
        .copy_to_writer(&reference, &mut tokio::io::sink())
        .await?;
    let read_secs = started.elapsed().as_secs_f64();
    if read != size_bytes {
        return Err(Error::Worker(format!(
            "read {read} bytes, wrote {size_bytes}"
        )));
    }
    Ok(ThroughputReport {
        size_bytes,
        write_bytes_per_s: size_bytes as f64 / write_secs.max(f64::EPSILON),
        read_bytes_per_s: size_bytes as f64 / read_secs.max(f64::EPSILON),
    })
}

async fn write_input(path: PathBuf, size_bytes: u64) -> Result<()> {
    let mut pattern = vec![0u8; PATTERN_BYTES];
    random_fill(&mut pattern)?;
    run_blocking(move || {
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let mut file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut remaining = size_bytes;
        let mut counter = 0u64;
        while remaining > 0 {
            pattern[..8].copy_from_slice(&counter.to_le_bytes());
            let len = remaining.min(PATTERN_BYTES as u64) as usize;
            file.write_all(&pattern[..len])
                .map_err(|e| Error::io(&path, e))?;
            remaining -= len as u64;
            counter += 1;
        }
        file.sync_all().map_err(|e| Error::io(&path, e))
    })
    .await
}
