//! Dataset rows: settings (wrapped dataset key, row policy, retention), immutable versions and
//! their tombstones, training waivers, erasure records, and the principal attributes row filters
//! compare against. Rows are stored encrypted as artifacts; this module holds only metadata.

use std::collections::BTreeMap;
use std::fmt;

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{
    corrupt, now_text, opt_time_col, parse_col, parse_opt_col, time_col, time_text, to_i64,
    u32_col, u64_col,
};
use crate::tx::WriteTx;
use crate::{Result, Store};

/// A dataset's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct DatasetRecord {
    pub securable_id: SecurableId,
    /// The dataset key (salt, pseudonym and encryption keys derive from it), wrapped by a KEK.
    pub wrapped_key: Vec<u8>,
    pub kek_id: String,
    /// Column masks and row filters, as JSON.
    pub row_policy: String,
    /// Retention policy, as JSON.
    pub retention: Option<String>,
}

impl fmt::Debug for DatasetRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatasetRecord")
            .field("securable_id", &self.securable_id)
            .field("kek_id", &self.kek_id)
            .field("row_policy", &self.row_policy)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// One version of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetVersionRecord {
    pub dataset_id: SecurableId,
    pub version: u32,
    /// The encrypted rows; `None` once garbage-collected.
    pub artifact_digest: Option<String>,
    pub row_count: u64,
    pub size: u64,
    /// Inferred schema, as JSON.
    pub schema: String,
    /// Where the rows came from (ingest, anonymize, erase), as JSON: the lineage.
    pub source: String,
    /// The last PII scan's verdict, as JSON.
    pub pii_verdict: Option<String>,
    pub created_at: OffsetDateTime,
    pub created_by: Option<PrincipalId>,
    /// When an erasure last rewrote its rows.
    pub rewritten_at: Option<OffsetDateTime>,
    /// When retention deleted its bytes (the row stays as a tombstone).
    pub deleted_at: Option<OffsetDateTime>,
    pub deleted_reason: Option<String>,
}

/// A training waiver for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverRecord {
    pub id: String,
    pub dataset_id: SecurableId,
    pub version: u32,
    pub justification: String,
    pub requested_by: PrincipalId,
    pub requested_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub approved_by: Option<PrincipalId>,
    pub approved_at: Option<OffsetDateTime>,
}

/// What an erasure removed (the value only as a salted hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    pub id: String,
    pub dataset_id: SecurableId,
    pub column_name: String,
    pub value_hash: String,
    pub rows_erased: u64,
    pub versions_rewritten: u64,
    pub new_version: Option<u32>,
    pub erased_by: Option<PrincipalId>,
    pub erased_at: OffsetDateTime,
}

const VERSION_COLUMNS: &str = "dataset_id, version, artifact_digest, row_count, size, schema, \
     source, pii_verdict, created_at, created_by, rewritten_at, deleted_at, deleted_reason";
const WAIVER_COLUMNS: &str = "id, dataset_id, version, justification, requested_by, \
     requested_at, expires_at, approved_by, approved_at";

impl WriteTx {
    /// Records a new dataset's settings.
    pub async fn insert_dataset(&mut self, dataset: &DatasetRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO datasets (securable_id, wrapped_key, kek_id, row_policy, retention) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(dataset.securable_id.to_string())
        .bind(dataset.wrapped_key.clone())
        .bind(&dataset.kek_id)
        .bind(&dataset.row_policy)
        .bind(dataset.retention.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Replaces a dataset's column masks and row filters.
    pub async fn set_row_policy(&mut self, dataset: SecurableId, policy: &str) -> Result<()> {
        sqlx::query("UPDATE datasets SET row_policy = $1 WHERE securable_id = $2")
            .bind(policy)
            .bind(dataset.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets (or clears) a dataset's retention policy.
    pub async fn set_retention(
        &mut self,
        dataset: SecurableId,
        policy: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE datasets SET retention = $1 WHERE securable_id = $2")
            .bind(policy.map(str::to_owned))
            .bind(dataset.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Every dataset whose key is not wrapped by `kek_id` (what a rotation re-wraps).
    pub async fn datasets_not_wrapped_by(&mut self, kek_id: &str) -> Result<Vec<DatasetRecord>> {
        let rows = sqlx::query(
            "SELECT securable_id, wrapped_key, kek_id, row_policy, retention FROM datasets \
             WHERE kek_id <> $1",
        )
        .bind(kek_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    /// Replaces a dataset key's wrapping (key rotation).
    pub async fn rewrap_dataset_key(
        &mut self,
        dataset: SecurableId,
        wrapped_key: &[u8],
        kek_id: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE datasets SET wrapped_key = $1, kek_id = $2 WHERE securable_id = $3")
            .bind(wrapped_key.to_vec())
            .bind(kek_id)
            .bind(dataset.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The number the next version gets (the audit lock serializes writers).
    pub async fn next_dataset_version(&mut self, dataset: SecurableId) -> Result<u32> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS latest FROM dataset_versions WHERE dataset_id = $1",
        )
        .bind(dataset.to_string())
        .fetch_one(self.conn())
        .await?;
        let latest = u64_col(&row, "latest")?;
        u32::try_from(latest + 1).map_err(|_| corrupt("dataset version", &latest.to_string()))
    }

    /// Records a version.
    pub async fn insert_dataset_version(&mut self, v: &DatasetVersionRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO dataset_versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(v.dataset_id.to_string())
        .bind(i64::from(v.version))
        .bind(v.artifact_digest.clone())
        .bind(to_i64("row count", v.row_count)?)
        .bind(to_i64("size", v.size)?)
        .bind(&v.schema)
        .bind(&v.source)
        .bind(v.pii_verdict.clone())
        .bind(time_text(v.created_at)?)
        .bind(v.created_by.map(|p| p.to_string()))
        .bind(v.rewritten_at.map(time_text).transpose()?)
        .bind(v.deleted_at.map(time_text).transpose()?)
        .bind(v.deleted_reason.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records a PII verdict on a version.
    pub async fn set_pii_verdict(
        &mut self,
        dataset: SecurableId,
        version: u32,
        verdict: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE dataset_versions SET pii_verdict = $1 WHERE dataset_id = $2 AND version = $3",
        )
        .bind(verdict)
        .bind(dataset.to_string())
        .bind(i64::from(version))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Points a version at rewritten rows (erasure); its verdict no longer describes them.
    pub async fn rewrite_dataset_version(
        &mut self,
        dataset: SecurableId,
        version: u32,
        artifact_digest: &str,
        row_count: u64,
        size: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE dataset_versions SET artifact_digest = $1, row_count = $2, size = $3, \
             rewritten_at = $4, pii_verdict = NULL WHERE dataset_id = $5 AND version = $6",
        )
        .bind(artifact_digest)
        .bind(to_i64("row count", row_count)?)
        .bind(to_i64("size", size)?)
        .bind(now_text()?)
        .bind(dataset.to_string())
        .bind(i64::from(version))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Turns a version into a tombstone: its bytes are gone, its lineage stays.
    pub async fn tombstone_dataset_version(
        &mut self,
        dataset: SecurableId,
        version: u32,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE dataset_versions SET artifact_digest = NULL, deleted_at = $1, \
             deleted_reason = $2 WHERE dataset_id = $3 AND version = $4",
        )
        .bind(now_text()?)
        .bind(reason)
        .bind(dataset.to_string())
        .bind(i64::from(version))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Whether any dataset version, model file or run file still points at `digest`.
    pub async fn artifact_in_use(&mut self, digest: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM dataset_versions WHERE artifact_digest = $1) \
                  + (SELECT COUNT(*) FROM model_files WHERE digest = $1) \
                  + (SELECT COUNT(*) FROM run_artifacts WHERE digest = $1) AS n",
        )
        .bind(digest)
        .fetch_one(self.conn())
        .await?;
        Ok(u64_col(&row, "n")? > 0)
    }

    /// Removes an artifact's row (its bytes are deleted by the caller after the commit).
    pub async fn delete_artifact_row(&mut self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM artifacts WHERE digest = $1")
            .bind(digest)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records a waiver request.
    pub async fn insert_waiver(&mut self, w: &WaiverRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO dataset_waivers ({WAIVER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&w.id)
        .bind(w.dataset_id.to_string())
        .bind(i64::from(w.version))
        .bind(&w.justification)
        .bind(w.requested_by.to_string())
        .bind(time_text(w.requested_at)?)
        .bind(time_text(w.expires_at)?)
        .bind(w.approved_by.map(|p| p.to_string()))
        .bind(w.approved_at.map(time_text).transpose()?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Approves a pending waiver; `false` when it was not pending.
    pub async fn approve_waiver(&mut self, id: &str, approver: PrincipalId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE dataset_waivers SET approved_by = $1, approved_at = $2 \
             WHERE id = $3 AND approved_by IS NULL AND requested_by <> $1",
        )
        .bind(approver.to_string())
        .bind(now_text()?)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records an erasure.
    pub async fn insert_erasure(&mut self, e: &ErasureRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO dataset_erasures (id, dataset_id, column_name, value_hash, rows_erased, \
             versions_rewritten, new_version, erased_by, erased_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&e.id)
        .bind(e.dataset_id.to_string())
        .bind(&e.column_name)
        .bind(&e.value_hash)
        .bind(to_i64("rows erased", e.rows_erased)?)
        .bind(to_i64("versions rewritten", e.versions_rewritten)?)
        .bind(e.new_version.map(i64::from))
        .bind(e.erased_by.map(|p| p.to_string()))
        .bind(time_text(e.erased_at)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Replaces the values of one attribute of a principal (none removes it).
    pub async fn set_principal_attribute(
        &mut self,
        principal: PrincipalId,
        name: &str,
        values: &[String],
    ) -> Result<()> {
        sqlx::query("DELETE FROM principal_attributes WHERE principal_id = $1 AND name = $2")
            .bind(principal.to_string())
            .bind(name)
            .execute(self.conn())
            .await?;
        for value in values {
            sqlx::query(
                "INSERT INTO principal_attributes (principal_id, name, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (principal_id, name, value) DO NOTHING",
            )
            .bind(principal.to_string())
            .bind(name)
            .bind(value)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }
}

impl Store {
    /// A dataset's settings.
    pub async fn dataset(&self, id: SecurableId) -> Result<Option<DatasetRecord>> {
        let row = sqlx::query(
            "SELECT securable_id, wrapped_key, kek_id, row_policy, retention FROM datasets \
             WHERE securable_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    /// Every dataset with a retention policy.
    pub async fn datasets_with_retention(&self) -> Result<Vec<DatasetRecord>> {
        let rows = sqlx::query(
            "SELECT securable_id, wrapped_key, kek_id, row_policy, retention FROM datasets \
             WHERE retention IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    /// Every version of a dataset, oldest first, tombstones included.
    pub async fn dataset_versions(&self, id: SecurableId) -> Result<Vec<DatasetVersionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 ORDER BY version"
        ))
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Waivers of a dataset, newest first.
    pub async fn waivers(&self, id: SecurableId) -> Result<Vec<WaiverRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WAIVER_COLUMNS} FROM dataset_waivers WHERE dataset_id = $1 \
             ORDER BY requested_at DESC"
        ))
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(waiver_from_row).collect()
    }

    /// A waiver by id.
    pub async fn waiver(&self, id: &str) -> Result<Option<WaiverRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {WAIVER_COLUMNS} FROM dataset_waivers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(waiver_from_row).transpose()
    }

    /// A principal's attributes: name → values.
    pub async fn principal_attributes(
        &self,
        principal: PrincipalId,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = sqlx::query(
            "SELECT name, value FROM principal_attributes WHERE principal_id = $1 \
             ORDER BY name, value",
        )
        .bind(principal.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            out.entry(row.try_get("name")?)
                .or_default()
                .push(row.try_get("value")?);
        }
        Ok(out)
    }
}

fn dataset_from_row(row: &AnyRow) -> Result<DatasetRecord> {
    Ok(DatasetRecord {
        securable_id: parse_col(row, "securable_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        kek_id: row.try_get("kek_id")?,
        row_policy: row.try_get("row_policy")?,
        retention: row.try_get("retention")?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<DatasetVersionRecord> {
    Ok(DatasetVersionRecord {
        dataset_id: parse_col(row, "dataset_id")?,
        version: u32_col(row, "version")?,
        artifact_digest: row.try_get("artifact_digest")?,
        row_count: u64_col(row, "row_count")?,
        size: u64_col(row, "size")?,
        schema: row.try_get("schema")?,
        source: row.try_get("source")?,
        pii_verdict: row.try_get("pii_verdict")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
        rewritten_at: opt_time_col(row, "rewritten_at")?,
        deleted_at: opt_time_col(row, "deleted_at")?,
        deleted_reason: row.try_get("deleted_reason")?,
    })
}

fn waiver_from_row(row: &AnyRow) -> Result<WaiverRecord> {
    Ok(WaiverRecord {
        id: row.try_get("id")?,
        dataset_id: parse_col(row, "dataset_id")?,
        version: u32_col(row, "version")?,
        justification: row.try_get("justification")?,
        requested_by: parse_col(row, "requested_by")?,
        requested_at: time_col(row, "requested_at")?,
        expires_at: time_col(row, "expires_at")?,
        approved_by: parse_opt_col(row, "approved_by")?,
        approved_at: opt_time_col(row, "approved_at")?,
    })
}
