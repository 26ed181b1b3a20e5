//! OAuth 2.0 client credentials for service principals: clients (a secret shown once, stored as
//! its SHA-256), short-lived EdDSA access tokens (JWTs) issued for them, the signing keys and
//! their rotation, the JWKS, and the checks a bearer JWT passes in [`Citadel::authenticate`].
//!
//! The HTTP routes (`POST /oauth/token`, `/.well-known/jwks.json`) are thin wrappers over
//! [`Citadel::issue_client_token`] and [`Citadel::jwks`]. For their error bodies:
//! [`Error::Unauthenticated`] is RFC 6749's `invalid_client` (401) and [`Error::InvalidInput`]
//! is `invalid_scope` or `invalid_request` (400).

mod jwt;
mod signing;

use citadel_audit::{Actor, EventDraft};
use citadel_core::{Principal, PrincipalId, PrincipalKind, Privilege, RequestId, TokenScope};
pub use citadel_store::ClientId;
use citadel_store::{NewOAuthClient, OAuthClientRecord, WriteTx};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

pub(crate) use jwt::looks_like_jwt;
pub use jwt::{ACCESS_TOKEN_TTL_SECS, DEFAULT_AUDIENCE, LEEWAY_SECS, MAX_ACCESS_TOKEN_TTL_SECS};

use crate::keys::ensure_active_key;
use crate::service::Refusal;
use crate::{pat, Citadel, Context, Error, Result, SecurableRef};

/// Every client secret starts with this (distinct from `cit_pat_`, for secret scanners).
pub const CLIENT_SECRET_PREFIX: &str = "cit_cs_";
/// The `token_type` of issued tokens.
pub const TOKEN_TYPE_BEARER: &str = "Bearer";
/// The longest audience accepted in a token request.
const MAX_AUDIENCE_LEN: usize = 256;
/// What a caller who presented a bad client id or secret is told (never which of the two).
const BAD_CLIENT: &str = "invalid client credentials: unknown client id or wrong secret";

/// An OAuth client as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client_id: ClientId,
    /// The service principal its tokens act as.
    pub principal: String,
    /// The widest scope its tokens may carry.
    pub scope: TokenScope,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it last got a token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ClientInfo {
    fn from_record(record: &OAuthClientRecord, principal: &str) -> Self {
        Self {
            client_id: record.id,
            principal: principal.to_owned(),
            scope: record.scope,
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// A token response (RFC 6749 §5.1). The access token is a secret: `Debug` does not show it.
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: SecretString,
    /// Always [`TOKEN_TYPE_BEARER`].
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    pub scope: TokenScope,
}

/// The JWT a caller authenticated with, as its [`Context`] carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtInfo {
    pub client_id: ClientId,
    /// The token's unique id (`jti`).
    pub jti: String,
    pub scope: TokenScope,
    /// The signing key (`kid`).
    pub kid: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The outcome of a signing-key rotation.
#[derive(Debug, Clone, Serialize)]
pub struct SigningKeyInfo {
    /// The new key's id.
    pub kid: String,
    /// The key it replaced, which verifies the tokens it signed until they expire.
    pub previous_kid: Option<String>,
}

/// A verified bearer JWT: whose it is and what it allows.
pub(crate) struct VerifiedJwt {
    pub principal: Principal,
    pub info: JwtInfo,
    pub params: Value,
}

/// How long a retired key still verifies: the longest token lifetime plus the clock leeway.
fn retired_key_grace() -> time::Duration {
    time::Duration::seconds((MAX_ACCESS_TOKEN_TTL_SECS + LEEWAY_SECS) as i64)
}

fn unix(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp()).unwrap_or(0)
}

fn from_unix(seconds: u64) -> OffsetDateTime {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whether a token of scope `requested` may be issued to a client of scope `client`: the same
/// scope, or `invoke` from `control` (which already allows everything `invoke` does). `metrics`
/// is its own plane and neither contains nor is contained by another.
fn narrows(client: TokenScope, requested: TokenScope) -> bool {
    requested == client || (client == TokenScope::Control && requested == TokenScope::Invoke)
}

/// Parses an OAuth `scope` parameter: exactly one Citadel scope.
fn parse_requested_scope(text: &str) -> std::result::Result<TokenScope, &'static str> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some(word), None) => word
            .parse()
            .map_err(|_| "invalid scope: use one of control, invoke, metrics"),
        (None, _) => Err("invalid scope: the scope parameter is empty"),
        (Some(_), Some(_)) => Err("invalid scope: request exactly one scope"),
    }
}

/// Checks a requested audience: 1 to 256 visible ASCII characters.
fn check_audience(audience: &str) -> std::result::Result<(), &'static str> {
    if audience.is_empty()
        || audience.len() > MAX_AUDIENCE_LEN
        || !audience.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err("invalid audience: use 1 to 256 visible ASCII characters, no spaces");
    }
    Ok(())
}

/// Whether `secret` hashes to `stored_hash`, comparing the digests in constant time.
fn secret_matches(secret: &SecretString, stored_hash: &str) -> bool {
    let presented = pat::hash(secret);
    bool::from(presented.as_bytes().ct_eq(stored_hash.as_bytes()))
}

impl Citadel {
    /// The `iss` of this home's tokens: `citadel:<metastore id>`.
    pub async fn oauth_issuer(&self) -> Result<String> {
        let metastore = self
            .store
            .metastore()
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "metastore",
                name: "metastore".to_owned(),
            })?;
        Ok(format!("citadel:{}", metastore.id))
    }

    /// Creates client credentials for the service principal `principal` (`MANAGE` on the
    /// metastore, as tokens for others need). Tokens issued to it carry `scope` or narrower; it
    /// works for `ttl` (the config's default token lifetime when `None`). The secret is returned
    /// once; only its SHA-256 is stored.
    pub async fn create_oauth_client(
        &self,
        ctx: &Context,
        principal: &str,
        scope: TokenScope,
        ttl: Option<time::Duration>,
    ) -> Result<(ClientInfo, SecretString)> {
        const ACTION: &str = "oauth.client.create";
        let max_ttl = time::Duration::days(i64::from(self.config.tokens.max_ttl_days));
        let ttl = ttl.unwrap_or(time::Duration::days(i64::from(
            self.config.tokens.default_ttl_days,
        )));
        if ttl > max_ttl || ttl <= time::Duration::ZERO {
            return Err(Error::InvalidInput(format!(
                "client credentials live from 1 second to {} days (tokens.max_ttl_days in \
                 citadel.toml)",
                self.config.tokens.max_ttl_days
            )));
        }
        let owner = self.principal_named(principal).await?;
        if owner.kind != PrincipalKind::ServicePrincipal {
            return Err(Error::InvalidInput(format!(
                "{:?} is a {}; OAuth clients are for service principals (create one with \
                 `citadel principal create service-principal NAME`)",
                owner.name, owner.kind
            )));
        }
        let mut params = json!({
            "principal": owner.name,
            "scope": scope,
            "ttl_seconds": ttl.whole_seconds(),
        });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let secret = pat::generate_with_prefix(CLIENT_SECRET_PREFIX)?;
        let record = tx
            .create_oauth_client(&NewOAuthClient {
                principal_id: owner.id,
                secret_hash: pat::hash(&secret),
                scope,
                expires_at: OffsetDateTime::now_utc() + ttl,
                created_by: Some(ctx.principal.id),
            })
            .await?;
        params["client_id"] = json!(record.id.to_string());
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok((ClientInfo::from_record(&record, &owner.name), secret))
    }

    /// Lists clients: every client (`MANAGE` on the metastore), or those of `principal` (one's
    /// own with a control token; anyone's with `MANAGE`). Never a secret.
    pub async fn list_oauth_clients(
        &self,
        ctx: &Context,
        principal: Option<&str>,
    ) -> Result<Vec<ClientInfo>> {
        const ACTION: &str = "oauth.client.list";
        let owner = match principal {
            Some(name) => Some(self.principal_named(name).await?),
            None => None,
        };
        match &owner {
            Some(owner) if owner.id == ctx.principal.id => {
                self.require_control(ctx, ACTION).await?;
            }
            _ => {
                self.authorize_read(ctx, ACTION, Privilege::Manage, &SecurableRef::metastore())
                    .await?;
            }
        }
        let records = self
            .store
            .list_oauth_clients(owner.as_ref().map(|o| o.id))
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for record in &records {
            let name = self.principal_label(Some(record.principal_id)).await?;
            out.push(ClientInfo::from_record(record, &name));
        }
        Ok(out)
    }

    /// Revokes a client: its secret stops working and every token issued to it is refused from
    /// now on. One's own with a control token; anyone's with `MANAGE` on the metastore.
    pub async fn revoke_oauth_client(&self, ctx: &Context, client_id: ClientId) -> Result<()> {
        const ACTION: &str = "oauth.client.revoke";
        let record = self
            .store
            .oauth_client(client_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "OAuth client",
                name: client_id.to_string(),
            })?;
        let params = json!({ "client_id": client_id.to_string() });
        let mut tx = if record.principal_id == ctx.principal.id {
            self.require_control(ctx, ACTION).await?;
            self.store.begin_write().await?
        } else {
            self.begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?
        };
        if !tx.revoke_oauth_client(client_id).await? {
            return Err(Error::InvalidInput(format!(
                "OAuth client {client_id} is already revoked"
            )));
        }
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok(())
    }

    /// Replaces the JWT signing key (`MANAGE` on the metastore). The previous key's private half
    /// is erased; its public half stays in the JWKS and verifies the tokens it signed until they
    /// expire (at most 15 minutes, plus the clock leeway).
    pub async fn rotate_jwt_signing_key(&self, ctx: &Context) -> Result<SigningKeyInfo> {
        const ACTION: &str = "oauth.signing_key.rotate";
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &json!({}),
            )
            .await?;
        let previous_kid = tx.retire_jwt_key().await?;
        let (kid, _) = self.new_signing_key(&mut tx).await?;
        let info = SigningKeyInfo { kid, previous_kid };
        tx.commit(ctx.event(ACTION).with_params(json!({
            "kid": info.kid,
            "previous_kid": info.previous_kid,
        })))
        .await?;
        Ok(info)
    }

    /// The public signing keys as a JWK Set (RFC 7517): the active key, and keys retired
    /// recently enough that tokens they signed may still be valid.
    pub async fn jwks(&self) -> Result<Value> {
        let cutoff = OffsetDateTime::now_utc() - retired_key_grace();
        let keys: Vec<Value> = self
            .store
            .jwt_keys_since(cutoff)
            .await?
            .iter()
            .map(|key| signing::jwk(&key.kid, &key.public_key))
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// The client-credentials grant (RFC 6749 §4.4): checks the client's id and secret (hashes
    /// compared in constant time), that it is neither revoked nor expired and its principal is
    /// an enabled service principal, then signs a JWT (EdDSA, [`ACCESS_TOKEN_TTL_SECS`]) with
    /// `requested_scope` (the client's scope when `None`; only ever narrower) for `audience`
    /// ([`DEFAULT_AUDIENCE`] when `None`: the only audience Citadel itself accepts). The
    /// signing key is made on first use. Every issuance and every refusal is audited, never the
    /// secret or the token.
    pub async fn issue_client_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        requested_scope: Option<&str>,
        audience: Option<&str>,
    ) -> Result<IssuedToken> {
        self.issue_token(client_id, client_secret, requested_scope, audience, None)
            .await
    }

    /// [`Citadel::issue_client_token`] with the token's `iat`, `nbf` and `exp` counted from
    /// `issued_at` instead of now, so a token's expiry can be exercised end to end without
    /// waiting out its lifetime. Only the past is allowed (a future `issued_at` is invalid
    /// input); the client and its principal are still checked as of now, and the audit event
    /// records `backdated_to`. A backdated token is only ever shorter-lived than a fresh one.
    pub async fn issue_client_token_as_of(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        requested_scope: Option<&str>,
        audience: Option<&str>,
        issued_at: OffsetDateTime,
    ) -> Result<IssuedToken> {
        let when = Some(issued_at);
        self.issue_token(client_id, client_secret, requested_scope, audience, when)
            .await
    }

    /// The client-credentials grant, its token issued at `issued_at` (now when `None`).
    async fn issue_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        requested_scope: Option<&str>,
        audience: Option<&str>,
        issued_at: Option<OffsetDateTime>,
    ) -> Result<IssuedToken> {
        const ACTION: &str = "oauth.token.issue";
        let request_id = RequestId::new();
        let issuer = self.oauth_issuer().await?;
        // An unparseable client id is not echoed: it might be a secret pasted in the wrong field.
        let id = client_id.trim().parse::<ClientId>().ok();
        let mut params = json!({ "client_id": id.map(|id| id.to_string()) });
        let mut tx = self.store.begin_write().await?;
        let refuse = |tx: WriteTx, actor: Actor, params: Value, audit: &'static str| async move {
            let event = EventDraft::new(&actor, request_id, ACTION)
                .with_params(params)
                .denied(audit);
            tx.commit(event).await?;
            Ok::<(), Error>(())
        };
        let anonymous = Actor::anonymous();
        let Some(id) = id else {
            refuse(tx, anonymous, params, "malformed client id").await?;
            return Err(Error::Unauthenticated(BAD_CLIENT));
        };
        if !pat::has_shape(CLIENT_SECRET_PREFIX, client_secret.expose_secret()) {
            refuse(tx, anonymous, params, "malformed client secret").await?;
            return Err(Error::Unauthenticated(BAD_CLIENT));
        }
        let Some(client) = tx.oauth_client_credential(id).await? else {
            refuse(tx, anonymous, params, "unknown client").await?;
            return Err(Error::Unauthenticated(BAD_CLIENT));
        };
        if !secret_matches(client_secret, &client.secret_hash) {
            refuse(tx, anonymous, params, "wrong client secret").await?;
            return Err(Error::Unauthenticated(BAD_CLIENT));
        }
        let client = client.record;
        let principal = tx.principal(client.principal_id).await?;
        let actor = principal
            .as_ref()
            .map_or_else(Actor::anonymous, |p| Actor::principal(p.id, p.name.clone()));
        let now = OffsetDateTime::now_utc();
        let problem = if client.revoked_at.is_some() {
            Some("the OAuth client was revoked; create a new client")
        } else if now >= client.expires_at {
            Some("the OAuth client's credentials expired; create a new client")
        } else {
            match &principal {
                None => Some("the client's principal no longer exists"),
                Some(p) if p.disabled => Some("the client's principal is disabled"),
                Some(p) if p.kind != PrincipalKind::ServicePrincipal => {
                    Some("the client's principal is not a service principal")
                }
                Some(_) => None,
            }
        };
        if let Some(reason) = problem {
            refuse(tx, actor, params, reason).await?;
            return Err(Error::Unauthenticated(reason));
        }
        let scope = match requested_scope.map(parse_requested_scope) {
            None => Ok(client.scope),
            Some(Ok(scope)) if narrows(client.scope, scope) => Ok(scope),
            Some(Ok(_)) => Err("invalid scope: a client's tokens may only narrow its scope"),
            Some(Err(reason)) => Err(reason),
        };
        let audience = audience.unwrap_or(DEFAULT_AUDIENCE);
        let checked = scope.and_then(|scope| check_audience(audience).map(|()| scope));
        let scope = match checked {
            Ok(scope) => scope,
            Err(reason) => {
                params["requested_scope"] =
                    json!(requested_scope.map(|s| s.chars().take(64).collect::<String>()));
                refuse(tx, actor, params, reason).await?;
                return Err(Error::InvalidInput(format!(
                    "{reason} (client scope: {})",
                    client.scope
                )));
            }
        };
        if issued_at.is_some_and(|at| at > now) {
            refuse(tx, actor, params, "backdated to the future").await?;
            return Err(Error::InvalidInput(
                "a token may only be backdated: issued_at is in the future".into(),
            ));
        }
        if let Some(at) = issued_at {
            params["backdated_to"] = json!(citadel_audit::event::format_time(at)?);
        }
        let (kid, pkcs8, created) = self.signing_key(&mut tx).await?;
        let iat = unix(issued_at.unwrap_or(now));
        let claims = jwt::Claims {
            iss: issuer,
            sub: client.principal_id.to_string(),
            aud: audience.to_owned(),
            scope: scope.as_str().to_owned(),
            client_id: id.to_string(),
            iat,
            nbf: iat,
            exp: iat + ACCESS_TOKEN_TTL_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jwt::sign(&claims, &kid, &pkcs8)
            .map_err(|_| Error::Crypto("cannot sign the access token"))?;
        tx.touch_oauth_client(id).await?;
        params["scope"] = json!(scope);
        params["audience"] = json!(audience);
        params["jti"] = json!(claims.jti);
        params["kid"] = json!(kid);
        params["expires_at"] = json!(citadel_audit::event::format_time(from_unix(claims.exp))?);
        if let Some(replaced) = created {
            params["signing_key_created"] = replaced;
        }
        tx.commit(EventDraft::new(&actor, request_id, ACTION).with_params(params))
            .await?;
        Ok(IssuedToken {
            access_token: SecretString::from(token),
            token_type: TOKEN_TYPE_BEARER,
            expires_in: claims.exp.saturating_sub(unix(now)),
            scope,
        })
    }

    /// The active signing key's kid and private key, made in `tx` when there is none or when its
    /// key-encryption key was rotated away (then the old key is retired: its public half still
    /// verifies). The third value describes a key made here, for the audit event.
    async fn signing_key(
        &self,
        tx: &mut WriteTx,
    ) -> Result<(String, zeroize::Zeroizing<Vec<u8>>, Option<Value>)> {
        let previous = match tx.active_jwt_key().await? {
            Some(active) => match signing::open(&self.keys, &active.key.kid, &active.sealed)? {
                Some(pkcs8) => return Ok((active.key.kid, pkcs8, None)),
                None => {
                    tx.retire_jwt_key().await?;
                    Some(active.key.kid)
                }
            },
            None => None,
        };
        let (kid, pkcs8) = self.new_signing_key(tx).await?;
        let why = if previous.is_some() {
            "the previous key's key-encryption key was rotated away"
        } else {
            "first use"
        };
        let created = json!({ "kid": kid, "previous_kid": previous, "reason": why });
        Ok((kid, pkcs8, Some(created)))
    }

    /// Makes, seals and stores a new active signing key in `tx` (retire the old one first).
    async fn new_signing_key(
        &self,
        tx: &mut WriteTx,
    ) -> Result<(String, zeroize::Zeroizing<Vec<u8>>)> {
        let key = signing::generate()?;
        let sealed = signing::seal(&self.keys, &key.kid, &key.pkcs8)?;
        ensure_active_key(tx, &sealed.kek_id).await?;
        tx.insert_jwt_key(&key.kid, &key.public_key, &sealed)
            .await?;
        Ok((key.kid, key.pkcs8))
    }

    /// Verifies a bearer JWT for [`Citadel::authenticate`]: a known key (active, or retired less
    /// than the longest token lifetime ago and older than the token), signature, `iss`, `aud`
    /// ([`DEFAULT_AUDIENCE`]), `exp`/`nbf` with [`LEEWAY_SECS`], then the client (exists, not
    /// revoked or expired, belongs to `sub`) and the principal (exists, enabled). The outer
    /// error is a failure to check; the inner one a refusal to audit.
    pub(crate) async fn verify_jwt(
        &self,
        token: &str,
    ) -> Result<std::result::Result<VerifiedJwt, Refusal>> {
        let refuse = |reason: &'static str, params: &Value| {
            Ok(Err(Refusal {
                reason,
                params: params.clone(),
            }))
        };
        let kid = match jwt::header_kid(token) {
            Ok(kid) => kid,
            Err(rejection) => return refuse(rejection.reason(), &json!({})),
        };
        let Some(key) = self.store.jwt_key(&kid).await? else {
            return refuse(jwt::Rejection::UnknownKey.reason(), &json!({}));
        };
        let mut params = json!({ "kid": kid });
        let now = OffsetDateTime::now_utc();
        if key
            .retired_at
            .is_some_and(|at| at + retired_key_grace() <= now)
        {
            return refuse(jwt::Rejection::UnknownKey.reason(), &params);
        }
        let issuer = self.oauth_issuer().await?;
        let claims = match jwt::verify(token, &key.public_key, &issuer, DEFAULT_AUDIENCE) {
            Ok(claims) => claims,
            Err(rejection) => return refuse(rejection.reason(), &params),
        };
        let leeway = time::Duration::seconds(LEEWAY_SECS as i64);
        if key
            .retired_at
            .is_some_and(|at| from_unix(claims.iat) > at + leeway)
        {
            return refuse(
                "the JWT was issued after its signing key was retired",
                &params,
            );
        }
        params["jti"] = json!(claims.jti);
        let (Ok(client_id), Ok(principal_id), Ok(scope)) = (
            claims.client_id.parse::<ClientId>(),
            claims.sub.parse::<PrincipalId>(),
            claims.scope.parse::<TokenScope>(),
        ) else {
            return refuse(jwt::Rejection::Malformed.reason(), &params);
        };
        params["client_id"] = json!(client_id.to_string());
        let Some(client) = self.store.oauth_client(client_id).await? else {
            return refuse("the JWT's OAuth client no longer exists", &params);
        };
        if client.principal_id != principal_id {
            return refuse(jwt::Rejection::Malformed.reason(), &params);
        }
        if client.revoked_at.is_some() {
            return refuse("the JWT's OAuth client was revoked", &params);
        }
        if now >= client.expires_at {
            return refuse("the JWT's OAuth client expired", &params);
        }
        let Some(principal) = self.store.principal(principal_id).await? else {
            return refuse("the token's principal no longer exists", &params);
        };
        if principal.disabled {
            return refuse("the principal is disabled", &params);
        }
        Ok(Ok(VerifiedJwt {
            principal,
            info: JwtInfo {
                client_id,
                jti: claims.jti,
                scope,
                kid,
                issued_at: from_unix(claims.iat),
                expires_at: from_unix(claims.exp),
            },
            params,
        }))
    }
}

#[cfg(test)]
mod tests;
