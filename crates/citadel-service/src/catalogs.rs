//! Catalogs and schemas: creating them (the creator owns what it creates) and listing those the
//! caller may use.

use citadel_core::{decide, FullName, Identifier, Privilege, SecurableKind};
use citadel_store::NewSecurable;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Result, SecurableRef};

/// A catalog or schema as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SecurableInfo {
    pub kind: SecurableKind,
    pub full_name: String,
    pub owner: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub comment: Option<String>,
}

const MAX_COMMENT_LEN: usize = 1024;

impl Citadel {
    /// Creates a catalog (needs `CREATE_CATALOG` on the metastore).
    pub async fn create_catalog(
        &self,
        ctx: &Context,
        name: &Identifier,
        comment: Option<&str>,
    ) -> Result<SecurableInfo> {
        let full_name = FullName::catalog(name.clone());
        self.create_container(
            ctx,
            "catalog.create",
            SecurableKind::Catalog,
            &full_name,
            comment,
        )
        .await
    }

    /// Creates a schema `catalog.schema` (needs `CREATE_SCHEMA` on the catalog).
    pub async fn create_schema(
        &self,
        ctx: &Context,
        name: &FullName,
        comment: Option<&str>,
    ) -> Result<SecurableInfo> {
        SecurableRef::new(SecurableKind::Schema, name.clone())?;
        self.create_container(ctx, "schema.create", SecurableKind::Schema, name, comment)
            .await
    }

    async fn create_container(
        &self,
        ctx: &Context,
        action: &'static str,
        kind: SecurableKind,
        name: &FullName,
        comment: Option<&str>,
    ) -> Result<SecurableInfo> {
        if comment.is_some_and(|c| c.len() > MAX_COMMENT_LEN) {
            return Err(crate::Error::InvalidInput(format!(
                "a comment has at most {MAX_COMMENT_LEN} bytes"
            )));
        }
        let (parent, privilege) = match name.parent() {
            Some(parent) => (
                SecurableRef::new(SecurableKind::Catalog, parent)?,
                Privilege::CreateSchema,
            ),
            None => (SecurableRef::metastore(), Privilege::CreateCatalog),
        };
        let params = json!({ "name": name.to_string(), "comment": comment });
        let mut tx = self
            .begin_authorized(ctx, action, privilege, &parent, &params)
            .await?;
        let parent_row = self.securable_named(&parent).await?;
        let created = tx
            .create_securable(&NewSecurable {
                kind,
                parent_id: Some(parent_row.id),
                name: name.leaf().to_string(),
                owner_id: Some(ctx.principal.id),
                created_by: Some(ctx.principal.id),
                comment: comment.map(str::to_owned),
            })
            .await?;
        let target = SecurableRef::new(kind, name.clone())?;
        tx.commit(
            ctx.event(action)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        self.securable_info(created).await
    }

    /// Catalogs the caller holds `USE_CATALOG` on.
    pub async fn list_catalogs(&self, ctx: &Context) -> Result<Vec<SecurableInfo>> {
        self.require_control(ctx, "catalog.list").await?;
        let Some(metastore) = self.store.metastore().await? else {
            return Ok(Vec::new());
        };
        let catalogs = self
            .store
            .list_securables(metastore.id, Some(SecurableKind::Catalog))
            .await?;
        self.usable(ctx, catalogs, Privilege::UseCatalog).await
    }

    /// Schemas of `catalog` the caller holds `USE_SCHEMA` on (needs `USE_CATALOG` on it).
    pub async fn list_schemas(
        &self,
        ctx: &Context,
        catalog: &Identifier,
    ) -> Result<Vec<SecurableInfo>> {
        let target = SecurableRef::new(SecurableKind::Catalog, FullName::catalog(catalog.clone()))?;
        self.authorize_read(ctx, "schema.list", Privilege::UseCatalog, &target)
            .await?;
        let catalog_row = self.securable_named(&target).await?;
        let schemas = self
            .store
            .list_securables(catalog_row.id, Some(SecurableKind::Schema))
            .await?;
        self.usable(ctx, schemas, Privilege::UseSchema).await
    }

    /// Keeps the securables on which the caller holds `privilege`.
    async fn usable(
        &self,
        ctx: &Context,
        securables: Vec<citadel_store::Securable>,
        privilege: Privilege,
    ) -> Result<Vec<SecurableInfo>> {
        let mut out = Vec::new();
        let ids = ctx.principal_ids();
        for securable in securables {
            let chain = self.store.policy_chain(&securable.full_name, &ids).await?;
            if decide(&ctx.subject(), privilege, chain.as_deref()).is_allowed() {
                out.push(self.securable_info(securable).await?);
            }
        }
        Ok(out)
    }

    pub(crate) async fn securable_info(
        &self,
        securable: citadel_store::Securable,
    ) -> Result<SecurableInfo> {
        Ok(SecurableInfo {
            kind: securable.kind,
            owner: match securable.owner_id {
                Some(id) => Some(self.principal_label(Some(id)).await?),
                None => None,
            },
            full_name: securable.full_name,
            created_at: securable.created_at,
            comment: securable.comment,
        })
    }
}
