//! Citadel's metadata store: one set of repository functions over SQLite (the default, a file in
//! the Citadel home) or PostgreSQL, through sqlx's `Any` driver and portable SQL.
//!
//! The invariant this crate makes structural: **no state changes without its audit event in the
//! same transaction.** Every write goes through a [`WriteTx`] from [`Store::begin_write`], whose
//! only way to commit is [`WriteTx::commit`], which appends the audit event to the hash chain
//! first. Dropping a `WriteTx` rolls it back. Standalone events (denied attempts, failed
//! authentication, reads) go through [`Store::audit`] or the group-commit [`AuditWriter`].

pub mod alerts;
pub mod artifacts;
pub mod audit;
pub mod audit_read;
pub mod audit_writer;
pub mod bench;
mod codec;
pub mod datasets;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod grants;
pub mod inference_log;
pub mod keys;
pub mod meta;
pub mod models;
pub mod oauth;
pub mod principals;
pub mod registry;
pub mod runs;
pub mod secrets;
pub mod securables;
pub mod tokens;
pub mod tx;

pub use alerts::{AlertRecord, InferenceSample, SilenceRecord};
pub use artifacts::ArtifactRecord;
pub use audit_read::AuditFilter;
pub use audit_writer::AuditWriter;
pub use bench::bench_audit_append;
pub use datasets::{DatasetRecord, DatasetVersionRecord, ErasureRecord, WaiverRecord};
pub use db::{sqlite_url, Backend, Store, StoreOptions};
pub use endpoints::{EndpointChange, EndpointRecord, EndpointRevisionRecord};
pub use error::StoreError;
pub use grants::GrantRecord;
pub use inference_log::{InferenceCursor, InferenceLogRecord, StoredInference};
pub use keys::{KekRecord, ACTIVE_KEK_META};
pub use models::{ModelFileRecord, ModelVersionRecord, VersionRegistry};
pub use oauth::{
    ActiveJwtKey, ClientId, JwtKeyRecord, NewOAuthClient, OAuthClientCredential, OAuthClientRecord,
    SealedJwtKey,
};
pub use registry::{AliasRecord, ApprovalRecord, TagRecord};
pub use runs::{MetricPoint, RunArtifactRecord, RunRecord};
pub use secrets::{SecretVersionMeta, SecretVersionRecord};
pub use securables::{NewSecurable, Securable, METASTORE_FULL_NAME};
pub use tokens::{NewToken, TokenRecord};
pub use tx::WriteTx;

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
