//! OAuth 2.0 client credentials (RFC 6749 §4.4): `POST /oauth/token` exchanges a service
//! principal's client id and secret for a short-lived EdDSA JWT; `/.well-known/jwks.json` serves
//! the public keys that verify them. This route answers in RFC 6749's error format, which OAuth
//! client libraries parse, rather than the gateway's.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use citadel_service::ErrorKind;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::Gateway;

/// The form of a token request.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    #[schemars(with = "Option<String>")]
    client_secret: Option<SecretString>,
    scope: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"citadel\""),
        );
    }
    response
}

/// Client credentials from an HTTP Basic header (RFC 6749 §2.3.1), if one was sent.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), SecretString::from(secret.to_owned())))
}

/// `POST /oauth/token`.
pub async fn token(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send grant_type=client_credentials as application/x-www-form-urlencoded",
        );
    };
    if form.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let TokenForm {
        client_id,
        client_secret,
        scope,
        audience,
        ..
    } = form;
    let credentials = basic_credentials(&headers).or(client_id.zip(client_secret));
    let Some((client_id, secret)) = credentials else {
        gateway.metrics.auth_failures.inc();
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client credentials are required (HTTP Basic or client_id and client_secret)",
        );
    };
    let audience = audience.as_deref().unwrap_or(&gateway.config.jwt_audience);
    match gateway
        .citadel
        .issue_client_token(&client_id, &secret, scope.as_deref(), Some(audience))
        .await
    {
        Ok(issued) => Json(json!({
            "access_token": issued.access_token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }))
        .into_response(),
        Err(err) => match err.kind() {
            ErrorKind::Unauthenticated => {
                gateway.metrics.auth_failures.inc();
                oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "unknown client, wrong secret, or a revoked or expired client",
                )
            }
            ErrorKind::PermissionDenied | ErrorKind::InvalidInput => {
                oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &err.to_string())
            }
            _ => crate::error::ApiError::from(err).into_response(),
        },
    }
}

/// `GET /.well-known/jwks.json`: any valid token may read the keys.
pub async fn jwks(
    State(gateway): State<Arc<Gateway>>,
    _caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(gateway.citadel.jwks().await?))
}
