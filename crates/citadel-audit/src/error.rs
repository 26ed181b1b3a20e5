//! The one error type of `citadel-audit`.

/// What can go wrong while signing, parsing or exporting audit data.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The Ed25519 key material could not be parsed or generated (the key itself is never shown).
    #[error("invalid Ed25519 signing key: {0}")]
    InvalidKey(&'static str),
    /// A public key was not 32 bytes of hex.
    #[error("invalid Ed25519 public key: expected 64 hex characters")]
    InvalidPublicKey,
    /// The system clock could not be formatted as RFC 3339.
    #[error("cannot format audit time")]
    Time(#[from] time::error::Format),
    /// Writing an export failed.
    #[error("cannot write audit export")]
    Io(#[from] std::io::Error),
    /// An export line was not valid JSON of the expected shape.
    #[error("invalid audit export line {line}: {source}")]
    Parse {
        /// 1-based line number in the export.
        line: usize,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// An export did not start with its header line.
    #[error("audit export has no header line with the public key")]
    MissingHeader,
}
