//! Secret version rows: sealed values, their wrapped data keys and who wrote them. Values are
//! sealed and opened by the vault; this module never sees plaintext.

use std::fmt;

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{parse_col, parse_opt_col, time_col, time_text, u64_col};
use crate::tx::WriteTx;
use crate::{Result, Store};

const META_COLUMNS: &str = "scope_id, name, version, kek_id, created_at, created_by";

/// A secret version's description: everything but the sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersionMeta {
    pub scope_id: SecurableId,
    pub name: String,
    pub version: u32,
    pub kek_id: String,
    pub created_at: OffsetDateTime,
    pub created_by: Option<PrincipalId>,
}

/// A secret version with its sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersionRecord {
    pub meta: SecretVersionMeta,
    /// `nonce ‖ ciphertext ‖ tag` under the version's data key.
    pub ciphertext: Vec<u8>,
    /// The data key wrapped by the KEK `meta.kek_id`.
    pub wrapped_key: Vec<u8>,
}

impl fmt::Debug for SecretVersionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersionRecord")
            .field("meta", &self.meta)
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish_non_exhaustive()
    }
}

impl WriteTx {
    /// The number the next version of `name` in `scope_id` gets. The transaction holds the audit
    /// lock, so no other writer can take the same number before this one commits.
    pub async fn next_secret_version(&mut self, scope_id: SecurableId, name: &str) -> Result<u32> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS latest FROM secret_versions \
             WHERE scope_id = $1 AND name = $2",
        )
        .bind(scope_id.to_string())
        .bind(name)
        .fetch_one(self.conn())
        .await?;
        let latest = u64_col(&row, "latest")?;
        u32::try_from(latest + 1)
            .map_err(|_| crate::codec::corrupt("secret version", &latest.to_string()))
    }

    /// Stores a sealed version.
    pub async fn insert_secret_version(&mut self, record: &SecretVersionRecord) -> Result<()> {
        let meta = &record.meta;
        sqlx::query(
            "INSERT INTO secret_versions (scope_id, name, version, ciphertext, wrapped_key, \
             kek_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(meta.scope_id.to_string())
        .bind(&meta.name)
        .bind(i64::from(meta.version))
        .bind(record.ciphertext.clone())
        .bind(record.wrapped_key.clone())
        .bind(&meta.kek_id)
        .bind(time_text(meta.created_at)?)
        .bind(meta.created_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await
        .map_err(|e| {
            crate::StoreError::conflict_on_unique(
                e,
                "secret version",
                &format!("{}@{}", meta.name, meta.version),
            )
        })?;
        Ok(())
    }

    /// Deletes one version of a secret, or all of them; returns how many rows went.
    pub async fn delete_secret(
        &mut self,
        scope_id: SecurableId,
        name: &str,
        version: Option<u32>,
    ) -> Result<u64> {
        let done = match version {
            Some(version) => sqlx::query(
                "DELETE FROM secret_versions WHERE scope_id = $1 AND name = $2 AND version = $3",
            )
            .bind(scope_id.to_string())
            .bind(name)
            .bind(i64::from(version)),
            None => sqlx::query("DELETE FROM secret_versions WHERE scope_id = $1 AND name = $2")
                .bind(scope_id.to_string())
                .bind(name),
        }
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Every secret version whose data key is not wrapped by `kek_id` (what a rotation re-wraps).
    pub async fn secrets_not_wrapped_by(
        &mut self,
        kek_id: &str,
    ) -> Result<Vec<SecretVersionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {META_COLUMNS}, ciphertext, wrapped_key FROM secret_versions \
             WHERE kek_id <> $1 ORDER BY scope_id, name, version"
        ))
        .bind(kek_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Replaces a version's wrapped data key (key rotation); the sealed value is unchanged.
    pub async fn rewrap_secret_key(
        &mut self,
        meta: &SecretVersionMeta,
        wrapped_key: &[u8],
        kek_id: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE secret_versions SET wrapped_key = $1, kek_id = $2 \
             WHERE scope_id = $3 AND name = $4 AND version = $5",
        )
        .bind(wrapped_key.to_vec())
        .bind(kek_id)
        .bind(meta.scope_id.to_string())
        .bind(&meta.name)
        .bind(i64::from(meta.version))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// A version of a secret (the latest when `version` is `None`).
    pub async fn secret_version(
        &self,
        scope_id: SecurableId,
        name: &str,
        version: Option<u32>,
    ) -> Result<Option<SecretVersionRecord>> {
        fetch_version(self.pool(), scope_id, name, version).await
    }

    /// Every version of every secret in a scope, by name then version (no values).
    pub async fn list_secret_versions(
        &self,
        scope_id: SecurableId,
    ) -> Result<Vec<SecretVersionMeta>> {
        let rows = sqlx::query(&format!(
            "SELECT {META_COLUMNS} FROM secret_versions WHERE scope_id = $1 ORDER BY name, version"
        ))
        .bind(scope_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(meta_from_row).collect()
    }
}

async fn fetch_version<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    scope_id: SecurableId,
    name: &str,
    version: Option<u32>,
) -> Result<Option<SecretVersionRecord>> {
    let select = format!("SELECT {META_COLUMNS}, ciphertext, wrapped_key FROM secret_versions");
    let row = match version {
        Some(version) => {
            sqlx::query(&format!(
                "{select} WHERE scope_id = $1 AND name = $2 AND version = $3"
            ))
            .bind(scope_id.to_string())
            .bind(name)
            .bind(i64::from(version))
            .fetch_optional(executor)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "{select} WHERE scope_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1"
            ))
            .bind(scope_id.to_string())
            .bind(name)
            .fetch_optional(executor)
            .await?
        }
    };
    row.as_ref().map(record_from_row).transpose()
}

fn meta_from_row(row: &AnyRow) -> Result<SecretVersionMeta> {
    let version = u64_col(row, "version")?;
    Ok(SecretVersionMeta {
        scope_id: parse_col(row, "scope_id")?,
        name: row.try_get("name")?,
        version: u32::try_from(version)
            .map_err(|_| crate::codec::corrupt("secret version", &version.to_string()))?,
        kek_id: row.try_get("kek_id")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
    })
}

fn record_from_row(row: &AnyRow) -> Result<SecretVersionRecord> {
    Ok(SecretVersionRecord {
        meta: meta_from_row(row)?,
        ciphertext: row.try_get("ciphertext")?,
        wrapped_key: row.try_get("wrapped_key")?,
    })
}
