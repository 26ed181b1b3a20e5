//! Serving endpoints: listed, shown with their history, created, updated, rolled back and
//! deleted. What may serve is the service layer's decision.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use citadel_core::SecurableKind;
use citadel_service::{EndpointChanges, EndpointInfo, EndpointSettings, TrafficRoute};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{securable_name, Control, Params};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::Gateway;

/// `POST /api/v1/endpoints`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `CATALOG.SCHEMA.NAME`, in the model's catalog.
    pub name: String,
    /// `CATALOG.SCHEMA.MODEL@champion` or `@3`: the version it names takes all the traffic,
    /// unless `traffic` splits it (then the model's name alone is enough).
    pub model: String,
    /// Pinned versions and their share of requests, weights summing to 100.
    pub traffic: Option<Vec<TrafficRoute>>,
    /// Guardrails, limits, concurrency, scale to zero and the inference log; defaults when left
    /// out.
    #[serde(default)]
    pub settings: EndpointSettings,
}

/// `PATCH /api/v1/endpoints/{endpoint}`: what is left out stays as it is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// A new model version to serve: `CATALOG.SCHEMA.MODEL@ALIAS` or `@VERSION`.
    pub model: Option<String>,
    /// A new split over versions of the (new or current) model.
    pub traffic: Option<Vec<TrafficRoute>>,
    /// Settings to replace: a key that is present replaces the current value.
    #[serde(default)]
    pub settings: EndpointSettings,
}

pub(super) async fn list(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
) -> ApiResult<Json<Vec<EndpointInfo>>> {
    Ok(Json(gateway.citadel.list_endpoints(caller.ctx()).await?))
}

pub(super) async fn show(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(name): Params<String>,
) -> ApiResult<Json<EndpointInfo>> {
    let name = securable_name(SecurableKind::Endpoint, &name)?;
    Ok(Json(
        gateway.citadel.show_endpoint(caller.ctx(), &name).await?,
    ))
}

pub(super) async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> ApiResult<Json<EndpointInfo>> {
    let name = securable_name(SecurableKind::Endpoint, &body.name)?;
    let created = gateway
        .citadel
        .create_endpoint(
            caller.ctx(),
            &name,
            &body.model,
            body.traffic,
            &body.settings,
        )
        .await?;
    Ok(Json(created))
}

pub(super) async fn update(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<UpdateEndpoint>,
) -> ApiResult<Json<EndpointInfo>> {
    let name = securable_name(SecurableKind::Endpoint, &name)?;
    let changes = EndpointChanges {
        model: body.model,
        traffic: body.traffic,
        settings: body.settings,
    };
    let updated = gateway
        .citadel
        .update_endpoint(caller.ctx(), &name, &changes)
        .await?;
    Ok(Json(updated))
}

pub(super) async fn rollback(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(name): Params<String>,
) -> ApiResult<Json<EndpointInfo>> {
    let name = securable_name(SecurableKind::Endpoint, &name)?;
    Ok(Json(
        gateway
            .citadel
            .rollback_endpoint(caller.ctx(), &name)
            .await?,
    ))
}

pub(super) async fn delete(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Params(name): Params<String>,
) -> ApiResult<StatusCode> {
    let name = securable_name(SecurableKind::Endpoint, &name)?;
    gateway.citadel.delete_endpoint(caller.ctx(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
