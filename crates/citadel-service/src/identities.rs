//! Users, groups, service principals and group membership.

use citadel_core::principal::validate_principal_name;
use citadel_core::{Principal, PrincipalKind, Privilege};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use crate::{Citadel, Context, Error, Result, SecurableRef};

/// A principal with the names of the groups it belongs to directly or through nesting.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PrincipalSummary {
    #[serde(flatten)]
    pub principal: Principal,
    pub groups: Vec<String>,
}

impl Citadel {
    /// Creates a principal (needs `MANAGE` on the metastore).
    pub async fn create_principal(
        &self,
        ctx: &Context,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Principal> {
        const ACTION: &str = "principal.create";
        validate_principal_name(name)?;
        let params = json!({ "kind": kind, "name": name });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let principal = tx
            .create_principal(kind, name, Some(ctx.principal.id))
            .await?;
        tx.commit(ctx.event(ACTION).with_params(json!({
            "kind": kind,
            "name": name,
            "id": principal.id.to_string(),
        })))
        .await?;
        Ok(principal)
    }

    /// Every principal with its groups (any control token may list identities, to grant to them).
    pub async fn list_principals(&self, ctx: &Context) -> Result<Vec<PrincipalSummary>> {
        self.require_control(ctx, "principal.list").await?;
        let mut out = Vec::new();
        for principal in self.store.list_principals(None).await? {
            let mut groups = Vec::new();
            for id in self.store.groups_of(principal.id).await? {
                if let Some(group) = self.store.principal(id).await? {
                    groups.push(group.name);
                }
            }
            groups.sort();
            out.push(PrincipalSummary { principal, groups });
        }
        Ok(out)
    }

    /// Adds `member` to `group` (needs `MANAGE` on the metastore).
    pub async fn add_member(&self, ctx: &Context, group: &str, member: &str) -> Result<()> {
        self.change_membership(ctx, "group.add_member", group, member, true)
            .await
    }

    /// Removes `member` from `group` (needs `MANAGE` on the metastore).
    pub async fn remove_member(&self, ctx: &Context, group: &str, member: &str) -> Result<()> {
        self.change_membership(ctx, "group.remove_member", group, member, false)
            .await
    }

    async fn change_membership(
        &self,
        ctx: &Context,
        action: &'static str,
        group: &str,
        member: &str,
        add: bool,
    ) -> Result<()> {
        let params = json!({ "group": group, "member": member });
        let mut tx = self
            .begin_authorized(
                ctx,
                action,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let group_row = self.principal_named(group).await?;
        let member_row = self.principal_named(member).await?;
        if group_row.kind != PrincipalKind::Group {
            return Err(Error::InvalidInput(format!(
                "{group:?} is a {}, not a group",
                group_row.kind
            )));
        }
        let changed = if add {
            tx.add_group_member(group_row.id, member_row.id, Some(ctx.principal.id))
                .await?
        } else {
            tx.remove_group_member(group_row.id, member_row.id).await?
        };
        if !changed {
            let state = if add { "already" } else { "not" };
            return Err(Error::InvalidInput(format!(
                "{member:?} is {state} a member of {group:?}"
            )));
        }
        tx.commit(ctx.event(action).with_params(params)).await?;
        Ok(())
    }

    /// A principal by name, or a not-found error naming it.
    pub(crate) async fn principal_named(&self, name: &str) -> Result<Principal> {
        self.store
            .principal_by_name(name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "principal",
                name: name.to_owned(),
            })
    }

    /// Refuses `invoke` tokens for control-plane reads that need no particular grant; audited.
    pub(crate) async fn require_control(&self, ctx: &Context, action: &'static str) -> Result<()> {
        if ctx.scope() == citadel_core::TokenScope::Control {
            return Ok(());
        }
        let reason = "an invoke token cannot use the control plane; use a control token";
        self.store.audit(ctx.event(action).denied(reason)).await?;
        Err(Error::Forbidden(format!("{action}: {reason}")))
    }
}
