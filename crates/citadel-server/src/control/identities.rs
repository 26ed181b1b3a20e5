//! Who am I, principals and group membership.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use citadel_core::principal::validate_principal_name;
use citadel_core::{Principal, PrincipalKind, TokenId, TokenScope};
use citadel_service::{Context, PrincipalSummary};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Control, Params};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::Gateway;

/// The caller: principal, groups, the credential's scope and how it authenticated.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoAmI {
    pub principal: String,
    /// Every group it belongs to, directly or through nested groups.
    pub groups: Vec<String>,
    pub scope: TokenScope,
    /// `None` only for in-process callers, never over HTTPS.
    pub credential: Option<Credential>,
}

/// The credential a request authenticated with (never its secret).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A personal access token (`cit_pat_…`).
    PersonalAccessToken {
        id: TokenId,
        name: String,
        #[serde(with = "time::serde::rfc3339")]
        #[schemars(with = "String")]
        expires_at: OffsetDateTime,
    },
    /// An OAuth access token (JWT) from `/oauth/token`.
    OauthJwt {
        client_id: String,
        #[serde(with = "time::serde::rfc3339")]
        #[schemars(with = "String")]
        expires_at: OffsetDateTime,
    },
}

pub(super) async fn whoami(caller: Control) -> Json<WhoAmI> {
    let ctx = caller.ctx();
    Json(WhoAmI {
        principal: ctx.principal.name.clone(),
        groups: ctx.group_names.clone(),
        scope: ctx.scope(),
        credential: credential(ctx),
    })
}

fn credential(ctx: &Context) -> Option<Credential> {
    match (&ctx.token, &ctx.jwt) {
        (Some(token), _) => Some(Credential::PersonalAccessToken {
            id: token.id,
            name: token.name.clone(),
            expires_at: token.expires_at,
        }),
        (None, Some(jwt)) => Some(Credential::OauthJwt {
            client_id: jwt.client_id.to_string(),
            expires_at: jwt.expires_at,
        }),
        (None, None) => None,
    }
}

/// `POST /api/v1/principals`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// `user`, `group` or `service_principal`.
    pub kind: PrincipalKind,
    /// 1 to 128 characters of `A-Z a-z 0-9 . _ @ -`, starting with a letter or digit.
    pub name: String,
}

pub(super) async fn list(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
) -> ApiResult<Json<Vec<PrincipalSummary>>> {
    Ok(Json(gateway.citadel.list_principals(caller.ctx()).await?))
}

pub(super) async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    JsonBody(body): JsonBody<CreatePrincipal>,
) -> ApiResult<Json<Principal>> {
    let principal = gateway
        .citadel
        .create_principal(caller.ctx(), body.kind, &body.name)
        .await?;
    Ok(Json(principal))
}

pub(super) async fn add_member(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params((group, member)): Params<(String, String)>,
) -> ApiResult<StatusCode> {
    principal_names(&[&group, &member])?;
    gateway
        .citadel
        .add_member(caller.ctx(), &group, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn remove_member(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params((group, member)): Params<(String, String)>,
) -> ApiResult<StatusCode> {
    principal_names(&[&group, &member])?;
    gateway
        .citadel
        .remove_member(caller.ctx(), &group, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses a path segment that cannot be a principal's name, before any lookup.
fn principal_names(names: &[&str]) -> ApiResult<()> {
    for name in names {
        validate_principal_name(name).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    Ok(())
}
