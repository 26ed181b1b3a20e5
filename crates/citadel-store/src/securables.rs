//! Securables: the `metastore ▸ catalog ▸ schema ▸ object` tree that grants hang on.
//!
//! The single metastore row is the root (full name [`METASTORE_FULL_NAME`], which no valid
//! `FullName` can collide with); every catalog's parent is it. A child's full name is its
//! parent's full name plus `.name` (a catalog's is just its name).

use citadel_core::{PrincipalId, SecurableId, SecurableKind};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{now_text, parse_col, parse_opt_col, time_col};
use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::{Result, Store};

/// Full name of the metastore root.
pub const METASTORE_FULL_NAME: &str = "$metastore";
/// Deepest chain a securable can have (metastore, catalog, schema, object), with slack.
const MAX_CHAIN_DEPTH: i64 = 8;

const SECURABLE_COLUMNS: &str =
    "s.id, s.kind, s.parent_id, s.name, s.full_name, s.owner_id, s.created_at, s.created_by, s.comment";

/// A securable as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Securable {
    /// Id.
    pub id: SecurableId,
    /// Kind.
    pub kind: SecurableKind,
    /// Parent (`None` only for the metastore).
    pub parent_id: Option<SecurableId>,
    /// Last name part (`metastore` for the root).
    pub name: String,
    /// `catalog[.schema[.object]]`, or [`METASTORE_FULL_NAME`].
    pub full_name: String,
    /// Owner (holds `MANAGE`).
    pub owner_id: Option<PrincipalId>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Creator.
    pub created_by: Option<PrincipalId>,
    /// Free text.
    pub comment: Option<String>,
}

impl Securable {
    /// The name to print: `metastore` for the root, else the full name.
    pub fn display_name(&self) -> &str {
        if self.kind == SecurableKind::Metastore {
            &self.name
        } else {
            &self.full_name
        }
    }

    /// The audit event form, `kind:full.name`.
    pub fn audit_name(&self) -> String {
        format!("{}:{}", self.kind, self.display_name())
    }
}

/// A securable to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecurable {
    /// Kind; its parent must be one level up (a catalog's parent is the metastore).
    pub kind: SecurableKind,
    /// Parent id (`None` only for the metastore).
    pub parent_id: Option<SecurableId>,
    /// Last name part (already validated as an identifier by the caller).
    pub name: String,
    /// Owner.
    pub owner_id: Option<PrincipalId>,
    /// Creator.
    pub created_by: Option<PrincipalId>,
    /// Free text.
    pub comment: Option<String>,
}

impl WriteTx {
    /// Creates a securable under its parent; a taken full name is [`StoreError::Conflict`].
    pub async fn create_securable(&mut self, new: &NewSecurable) -> Result<Securable> {
        let parent = match new.parent_id {
            Some(id) => Some(
                fetch_securable(self.conn(), "id", &id.to_string())
                    .await?
                    .ok_or_else(|| not_found(&id.to_string()))?,
            ),
            None => None,
        };
        let full_name = full_name_under(new.kind, parent.as_ref(), &new.name)?;
        let id = SecurableId::new();
        sqlx::query(
            "INSERT INTO securables (id, kind, parent_id, name, full_name, owner_id, created_at, \
             created_by, comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(new.kind.as_str())
        .bind(new.parent_id.map(|p| p.to_string()))
        .bind(&new.name)
        .bind(&full_name)
        .bind(new.owner_id.map(|p| p.to_string()))
        .bind(now_text()?)
        .bind(new.created_by.map(|p| p.to_string()))
        .bind(new.comment.clone())
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, new.kind.as_str(), &full_name))?;
        fetch_securable(self.conn(), "id", &id.to_string())
            .await?
            .ok_or_else(|| not_found(&id.to_string()))
    }

    /// Makes `owner` the owner of securable `id`; `false` when it does not exist.
    pub async fn set_securable_owner(
        &mut self,
        id: SecurableId,
        owner: PrincipalId,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE securables SET owner_id = $1 WHERE id = $2")
            .bind(owner.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a securable with its grants and everything stored under it by cascade (secret
    /// versions); `false` when it does not exist. Children must be deleted first.
    pub async fn delete_securable(&mut self, id: SecurableId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM securables WHERE id = $1")
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A securable by full name, read inside this transaction.
    pub async fn securable_by_name(&mut self, full_name: &str) -> Result<Option<Securable>> {
        fetch_securable(self.conn(), "full_name", full_name).await
    }
}

impl Store {
    /// A securable by id.
    pub async fn securable(&self, id: SecurableId) -> Result<Option<Securable>> {
        fetch_securable(self.pool(), "id", &id.to_string()).await
    }

    /// A securable by full name (`dev`, `dev.models`, `dev.models.bot`, or [`METASTORE_FULL_NAME`]).
    pub async fn securable_by_name(&self, full_name: &str) -> Result<Option<Securable>> {
        fetch_securable(self.pool(), "full_name", full_name).await
    }

    /// The metastore root, once bootstrapped.
    pub async fn metastore(&self) -> Result<Option<Securable>> {
        self.securable_by_name(METASTORE_FULL_NAME).await
    }

    /// Children of `parent` (of one kind when given), by full name.
    pub async fn list_securables(
        &self,
        parent: SecurableId,
        kind: Option<SecurableKind>,
    ) -> Result<Vec<Securable>> {
        let base = format!("SELECT {SECURABLE_COLUMNS} FROM securables s WHERE s.parent_id = $1");
        let rows = match kind {
            Some(kind) => {
                sqlx::query(&format!("{base} AND s.kind = $2 ORDER BY s.full_name"))
                    .bind(parent.to_string())
                    .bind(kind.as_str())
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!("{base} ORDER BY s.full_name"))
                    .bind(parent.to_string())
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(securable_from_row).collect()
    }

    /// Every securable of a kind, by full name.
    pub async fn securables_of_kind(&self, kind: SecurableKind) -> Result<Vec<Securable>> {
        let rows = sqlx::query(&format!(
            "SELECT {SECURABLE_COLUMNS} FROM securables s WHERE s.kind = $1 ORDER BY s.full_name"
        ))
        .bind(kind.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(securable_from_row).collect()
    }

    /// The chain from the metastore down to `full_name` (inclusive), or `None` if it does not exist.
    pub async fn securable_chain(&self, full_name: &str) -> Result<Option<Vec<Securable>>> {
        let sql = format!(
            "WITH RECURSIVE chain(id, parent_id, depth) AS ( \
               SELECT id, parent_id, 0 FROM securables WHERE full_name = $1 \
               UNION ALL \
               SELECT p.id, p.parent_id, c.depth + 1 FROM securables p \
                 JOIN chain c ON p.id = c.parent_id WHERE c.depth < {MAX_CHAIN_DEPTH} \
             ) SELECT {SECURABLE_COLUMNS} FROM chain c JOIN securables s ON s.id = c.id \
             ORDER BY c.depth DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(full_name)
            .fetch_all(self.pool())
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.iter()
            .map(securable_from_row)
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

fn full_name_under(kind: SecurableKind, parent: Option<&Securable>, name: &str) -> Result<String> {
    let parent_depth = parent.map(|p| p.kind.depth());
    let expected_parent_depth = kind.depth().checked_sub(1);
    if parent_depth != expected_parent_depth {
        return Err(StoreError::InvalidHierarchy {
            kind: kind.as_str(),
            parent: parent.map_or("nothing", |p| p.kind.as_str()),
        });
    }
    Ok(match parent {
        None => METASTORE_FULL_NAME.to_owned(),
        Some(p) if p.kind == SecurableKind::Metastore => name.to_owned(),
        Some(p) => format!("{}.{name}", p.full_name),
    })
}

async fn fetch_securable<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    column: &'static str,
    value: &str,
) -> Result<Option<Securable>> {
    let sql = format!("SELECT {SECURABLE_COLUMNS} FROM securables s WHERE s.{column} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(securable_from_row).transpose()
}

fn securable_from_row(row: &AnyRow) -> Result<Securable> {
    Ok(Securable {
        id: parse_col(row, "id")?,
        kind: parse_col(row, "kind")?,
        parent_id: parse_opt_col(row, "parent_id")?,
        name: row.try_get("name")?,
        full_name: row.try_get("full_name")?,
        owner_id: parse_opt_col(row, "owner_id")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
        comment: row.try_get("comment")?,
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "securable",
        name: id.to_owned(),
    }
}
