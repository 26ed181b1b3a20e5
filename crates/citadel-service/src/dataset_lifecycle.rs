//! The end of data's life: retention policies and garbage collection (bytes deleted, tombstones
//! kept so lineage stays whole), and erasure (GDPR article 17): every version that held the
//! matching rows is rewritten without them and a new version records the erasure.

use std::collections::BTreeSet;

use citadel_core::{FullName, Privilege};
use citadel_data::{erase_rows, EraseCondition, RetentionPolicy};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::datasets::{json_error, version_ref, Loaded, Selectable};
use crate::row_io::{open_rows, write_rows};
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// What a garbage collection did to one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dataset: String,
    pub deleted_versions: Vec<u32>,
    pub bytes_freed: u64,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub erasure_id: String,
    pub dataset: String,
    pub column: String,
    pub rows_erased: u64,
    pub versions_rewritten: Vec<u32>,
    pub new_version: Option<u32>,
}

impl Citadel {
    /// Sets or clears a dataset's retention policy (`MANAGE` on the dataset).
    pub async fn set_retention(
        &self,
        ctx: &Context,
        name: &FullName,
        policy: Option<RetentionPolicy>,
    ) -> Result<()> {
        const ACTION: &str = "dataset.retention";
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Manage, name)
            .await?;
        let stored = policy
            .map(|p| serde_json::to_string(&p))
            .transpose()
            .map_err(json_error)?;
        let params = json!({ "retention": policy });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &loaded.target, &params)
            .await?;
        tx.set_retention(loaded.securable.id, stored.as_deref())
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(params),
        )
        .await?;
        Ok(())
    }

    /// Deletes the bytes of versions past their dataset's retention policy, keeping the version
    /// rows as tombstones: one dataset (`MANAGE` on it) or every dataset with a policy (`MANAGE`
    /// on the metastore). The latest version is never deleted.
    pub async fn gc_datasets(
        &self,
        ctx: &Context,
        name: Option<&FullName>,
    ) -> Result<Vec<GcReport>> {
        const ACTION: &str = "dataset.gc";
        let names = match name {
            Some(name) => vec![name.clone()],
            None => {
                self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
                    .await?;
                let mut names = Vec::new();
                for record in self.store.datasets_with_retention().await? {
                    if let Some(securable) = self.store.securable(record.securable_id).await? {
                        names.push(securable.full_name.parse()?);
                    }
                }
                names
            }
        };
        let mut reports = Vec::new();
        for name in names {
            let loaded = self
                .load_dataset(ctx, ACTION, Privilege::Manage, &name)
                .await?;
            reports.push(self.gc_one(ctx, &loaded).await?);
        }
        Ok(reports)
    }

    async fn gc_one(&self, ctx: &Context, loaded: &Loaded) -> Result<GcReport> {
        const ACTION: &str = "dataset.gc";
        let mut report = GcReport {
            dataset: loaded.target.to_string(),
            deleted_versions: Vec::new(),
            bytes_freed: 0,
        };
        let Some(policy) = &loaded.record.retention else {
            return Ok(report);
        };
        let policy: RetentionPolicy = serde_json::from_str(policy).map_err(json_error)?;
        let aged: Vec<Selectable<'_>> = loaded.versions.iter().map(Selectable).collect();
        let plan = policy.plan(&aged, OffsetDateTime::now_utc(), &BTreeSet::new());
        if plan.expired.is_empty() {
            return Ok(report);
        }
        let params = json!({ "versions": plan.expired });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &loaded.target, &params)
            .await?;
        let mut freed = Vec::new();
        for version in loaded
            .versions
            .iter()
            .filter(|v| plan.expired.contains(&v.version))
        {
            tx.tombstone_dataset_version(loaded.securable.id, version.version, "retention")
                .await?;
            report.deleted_versions.push(version.version);
            if let Some(digest) = &version.artifact_digest {
                if !tx.artifact_in_use(digest).await? {
                    freed.push(version_ref(self, version).await?);
                    tx.delete_artifact_row(digest).await?;
                    report.bytes_freed += version.size;
                }
            }
        }
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(json!({
                    "deleted_versions": report.deleted_versions,
                    "bytes_freed": report.bytes_freed,
                })),
        )
        .await?;
        self.delete_blobs(&freed).await;
        Ok(report)
    }

    /// Erases every row whose `COLUMN=VALUE` matches from every stored version of a dataset
    /// (`MANAGE` on it): each version that held such rows is rewritten without them, a new
    /// version records the erasure, the old bytes are deleted, and the erasure is recorded with
    /// the value only as a salted hash.
    pub async fn erase_from_dataset(
        &self,
        ctx: &Context,
        name: &FullName,
        condition: &str,
    ) -> Result<ErasureReport> {
        const ACTION: &str = "dataset.erase";
        let condition: EraseCondition = condition.parse()?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Manage, name)
            .await?;
        let salt = self.dataset_key(&loaded)?.derive(b"citadel-data/salt")?;
        let value_hash = {
            let mut context = ring::digest::Context::new(&ring::digest::SHA256);
            context.update(salt.as_ref());
            context.update(condition.column.as_bytes());
            context.update(&[0]);
            context.update(condition.value.to_string().as_bytes());
            hex::encode(context.finish())
        };
        // Rewrite every stored version (outside the transaction: this is the long part).
        let mut rewritten = Vec::new();
        for version in loaded
            .versions
            .iter()
            .filter(|v| v.artifact_digest.is_some())
        {
            let rows = open_rows(&self.blobs, &version_ref(self, version).await?).await?;
            let job_condition = condition.clone();
            let (reference, summary, erased) = write_rows(&self.blobs, move |writer| {
                Ok(erase_rows(rows, writer, &job_condition)?)
            })
            .await?;
            if erased.erased > 0 {
                rewritten.push((version.clone(), reference, summary.rows, erased.erased));
            } else if reference.digest != version.artifact_digest.clone().unwrap_or_default() {
                // Same rows, new bytes: nothing references them.
                self.delete_blobs(&[reference]).await;
            }
        }
        let rows_erased: u64 = rewritten.iter().map(|(_, _, _, erased)| *erased).sum();
        let params = json!({ "column": condition.column, "value_sha256": value_hash });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &loaded.target, &params)
            .await?;
        // A version added meanwhile was not scanned for the value: refuse rather than miss it.
        let now_latest = self
            .store
            .dataset_versions(loaded.securable.id)
            .await?
            .len();
        if now_latest != loaded.versions.len() {
            return Err(Error::InvalidInput(
                "the dataset gained a version during the erasure; run the erasure again".into(),
            ));
        }
        let latest = loaded.versions.iter().map(|v| v.version).max();
        let mut old_refs = Vec::new();
        let mut new_version = None;
        for (version, reference, rows, _) in &rewritten {
            self.record_artifact(&mut tx, ctx, reference).await?;
            tx.rewrite_dataset_version(
                loaded.securable.id,
                version.version,
                &reference.digest,
                *rows,
                reference.size,
            )
            .await?;
            if Some(version.version) == latest {
                let source = json!({ "kind": "erase", "from_version": version.version, "column": condition.column });
                new_version = Some(
                    self.insert_version(
                        &mut tx,
                        ctx,
                        &loaded.securable,
                        reference,
                        *rows,
                        version.schema.clone(),
                        source,
                    )
                    .await?
                    .version,
                );
            }
            if let Some(digest) = &version.artifact_digest {
                if !tx.artifact_in_use(digest).await? {
                    old_refs.push(version_ref(self, version).await?);
                    tx.delete_artifact_row(digest).await?;
                }
            }
        }
        let report = ErasureReport {
            erasure_id: format!("erasure_{}", uuid::Uuid::now_v7().simple()),
            dataset: loaded.target.to_string(),
            column: condition.column.clone(),
            rows_erased,
            versions_rewritten: rewritten.iter().map(|(v, ..)| v.version).collect(),
            new_version,
        };
        tx.insert_erasure(&citadel_store::ErasureRecord {
            id: report.erasure_id.clone(),
            dataset_id: loaded.securable.id,
            column_name: condition.column.clone(),
            value_hash: value_hash.clone(),
            rows_erased,
            versions_rewritten: report.versions_rewritten.len() as u64,
            new_version,
            erased_by: Some(ctx.principal.id),
            erased_at: OffsetDateTime::now_utc(),
        })
        .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(json!({
                    "erasure_id": report.erasure_id,
                    "column": report.column,
                    "value_sha256": value_hash,
                    "rows_erased": rows_erased,
                    "versions_rewritten": report.versions_rewritten,
                    "new_version": new_version,
                })),
        )
        .await?;
        self.delete_blobs(&old_refs).await;
        Ok(report)
    }

    /// Deletes artifacts' bytes after their rows are gone. A failure leaves unreferenced,
    /// encrypted bytes behind; it is logged, and the committed change stands.
    async fn delete_blobs(&self, references: &[citadel_blob::ArtifactRef]) {
        for reference in references {
            if let Err(err) = self.blobs.delete(reference).await {
                tracing::warn!(digest = %reference.digest, error = %err, "cannot delete artifact bytes");
            }
        }
    }
}
