//! Registered models: listings, versions, approval and rejection (separation of duties is the
//! service layer's), and aliases.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use citadel_core::SecurableKind;
use citadel_service::{Decision, ModelSummary, ModelVersionInfo};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{securable_name, Control, Filter, Params};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::Gateway;

/// `GET /api/v1/models/{model}/versions?status=`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionFilter {
    /// Only versions with this status: `pending_review` lists what awaits approval.
    status: Option<String>,
}

/// An approval or rejection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why, 1 to 2000 characters; kept with the decision and on the model card.
    pub comment: String,
}

/// `PUT /api/v1/models/{model}/aliases/{alias}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    /// The version the alias names from now on.
    pub version: u32,
}

/// `catalog.schema.model@selector` from path segments, each checked on its own so a segment
/// cannot smuggle in another part of the spec.
fn model_spec(model: &str, selector: &str) -> ApiResult<String> {
    let name = securable_name(SecurableKind::Model, model)?;
    let valid = !selector.is_empty()
        && selector.len() <= 64
        && selector
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        let shown: String = selector.chars().take(64).collect();
        return Err(ApiError::invalid(format!(
            "{shown:?} is neither a version number nor an alias (letters, digits, _ and -)"
        )));
    }
    Ok(format!("{name}@{selector}"))
}

pub(super) async fn list(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
) -> ApiResult<Json<Vec<ModelSummary>>> {
    Ok(Json(gateway.citadel.list_models(caller.ctx(), None).await?))
}

pub(super) async fn versions(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(model): Params<String>,
    Filter(filter): Filter<VersionFilter>,
) -> ApiResult<Json<Vec<ModelVersionInfo>>> {
    let name = securable_name(SecurableKind::Model, &model)?;
    let mut versions = gateway
        .citadel
        .list_model_versions(caller.ctx(), &name)
        .await?;
    if let Some(status) = &filter.status {
        versions.retain(|v| &v.status == status);
    }
    Ok(Json(versions))
}

pub(super) async fn version(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params((model, version)): Params<(String, String)>,
) -> ApiResult<Json<ModelVersionInfo>> {
    let spec = model_spec(&model, &version)?;
    Ok(Json(
        gateway
            .citadel
            .show_model_version(caller.ctx(), &spec)
            .await?,
    ))
}

async fn decide(
    gateway: &Gateway,
    caller: &Control,
    (model, version): (String, String),
    decision: Decision,
    comment: &str,
) -> ApiResult<Json<ModelVersionInfo>> {
    let spec = model_spec(&model, &version)?;
    let decided = gateway
        .citadel
        .decide_model_version(caller.ctx(), &spec, decision, comment)
        .await?;
    Ok(Json(decided))
}

pub(super) async fn approve(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(path): Params<(String, String)>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> ApiResult<Json<ModelVersionInfo>> {
    decide(&gateway, &caller, path, Decision::Approve, &body.comment).await
}

pub(super) async fn reject(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(path): Params<(String, String)>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> ApiResult<Json<ModelVersionInfo>> {
    decide(&gateway, &caller, path, Decision::Reject, &body.comment).await
}

pub(super) async fn set_alias(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params((model, alias)): Params<(String, String)>,
    JsonBody(body): JsonBody<AliasBody>,
) -> ApiResult<Json<ModelVersionInfo>> {
    let spec = model_spec(&model, &body.version.to_string())?;
    let info = gateway
        .citadel
        .set_model_alias(caller.ctx(), &spec, &alias)
        .await?;
    Ok(Json(info))
}
