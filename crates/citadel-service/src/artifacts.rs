//! Raw artifacts: encrypted, content-addressed files. Storing, fetching and listing them directly
//! is an administrator's tool (`MANAGE` on the metastore); models and datasets reach artifacts
//! through their own, finer-grained operations.

use std::path::Path;

use citadel_blob::{ArtifactRef, WrappedKey};
use citadel_core::Privilege;
use citadel_store::ArtifactRecord;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Error, Result, SecurableRef};

/// An artifact as listed.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactInfo {
    pub digest: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl Citadel {
    /// Encrypts and stores a file. The bytes are durably published before the database row is
    /// committed, so a crash leaves no row without its bytes.
    pub async fn put_artifact(&self, ctx: &Context, path: &Path) -> Result<ArtifactInfo> {
        const ACTION: &str = "artifact.put";
        let metastore = SecurableRef::metastore();
        // Check before the (long) write so a denied caller writes nothing; check again inside the
        // transaction so a grant revoked meanwhile still stops the commit.
        self.authorize_read(ctx, ACTION, Privilege::Manage, &metastore)
            .await?;
        let file = tokio::fs::metadata(path)
            .await
            .map_err(|source| Error::Home {
                path: path.to_owned(),
                action: "read",
                source,
            })?;
        if !file.is_file() {
            return Err(Error::InvalidInput(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let reference = self.blobs.put_file(path).await?;
        let params = json!({ "digest": reference.digest, "size": reference.size });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &metastore, &params)
            .await?;
        let inserted = self.record_artifact(&mut tx, ctx, &reference).await?;
        tx.commit(ctx.event(ACTION).with_params(json!({
            "digest": reference.digest,
            "size": reference.size,
            "new": inserted,
        })))
        .await?;
        let stored = self.artifact_record(&reference.digest).await?;
        self.artifact_info(&stored).await
    }

    /// Decrypts an artifact to `dest` after verifying every chunk and the digest; nothing appears
    /// at `dest` unless everything checked. The read is audited.
    pub async fn get_artifact(
        &self,
        ctx: &Context,
        digest: &str,
        dest: &Path,
    ) -> Result<ArtifactInfo> {
        const ACTION: &str = "artifact.read";
        self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
            .await?;
        if dest.exists() {
            return Err(Error::InvalidInput(format!(
                "{} exists; choose a new destination",
                dest.display()
            )));
        }
        let record = self.artifact_record(digest).await?;
        let reference = artifact_ref(&record)?;
        let outcome = self.blobs.read_to_path(&reference, dest).await;
        let event = ctx.event(ACTION).with_params(json!({ "digest": digest }));
        let event = match &outcome {
            Ok(()) => event,
            Err(err) => event.failed(err.to_string()),
        };
        self.store.audit(event).await?;
        outcome?;
        self.artifact_info(&record).await
    }

    /// Every stored artifact.
    pub async fn list_artifacts(&self, ctx: &Context) -> Result<Vec<ArtifactInfo>> {
        self.authorize_read(
            ctx,
            "artifact.list",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let mut out = Vec::new();
        for record in self.store.list_artifacts().await? {
            out.push(self.artifact_info(&record).await?);
        }
        Ok(out)
    }

    async fn artifact_record(&self, digest: &str) -> Result<ArtifactRecord> {
        self.store
            .artifact(digest)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "artifact",
                name: digest.to_owned(),
            })
    }

    /// The blob reference of a stored artifact, from its row.
    pub(crate) async fn artifact_reference(&self, digest: &str) -> Result<ArtifactRef> {
        artifact_ref(&self.artifact_record(digest).await?)
    }

    async fn artifact_info(&self, record: &ArtifactRecord) -> Result<ArtifactInfo> {
        Ok(ArtifactInfo {
            digest: record.digest.clone(),
            size: record.size,
            created_at: record.created_at,
            created_by: self.principal_label(record.created_by).await?,
        })
    }
}

/// Rebuilds the blob reference from its database row.
pub(crate) fn artifact_ref(record: &ArtifactRecord) -> Result<ArtifactRef> {
    let invalid =
        |what: &str| Error::InvalidInput(format!("artifact row {}: invalid {what}", record.digest));
    Ok(ArtifactRef {
        format_version: u16::try_from(record.format_version)
            .map_err(|_| invalid("format version"))?,
        digest: record.digest.clone(),
        size: record.size,
        chunk_size: u32::try_from(record.chunk_size).map_err(|_| invalid("chunk size"))?,
        artifact_id: record.artifact_id.clone(),
        location: record.location.clone(),
        kek_id: record.kek_id.clone(),
        wrapped_key: WrappedKey::from_bytes(&record.wrapped_key)?,
    })
}
