//! The crate's error type. Messages never contain key material: keys appear only as their public ids.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stored bytes, or the reference describing them, failed a cryptographic or structural check.
    #[error("artifact integrity check failed: {what}")]
    Integrity {
        /// Which check failed.
        what: IntegrityFailure,
    },
    /// No artifact is stored at the reference's location.
    #[error("artifact not found at {location}")]
    NotFound {
        /// The object key that was looked up.
        location: String,
    },
    /// The data key is wrapped by a key-encryption key this process does not hold.
    #[error(
        "the data key is wrapped by key-encryption key {wrapped_by}, which is not among the keys \
         held ({offered}); restore that key or finish the key rotation"
    )]
    KekMismatch {
        /// Key id recorded in the reference.
        wrapped_by: String,
        /// Ids of the key-encryption keys held.
        offered: String,
    },
    /// Unwrapping a data key failed: wrong key-encryption key, wrong binding, or a tampered wrapped key.
    #[error("cannot unwrap the data key: wrong key-encryption key or tampered wrapped key")]
    Unwrap,
    /// A key had the wrong length or the system random generator failed.
    #[error("key material error: {0}")]
    Key(&'static str),
    /// An artifact reference could not be interpreted (unknown format version, bad digest, bad encoding).
    #[error("invalid artifact reference: {0}")]
    InvalidRef(String),
    /// The store configuration is unusable.
    #[error("invalid artifact store configuration: {0}")]
    Config(String),
    /// A local file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the plaintext source or writing the plaintext destination failed.
    #[error("stream I/O error: {0}")]
    Stream(#[source] std::io::Error),
    /// The object store backend reported an error.
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A pipeline worker stopped unexpectedly (a bug or a panic in a worker thread).
    #[error("artifact pipeline worker failed: {0}")]
    Worker(String),
}

/// The integrity check that failed, for [`Error::Integrity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityFailure {
    /// The header is malformed, of another format, or does not match the reference.
    #[error("header invalid: {0}")]
    HeaderInvalid(&'static str),
    /// A chunk did not authenticate (flipped bit, dropped, reordered or duplicated chunk, wrong key).
    #[error("chunk authentication failed at index {index}")]
    ChunkAuthentication {
        /// Zero-based chunk index.
        index: u64,
    },
    /// The stored object ended before the last chunk.
    #[error("truncated: object ended after {got} bytes, expected {expected}")]
    Truncated {
        /// Bytes actually present.
        got: u64,
        /// Bytes the reference implies.
        expected: u64,
    },
    /// The stored object continues after its final chunk.
    #[error("unexpected trailing data after the final chunk")]
    TrailingData,
    /// The SHA-256 of the decrypted plaintext differs from the reference's digest.
    #[error("digest mismatch: expected {expected}, computed {actual}")]
    DigestMismatch {
        /// Digest from the reference.
        expected: String,
        /// Digest of the bytes read.
        actual: String,
    },
}

impl From<IntegrityFailure> for Error {
    fn from(what: IntegrityFailure) -> Self {
        Error::Integrity { what }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Converts this error into an `std::io::Error` (for `AsyncRead` adapters), keeping it as the source.
    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match &self {
            Error::Integrity { .. } => std::io::ErrorKind::InvalidData,
            Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}
