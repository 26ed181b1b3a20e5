//! The process-wide registry of secret values loaded so far, masked wherever they reappear.

use std::sync::RwLock;

use zeroize::Zeroizing;

use crate::REDACTED;

/// Values shorter than this are not registered: masking every `abc` in every log line would hide
/// more than it protects, and a secret that short is not a secret worth the name.
pub const MIN_SECRET_LEN: usize = 6;

static SECRETS: RwLock<Vec<Zeroizing<String>>> = RwLock::new(Vec::new());

/// Remembers `value` so that [`crate::redact`] masks it from now on in this process. Values are
/// held zeroized-on-drop and never printed. Registering the same value twice is harmless.
pub fn register_secret(value: &str) {
    if value.chars().count() < MIN_SECRET_LEN {
        return;
    }
    // A poisoned lock only means another thread panicked while registering; the list is still a
    // list of values, so keep using it rather than stop redacting.
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|known| known.as_str() == value) {
        secrets.push(Zeroizing::new(value.to_owned()));
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with registered values masked, or `None` when none occurs.
pub(crate) fn mask(text: &str) -> Option<String> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return None;
    }
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_not_registered() {
        register_secret("abc");
        assert!(mask("abc abc").is_none());
    }

    #[test]
    fn overlapping_secrets_are_masked_whole() {
        register_secret("overlap-secret");
        register_secret("overlap-secret-longer-one");
        assert_eq!(
            mask("x overlap-secret-longer-one y overlap-secret").as_deref(),
            Some("x [REDACTED] y [REDACTED]")
        );
    }
}
