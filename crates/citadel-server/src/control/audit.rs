//! The audit log: queried with filters, and verified against its signed checkpoints.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use citadel_audit::AuditEvent;
use citadel_service::{AuditFilter, AuditVerification};
use schemars::JsonSchema;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Control, Filter};
use crate::error::ApiResult;
use crate::state::Gateway;

/// Events returned when the query sets no `limit`.
const DEFAULT_LIMIT: u32 = 100;

/// `GET /api/v1/audit?principal=&action=&securable=&outcome=&since=&until=&limit=`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    /// The acting principal's name.
    principal: Option<String>,
    /// An action such as `grant.create`, or a prefix ending in `*` (`endpoint.*`).
    action: Option<String>,
    /// `kind:full.name`, e.g. `endpoint:prod.endpoints.assistant`.
    securable: Option<String>,
    /// `success`, `denied` or `failed`.
    outcome: Option<String>,
    /// RFC 3339.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    since: Option<OffsetDateTime>,
    /// RFC 3339.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>")]
    until: Option<OffsetDateTime>,
    /// The most recent this many events (1 to 100,000; 100 when left out).
    limit: Option<u32>,
}

pub(super) async fn query(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
    Filter(query): Filter<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let filter = AuditFilter {
        actor: query.principal,
        action: query.action,
        securable: query.securable,
        outcome: query.outcome,
        since: query.since,
        until: query.until,
        limit: query.limit.unwrap_or(DEFAULT_LIMIT),
    };
    Ok(Json(
        gateway.citadel.audit_query(caller.ctx(), &filter).await?,
    ))
}

pub(super) async fn verify(
    State(gateway): State<Arc<Gateway>>,
    caller: Control,
) -> ApiResult<Json<AuditVerification>> {
    Ok(Json(gateway.citadel.audit_verify(caller.ctx()).await?))
}
