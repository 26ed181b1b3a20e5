//! Grants (ALLOW and DENY entries) on securables, and the authorization facts the policy needs:
//! each level of a securable's chain with its owner and the grants to a set of principals.

use citadel_core::{Effect, GrantEntry, Node, PrincipalId, Privilege, SecurableId};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::codec::{now_text, parse_col, parse_opt_col, placeholders, time_col};
use crate::tx::WriteTx;
use crate::{Result, Store};

const GRANT_SELECT: &str =
    "SELECT securable_id, principal_id, privilege, effect, granted_by, granted_at FROM grants";

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// On what.
    pub securable_id: SecurableId,
    /// To whom.
    pub principal_id: PrincipalId,
    /// Which privilege.
    pub privilege: Privilege,
    /// Allow or deny.
    pub effect: Effect,
    /// Who granted it.
    pub granted_by: Option<PrincipalId>,
    /// When.
    pub granted_at: OffsetDateTime,
}

impl WriteTx {
    /// Adds a grant; `false` when the same grant already existed.
    pub async fn grant(
        &mut self,
        securable: SecurableId,
        principal: PrincipalId,
        privilege: Privilege,
        effect: Effect,
        granted_by: Option<PrincipalId>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO grants (securable_id, principal_id, privilege, effect, granted_by, granted_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (securable_id, principal_id, privilege, effect) DO NOTHING",
        )
        .bind(securable.to_string())
        .bind(principal.to_string())
        .bind(privilege.as_str())
        .bind(effect.as_str())
        .bind(granted_by.map(|p| p.to_string()))
        .bind(now_text()?)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a grant; `false` when there was none.
    pub async fn revoke(
        &mut self,
        securable: SecurableId,
        principal: PrincipalId,
        privilege: Privilege,
        effect: Effect,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM grants WHERE securable_id = $1 AND principal_id = $2 AND privilege = $3 \
             AND effect = $4",
        )
        .bind(securable.to_string())
        .bind(principal.to_string())
        .bind(privilege.as_str())
        .bind(effect.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Every grant on one securable.
    pub async fn grants_on(&self, securable: SecurableId) -> Result<Vec<GrantRecord>> {
        let rows = sqlx::query(&format!(
            "{GRANT_SELECT} WHERE securable_id = $1 ORDER BY principal_id, privilege, effect"
        ))
        .bind(securable.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// The grants on any of `securables` to any of `principals`.
    pub async fn grants_along(
        &self,
        securables: &[SecurableId],
        principals: &[PrincipalId],
    ) -> Result<Vec<GrantRecord>> {
        if securables.is_empty() || principals.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{GRANT_SELECT} WHERE securable_id IN ({}) AND principal_id IN ({})",
            placeholders(1, securables.len()),
            placeholders(securables.len() + 1, principals.len()),
        );
        let mut query = sqlx::query(&sql);
        for s in securables {
            query = query.bind(s.to_string());
        }
        for p in principals {
            query = query.bind(p.to_string());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// The facts [`citadel_core::decide`] needs for `full_name`: each level from the metastore
    /// down with its owner and the grants to `principals` (a subject and its groups), or `None`
    /// when the securable does not exist.
    pub async fn policy_chain(
        &self,
        full_name: &str,
        principals: &[PrincipalId],
    ) -> Result<Option<Vec<Node>>> {
        let Some(chain) = self.securable_chain(full_name).await? else {
            return Ok(None);
        };
        let ids: Vec<SecurableId> = chain.iter().map(|s| s.id).collect();
        let grants = self.grants_along(&ids, principals).await?;
        let nodes = chain
            .into_iter()
            .map(|s| Node {
                id: s.id,
                kind: s.kind,
                name: s.display_name().to_owned(),
                owner: s.owner_id,
                grants: grants
                    .iter()
                    .filter(|g| g.securable_id == s.id)
                    .map(|g| GrantEntry {
                        principal: g.principal_id,
                        privilege: g.privilege,
                        effect: g.effect,
                    })
                    .collect(),
            })
            .collect();
        Ok(Some(nodes))
    }
}

fn grant_from_row(row: &AnyRow) -> Result<GrantRecord> {
    Ok(GrantRecord {
        securable_id: parse_col(row, "securable_id")?,
        principal_id: parse_col(row, "principal_id")?,
        privilege: parse_col(row, "privilege")?,
        effect: parse_col(row, "effect")?,
        granted_by: parse_opt_col(row, "granted_by")?,
        granted_at: time_col(row, "granted_at")?,
    })
}
