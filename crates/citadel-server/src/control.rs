//! The control API: principals, tokens, grants, models, approvals, endpoints and audit queries
//! over HTTPS, on the same service-layer operations as the CLI.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use citadel_core::TokenScope;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::routes::{Access, RouteInfo};
use crate::state::Gateway;

/// The control API's routes.
pub const ROUTES: &[RouteInfo] = &[RouteInfo {
    method: "GET",
    path: "/api/v1/whoami",
    access: Access::Control,
}];

/// The control API's router.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new().route("/api/v1/whoami", get(whoami))
}

async fn whoami(
    State(_gateway): State<Arc<Gateway>>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_scope(&[TokenScope::Control])?;
    let ctx = &caller.0;
    Ok(Json(serde_json::json!({
        "principal": ctx.principal.name,
        "groups": ctx.group_names,
        "scope": ctx.scope(),
    })))
}
