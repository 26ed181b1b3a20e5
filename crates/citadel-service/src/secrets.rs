//! Secret scopes and secret versions: every read and write authorized on the scope and audited
//! (names and versions, never values). Values come in and go out only as `SecretString`.

use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_store::{NewSecurable, SecretVersionMeta, SecretVersionRecord};
use citadel_vault::{
    open_secret, seal_secret, validate_secret_name, SealedSecret, SecretCoordinates,
};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::keys::ensure_active_key;
use crate::{Citadel, Context, Error, Result, SecurableInfo, SecurableRef};

/// A secret version as listed: never its value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretVersionInfo {
    pub scope: String,
    pub name: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

/// A secret value read from the vault, with the version it came from.
#[derive(Debug)]
pub struct SecretValue {
    pub info: SecretVersionInfo,
    pub value: SecretString,
}

impl Citadel {
    /// Creates a secret scope `catalog.schema.scope` (`MANAGE` on the schema); the creator owns it.
    pub async fn create_secret_scope(
        &self,
        ctx: &Context,
        name: &FullName,
        comment: Option<&str>,
    ) -> Result<SecurableInfo> {
        const ACTION: &str = "secret_scope.create";
        let target = SecurableRef::new(SecurableKind::SecretScope, name.clone())?;
        let schema = parent_schema(&target)?;
        let params = json!({ "name": name.to_string(), "comment": comment });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &schema, &params)
            .await?;
        let schema_row = self.securable_named(&schema).await?;
        let created = tx
            .create_securable(&NewSecurable {
                kind: SecurableKind::SecretScope,
                parent_id: Some(schema_row.id),
                name: name.leaf().to_string(),
                owner_id: Some(ctx.principal.id),
                created_by: Some(ctx.principal.id),
                comment: comment.map(str::to_owned),
            })
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        self.securable_info(created).await
    }

    /// Scopes in `schema` on which the caller may read, write or manage secrets (needs
    /// `USE_SCHEMA` on the schema).
    pub async fn list_secret_scopes(
        &self,
        ctx: &Context,
        schema: &FullName,
    ) -> Result<Vec<SecurableInfo>> {
        let schema = SecurableRef::new(SecurableKind::Schema, schema.clone())?;
        self.authorize_read(ctx, "secret_scope.list", Privilege::UseSchema, &schema)
            .await?;
        let schema_row = self.securable_named(&schema).await?;
        let mut out = Vec::new();
        for scope in self
            .store
            .list_securables(schema_row.id, Some(SecurableKind::SecretScope))
            .await?
        {
            let target = SecurableRef::parse(SecurableKind::SecretScope, &scope.full_name)?;
            if self.allowed_any(ctx, &SCOPE_VIEW, &target).await? {
                out.push(self.securable_info(scope).await?);
            }
        }
        Ok(out)
    }

    /// Deletes a scope with every secret version in it and its grants (`MANAGE` on the scope).
    pub async fn delete_secret_scope(&self, ctx: &Context, name: &FullName) -> Result<()> {
        const ACTION: &str = "secret_scope.delete";
        let target = SecurableRef::new(SecurableKind::SecretScope, name.clone())?;
        let params = json!({ "name": name.to_string() });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let scope = self.securable_named(&target).await?;
        let versions = self.store.list_secret_versions(scope.id).await?.len();
        tx.delete_securable(scope.id).await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({ "name": name.to_string(), "versions_deleted": versions })),
        )
        .await?;
        Ok(())
    }

    /// Stores `value` as the next version of `name` in `scope` (`WRITE_SECRET` on the scope).
    pub async fn put_secret(
        &self,
        ctx: &Context,
        scope: &FullName,
        name: &str,
        value: &SecretString,
    ) -> Result<SecretVersionInfo> {
        const ACTION: &str = "secret.put";
        validate_secret_name(name)?;
        let target = SecurableRef::new(SecurableKind::SecretScope, scope.clone())?;
        let params = json!({ "name": name });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::WriteSecret, &target, &params)
            .await?;
        let scope_row = self.securable_named(&target).await?;
        let version = tx.next_secret_version(scope_row.id, name).await?;
        let at = SecretCoordinates {
            scope: &scope_row.full_name,
            name,
            version,
        };
        let sealed = seal_secret(&self.keys, &at, value)?;
        ensure_active_key(&mut tx, &sealed.kek_id).await?;
        let meta = SecretVersionMeta {
            scope_id: scope_row.id,
            name: name.to_owned(),
            version,
            kek_id: sealed.kek_id.clone(),
            created_at: OffsetDateTime::now_utc(),
            created_by: Some(ctx.principal.id),
        };
        tx.insert_secret_version(&SecretVersionRecord {
            meta: meta.clone(),
            ciphertext: sealed.ciphertext,
            wrapped_key: sealed.wrapped_key.as_bytes().to_vec(),
        })
        .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({ "name": name, "version": version })),
        )
        .await?;
        self.secret_info(&scope_row.full_name, &meta).await
    }

    /// Reads a secret: the latest version unless `version` names one (`READ_SECRET` on the
    /// scope). Every read is audited with the version read, never the value.
    pub async fn get_secret(
        &self,
        ctx: &Context,
        scope: &FullName,
        name: &str,
        version: Option<u32>,
    ) -> Result<SecretValue> {
        const ACTION: &str = "secret.read";
        validate_secret_name(name)?;
        let target = SecurableRef::new(SecurableKind::SecretScope, scope.clone())?;
        self.authorize_read(ctx, ACTION, Privilege::ReadSecret, &target)
            .await?;
        let scope_row = self.securable_named(&target).await?;
        let record = self
            .store
            .secret_version(scope_row.id, name, version)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "secret",
                name: match version {
                    Some(v) => format!("{scope}/{name} version {v}"),
                    None => format!("{scope}/{name}"),
                },
            })?;
        let at = SecretCoordinates {
            scope: &scope_row.full_name,
            name,
            version: record.meta.version,
        };
        let opened = citadel_blob::WrappedKey::from_bytes(&record.wrapped_key)
            .map_err(citadel_vault::Error::from)
            .and_then(|wrapped_key| {
                open_secret(
                    &self.keys,
                    &at,
                    &SealedSecret {
                        ciphertext: record.ciphertext.clone(),
                        wrapped_key,
                        kek_id: record.meta.kek_id.clone(),
                    },
                )
            });
        let event = ctx
            .event(ACTION)
            .on(target.audit_label())
            .with_params(json!({ "name": name, "version": record.meta.version }));
        let event = match &opened {
            Ok(_) => event,
            Err(err) => event.failed(err.to_string()),
        };
        self.store.audit(event).await?;
        Ok(SecretValue {
            info: self.secret_info(&scope_row.full_name, &record.meta).await?,
            value: opened?,
        })
    }

    /// Every version of every secret in a scope (names, versions, creators; never values). Needs
    /// `READ_SECRET`, `WRITE_SECRET` or `MANAGE` on the scope.
    pub async fn list_secrets(
        &self,
        ctx: &Context,
        scope: &FullName,
    ) -> Result<Vec<SecretVersionInfo>> {
        const ACTION: &str = "secret.list";
        let target = SecurableRef::new(SecurableKind::SecretScope, scope.clone())?;
        if !self.allowed_any(ctx, &SCOPE_VIEW, &target).await? {
            // Audits the denial with the reason of the most basic privilege.
            self.authorize_read(ctx, ACTION, Privilege::ReadSecret, &target)
                .await?;
        }
        let scope_row = self.securable_named(&target).await?;
        let mut out = Vec::new();
        for meta in self.store.list_secret_versions(scope_row.id).await? {
            out.push(self.secret_info(&scope_row.full_name, &meta).await?);
        }
        Ok(out)
    }

    /// Deletes one version of a secret, or all of them (`WRITE_SECRET` on the scope).
    pub async fn delete_secret(
        &self,
        ctx: &Context,
        scope: &FullName,
        name: &str,
        version: Option<u32>,
    ) -> Result<u64> {
        const ACTION: &str = "secret.delete";
        validate_secret_name(name)?;
        let target = SecurableRef::new(SecurableKind::SecretScope, scope.clone())?;
        let params = json!({ "name": name, "version": version });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::WriteSecret, &target, &params)
            .await?;
        let scope_row = self.securable_named(&target).await?;
        let deleted = tx.delete_secret(scope_row.id, name, version).await?;
        if deleted == 0 {
            return Err(Error::NotFound {
                what: "secret",
                name: format!("{scope}/{name}"),
            });
        }
        tx.commit(
            ctx.event(ACTION).on(target.audit_label()).with_params(
                json!({ "name": name, "version": version, "versions_deleted": deleted }),
            ),
        )
        .await?;
        Ok(deleted)
    }

    async fn secret_info(
        &self,
        scope: &str,
        meta: &SecretVersionMeta,
    ) -> Result<SecretVersionInfo> {
        Ok(SecretVersionInfo {
            scope: scope.to_owned(),
            name: meta.name.clone(),
            version: meta.version,
            created_at: meta.created_at,
            created_by: self.principal_label(meta.created_by).await?,
        })
    }
}

/// Privileges any one of which lets a caller see a scope and its secrets' names.
const SCOPE_VIEW: [Privilege; 3] = [
    Privilege::ReadSecret,
    Privilege::WriteSecret,
    Privilege::Manage,
];

/// The schema a scope lives in.
fn parent_schema(scope: &SecurableRef) -> Result<SecurableRef> {
    let parent = scope
        .name
        .as_ref()
        .and_then(FullName::parent)
        .ok_or_else(|| {
            Error::InvalidInput("a secret scope is named CATALOG.SCHEMA.SCOPE".into())
        })?;
    SecurableRef::new(SecurableKind::Schema, parent)
}
