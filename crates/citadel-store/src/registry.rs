//! Registry rows about model versions: approval decisions, aliases and tags.

use citadel_core::{PrincipalId, SecurableId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{parse_col, parse_opt_col, time_col, time_text, u32_col};
use crate::tx::WriteTx;
use crate::{Result, Store};

/// One approval decision on a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub version: u32,
    /// `approved` or `rejected`.
    pub decision: String,
    pub decided_by: PrincipalId,
    pub comment: String,
    pub decided_at: OffsetDateTime,
}

/// An alias and the version it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub alias: String,
    pub version: u32,
    pub set_by: Option<PrincipalId>,
    pub set_at: OffsetDateTime,
}

/// A tag on a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub version: u32,
    pub key: String,
    pub value: String,
}

impl WriteTx {
    /// Records an approval decision.
    pub async fn insert_approval(
        &mut self,
        model: SecurableId,
        record: &ApprovalRecord,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_approvals (model_id, version, decision, decided_by, comment, \
             decided_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(model.to_string())
        .bind(i64::from(record.version))
        .bind(&record.decision)
        .bind(record.decided_by.to_string())
        .bind(&record.comment)
        .bind(time_text(record.decided_at)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Points `alias` at `version`, replacing what it named before.
    pub async fn set_alias(
        &mut self,
        model: SecurableId,
        alias: &str,
        version: u32,
        set_by: PrincipalId,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_aliases (model_id, alias, version, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (model_id, alias) DO UPDATE SET \
             version = excluded.version, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(model.to_string())
        .bind(alias)
        .bind(i64::from(version))
        .bind(set_by.to_string())
        .bind(time_text(OffsetDateTime::now_utc())?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Removes an alias; whether it existed.
    pub async fn delete_alias(&mut self, model: SecurableId, alias: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM model_aliases WHERE model_id = $1 AND alias = $2")
            .bind(model.to_string())
            .bind(alias)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets a tag on a version, replacing its value.
    pub async fn set_tag(&mut self, model: SecurableId, tag: &TagRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value",
        )
        .bind(model.to_string())
        .bind(i64::from(tag.version))
        .bind(&tag.key)
        .bind(&tag.value)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Removes a tag; whether it existed.
    pub async fn delete_tag(
        &mut self,
        model: SecurableId,
        version: u32,
        key: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM model_tags WHERE model_id = $1 AND version = $2 AND key = $3")
                .bind(model.to_string())
                .bind(i64::from(version))
                .bind(key)
                .execute(self.conn())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Approval decisions on a model's versions, oldest first.
    pub async fn approvals(&self, model: SecurableId) -> Result<Vec<ApprovalRecord>> {
        let rows = sqlx::query(
            "SELECT version, decision, decided_by, comment, decided_at FROM model_approvals \
             WHERE model_id = $1 ORDER BY decided_at, version",
        )
        .bind(model.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApprovalRecord {
                    version: u32_col(row, "version")?,
                    decision: row.try_get("decision")?,
                    decided_by: parse_col(row, "decided_by")?,
                    comment: row.try_get("comment")?,
                    decided_at: time_col(row, "decided_at")?,
                })
            })
            .collect()
    }

    /// A model's aliases, by name.
    pub async fn aliases(&self, model: SecurableId) -> Result<Vec<AliasRecord>> {
        let rows = sqlx::query(
            "SELECT alias, version, set_by, set_at FROM model_aliases WHERE model_id = $1 \
             ORDER BY alias",
        )
        .bind(model.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AliasRecord {
                    alias: row.try_get("alias")?,
                    version: u32_col(row, "version")?,
                    set_by: parse_opt_col(row, "set_by")?,
                    set_at: time_col(row, "set_at")?,
                })
            })
            .collect()
    }

    /// A model's tags, by version then key.
    pub async fn tags(&self, model: SecurableId) -> Result<Vec<TagRecord>> {
        let rows = sqlx::query(
            "SELECT version, key, value FROM model_tags WHERE model_id = $1 ORDER BY version, key",
        )
        .bind(model.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TagRecord {
                    version: u32_col(row, "version")?,
                    key: row.try_get("key")?,
                    value: row.try_get("value")?,
                })
            })
            .collect()
    }
}
