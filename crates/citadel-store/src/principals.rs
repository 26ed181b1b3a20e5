//! Principals (users, groups, service principals) and group membership, with nested groups and
//! cycle refusal. Membership closure uses `WITH RECURSIVE`, which both engines support.

use citadel_core::{Principal, PrincipalId, PrincipalKind};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::codec::{now_text, parse_col, time_col};
use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::{Result, Store};

const PRINCIPAL_SELECT: &str = "SELECT id, kind, name, created_at, disabled FROM principals";

/// Groups that contain `$1`, directly or through nested groups.
const ANCESTOR_GROUPS: &str = "WITH RECURSIVE ancestors(id) AS ( \
       SELECT group_id FROM group_members WHERE member_id = $1 \
       UNION \
       SELECT gm.group_id FROM group_members gm JOIN ancestors a ON gm.member_id = a.id \
     ) SELECT id FROM ancestors ORDER BY id";

impl WriteTx {
    /// Creates a principal; a taken name is [`StoreError::Conflict`].
    pub async fn create_principal(
        &mut self,
        kind: PrincipalKind,
        name: &str,
        created_by: Option<PrincipalId>,
    ) -> Result<Principal> {
        let id = PrincipalId::new();
        sqlx::query(
            "INSERT INTO principals (id, kind, name, created_at, created_by, disabled) \
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(id.to_string())
        .bind(kind.as_str())
        .bind(name)
        .bind(now_text()?)
        .bind(created_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "principal", name))?;
        fetch_principal(self.conn(), "id", &id.to_string())
            .await?
            .ok_or_else(|| not_found(&id.to_string()))
    }

    /// Disables or re-enables a principal; `false` when it does not exist.
    pub async fn set_principal_disabled(
        &mut self,
        id: PrincipalId,
        disabled: bool,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE principals SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds `member` to `group`; `false` when it already was a member. Refuses non-groups and
    /// memberships that would make a group contain itself.
    pub async fn add_group_member(
        &mut self,
        group: PrincipalId,
        member: PrincipalId,
        added_by: Option<PrincipalId>,
    ) -> Result<bool> {
        let group_row = self
            .principal(group)
            .await?
            .ok_or_else(|| not_found(&group.to_string()))?;
        let member_row = self
            .principal(member)
            .await?
            .ok_or_else(|| not_found(&member.to_string()))?;
        if group_row.kind != PrincipalKind::Group {
            return Err(StoreError::NotAGroup {
                name: group_row.name,
            });
        }
        let containing_group = ancestor_groups(self.conn(), group).await?;
        if member == group || containing_group.contains(&member) {
            return Err(StoreError::MembershipCycle {
                group: group_row.name,
                member: member_row.name,
            });
        }
        let done = sqlx::query(
            "INSERT INTO group_members (group_id, member_id, added_at, added_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, member_id) DO NOTHING",
        )
        .bind(group.to_string())
        .bind(member.to_string())
        .bind(now_text()?)
        .bind(added_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes `member` from `group`; `false` when it was not a member.
    pub async fn remove_group_member(
        &mut self,
        group: PrincipalId,
        member: PrincipalId,
    ) -> Result<bool> {
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND member_id = $2")
            .bind(group.to_string())
            .bind(member.to_string())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A principal by id, read inside this transaction.
    pub async fn principal(&mut self, id: PrincipalId) -> Result<Option<Principal>> {
        fetch_principal(self.conn(), "id", &id.to_string()).await
    }

    /// A principal by name, read inside this transaction.
    pub async fn principal_by_name(&mut self, name: &str) -> Result<Option<Principal>> {
        fetch_principal(self.conn(), "name", name).await
    }
}

impl Store {
    /// A principal by id.
    pub async fn principal(&self, id: PrincipalId) -> Result<Option<Principal>> {
        fetch_principal(self.pool(), "id", &id.to_string()).await
    }

    /// A principal by name.
    pub async fn principal_by_name(&self, name: &str) -> Result<Option<Principal>> {
        fetch_principal(self.pool(), "name", name).await
    }

    /// All principals (of one kind when given), by name.
    pub async fn list_principals(&self, kind: Option<PrincipalKind>) -> Result<Vec<Principal>> {
        let rows = match kind {
            Some(kind) => {
                sqlx::query(&format!("{PRINCIPAL_SELECT} WHERE kind = $1 ORDER BY name"))
                    .bind(kind.as_str())
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!("{PRINCIPAL_SELECT} ORDER BY name"))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(principal_from_row).collect()
    }

    /// Direct members of `group`, by name.
    pub async fn group_members(&self, group: PrincipalId) -> Result<Vec<Principal>> {
        let rows = sqlx::query(&format!(
            "{PRINCIPAL_SELECT} WHERE id IN (SELECT member_id FROM group_members WHERE group_id = $1) \
             ORDER BY name"
        ))
        .bind(group.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(principal_from_row).collect()
    }

    /// Every group `principal` belongs to, directly or through nested groups.
    pub async fn groups_of(&self, principal: PrincipalId) -> Result<Vec<PrincipalId>> {
        let mut conn = self.pool().acquire().await?;
        ancestor_groups(&mut *conn, principal).await
    }
}

async fn ancestor_groups<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    principal: PrincipalId,
) -> Result<Vec<PrincipalId>> {
    let rows = sqlx::query(ANCESTOR_GROUPS)
        .bind(principal.to_string())
        .fetch_all(executor)
        .await?;
    rows.iter().map(|row| parse_col(row, "id")).collect()
}

async fn fetch_principal<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    column: &'static str,
    value: &str,
) -> Result<Option<Principal>> {
    let sql = format!("{PRINCIPAL_SELECT} WHERE {column} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(principal_from_row).transpose()
}

fn principal_from_row(row: &AnyRow) -> Result<Principal> {
    Ok(Principal {
        id: parse_col(row, "id")?,
        kind: parse_col(row, "kind")?,
        name: row.try_get("name")?,
        created_at: time_col(row, "created_at")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "principal",
        name: id.to_owned(),
    }
}
