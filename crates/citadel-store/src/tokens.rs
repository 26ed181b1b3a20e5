//! Personal access tokens: only their SHA-256 hash is stored; lookups go by hash. Token records
//! never carry the hash back out, so it cannot leak through `Debug` or a listing.

use std::fmt;

use citadel_core::{PrincipalId, TokenId, TokenScope};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;

use crate::codec::{now_text, opt_time_col, parse_col, time_col, time_text};
use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::{Result, Store};

const TOKEN_SELECT: &str = "SELECT id, principal_id, name, scope, created_at, expires_at, \
     last_used_at, revoked_at FROM tokens";

/// A token to store.
#[derive(Clone)]
pub struct NewToken {
    /// Whose token it is.
    pub principal_id: PrincipalId,
    /// A label for listings.
    pub name: String,
    /// SHA-256 (hex) of the token text.
    pub token_hash: String,
    /// `control` or `invoke`.
    pub scope: TokenScope,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("principal_id", &self.principal_id)
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A stored token (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id.
    pub id: TokenId,
    /// Whose token it is.
    pub principal_id: PrincipalId,
    /// Label.
    pub name: String,
    /// Scope.
    pub scope: TokenScope,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Expiry time.
    pub expires_at: OffsetDateTime,
    /// Last successful use.
    pub last_used_at: Option<OffsetDateTime>,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// Whether the token is neither revoked nor expired at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

impl WriteTx {
    /// Stores a new token.
    pub async fn create_token(&mut self, token: &NewToken) -> Result<TokenRecord> {
        let id = TokenId::new();
        sqlx::query(
            "INSERT INTO tokens (id, principal_id, name, token_hash, scope, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(token.principal_id.to_string())
        .bind(&token.name)
        .bind(&token.token_hash)
        .bind(token.scope.as_str())
        .bind(now_text()?)
        .bind(time_text(token.expires_at)?)
        .execute(self.conn())
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, "token", &token.name))?;
        fetch_token(self.conn(), "id", &id.to_string())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "token",
                name: id.to_string(),
            })
    }

    /// Revokes a token now; `false` when it does not exist or was already revoked.
    pub async fn revoke_token(&mut self, id: TokenId) -> Result<bool> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_text()?)
                .bind(id.to_string())
                .execute(self.conn())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a successful use of the token now.
    pub async fn touch_token(&mut self, id: TokenId) -> Result<()> {
        sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_text()?)
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// The token whose hash is `token_hash` (whatever its state; check [`TokenRecord::is_active`]).
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        fetch_token(self.pool(), "token_hash", token_hash).await
    }

    /// A token by id.
    pub async fn token(&self, id: TokenId) -> Result<Option<TokenRecord>> {
        fetch_token(self.pool(), "id", &id.to_string()).await
    }

    /// Tokens (of one principal when given), oldest first.
    pub async fn list_tokens(&self, principal: Option<PrincipalId>) -> Result<Vec<TokenRecord>> {
        let rows = match principal {
            Some(p) => {
                sqlx::query(&format!(
                    "{TOKEN_SELECT} WHERE principal_id = $1 ORDER BY created_at, id"
                ))
                .bind(p.to_string())
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!("{TOKEN_SELECT} ORDER BY created_at, id"))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(token_from_row).collect()
    }
}

async fn fetch_token<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    column: &'static str,
    value: &str,
) -> Result<Option<TokenRecord>> {
    let sql = format!("{TOKEN_SELECT} WHERE {column} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(token_from_row).transpose()
}

fn token_from_row(row: &AnyRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: parse_col(row, "id")?,
        principal_id: parse_col(row, "principal_id")?,
        name: row.try_get("name")?,
        scope: parse_col(row, "scope")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
        last_used_at: opt_time_col(row, "last_used_at")?,
        revoked_at: opt_time_col(row, "revoked_at")?,
    })
}
