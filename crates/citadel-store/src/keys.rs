//! Key-encryption key records: which KEK is active, when each was activated and retired. The keys
//! themselves never touch the database; only their public ids do.

use citadel_core::PrincipalId;
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{now_text, opt_time_col, parse_opt_col, time_col};
use crate::tx::WriteTx;
use crate::{ArtifactRecord, Result, Store};

/// The `meta` key holding the id of the KEK that wraps new data keys.
pub const ACTIVE_KEK_META: &str = "active_kek_id";

/// A key-encryption key the home has used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRecord {
    /// Public id (a digest prefix of the key).
    pub kek_id: String,
    /// Which provider held it (`file`, `env`, …).
    pub provider: String,
    /// When it became the active key.
    pub activated_at: OffsetDateTime,
    /// Who activated it (`None` at `init`).
    pub activated_by: Option<PrincipalId>,
    /// When a rotation replaced it.
    pub retired_at: Option<OffsetDateTime>,
}

impl WriteTx {
    /// Makes `kek_id` the active key: retires the one active before (if another) and records the
    /// new one. Call in the transaction that re-wraps the data keys.
    pub async fn activate_kek(
        &mut self,
        kek_id: &str,
        provider: &str,
        by: Option<PrincipalId>,
    ) -> Result<()> {
        let now = now_text()?;
        sqlx::query(
            "UPDATE key_encryption_keys SET retired_at = $1 \
             WHERE retired_at IS NULL AND kek_id <> $2",
        )
        .bind(&now)
        .bind(kek_id)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO key_encryption_keys (kek_id, provider, activated_at, activated_by) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kek_id) DO UPDATE SET retired_at = NULL",
        )
        .bind(kek_id)
        .bind(provider)
        .bind(&now)
        .bind(by.map(|p| p.to_string()))
        .execute(self.conn())
        .await?;
        self.set_meta(ACTIVE_KEK_META, kek_id).await
    }

    /// The active key id, read inside this transaction (so a rotation cannot slip in between).
    pub async fn active_kek_id(&mut self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(ACTIVE_KEK_META)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Every artifact whose data key is not wrapped by `kek_id`.
    pub async fn artifacts_not_wrapped_by(&mut self, kek_id: &str) -> Result<Vec<ArtifactRecord>> {
        crate::artifacts::fetch_not_wrapped_by(self.conn(), kek_id).await
    }
}

impl Store {
    /// The id of the key that wraps new data keys, once recorded.
    pub async fn active_kek_id(&self) -> Result<Option<String>> {
        self.meta(ACTIVE_KEK_META).await
    }

    /// Every key the home has used, most recently activated first.
    pub async fn list_keks(&self) -> Result<Vec<KekRecord>> {
        let rows = sqlx::query(
            "SELECT kek_id, provider, activated_at, activated_by, retired_at \
             FROM key_encryption_keys ORDER BY activated_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(kek_from_row).collect()
    }
}

fn kek_from_row(row: &AnyRow) -> Result<KekRecord> {
    Ok(KekRecord {
        kek_id: row.try_get("kek_id")?,
        provider: row.try_get("provider")?,
        activated_at: time_col(row, "activated_at")?,
        activated_by: parse_opt_col(row, "activated_by")?,
        retired_at: opt_time_col(row, "retired_at")?,
    })
}
