//! Personal access tokens: created (the secret is in that one response and nowhere else), listed
//! without secrets, revoked.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use citadel_core::{TokenId, TokenScope};
use citadel_service::{TokenInfo, TokenRequest};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{Control, Filter, Params};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::Gateway;

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Whose token: the caller's when left out; another principal's needs `MANAGE` on the
    /// metastore.
    pub principal: Option<String>,
    /// `control` (manage Citadel), `invoke` (call endpoints) or `metrics` (scrape `/metrics`).
    pub scope: TokenScope,
    /// A label to recognize the token by, 1 to 64 printable characters.
    pub name: String,
    /// Lifetime in seconds; the configured default (`tokens.default_ttl_days`) when left out.
    pub ttl_seconds: Option<u32>,
}

/// A new token: its secret, shown in this response only, and its listing.
#[derive(Serialize, JsonSchema)]
pub struct CreatedToken {
    /// The bearer credential. Citadel keeps only its hash: store it now.
    pub token: String,
    pub info: TokenInfo,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// `GET /api/v1/tokens?principal=`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenOwner {
    /// Whose tokens: the caller's when left out; another principal's needs `MANAGE` on the
    /// metastore.
    principal: Option<String>,
}

pub(super) async fn list(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Filter(owner): Filter<TokenOwner>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let tokens = gateway
        .citadel
        .list_tokens(caller.ctx(), owner.principal.as_deref())
        .await?;
    Ok(Json(tokens))
}

pub(super) async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    JsonBody(body): JsonBody<CreateToken>,
) -> ApiResult<Json<CreatedToken>> {
    let ttl = match body.ttl_seconds {
        Some(0) => return Err(ApiError::invalid("ttl_seconds must be positive")),
        Some(seconds) => Some(time::Duration::seconds(i64::from(seconds))),
        None => None,
    };
    let request = TokenRequest {
        principal: body.principal,
        ttl,
        scope: body.scope,
        name: body.name,
    };
    let (info, secret) = gateway.citadel.create_token(caller.ctx(), request).await?;
    Ok(Json(CreatedToken {
        token: secret.expose_secret().to_owned(),
        info,
    }))
}

pub(super) async fn revoke(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(id): Params<String>,
) -> ApiResult<StatusCode> {
    let id: TokenId = id.parse().map_err(|e: citadel_core::Error| {
        ApiError::invalid(format!("{e}; `GET /api/v1/tokens` lists token ids"))
    })?;
    gateway.citadel.revoke_token(caller.ctx(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
