//! Privileges: shown on a securable (with those inherited from its parents), granted, revoked.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use citadel_core::{Effect, Privilege, SecurableKind};
use citadel_service::{GrantInfo, GrantRequest, SecurableRef};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Control, Filter};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::Gateway;

/// A securable, as `GET /api/v1/grants?securable_type=&name=` names it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Securable {
    /// `metastore`, `catalog`, `schema`, `dataset`, `model`, `endpoint` or `secret_scope`.
    securable_type: SecurableKind,
    /// `metastore`, `CATALOG`, `CATALOG.SCHEMA` or `CATALOG.SCHEMA.OBJECT`, as the type needs.
    name: String,
}

/// A grant to make or revoke (`POST /api/v1/grants`, `POST /api/v1/grants/revoke`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    pub privilege: Privilege,
    /// `metastore`, `catalog`, `schema`, `dataset`, `model`, `endpoint` or `secret_scope`.
    pub securable_type: SecurableKind,
    /// `metastore`, `CATALOG`, `CATALOG.SCHEMA` or `CATALOG.SCHEMA.OBJECT`, as the type needs.
    pub name: String,
    /// A user, group or service principal.
    pub principal: String,
    /// An explicit DENY (which beats every allow at any level) rather than an allow.
    #[serde(default)]
    pub deny: bool,
}

impl GrantBody {
    fn request(self) -> ApiResult<GrantRequest> {
        Ok(GrantRequest {
            privilege: self.privilege,
            securable: SecurableRef::parse(self.securable_type, &self.name)?,
            principal: self.principal,
            effect: if self.deny {
                Effect::Deny
            } else {
                Effect::Allow
            },
        })
    }
}

pub(super) async fn show(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Filter(securable): Filter<Securable>,
) -> ApiResult<Json<Vec<GrantInfo>>> {
    let target = SecurableRef::parse(securable.securable_type, &securable.name)?;
    Ok(Json(
        gateway.citadel.show_grants(caller.ctx(), &target).await?,
    ))
}

pub(super) async fn grant(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    JsonBody(body): JsonBody<GrantBody>,
) -> ApiResult<StatusCode> {
    gateway
        .citadel
        .grant(caller.ctx(), &body.request()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn revoke(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    JsonBody(body): JsonBody<GrantBody>,
) -> ApiResult<StatusCode> {
    gateway
        .citadel
        .revoke(caller.ctx(), &body.request()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
