//! citadel-redact: masks secrets in text before it leaves the process.
//!
//! Two things are masked wherever they appear:
//! - every secret value this process has loaded (the vault calls [`register_secret`] each time it
//!   decrypts one), so a value echoed back by a failing library call or a stray `format!` is caught;
//! - well-known credential shapes, loaded or not: Citadel personal access tokens (`cit_pat_…`)
//!   and OAuth client secrets (`cit_cs_…`), Hugging Face tokens (`hf_…`), GitHub tokens, AWS
//!   access key ids, JWTs (OAuth access tokens among them), PEM private-key blocks, bearer and
//!   basic credentials in `Authorization` headers, API-key headers, passwords in URLs
//!   (`https://user:pass@host`) and credentials in query strings (`?token=…`).
//!
//! Logs, error messages, CLI output and audit parameters all pass through [`redact`]. The crate is
//! pure and small so that the lowest layers (the audit log) can depend on it.

mod patterns;
mod registry;

use std::borrow::Cow;
use std::fmt;

pub use registry::{register_secret, MIN_SECRET_LEN};

/// What replaces a masked value.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every registered secret and credential-shaped substring replaced by [`REDACTED`].
/// Borrows when nothing was masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let shaped = patterns::mask(text);
    match registry::mask(&shaped) {
        Some(masked) => Cow::Owned(masked),
        None => shaped,
    }
}

/// Whether [`redact`] would change `text`.
pub fn needs_redaction(text: &str) -> bool {
    matches!(redact(text), Cow::Owned(_))
}

/// Displays its inner value through [`redact`]: for URLs, commands and messages that may carry a
/// credential, e.g. `tracing::info!(url = %Redacted(&url))`.
#[derive(Debug, Clone, Copy)]
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_shapes_are_masked_together() {
        register_secret("canary-lib-7f3a9c2e");
        let text = "failed with canary-lib-7f3a9c2e and cit_pat_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg";
        assert_eq!(redact(text), "failed with [REDACTED] and [REDACTED]");
        assert!(needs_redaction("x canary-lib-7f3a9c2e"));
        assert!(!needs_redaction("nothing to see"));
        assert!(matches!(redact("nothing to see"), Cow::Borrowed(_)));
    }

    #[test]
    fn redacted_wrapper_masks_display() {
        let url = "https://bob:hunter2secret@example.com/repo";
        assert_eq!(
            Redacted(url).to_string(),
            "https://[REDACTED]@example.com/repo"
        );
    }
}
