//! The `meta` key/value table: installation facts such as the schema owner or the home's id.

use sqlx::Row;

use crate::tx::WriteTx;
use crate::{Result, Store};

impl WriteTx {
    /// Sets `key` to `value`, replacing any previous value.
    pub async fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// The value of `key`, if set.
    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }
}
