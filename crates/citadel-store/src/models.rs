//! Model version rows: the signed manifest (DSSE envelope), source, sizes and scan verdict of
//! each immutable version, its registry state (status, run, gates, promotion, card, BOM), and
//! the files that point at encrypted artifacts.

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{
    corrupt, parse_col, parse_opt_col, time_col, time_text, to_i64, u32_col, u64_col,
};
use crate::tx::WriteTx;
use crate::{Result, Store};

/// One version of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersionRecord {
    pub model_id: SecurableId,
    pub version: u32,
    /// Where the files came from, as JSON.
    pub source: String,
    /// The signed manifest: a DSSE envelope, as JSON.
    pub envelope: String,
    /// The manifest's subject digest (SHA-256 over the files' digests).
    pub root_digest: String,
    pub size: u64,
    pub file_count: u32,
    /// `clean` or `suspicious` (dangerous files are never stored).
    pub scan_verdict: String,
    pub created_at: OffsetDateTime,
    pub created_by: Option<PrincipalId>,
    /// Registry state; the defaults for a freshly acquired version.
    pub registry: VersionRegistry,
}

/// What the registry records about a version besides its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRegistry {
    /// `pending_review`, `approved`, `rejected` or `archived`.
    pub status: String,
    /// Why the status was set (a rejection's reasons).
    pub status_reason: Option<String>,
    /// The training run that produced the version.
    pub run_id: Option<String>,
    /// The gate report, as JSON (none for acquired versions).
    pub gates: Option<String>,
    /// Whether every gate passed (none when no gates were evaluated).
    pub gates_passed: Option<bool>,
    /// `catalog.schema.model@version` this version was copied from by promotion.
    pub promoted_from: Option<String>,
    /// Inputs (base model version, datasets), as JSON.
    pub lineage: Option<String>,
    /// The model card's facts (rendered to Markdown on read, with current approvals), as JSON.
    pub card: Option<String>,
    /// The CycloneDX ML-BOM, as JSON.
    pub bom: Option<String>,
}

impl Default for VersionRegistry {
    fn default() -> Self {
        Self {
            status: "pending_review".to_owned(),
            status_reason: None,
            run_id: None,
            gates: None,
            gates_passed: None,
            promoted_from: None,
            lineage: None,
            card: None,
            bom: None,
        }
    }
}

/// One file of a model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFileRecord {
    pub path: String,
    /// The artifact holding the file, `sha256:<hex>` of its content.
    pub digest: String,
    pub size: u64,
}

const VERSION_COLUMNS: &str = "model_id, version, source, envelope, root_digest, size, \
     file_count, scan_verdict, created_at, created_by, status, status_reason, run_id, gates, \
     gates_passed, promoted_from, lineage, card, bom";

impl WriteTx {
    /// The number the next version of `model` gets (the audit lock serializes writers).
    pub async fn next_model_version(&mut self, model: SecurableId) -> Result<u32> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS latest FROM model_versions WHERE model_id = $1",
        )
        .bind(model.to_string())
        .fetch_one(self.conn())
        .await?;
        let latest = u64_col(&row, "latest")?;
        u32::try_from(latest + 1).map_err(|_| corrupt("model version", &latest.to_string()))
    }

    /// Records a version and its files (their artifact rows must exist).
    pub async fn insert_model_version(
        &mut self,
        version: &ModelVersionRecord,
        files: &[ModelFileRecord],
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO model_versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19)"
        ))
        .bind(version.model_id.to_string())
        .bind(i64::from(version.version))
        .bind(&version.source)
        .bind(&version.envelope)
        .bind(&version.root_digest)
        .bind(to_i64("size", version.size)?)
        .bind(i64::from(version.file_count))
        .bind(&version.scan_verdict)
        .bind(time_text(version.created_at)?)
        .bind(version.created_by.map(|p| p.to_string()))
        .bind(&version.registry.status)
        .bind(&version.registry.status_reason)
        .bind(&version.registry.run_id)
        .bind(&version.registry.gates)
        .bind(version.registry.gates_passed.map(i64::from))
        .bind(&version.registry.promoted_from)
        .bind(&version.registry.lineage)
        .bind(&version.registry.card)
        .bind(&version.registry.bom)
        .execute(self.conn())
        .await?;
        for file in files {
            sqlx::query(
                "INSERT INTO model_files (model_id, version, path, digest, size) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(version.model_id.to_string())
            .bind(i64::from(version.version))
            .bind(&file.path)
            .bind(&file.digest)
            .bind(to_i64("size", file.size)?)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }
}

impl WriteTx {
    /// Sets a version's status and the reason for it.
    pub async fn set_model_version_status(
        &mut self,
        model: SecurableId,
        version: u32,
        status: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE model_versions SET status = $1, status_reason = $2 \
             WHERE model_id = $3 AND version = $4",
        )
        .bind(status)
        .bind(reason)
        .bind(model.to_string())
        .bind(i64::from(version))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Every version of a model, oldest first.
    pub async fn model_versions(&self, model: SecurableId) -> Result<Vec<ModelVersionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE model_id = $1 ORDER BY version"
        ))
        .bind(model.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// The files of a version, sorted by path.
    pub async fn model_files(
        &self,
        model: SecurableId,
        version: u32,
    ) -> Result<Vec<ModelFileRecord>> {
        let rows = sqlx::query(
            "SELECT path, digest, size FROM model_files WHERE model_id = $1 AND version = $2 \
             ORDER BY path",
        )
        .bind(model.to_string())
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ModelFileRecord {
                    path: row.try_get("path")?,
                    digest: row.try_get("digest")?,
                    size: u64_col(row, "size")?,
                })
            })
            .collect()
    }
}

fn version_from_row(row: &AnyRow) -> Result<ModelVersionRecord> {
    Ok(ModelVersionRecord {
        model_id: parse_col(row, "model_id")?,
        version: u32_col(row, "version")?,
        source: row.try_get("source")?,
        envelope: row.try_get("envelope")?,
        root_digest: row.try_get("root_digest")?,
        size: u64_col(row, "size")?,
        file_count: u32_col(row, "file_count")?,
        scan_verdict: row.try_get("scan_verdict")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
        registry: VersionRegistry {
            status: row.try_get("status")?,
            status_reason: row.try_get("status_reason")?,
            run_id: row.try_get("run_id")?,
            gates: row.try_get("gates")?,
            gates_passed: row
                .try_get::<Option<i64>, _>("gates_passed")?
                .map(|v| v != 0),
            promoted_from: row.try_get("promoted_from")?,
            lineage: row.try_get("lineage")?,
            card: row.try_get("card")?,
            bom: row.try_get("bom")?,
        },
    })
}
