//! The crate's one error type.

/// What can go wrong in analysis set-up, anonymization, decryption or the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    /// A name that is not one of [`crate::EntityType::ALL`].
    #[error("unknown entity type {0:?} (expected one of EMAIL_ADDRESS, PHONE_NUMBER, US_SSN, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, MAC_ADDRESS, URL, DATE_OF_BIRTH, PASSPORT, DRIVER_LICENSE, CREDENTIAL, PERSON)")]
    UnknownEntityType(String),
    /// A built-in pattern failed to compile (a bug, reported rather than panicking).
    #[error("internal error: built-in pattern {name} does not compile")]
    Pattern {
        name: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A finding handed to the anonymizer lies outside the text, is empty, or overlaps another.
    #[error("finding {start}..{end} does not fit the text ({chars} characters) or overlaps another finding")]
    InvalidSpan {
        start: usize,
        end: usize,
        chars: usize,
    },
    /// An operator needs a secret that the anonymizer was not given.
    #[error("the {operator} operator needs {secret}, which was not configured")]
    MissingSecret {
        operator: &'static str,
        secret: &'static str,
    },
    /// An encryption key that is not 32 bytes long.
    #[error("an encryption key must be 32 bytes, got {0}")]
    KeyLength(usize),
    /// Encryption failed (the system random source or the cipher refused).
    #[error("encryption failed")]
    Encrypt,
    /// A token that is not `ENC[…]`, was made with another key, or was altered.
    #[error("cannot decrypt: not a valid token for this key (wrong key, altered or truncated)")]
    Decrypt,
    /// A benchmark setting that cannot work (no threads, an empty corpus).
    #[error("invalid benchmark setting: {0}")]
    Bench(String),
}
