//! Granting, revoking and showing privileges. Changing grants on a securable needs `MANAGE` on
//! it (owners hold it).

use citadel_core::{Effect, Privilege, SecurableKind};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Error, Result, SecurableRef};

/// A grant or revocation to make.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub privilege: Privilege,
    pub securable: SecurableRef,
    /// A principal name.
    pub principal: String,
    pub effect: Effect,
}

/// A grant as shown, on the securable asked about or inherited from a parent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GrantInfo {
    pub principal: String,
    pub privilege: Privilege,
    pub effect: Effect,
    /// Where the grant is attached (the securable itself or a parent).
    pub securable_kind: SecurableKind,
    pub securable: String,
    pub granted_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub granted_at: OffsetDateTime,
}

impl Citadel {
    /// Grants (or, with [`Effect::Deny`], explicitly denies) a privilege.
    pub async fn grant(&self, ctx: &Context, request: &GrantRequest) -> Result<()> {
        self.change_grant(ctx, "grant.create", request, true).await
    }

    /// Removes a grant (or an explicit deny).
    pub async fn revoke(&self, ctx: &Context, request: &GrantRequest) -> Result<()> {
        self.change_grant(ctx, "grant.revoke", request, false).await
    }

    async fn change_grant(
        &self,
        ctx: &Context,
        action: &'static str,
        request: &GrantRequest,
        add: bool,
    ) -> Result<()> {
        request.privilege.check_applies_to(request.securable.kind)?;
        let params = json!({
            "privilege": request.privilege,
            "effect": request.effect,
            "principal": request.principal,
        });
        let target = &request.securable;
        let mut tx = self
            .begin_authorized(ctx, action, Privilege::Manage, target, &params)
            .await?;
        let securable = self.securable_named(target).await?;
        let principal = self.principal_named(&request.principal).await?;
        let changed = if add {
            tx.grant(
                securable.id,
                principal.id,
                request.privilege,
                request.effect,
                Some(ctx.principal.id),
            )
            .await?
        } else {
            tx.revoke(
                securable.id,
                principal.id,
                request.privilege,
                request.effect,
            )
            .await?
        };
        if !changed {
            let what = if add {
                "already exists"
            } else {
                "does not exist"
            };
            return Err(Error::InvalidInput(format!(
                "that grant {what}: {}{} on {} to {}",
                if request.effect == Effect::Deny {
                    "DENY "
                } else {
                    ""
                },
                request.privilege,
                target.label(),
                request.principal
            )));
        }
        tx.commit(
            ctx.event(action)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        Ok(())
    }

    /// Grants on `target` and on its parents (which apply to it), for principals with `MANAGE`
    /// on it.
    pub async fn show_grants(
        &self,
        ctx: &Context,
        target: &SecurableRef,
    ) -> Result<Vec<GrantInfo>> {
        self.authorize_read(ctx, "grant.show", Privilege::Manage, target)
            .await?;
        let chain = self
            .store
            .securable_chain(&target.db_name())
            .await?
            .ok_or_else(|| Error::NotFound {
                what: target.kind.as_str(),
                name: target.to_string(),
            })?;
        let mut out = Vec::new();
        for securable in chain.iter().rev() {
            for grant in self.store.grants_on(securable.id).await? {
                out.push(GrantInfo {
                    principal: self.principal_label(Some(grant.principal_id)).await?,
                    privilege: grant.privilege,
                    effect: grant.effect,
                    securable_kind: securable.kind,
                    securable: securable.display_name().to_owned(),
                    granted_by: self.principal_label(grant.granted_by).await?,
                    granted_at: grant.granted_at,
                });
            }
        }
        Ok(out)
    }

    /// A securable's stored row, or a not-found error naming it.
    pub(crate) async fn securable_named(
        &self,
        target: &SecurableRef,
    ) -> Result<citadel_store::Securable> {
        self.store
            .securable_by_name(&target.db_name())
            .await?
            .filter(|s| s.kind == target.kind)
            .ok_or_else(|| Error::NotFound {
                what: target.kind.as_str(),
                name: target.to_string(),
            })
    }

    /// A principal's name for display (`citadel` for actions of the system itself).
    pub(crate) async fn principal_label(
        &self,
        id: Option<citadel_core::PrincipalId>,
    ) -> Result<String> {
        Ok(match id {
            Some(id) => self
                .store
                .principal(id)
                .await?
                .map_or_else(|| id.to_string(), |p| p.name),
            None => "citadel".to_owned(),
        })
    }
}
