//! The service layer's error: what went wrong, in words that say how to fix it, with a stable
//! [`ErrorKind`] front ends map to exit codes and HTTP statuses.

use std::path::PathBuf;

use citadel_core::DenyReason;
use citadel_hub::HubError;

/// Broad classes of failure, stable for front ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No valid credential: missing, unknown, revoked or expired token.
    Unauthenticated,
    /// Authenticated, but not allowed.
    PermissionDenied,
    /// Bad input: names, arguments, config.
    InvalidInput,
    /// The named thing does not exist.
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// Stored bytes or the audit chain failed verification.
    Integrity,
    /// Anything else: IO, database, crypto.
    Internal,
}

/// A service-layer failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    #[error("permission denied: {operation}: {reason}")]
    PermissionDenied {
        operation: &'static str,
        reason: DenyReason,
    },
    #[error("permission denied: {0}")]
    Forbidden(String),
    #[error(transparent)]
    InvalidName(#[from] citadel_core::Error),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{what} {name:?} does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{what} {name:?} already exists")]
    AlreadyExists { what: &'static str, name: String },
    #[error(
        "{} is already a Citadel home; `citadel init` changes nothing there. \
         Use another --home, or remove that folder to start over",
        .0.display()
    )]
    AlreadyInitialized(PathBuf),
    #[error(
        "{} is not a Citadel home (no citadel.toml); run `citadel init` first or pass --home",
        .0.display()
    )]
    NotInitialized(PathBuf),
    #[error("{} is readable by others (mode {mode:03o}); run `chmod 600 {}`", path.display(), path.display())]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("cannot {action} {}: {source}", path.display())]
    Home {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("the audit log failed verification at seq {seq}")]
    AuditTampered { seq: u64 },
    #[error(
        "the key-encryption key was rotated by another process while this operation ran; \
         nothing was stored: run it again"
    )]
    KeyRotated,
    #[error(transparent)]
    Vault(#[from] citadel_vault::Error),
    #[error(transparent)]
    Data(#[from] citadel_data::DataError),
    #[error(transparent)]
    Pii(#[from] citadel_pii::PiiError),
    #[error(transparent)]
    Hub(#[from] citadel_hub::HubError),
    #[error("{model} failed verification: {problems}")]
    ModelTampered { model: String, problems: String },
    #[error("cryptography failure: {0}")]
    Crypto(&'static str),
    #[error(transparent)]
    Registry(#[from] citadel_registry::Error),
    #[error(transparent)]
    Engine(#[from] citadel_engine::Error),
    #[error(transparent)]
    Store(#[from] citadel_store::StoreError),
    #[error(transparent)]
    Blob(#[from] citadel_blob::Error),
    #[error(transparent)]
    Audit(#[from] citadel_audit::AuditError),
}

impl Error {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::PermissionDenied { .. }
            | Self::Forbidden(_)
            | Self::InsecurePermissions { .. } => ErrorKind::PermissionDenied,
            Self::InvalidName(_)
            | Self::InvalidInput(_)
            | Self::Config { .. }
            | Self::Data(_)
            | Self::Pii(_)
            | Self::Registry(_)
            | Self::Engine(citadel_engine::Error::InvalidArgument(_))
            | Self::Hub(
                HubError::InvalidInput(_)
                | HubError::Refused { .. }
                | HubError::Dangerous { .. }
                | HubError::Status { .. },
            )
            | Self::NotInitialized(_) => ErrorKind::InvalidInput,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyExists { .. } | Self::AlreadyInitialized(_) => ErrorKind::AlreadyExists,
            Self::Blob(citadel_blob::Error::Integrity { .. })
            | Self::ModelTampered { .. }
            | Self::Hub(
                HubError::Integrity { .. } | HubError::Signature(_) | HubError::Redirect { .. },
            )
            | Self::AuditTampered { .. }
            | Self::Vault(citadel_vault::Error::Tampered { .. }) => ErrorKind::Integrity,
            Self::Vault(
                citadel_vault::Error::InvalidSecret(_)
                | citadel_vault::Error::Rotation(_)
                | citadel_vault::Error::MalformedKey { .. },
            ) => ErrorKind::InvalidInput,
            Self::Vault(citadel_vault::Error::InsecurePermissions { .. }) => {
                ErrorKind::PermissionDenied
            }
            Self::Home { .. }
            | Self::Crypto(_)
            | Self::KeyRotated
            | Self::Vault(_)
            | Self::Hub(_)
            | Self::Engine(_)
            | Self::Store(_)
            | Self::Blob(_)
            | Self::Audit(_) => ErrorKind::Internal,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
