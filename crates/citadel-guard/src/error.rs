//! The crate's one error type: what is wrong with a guardrail policy.

/// Why a [`crate::GuardrailPolicy`] cannot be used. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A `pii_entities` name the PII analyzer does not know.
    #[error("unknown PII entity {0:?} in pii_entities (use one of EMAIL_ADDRESS, PHONE_NUMBER, US_SSN, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, MAC_ADDRESS, URL, DATE_OF_BIRTH, PASSPORT, DRIVER_LICENSE, CREDENTIAL, PERSON, or leave the list empty for all)")]
    UnknownEntity(String),
    /// More forbidden keywords than allowed.
    #[error("{count} forbidden keywords is too many (at most {max}); keep the list to the words that matter")]
    TooManyKeywords { count: usize, max: usize },
    /// A forbidden keyword that is empty (or only whitespace) or too long.
    #[error("forbidden keyword number {index} has {chars} characters; each keyword must have 1 to {max} non-blank characters")]
    KeywordLength {
        index: usize,
        chars: usize,
        max: usize,
    },
    /// A forbidden keyword without a letter or digit: punctuation separates words, so it
    /// could never match.
    #[error("forbidden keyword number {index} has no letter or digit; keywords are matched as whole words, punctuation only separates them")]
    KeywordWithoutWord { index: usize },
    /// `max_input_tokens = 0` would refuse every prompt.
    #[error("max_input_tokens must be at least 1 (remove it to allow any input size)")]
    ZeroMaxInputTokens,
    /// The PII analyzer or the keyword automaton could not be built (a bug, reported rather than
    /// panicking).
    #[error("internal error: cannot build the {what}: {reason}")]
    Build { what: &'static str, reason: String },
}
