//! OAuth 2.0 client credentials and JWT signing keys. A client's secret is stored only as its
//! SHA-256 hash, which leaves this module only inside [`OAuthClientCredential`] (whose `Debug`
//! omits it). A signing key's private half arrives already sealed by the service layer and is
//! erased when the key is retired; public halves stay for verification and the JWKS.

use std::fmt;
use std::str::FromStr;

use citadel_core::{PrincipalId, TokenScope};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{
    corrupt, now_text, opt_time_col, parse_col, parse_opt_col, time_col, time_text,
};
use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::{Result, Store};

const CLIENT_COLUMNS: &str = "id, principal_id, scope, created_at, created_by, expires_at, \
     last_used_at, revoked_at";

/// Identifies an OAuth client: the public `client_id` of the client-credentials grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(Uuid);

impl ClientId {
    /// A new, time-ordered client id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for ClientId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ClientId {
    type Err = citadel_core::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| citadel_core::Error::InvalidId {
                what: "OAuth client",
                value: s.chars().take(64).collect(),
            })
    }
}

/// A client to store.
#[derive(Clone)]
pub struct NewOAuthClient {
    /// The service principal the client acts as.
    pub principal_id: PrincipalId,
    /// SHA-256 (hex) of the client secret.
    pub secret_hash: String,
    /// The widest scope its tokens may carry.
    pub scope: TokenScope,
    /// When the credentials stop working.
    pub expires_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<PrincipalId>,
}

impl fmt::Debug for NewOAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOAuthClient")
            .field("principal_id", &self.principal_id)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A stored client (without its secret hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientRecord {
    pub id: ClientId,
    pub principal_id: PrincipalId,
    pub scope: TokenScope,
    pub created_at: OffsetDateTime,
    pub created_by: Option<PrincipalId>,
    pub expires_at: OffsetDateTime,
    /// Last token issued to it.
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl OAuthClientRecord {
    /// Whether the client is neither revoked nor expired at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A client with the hash its presented secret is compared against.
#[derive(Clone)]
pub struct OAuthClientCredential {
    pub record: OAuthClientRecord,
    /// SHA-256 (hex) of the client secret.
    pub secret_hash: String,
}

impl fmt::Debug for OAuthClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientCredential")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// A JWT signing key's public half and life span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKeyRecord {
    /// Key id (the `kid` JOSE header).
    pub kid: String,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// When a rotation replaced it (`None` while it signs).
    pub retired_at: Option<OffsetDateTime>,
}

/// A signing key's private half, sealed: `nonce ‖ ciphertext ‖ tag` under a data key wrapped by
/// the key-encryption key `kek_id`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedJwtKey {
    pub private_key: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub kek_id: String,
}

impl fmt::Debug for SealedJwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedJwtKey")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// The active signing key, with its sealed private half.
#[derive(Debug, Clone)]
pub struct ActiveJwtKey {
    pub key: JwtKeyRecord,
    pub sealed: SealedJwtKey,
}

impl WriteTx {
    /// Stores a new client.
    pub async fn create_oauth_client(
        &mut self,
        client: &NewOAuthClient,
    ) -> Result<OAuthClientRecord> {
        let id = ClientId::new();
        sqlx::query(
            "INSERT INTO oauth_clients (id, principal_id, secret_hash, scope, created_at, \
             created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(client.principal_id.to_string())
        .bind(&client.secret_hash)
        .bind(client.scope.as_str())
        .bind(now_text()?)
        .bind(client.created_by.map(|p| p.to_string()))
        .bind(time_text(client.expires_at)?)
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "OAuth client", &id.to_string()))?;
        fetch_client(self.conn(), id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "OAuth client",
                name: id.to_string(),
            })
    }

    /// A client and its secret hash, read inside this transaction (so a revocation cannot slip
    /// in between the check and the issuance).
    pub async fn oauth_client_credential(
        &mut self,
        id: ClientId,
    ) -> Result<Option<OAuthClientCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS}, secret_hash FROM oauth_clients WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.conn())
        .await?;
        row.map(|row| {
            Ok(OAuthClientCredential {
                record: client_from_row(&row)?,
                secret_hash: row.try_get("secret_hash")?,
            })
        })
        .transpose()
    }

    /// Revokes a client now; `false` when it does not exist or was already revoked.
    pub async fn revoke_oauth_client(&mut self, id: ClientId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_text()?)
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that a token was issued to the client now.
    pub async fn touch_oauth_client(&mut self, id: ClientId) -> Result<()> {
        sqlx::query("UPDATE oauth_clients SET last_used_at = $1 WHERE id = $2")
            .bind(now_text()?)
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The signing key in use, if any, read inside this transaction.
    pub async fn active_jwt_key(&mut self) -> Result<Option<ActiveJwtKey>> {
        let row = sqlx::query(
            "SELECT kid, public_key, private_key, wrapped_key, kek_id, created_at, retired_at \
             FROM jwt_signing_keys WHERE retired_at IS NULL",
        )
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = jwt_key_from_row(&row)?;
        let sealed = SealedJwtKey {
            private_key: required(&row, "private_key")?,
            wrapped_key: required(&row, "wrapped_key")?,
            kek_id: required(&row, "kek_id")?,
        };
        Ok(Some(ActiveJwtKey { key, sealed }))
    }

    /// Retires the active signing key (if any) and erases its private half; returns its kid.
    pub async fn retire_jwt_key(&mut self) -> Result<Option<String>> {
        let active = sqlx::query("SELECT kid FROM jwt_signing_keys WHERE retired_at IS NULL")
            .fetch_optional(self.conn())
            .await?;
        let Some(active) = active else {
            return Ok(None);
        };
        let kid: String = active.try_get("kid")?;
        sqlx::query(
            "UPDATE jwt_signing_keys SET retired_at = $1, private_key = NULL, \
             wrapped_key = NULL, kek_id = NULL WHERE kid = $2",
        )
        .bind(now_text()?)
        .bind(&kid)
        .execute(self.conn())
        .await?;
        Ok(Some(kid))
    }

    /// Stores a new active signing key; retire the previous one first.
    pub async fn insert_jwt_key(
        &mut self,
        kid: &str,
        public_key: &[u8],
        sealed: &SealedJwtKey,
    ) -> Result<JwtKeyRecord> {
        sqlx::query(
            "INSERT INTO jwt_signing_keys (kid, public_key, private_key, wrapped_key, kek_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(kid)
        .bind(public_key.to_vec())
        .bind(sealed.private_key.clone())
        .bind(sealed.wrapped_key.clone())
        .bind(&sealed.kek_id)
        .bind(now_text()?)
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "JWT signing key", kid))?;
        fetch_jwt_key(self.conn(), kid)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "JWT signing key",
                name: kid.to_owned(),
            })
    }
}

impl Store {
    /// A client by id (whatever its state; check [`OAuthClientRecord::is_active`]).
    pub async fn oauth_client(&self, id: ClientId) -> Result<Option<OAuthClientRecord>> {
        fetch_client(self.pool(), id).await
    }

    /// Clients (of one principal when given), oldest first.
    pub async fn list_oauth_clients(
        &self,
        principal: Option<PrincipalId>,
    ) -> Result<Vec<OAuthClientRecord>> {
        let rows = match principal {
            Some(p) => {
                sqlx::query(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE principal_id = $1 \
                     ORDER BY created_at, id"
                ))
                .bind(p.to_string())
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, id"
                ))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(client_from_row).collect()
    }

    /// A signing key's public half by kid.
    pub async fn jwt_key(&self, kid: &str) -> Result<Option<JwtKeyRecord>> {
        fetch_jwt_key(self.pool(), kid).await
    }

    /// The signing keys still in use or retired after `retired_after`, newest first.
    pub async fn jwt_keys_since(&self, retired_after: OffsetDateTime) -> Result<Vec<JwtKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, public_key, created_at, retired_at FROM jwt_signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid",
        )
        .bind(time_text(retired_after)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(jwt_key_from_row).collect()
    }
}

async fn fetch_client<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    id: ClientId,
) -> Result<Option<OAuthClientRecord>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(client_from_row).transpose()
}

async fn fetch_jwt_key<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    kid: &str,
) -> Result<Option<JwtKeyRecord>> {
    let row = sqlx::query(
        "SELECT kid, public_key, created_at, retired_at FROM jwt_signing_keys WHERE kid = $1",
    )
    .bind(kid)
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(jwt_key_from_row).transpose()
}

fn client_from_row(row: &AnyRow) -> Result<OAuthClientRecord> {
    Ok(OAuthClientRecord {
        id: parse_col(row, "id")?,
        principal_id: parse_col(row, "principal_id")?,
        scope: parse_col(row, "scope")?,
        created_at: time_col(row, "created_at")?,
        created_by: parse_opt_col(row, "created_by")?,
        expires_at: time_col(row, "expires_at")?,
        last_used_at: opt_time_col(row, "last_used_at")?,
        revoked_at: opt_time_col(row, "revoked_at")?,
    })
}

fn jwt_key_from_row(row: &AnyRow) -> Result<JwtKeyRecord> {
    Ok(JwtKeyRecord {
        kid: row.try_get("kid")?,
        public_key: row.try_get("public_key")?,
        created_at: time_col(row, "created_at")?,
        retired_at: opt_time_col(row, "retired_at")?,
    })
}

/// A column the active key always has (the table's checks say so).
fn required<T>(row: &AnyRow, col: &'static str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    let value: Option<T> = row.try_get(col)?;
    value.ok_or_else(|| corrupt(col, "NULL"))
}
