//! Serving endpoint rows: which configuration revision of each endpoint serves now, every
//! revision it ever had (append-only: create, update, rollback), and the generation counter the
//! gateway polls to notice changes. The endpoint's name, owner and grants are its securable's;
//! the configuration is JSON this crate stores without reading.

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{corrupt, now_text, parse_col, parse_opt_col, time_col, u32_col, u64_col};
use crate::tx::WriteTx;
use crate::{Result, Store};

/// How a revision came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointChange {
    /// The endpoint's first configuration.
    Create,
    /// A new configuration.
    Update,
    /// A copy of an earlier revision's configuration (the one named).
    Rollback(u32),
}

impl EndpointChange {
    /// The stored form: `create`, `update` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Rollback(_) => "rollback",
        }
    }

    /// The revision a rollback restored.
    pub fn restored(self) -> Option<u32> {
        match self {
            Self::Rollback(revision) => Some(revision),
            Self::Create | Self::Update => None,
        }
    }

    fn from_columns(change: &str, restored: Option<u32>) -> Result<Self> {
        match (change, restored) {
            ("create", None) => Ok(Self::Create),
            ("update", None) => Ok(Self::Update),
            ("rollback", Some(revision)) => Ok(Self::Rollback(revision)),
            _ => Err(corrupt("endpoint revision change", change)),
        }
    }
}

/// An endpoint with its current configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// The endpoint's securable id.
    pub id: SecurableId,
    /// `catalog.schema.name`.
    pub full_name: String,
    /// The revision serving now.
    pub revision: u32,
    /// That revision's configuration, as JSON.
    pub config: String,
    pub created_at: OffsetDateTime,
    /// When the current revision was made.
    pub updated_at: OffsetDateTime,
}

/// One revision of an endpoint's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRevisionRecord {
    pub revision: u32,
    pub change: EndpointChange,
    /// The configuration, as JSON.
    pub config: String,
    pub created_at: OffsetDateTime,
    pub created_by: Option<PrincipalId>,
}

const ENDPOINT_COLUMNS: &str =
    "e.id, s.full_name, e.revision, r.config, e.created_at, e.updated_at";
const ENDPOINT_FROM: &str = "FROM endpoints e JOIN securables s ON s.id = e.id \
     JOIN endpoint_revisions r ON r.endpoint_id = e.id AND r.revision = e.revision";
const REVISION_COLUMNS: &str = "revision, change, restored, config, created_at, created_by";

impl WriteTx {
    /// Records the first revision of the endpoint whose securable is `id` (created in this
    /// transaction); returns it.
    pub async fn insert_endpoint(
        &mut self,
        id: SecurableId,
        config: &str,
        created_by: Option<PrincipalId>,
    ) -> Result<EndpointRevisionRecord> {
        let now = now_text()?;
        sqlx::query(
            "INSERT INTO endpoints (id, revision, created_at, updated_at) VALUES ($1, 1, $2, $2)",
        )
        .bind(id.to_string())
        .bind(&now)
        .execute(self.conn())
        .await
        .map_err(|e| crate::StoreError::conflict_on_unique(e, "endpoint", &id.to_string()))?;
        self.insert_revision(id, 1, EndpointChange::Create, config, created_by, &now)
            .await
    }

    /// Appends a revision to an endpoint and makes it the current one; returns it.
    pub async fn append_endpoint_revision(
        &mut self,
        id: SecurableId,
        change: EndpointChange,
        config: &str,
        created_by: Option<PrincipalId>,
    ) -> Result<EndpointRevisionRecord> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(revision), 0) AS latest FROM endpoint_revisions \
             WHERE endpoint_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(self.conn())
        .await?;
        let latest = u64_col(&row, "latest")?;
        if latest == 0 {
            return Err(crate::StoreError::NotFound {
                what: "endpoint",
                name: id.to_string(),
            });
        }
        let revision = u32::try_from(latest + 1)
            .map_err(|_| corrupt("endpoint revision", &latest.to_string()))?;
        let now = now_text()?;
        sqlx::query("UPDATE endpoints SET revision = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(revision))
            .bind(&now)
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        self.insert_revision(id, revision, change, config, created_by, &now)
            .await
    }

    async fn insert_revision(
        &mut self,
        id: SecurableId,
        revision: u32,
        change: EndpointChange,
        config: &str,
        created_by: Option<PrincipalId>,
        now: &str,
    ) -> Result<EndpointRevisionRecord> {
        sqlx::query(&format!(
            "INSERT INTO endpoint_revisions (endpoint_id, {REVISION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(id.to_string())
        .bind(i64::from(revision))
        .bind(change.as_str())
        .bind(change.restored().map(i64::from))
        .bind(config)
        .bind(now)
        .bind(created_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await?;
        self.bump_endpoint_generation().await?;
        fetch_revisions(self.conn(), id)
            .await?
            .into_iter()
            .find(|r| r.revision == revision)
            .ok_or_else(|| corrupt("endpoint revision", &revision.to_string()))
    }

    /// Every revision of an endpoint, oldest first, read inside this transaction.
    pub async fn endpoint_revisions(
        &mut self,
        id: SecurableId,
    ) -> Result<Vec<EndpointRevisionRecord>> {
        fetch_revisions(self.conn(), id).await
    }

    /// Deletes an endpoint's configuration and history; `false` when it had none. The caller
    /// deletes its securable (and with it its grants) in the same transaction.
    pub async fn delete_endpoint(&mut self, id: SecurableId) -> Result<bool> {
        sqlx::query("DELETE FROM endpoint_revisions WHERE endpoint_id = $1")
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        let done = sqlx::query("DELETE FROM endpoints WHERE id = $1")
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        self.bump_endpoint_generation().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn bump_endpoint_generation(&mut self) -> Result<()> {
        sqlx::query("UPDATE endpoint_generation SET generation = generation + 1 WHERE id = 1")
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// An endpoint and its current configuration, by full name.
    pub async fn endpoint_by_name(&self, full_name: &str) -> Result<Option<EndpointRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} {ENDPOINT_FROM} WHERE s.full_name = $1"
        ))
        .bind(full_name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Every endpoint with its current configuration, by full name.
    pub async fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} {ENDPOINT_FROM} ORDER BY s.full_name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    /// Every revision of an endpoint, oldest first.
    pub async fn endpoint_revisions(&self, id: SecurableId) -> Result<Vec<EndpointRevisionRecord>> {
        fetch_revisions(self.pool(), id).await
    }

    /// A number that grows with every endpoint change (creation, revision, deletion): poll it
    /// and reload the endpoints when it moves.
    pub async fn endpoint_generation(&self) -> Result<u64> {
        let row = sqlx::query("SELECT generation FROM endpoint_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        u64_col(&row, "generation")
    }
}

async fn fetch_revisions<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    id: SecurableId,
) -> Result<Vec<EndpointRevisionRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM endpoint_revisions WHERE endpoint_id = $1 \
         ORDER BY revision"
    ))
    .bind(id.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(revision_from_row).collect()
}

fn endpoint_from_row(row: &AnyRow) -> Result<EndpointRecord> {
    Ok(EndpointRecord {
        id: parse_col(row, "id")?,
        full_name: row.try_get("full_name")?,
        revision: u32_col(row, "revision")?,
        config: row.try_get("config")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

fn revision_from_row(row: &AnyRow) -> Result<EndpointRevisionRecord> {
    let restored: Option<i64> = row.try_get("restored")?;
    let restored = restored
        .map(|r| u32::try_from(r).map_err(|_| corrupt("restored", &r.to_string())))
        .transpose()?;
    let change: String = row.try_get("change")?;
    Ok(EndpointRevisionRecord {
        revision: u32_col(row, "revision")?,
        change: EndpointChange::from_columns(&change, restored)?,
        config: row.try_get("config")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
    })
}

#[cfg(test)]
mod tests {
    use citadel_audit::{Actor, EventDraft};
    use citadel_core::SecurableKind;

    use super::*;
    use crate::{sqlite_url, NewSecurable, StoreOptions};

    fn event(action: &str) -> EventDraft {
        EventDraft::new(&Actor::system(), "test", action)
    }

    /// A store with `dev.endpoints.bot` created; returns its id.
    async fn store_with_endpoint(dir: &std::path::Path) -> (Store, SecurableId) {
        let store = Store::open(StoreOptions::new(sqlite_url(&dir.join("c.db"))))
            .await
            .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        let mut parent = None;
        for (kind, name) in [
            (SecurableKind::Metastore, "metastore"),
            (SecurableKind::Catalog, "dev"),
            (SecurableKind::Schema, "endpoints"),
            (SecurableKind::Endpoint, "bot"),
        ] {
            let created = tx
                .create_securable(&NewSecurable {
                    kind,
                    parent_id: parent,
                    name: name.into(),
                    owner_id: None,
                    created_by: None,
                    comment: None,
                })
                .await
                .unwrap();
            parent = Some(created.id);
        }
        tx.commit(event("setup")).await.unwrap();
        (store, parent.unwrap())
    }

    #[tokio::test]
    async fn revisions_append_and_the_generation_moves_with_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_endpoint(dir.path()).await;
        assert_eq!(store.endpoint_generation().await.unwrap(), 0);
        assert!(store
            .endpoint_by_name("dev.endpoints.bot")
            .await
            .unwrap()
            .is_none());

        let mut tx = store.begin_write().await.unwrap();
        let first = tx.insert_endpoint(id, r#"{"a":1}"#, None).await.unwrap();
        tx.commit(event("endpoint.create")).await.unwrap();
        assert_eq!((first.revision, first.change), (1, EndpointChange::Create));
        assert_eq!(store.endpoint_generation().await.unwrap(), 1);

        let mut tx = store.begin_write().await.unwrap();
        let second = tx
            .append_endpoint_revision(id, EndpointChange::Update, r#"{"a":2}"#, None)
            .await
            .unwrap();
        let third = tx
            .append_endpoint_revision(id, EndpointChange::Rollback(1), r#"{"a":1}"#, None)
            .await
            .unwrap();
        tx.commit(event("endpoint.update")).await.unwrap();
        assert_eq!(second.revision, 2);
        assert_eq!(third.change, EndpointChange::Rollback(1));

        let current = store
            .endpoint_by_name("dev.endpoints.bot")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (current.revision, current.config.as_str()),
            (3, r#"{"a":1}"#)
        );
        assert!(current.updated_at >= current.created_at);
        let history: Vec<(u32, EndpointChange)> = store
            .endpoint_revisions(id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.revision, r.change))
            .collect();
        assert_eq!(
            history,
            [
                (1, EndpointChange::Create),
                (2, EndpointChange::Update),
                (3, EndpointChange::Rollback(1))
            ]
        );
        assert_eq!(store.endpoints().await.unwrap(), vec![current]);
        assert_eq!(store.endpoint_generation().await.unwrap(), 3);

        let mut tx = store.begin_write().await.unwrap();
        assert!(tx.delete_endpoint(id).await.unwrap());
        assert!(tx.delete_securable(id).await.unwrap());
        tx.commit(event("endpoint.delete")).await.unwrap();
        assert!(store.endpoints().await.unwrap().is_empty());
        assert!(store.endpoint_revisions(id).await.unwrap().is_empty());
        assert_eq!(store.endpoint_generation().await.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_revision_needs_an_endpoint_and_a_rollback_names_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_endpoint(dir.path()).await;
        let mut tx = store.begin_write().await.unwrap();
        let missing = tx
            .append_endpoint_revision(id, EndpointChange::Update, "{}", None)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, crate::StoreError::NotFound { .. }),
            "{missing}"
        );
        drop(tx);
        // The table itself refuses a rollback row without the revision it restored.
        let mut tx = store.begin_write().await.unwrap();
        tx.insert_endpoint(id, "{}", None).await.unwrap();
        let refused = sqlx::query(
            "INSERT INTO endpoint_revisions (endpoint_id, revision, change, restored, config, \
             created_at) VALUES ($1, 2, 'rollback', NULL, '{}', '2025-01-01T00:00:00.000000Z')",
        )
        .bind(id.to_string())
        .execute(tx.conn())
        .await;
        assert!(refused.is_err());
    }
}
