//! The crate's single error type: every fallible engine call returns [`Result`].

use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file or folder the engine needs is not there.
    #[error("{what} not found: {path}")]
    Missing {
        /// What was expected (for example "config.json").
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A model configuration is not supported or is inconsistent.
    #[error("unsupported model configuration: {0}")]
    Config(String),
    /// A weight is missing or has the wrong shape.
    #[error("bad weights: {0}")]
    Weights(String),
    /// A PEFT adapter is malformed or does not fit the model.
    #[error("bad adapter: {0}")]
    Adapter(String),
    /// The tokenizer failed to load, encode or decode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// A caller passed an argument the engine cannot use.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A training dataset is malformed or unusable.
    #[error("bad training data: {0}")]
    Data(String),
    /// Training diverged or cannot proceed.
    #[error("training failed: {0}")]
    Training(String),
    /// A training checkpoint is malformed or does not fit the run being resumed.
    #[error("bad checkpoint: {0}")]
    Checkpoint(String),
}

/// Result alias used throughout the engine.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Reads a file as text, mapping a missing file to [`Error::Missing`].
pub(crate) fn read_text(path: &std::path::Path, what: &'static str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                what,
                path: path.to_path_buf(),
            }
        } else {
            Error::io(path, source)
        }
    })
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &'static str,
) -> Result<T> {
    let text = read_text(path, what)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}
