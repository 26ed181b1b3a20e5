//! The vault's error type. Messages name keys by their public ids and secrets by their names only.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file could not be read, written or renamed.
    #[error("cannot {action} key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A key file or key variable is readable by others.
    #[error("{} is readable by others (mode {mode:03o}); run `chmod 600 {}`", path.display(), path.display())]
    InsecurePermissions { path: PathBuf, mode: u32 },
    /// Key material is malformed (not base64 of 32 bytes).
    #[error("{source_name} is not a key-encryption key: expected base64 of 32 random bytes (make one with `citadel keys generate`)")]
    MalformedKey { source_name: String },
    /// The provider cannot rotate on its own.
    #[error("{0}")]
    Rotation(String),
    /// A secret name or value was refused.
    #[error("{0}")]
    InvalidSecret(String),
    /// A sealed secret failed to decrypt: tampered, moved to another name, or wrong key.
    #[error("secret {name} version {version} failed to decrypt: it was tampered with or moved from another name")]
    Tampered { name: String, version: u32 },
    /// Key wrapping or encryption failed.
    #[error(transparent)]
    Crypto(#[from] citadel_blob::Error),
}
