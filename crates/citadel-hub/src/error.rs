//! The crate's error type. Messages name the file or URL at fault and never carry a credential.

use std::io;
use std::path::PathBuf;

/// Why an acquisition, scan or signature check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// A repository name, path, URL or option is unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// The file policy refuses a file (pickle, code, remote code, traversal, collision...).
    #[error("refused {path}: {reason}")]
    Refused { path: String, reason: String },
    /// Bytes differ from what the hub or the manifest promised (size, hash, commit).
    #[error("{path}: {detail}")]
    Integrity { path: String, detail: String },
    /// A scanner found dangerous content.
    #[error("{path} is dangerous: {detail}")]
    Dangerous { path: String, detail: String },
    /// The hub answered with an error status.
    #[error("{url}: the hub answered {status}{hint}")]
    Status {
        url: String,
        status: u16,
        /// How to fix it, starting with "; " (or empty).
        hint: String,
    },
    /// A redirect the client refuses to follow.
    #[error("refused a redirect from {from} to {to}: {reason}")]
    Redirect {
        from: String,
        to: String,
        reason: String,
    },
    /// The connection failed or broke and could not be resumed.
    #[error("{url}: {detail}")]
    Network { url: String, detail: String },
    /// A signature or manifest is malformed or does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Recovers a `HubError` that travelled inside an `io::Error` (a verifying reader reports a
    /// hash mismatch that way to whoever consumes the stream); any other I/O error becomes
    /// [`HubError::Network`] for `url`.
    pub fn from_io(error: io::Error, url: &str) -> Self {
        if error
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<HubError>().is_some())
        {
            if let Some(inner) = error.into_inner() {
                if let Ok(hub) = inner.downcast::<HubError>() {
                    return *hub;
                }
            }
            return Self::Network {
                url: url.to_owned(),
                detail: "stream failed".to_owned(),
            };
        }
        Self::Network {
            url: url.to_owned(),
            detail: error.to_string(),
        }
    }

    /// Wraps this error in an `io::Error`, to travel through a reader; [`HubError::from_io`]
    /// gets it back.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}
