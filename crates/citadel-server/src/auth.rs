//! Authentication at the edge: the bearer credential (a personal access token or an OAuth JWT)
//! turned into the service layer's [`Context`], with a short-lived cache so the hot path does not
//! hit the database on every call. Authorization stays in the service layer.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use citadel_core::TokenScope;
use citadel_service::Context;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::cache::TtlCache;
use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;

/// The client's address, set by the listener on each connection.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Context>);

/// Most credentials remembered at once.
const CACHE_CAPACITY: usize = 100_000;

/// The SHA-256 of a credential: how the cache knows it without holding it.
type CredentialKey = [u8; 32];

/// Recently authenticated credentials, by the SHA-256 of the credential (never the credential):
/// one lookup for every caller missing the same credential at once, refreshed ahead of expiry by
/// one caller (see [`TtlCache`]), never trusted past the credential's own expiry.
#[derive(Debug)]
pub struct AuthCache(TtlCache<CredentialKey, Arc<Context>>);

impl AuthCache {
    /// A cache trusting an authentication for `ttl` (zero: not at all).
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, CACHE_CAPACITY)
    }

    /// A cache of at most `capacity` credentials (plus those whose lookup is under way).
    pub fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        Self(TtlCache::new(ttl, capacity))
    }

    /// The caller holding the credential whose SHA-256 is `key`: cached, or from `lookup`. A
    /// failed lookup is not remembered: the next caller looks up again.
    pub async fn get_or_authenticate<F, Fut, E>(
        &self,
        key: CredentialKey,
        lookup: F,
    ) -> Result<Arc<Context>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Context>, E>>,
    {
        self.0.get_or_load(key, unexpired, lookup).await
    }

    /// Credentials held, authenticated or being looked up.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no credential is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether the caller's credential has not expired yet.
fn unexpired(ctx: &Arc<Context>) -> bool {
    let now = OffsetDateTime::now_utc();
    let expired = ctx.token.as_ref().is_some_and(|t| now >= t.expires_at)
        || ctx.jwt.as_ref().is_some_and(|j| now >= j.expires_at);
    !expired
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
    /// The caller of a request with `token` from `client`, from the cache or the service layer.
    /// Failures are counted here and audited (with the client's address) by the service layer.
    pub async fn authenticate(
        &self,
        token: Option<SecretString>,
        client: Option<IpAddr>,
    ) -> Result<Arc<Context>, ApiError> {
        let secret = token.as_ref();
        let lookup = move || async move {
            match self
                .citadel
                .authenticate_data_plane_from(secret, client)
                .await
            {
                Ok(ctx) => Ok(Arc::new(ctx)),
                Err(err) => Err(ApiError::from(err)),
            }
        };
        let authenticated = match secret {
            Some(secret) => {
                let key = credential_key(secret);
                self.auth_cache.get_or_authenticate(key, lookup).await
            }
            None => lookup().await,
        };
        if authenticated.is_err() {
            self.metrics.auth_failures.inc();
        }
        authenticated
    }
}

/// The cache's key for a credential: its SHA-256.
fn credential_key(token: &SecretString) -> CredentialKey {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.expose_secret().as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
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
        let client = parts.extensions.get::<PeerAddr>().map(|peer| peer.0.ip());
        gateway.authenticate(token, client).await.map(Caller)
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
    use citadel_core::{Principal, PrincipalId, PrincipalKind, RequestId};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn context() -> Arc<Context> {
        Arc::new(Context {
            principal: Principal {
                id: PrincipalId::new(),
                kind: PrincipalKind::ServicePrincipal,
                name: "bot".into(),
                created_at: OffsetDateTime::now_utc(),
                disabled: false,
            },
            group_ids: Vec::new(),
            group_names: Vec::new(),
            token: None,
            jwt: None,
            request_id: RequestId::new(),
        })
    }

    /// A lookup that counts its calls and answers after a pause, with a caller or a refusal.
    async fn counted(lookups: &AtomicUsize, ok: bool) -> Result<Arc<Context>, &'static str> {
        lookups.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if ok {
            Ok(context())
        } else {
            Err("unknown token")
        }
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_lookup() {
        let cache = Arc::new(AuthCache::new(Duration::from_secs(60)));
        let lookups = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (cache, lookups) = (Arc::clone(&cache), Arc::clone(&lookups));
            calls.spawn(async move {
                let lookups: &AtomicUsize = &lookups;
                cache
                    .get_or_authenticate([7; 32], move || counted(lookups, true))
                    .await
            });
        }
        let mut callers = Vec::new();
        while let Some(joined) = calls.join_next().await {
            callers.push(joined.unwrap().unwrap());
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert!(callers.iter().all(|c| Arc::ptr_eq(c, &callers[0])));
        // Another credential is looked up on its own.
        cache
            .get_or_authenticate([8; 32], || counted(&lookups, true))
            .await
            .unwrap();
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_remembered() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let lookups = AtomicUsize::new(0);
        let refused = cache
            .get_or_authenticate([1; 32], || counted(&lookups, false))
            .await;
        assert_eq!(refused.unwrap_err(), "unknown token");
        cache
            .get_or_authenticate([1; 32], || counted(&lookups, true))
            .await
            .unwrap();
        cache
            .get_or_authenticate([1; 32], || counted(&lookups, true))
            .await
            .unwrap();
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "the success is cached");
    }

    #[tokio::test]
    async fn no_ttl_checks_every_time_and_expired_credentials_are_checked_again() {
        let uncached = AuthCache::new(Duration::ZERO);
        let lookups = AtomicUsize::new(0);
        for _ in 0..3 {
            uncached
                .get_or_authenticate([1; 32], || counted(&lookups, true))
                .await
                .unwrap();
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 3);

        let cache = AuthCache::new(Duration::from_secs(60));
        let counter = &lookups;
        let expired = move || async move {
            let mut ctx = (*context()).clone();
            ctx.jwt = Some(citadel_service::JwtInfo {
                client_id: "0190a0b4-0000-7000-8000-000000000002".parse().unwrap(),
                jti: "jti".into(),
                scope: TokenScope::Invoke,
                kid: "kid".into(),
                issued_at: OffsetDateTime::now_utc() - time::Duration::hours(1),
                expires_at: OffsetDateTime::now_utc() - time::Duration::seconds(1),
            });
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(Arc::new(ctx))
        };
        cache.get_or_authenticate([2; 32], expired).await.unwrap();
        cache.get_or_authenticate([2; 32], expired).await.unwrap();
        assert_eq!(lookups.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_capacity() {
        let cache = AuthCache::with_capacity(Duration::from_secs(60), 3);
        let lookups = AtomicUsize::new(0);
        for key in 0..10u8 {
            cache
                .get_or_authenticate([key; 32], || counted(&lookups, true))
                .await
                .unwrap();
            let held = cache.len();
            assert!(held <= 3, "{held} entries");
        }
        // A refused credential leaves no entry behind once room is needed.
        for key in 10..20u8 {
            let _ = cache
                .get_or_authenticate([key; 32], || counted(&lookups, false))
                .await;
        }
        assert!(cache.len() <= 3);
    }

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
