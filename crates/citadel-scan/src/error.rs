//! The crate's error type.

use std::path::PathBuf;

/// Why a scan could not run (findings are results, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A rule file, SBOM, advisory or option is unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// A rule's regular expression does not compile.
    #[error("rule {rule}: {detail}")]
    Rule { rule: String, detail: String },
    /// Reading the git history failed.
    #[error("git: {0}")]
    Git(String),
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = ScanError> = std::result::Result<T, E>;

impl ScanError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
