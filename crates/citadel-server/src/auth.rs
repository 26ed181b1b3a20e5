//! Authentication at the edge: the bearer credential (a personal access token or an OAuth JWT)
//! turned into the service layer's [`Context`], with a short-lived cache so the hot path does not
//! hit the database on every call. Authorization stays in the service layer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use citadel_core::TokenScope;
use citadel_service::Context;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;

/// The client's address, set by the listener on each connection.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Context>);

/// Most credentials remembered at once; the cache is emptied when it grows past this.
const CACHE_CAPACITY: usize = 100_000;

/// A cached caller and when it was authenticated.
type Cached = (Arc<Context>, Instant);

/// Recently authenticated credentials, by the SHA-256 of the credential (never the credential).
#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &[u8; 32]) -> Option<Arc<Context>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (ctx, at) = entries.get(key)?;
        let expired = ctx
            .token
            .as_ref()
            .is_some_and(|t| OffsetDateTime::now_utc() >= t.expires_at);
        (at.elapsed() < self.ttl && !expired).then(|| Arc::clone(ctx))
    }

    fn put(&self, key: [u8; 32], ctx: Arc<Context>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, (ctx, Instant::now()));
    }
}

/// The bearer credential of a request: none, or the token; a malformed header is refused.
pub fn bearer(parts: &Parts) -> Result<Option<SecretString>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "malformed Authorization header: expected `Bearer <token>`",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(SecretString::from(token.trim().to_owned())))
}

impl Gateway {
    /// The caller of a request with `token`, from the cache or the service layer. Failures are
    /// counted here and audited by the service layer.
    pub async fn authenticate(
        &self,
        token: Option<SecretString>,
    ) -> Result<Arc<Context>, ApiError> {
        let key = token.as_ref().map(|t| {
            let digest = ring::digest::digest(&ring::digest::SHA256, t.expose_secret().as_bytes());
            let mut key = [0u8; 32];
            key.copy_from_slice(digest.as_ref());
            key
        });
        if let Some(ctx) = key.as_ref().and_then(|k| self.auth_cache.get(k)) {
            return Ok(ctx);
        }
        match self.citadel.authenticate_data_plane(token.as_ref()).await {
            Ok(ctx) => {
                let ctx = Arc::new(ctx);
                if let Some(key) = key {
                    self.auth_cache.put(key, Arc::clone(&ctx));
                }
                Ok(ctx)
            }
            Err(err) => {
                self.metrics.auth_failures.inc();
                Err(err.into())
            }
        }
    }
}

impl FromRequestParts<Arc<Gateway>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let token = match bearer(parts) {
            Ok(token) => token,
            Err(err) => {
                gateway.metrics.auth_failures.inc();
                return Err(err);
            }
        };
        gateway.authenticate(token).await.map(Caller)
    }
}

impl Caller {
    /// Refuses a credential whose scope is not `scope` (e.g. only `metrics` tokens scrape).
    pub fn require_scope(&self, allowed: &[TokenScope]) -> Result<(), ApiError> {
        let scope = self.0.scope();
        if allowed.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!(
                "a {scope} token cannot use this route; it needs a token with scope {}",
                allowed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(value: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/v1/models");
        if let Some(value) = value {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_parsing() {
        assert!(bearer(&parts(None)).unwrap().is_none());
        let token = bearer(&parts(Some("Bearer cit_pat_abc"))).unwrap().unwrap();
        assert_eq!(token.expose_secret(), "cit_pat_abc");
        assert!(bearer(&parts(Some("bearer  cit_pat_abc ")))
            .unwrap()
            .is_some());
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "cit_pat_abc"] {
            let err = bearer(&parts(Some(bad))).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{bad}");
            assert!(!err.message.contains("dXNlcjpwYXNz"));
        }
    }
}
