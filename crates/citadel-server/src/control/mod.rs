//! The control API: the service layer's operations over HTTPS for `control`-scoped credentials,
//! each authorized and audited by the same code as the CLI. Every route is in [`ROUTES`] (which
//! `/openapi.json` and the authorization tests are generated from) and in [`router`].
//!
//! Each handler authenticates and checks the credential's scope ([`Control`]) before it reads
//! the path, the query or the body, so a credential that may not call a route learns nothing
//! from its validation; then it makes one service-layer call.

mod audit;
mod endpoints;
mod grants;
mod identities;
mod models;
mod tokens;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use axum::Router;
use citadel_core::{FullName, SecurableKind, TokenScope};
use citadel_service::{Context, SecurableRef};
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{route, Access, RouteInfo};
use crate::state::Gateway;

const fn control(method: &'static str, path: &'static str) -> RouteInfo {
    route(method, path, Access::Control)
}

/// The control API's routes.
pub const ROUTES: &[RouteInfo] = &[
    control("GET", "/api/v1/whoami").returns::<identities::WhoAmI>(),
    control("GET", "/api/v1/principals").returns::<Vec<citadel_service::PrincipalSummary>>(),
    control("POST", "/api/v1/principals")
        .takes::<identities::CreatePrincipal>()
        .returns::<citadel_core::Principal>(),
    control("POST", "/api/v1/groups/{group}/members/{member}")
        .takes_nothing()
        .returns_nothing(),
    control("DELETE", "/api/v1/groups/{group}/members/{member}")
        .takes_nothing()
        .returns_nothing(),
    control("GET", "/api/v1/tokens")
        .query::<tokens::TokenOwner>()
        .returns::<Vec<citadel_service::TokenInfo>>(),
    control("POST", "/api/v1/tokens")
        .takes::<tokens::CreateToken>()
        .returns::<tokens::CreatedToken>(),
    control("DELETE", "/api/v1/tokens/{id}")
        .takes_nothing()
        .returns_nothing(),
    control("GET", "/api/v1/grants")
        .query::<grants::Securable>()
        .returns::<Vec<citadel_service::GrantInfo>>(),
    control("POST", "/api/v1/grants")
        .takes::<grants::GrantBody>()
        .returns_nothing(),
    control("POST", "/api/v1/grants/revoke")
        .takes::<grants::GrantBody>()
        .returns_nothing(),
    control("GET", "/api/v1/models").returns::<Vec<citadel_service::ModelSummary>>(),
    control("GET", "/api/v1/models/{model}/versions")
        .query::<models::VersionFilter>()
        .returns::<Vec<citadel_service::ModelVersionInfo>>(),
    control("GET", "/api/v1/models/{model}/versions/{version}")
        .returns::<citadel_service::ModelVersionInfo>(),
    control("POST", "/api/v1/models/{model}/versions/{version}/approve")
        .takes::<models::DecisionBody>()
        .returns::<citadel_service::ModelVersionInfo>(),
    control("POST", "/api/v1/models/{model}/versions/{version}/reject")
        .takes::<models::DecisionBody>()
        .returns::<citadel_service::ModelVersionInfo>(),
    control("PUT", "/api/v1/models/{model}/aliases/{alias}")
        .takes::<models::AliasBody>()
        .returns::<citadel_service::ModelVersionInfo>(),
    control("GET", "/api/v1/endpoints").returns::<Vec<citadel_service::EndpointInfo>>(),
    control("POST", "/api/v1/endpoints")
        .takes::<endpoints::CreateEndpoint>()
        .returns::<citadel_service::EndpointInfo>(),
    control("GET", "/api/v1/endpoints/{endpoint}").returns::<citadel_service::EndpointInfo>(),
    control("PATCH", "/api/v1/endpoints/{endpoint}")
        .takes::<endpoints::UpdateEndpoint>()
        .returns::<citadel_service::EndpointInfo>(),
    control("POST", "/api/v1/endpoints/{endpoint}/rollback")
        .takes_nothing()
        .returns::<citadel_service::EndpointInfo>(),
    control("DELETE", "/api/v1/endpoints/{endpoint}")
        .takes_nothing()
        .returns_nothing(),
    control("GET", "/api/v1/audit")
        .query::<audit::AuditQuery>()
        .returns::<Vec<citadel_audit::AuditEvent>>(),
    control("GET", "/api/v1/audit/verify").returns::<citadel_service::AuditVerification>(),
];

/// The control API's router: the routes of [`ROUTES`], each to its handler.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/api/v1/whoami", get(identities::whoami))
        .route(
            "/api/v1/principals",
            get(identities::list).post(identities::create),
        )
        .route(
            "/api/v1/groups/{group}/members/{member}",
            post(identities::add_member).delete(identities::remove_member),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/grants", get(grants::show).post(grants::grant))
        .route("/api/v1/grants/revoke", post(grants::revoke))
        .route("/api/v1/models", get(models::list))
        .route("/api/v1/models/{model}/versions", get(models::versions))
        .route(
            "/api/v1/models/{model}/versions/{version}",
            get(models::version),
        )
        .route(
            "/api/v1/models/{model}/versions/{version}/approve",
            post(models::approve),
        )
        .route(
            "/api/v1/models/{model}/versions/{version}/reject",
            post(models::reject),
        )
        .route(
            "/api/v1/models/{model}/aliases/{alias}",
            put(models::set_alias),
        )
        .route(
            "/api/v1/endpoints",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/api/v1/endpoints/{endpoint}",
            get(endpoints::show)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            "/api/v1/endpoints/{endpoint}/rollback",
            post(endpoints::rollback),
        )
        .route("/api/v1/audit", get(audit::query))
        .route("/api/v1/audit/verify", get(audit::verify))
}

/// The caller of a control route: authenticated, with a credential of scope `control`.
#[derive(Debug, Clone)]
pub struct Control(pub Arc<Context>);

impl Control {
    fn ctx(&self) -> &Context {
        &self.0
    }
}

impl FromRequestParts<Arc<Gateway>> for Control {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, gateway).await?;
        caller.require_scope(&[TokenScope::Control])?;
        Ok(Self(caller.0))
    }
}

/// Path parameters, refused with a JSON 400 when they do not parse.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}

/// Query parameters, refused with a JSON 400 when they do not parse (or are unknown, for types
/// that deny unknown fields).
#[derive(Debug)]
pub struct Filter<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Filter<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}

/// `text` as the name of a securable of `kind`: the right number of lowercase identifiers, so
/// `../x`, `a.b` for an endpoint or `A.B.C` are refused before anything is looked up.
fn securable_name(kind: SecurableKind, text: &str) -> Result<FullName, ApiError> {
    let securable = SecurableRef::parse(kind, text).map_err(ApiError::from)?;
    securable
        .name
        .ok_or_else(|| ApiError::invalid(format!("{text:?} does not name a {kind}")))
}
