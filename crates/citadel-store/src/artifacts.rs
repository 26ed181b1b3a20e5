//! Artifact rows: where an encrypted, content-addressed artifact lives and its wrapped data key.
//! A row is inserted only after the bytes are durably written (the blob store's job to order).

use std::fmt;

use citadel_core::PrincipalId;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{parse_opt_col, time_col, time_text, to_i64, u64_col};
use crate::tx::WriteTx;
use crate::{Result, Store};

const ARTIFACT_SELECT: &str =
    "SELECT digest, size, artifact_id, wrapped_key, kek_id, location, chunk_size, \
     format_version, created_at, created_by FROM artifacts";

/// An artifact row.
#[derive(Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    /// SHA-256 (hex) of the plaintext.
    pub digest: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Random id the artifact store binds into every encrypted chunk and the wrapped key (hex).
    pub artifact_id: String,
    /// The data key, wrapped by the key-encryption key.
    pub wrapped_key: Vec<u8>,
    /// Which key-encryption key wrapped it.
    pub kek_id: String,
    /// Object location in the artifact store.
    pub location: String,
    /// Plaintext bytes per encrypted chunk.
    pub chunk_size: u64,
    /// Version of the encrypted format.
    pub format_version: u32,
    /// When it was stored.
    pub created_at: OffsetDateTime,
    /// Who stored it.
    pub created_by: Option<PrincipalId>,
}

impl fmt::Debug for ArtifactRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactRecord")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("artifact_id", &self.artifact_id)
            .field(
                "wrapped_key",
                &format_args!("<{} bytes>", self.wrapped_key.len()),
            )
            .field("kek_id", &self.kek_id)
            .field("location", &self.location)
            .field("chunk_size", &self.chunk_size)
            .field("format_version", &self.format_version)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .finish()
    }
}

impl WriteTx {
    /// Records an artifact; `false` when an artifact with that digest already existed (content
    /// addressing makes the write idempotent).
    pub async fn insert_artifact(&mut self, artifact: &ArtifactRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO artifacts (digest, size, artifact_id, wrapped_key, kek_id, location, \
             chunk_size, format_version, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&artifact.digest)
        .bind(to_i64("artifact size", artifact.size)?)
        .bind(&artifact.artifact_id)
        .bind(artifact.wrapped_key.clone())
        .bind(&artifact.kek_id)
        .bind(&artifact.location)
        .bind(to_i64("artifact chunk size", artifact.chunk_size)?)
        .bind(i64::from(artifact.format_version))
        .bind(time_text(artifact.created_at)?)
        .bind(artifact.created_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces an artifact's wrapped data key (key rotation); `false` when it does not exist.
    pub async fn rewrap_artifact_key(
        &mut self,
        digest: &str,
        wrapped_key: &[u8],
        kek_id: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE artifacts SET wrapped_key = $1, kek_id = $2 WHERE digest = $3")
                .bind(wrapped_key.to_vec())
                .bind(kek_id)
                .bind(digest)
                .execute(self.conn())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// The artifact with this digest.
    pub async fn artifact(&self, digest: &str) -> Result<Option<ArtifactRecord>> {
        fetch_artifact(self.pool(), digest).await
    }

    /// Every artifact, by digest.
    pub async fn list_artifacts(&self) -> Result<Vec<ArtifactRecord>> {
        let rows = sqlx::query(&format!("{ARTIFACT_SELECT} ORDER BY digest"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(artifact_from_row).collect()
    }
}

async fn fetch_artifact<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    digest: &str,
) -> Result<Option<ArtifactRecord>> {
    let sql = format!("{ARTIFACT_SELECT} WHERE digest = $1");
    let row = sqlx::query(&sql)
        .bind(digest)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(artifact_from_row).transpose()
}

/// Artifacts whose data key is wrapped by another key than `kek_id` (what a rotation re-wraps).
pub(crate) async fn fetch_not_wrapped_by<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    kek_id: &str,
) -> Result<Vec<ArtifactRecord>> {
    let sql = format!("{ARTIFACT_SELECT} WHERE kek_id <> $1 ORDER BY digest");
    let rows = sqlx::query(&sql).bind(kek_id).fetch_all(executor).await?;
    rows.iter().map(artifact_from_row).collect()
}

fn artifact_from_row(row: &AnyRow) -> Result<ArtifactRecord> {
    let format_version = u64_col(row, "format_version")?;
    Ok(ArtifactRecord {
        digest: row.try_get("digest")?,
        size: u64_col(row, "size")?,
        artifact_id: row.try_get("artifact_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        kek_id: row.try_get("kek_id")?,
        location: row.try_get("location")?,
        chunk_size: u64_col(row, "chunk_size")?,
        format_version: u32::try_from(format_version).map_err(|_| {
            crate::codec::corrupt("artifact format_version", &format_version.to_string())
        })?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
    })
}
