//! The control API: the service layer's operations over HTTPS for `control`-scoped credentials,
//! each authorized and audited by the same code as the CLI. Reads so far: who am I, principals,
//! models and endpoints.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use citadel_core::{FullName, TokenScope};
use citadel_service::{EndpointInfo, ModelSummary, PrincipalSummary};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::{Access, RouteInfo};
use crate::state::Gateway;

const fn control(path: &'static str) -> RouteInfo {
    RouteInfo {
        method: "GET",
        path,
        access: Access::Control,
    }
}

/// The control API's routes.
pub const ROUTES: &[RouteInfo] = &[
    control("/api/v1/whoami"),
    control("/api/v1/principals"),
    control("/api/v1/models"),
    control("/api/v1/endpoints"),
    control("/api/v1/endpoints/{name}"),
];

/// The control API's router.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/principals", get(principals))
        .route("/api/v1/models", get(models))
        .route("/api/v1/endpoints", get(endpoints))
        .route("/api/v1/endpoints/{name}", get(endpoint))
}

/// The caller, after checking that its credential may use the control plane.
fn control_caller(caller: &Caller) -> ApiResult<&citadel_service::Context> {
    caller.require_scope(&[TokenScope::Control])?;
    Ok(&caller.0)
}

async fn whoami(caller: Caller) -> ApiResult<Json<Value>> {
    let ctx = control_caller(&caller)?;
    Ok(Json(json!({
        "principal": ctx.principal.name,
        "groups": ctx.group_names,
        "scope": ctx.scope(),
    })))
}

async fn principals(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
) -> ApiResult<Json<Vec<PrincipalSummary>>> {
    let ctx = control_caller(&caller)?;
    Ok(Json(gateway.citadel.list_principals(ctx).await?))
}

async fn models(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
) -> ApiResult<Json<Vec<ModelSummary>>> {
    let ctx = control_caller(&caller)?;
    Ok(Json(gateway.citadel.list_models(ctx, None).await?))
}

async fn endpoints(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
) -> ApiResult<Json<Vec<EndpointInfo>>> {
    let ctx = control_caller(&caller)?;
    Ok(Json(gateway.citadel.list_endpoints(ctx).await?))
}

async fn endpoint(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    caller: Caller,
) -> ApiResult<Json<EndpointInfo>> {
    let ctx = control_caller(&caller)?;
    let name: FullName = name
        .parse()
        .map_err(|e: citadel_core::Error| ApiError::invalid(e.to_string()))?;
    Ok(Json(gateway.citadel.show_endpoint(ctx, &name).await?))
}
