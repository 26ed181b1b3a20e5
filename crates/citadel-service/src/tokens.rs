//! Personal access tokens: minted for oneself or, by admins, for another principal; listed
//! without secrets; revoked.

use citadel_core::{PrincipalKind, Privilege, TokenId, TokenScope};
use citadel_store::{NewToken, TokenRecord};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{pat, Citadel, Context, Error, Result, SecurableRef};

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenInfo {
    pub id: TokenId,
    pub principal: String,
    pub name: String,
    pub scope: TokenScope,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenInfo {
    pub(crate) fn from_record(record: &TokenRecord, principal: &str) -> Self {
        Self {
            id: record.id,
            principal: principal.to_owned(),
            name: record.name.clone(),
            scope: record.scope,
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// What `token create` asks for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Whose token: the caller when `None`.
    pub principal: Option<String>,
    /// Lifetime: the config's default when `None`.
    pub ttl: Option<time::Duration>,
    pub scope: TokenScope,
    pub name: String,
}

impl Citadel {
    /// Mints a token. Anyone with a control token may mint one for themselves; minting for
    /// another principal needs `MANAGE` on the metastore. Returns the secret once.
    pub async fn create_token(
        &self,
        ctx: &Context,
        request: TokenRequest,
    ) -> Result<(TokenInfo, SecretString)> {
        const ACTION: &str = "token.create";
        let max_ttl = time::Duration::days(i64::from(self.config.tokens.max_ttl_days));
        let ttl = request.ttl.unwrap_or(time::Duration::days(i64::from(
            self.config.tokens.default_ttl_days,
        )));
        if ttl > max_ttl {
            return Err(Error::InvalidInput(format!(
                "a token lives at most {} days (tokens.max_ttl_days in citadel.toml)",
                self.config.tokens.max_ttl_days
            )));
        }
        if request.name.is_empty()
            || request.name.len() > 64
            || request.name.chars().any(char::is_control)
        {
            return Err(Error::InvalidInput(
                "a token name has 1 to 64 printable characters".to_owned(),
            ));
        }
        let owner = match &request.principal {
            Some(name) => self.principal_named(name).await?,
            None => ctx.principal.clone(),
        };
        if owner.kind == PrincipalKind::Group {
            return Err(Error::InvalidInput(format!(
                "{:?} is a group; groups cannot hold tokens",
                owner.name
            )));
        }
        let params = json!({
            "principal": owner.name,
            "scope": request.scope,
            "name": request.name,
            "ttl_seconds": ttl.whole_seconds(),
        });
        let mut tx = if owner.id == ctx.principal.id {
            self.require_control(ctx, ACTION).await?;
            self.store.begin_write().await?
        } else {
            self.begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?
        };
        let secret = pat::generate()?;
        let record = tx
            .create_token(&NewToken {
                principal_id: owner.id,
                name: request.name.clone(),
                token_hash: pat::hash(&secret),
                scope: request.scope,
                expires_at: OffsetDateTime::now_utc() + ttl,
            })
            .await?;
        let mut params = params;
        params["token_id"] = json!(record.id.to_string());
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok((TokenInfo::from_record(&record, &owner.name), secret))
    }

    /// Lists tokens of the caller, or of `principal` (needs `MANAGE` on the metastore for others).
    pub async fn list_tokens(
        &self,
        ctx: &Context,
        principal: Option<&str>,
    ) -> Result<Vec<TokenInfo>> {
        const ACTION: &str = "token.list";
        let owner = match principal {
            Some(name) => self.principal_named(name).await?,
            None => ctx.principal.clone(),
        };
        if owner.id == ctx.principal.id {
            self.require_control(ctx, ACTION).await?;
        } else {
            self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
                .await?;
        }
        let records = self.store.list_tokens(Some(owner.id)).await?;
        Ok(records
            .iter()
            .map(|r| TokenInfo::from_record(r, &owner.name))
            .collect())
    }

    /// Revokes a token: one's own, or anyone's with `MANAGE` on the metastore.
    pub async fn revoke_token(&self, ctx: &Context, id: TokenId) -> Result<()> {
        const ACTION: &str = "token.revoke";
        let not_found = || Error::NotFound {
            what: "token",
            name: id.to_string(),
        };
        let record = self.store.token(id).await?.ok_or_else(not_found)?;
        let params = json!({ "token_id": id.to_string() });
        let mut tx = if record.principal_id == ctx.principal.id {
            self.require_control(ctx, ACTION).await?;
            self.store.begin_write().await?
        } else {
            self.begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?
        };
        if record.revoked_at.is_some() || !tx.revoke_token(id).await? {
            return Err(Error::InvalidInput(format!(
                "token {id} is already revoked"
            )));
        }
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok(())
    }
}
