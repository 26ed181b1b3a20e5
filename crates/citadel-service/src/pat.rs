//! Personal access tokens: `cit_pat_` followed by 32 random bytes in base62. Only the SHA-256 of a
//! token is ever stored; the token itself is shown once.

use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Every Citadel personal access token starts with this (secret scanners key on it).
pub const PREFIX: &str = "cit_pat_";
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 32 bytes need 43 base62 digits (62^43 > 2^256).
const DIGITS: usize = 43;

/// Makes a new random token.
pub fn generate() -> Result<SecretString> {
    generate_with_prefix(PREFIX)
}

/// `prefix` followed by 32 random bytes in base62: the shape of every Citadel credential secret.
pub(crate) fn generate_with_prefix(prefix: &str) -> Result<SecretString> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Crypto("the system random generator failed"))?;
    let token = format!("{prefix}{}", base62(&bytes));
    bytes.fill(0);
    Ok(SecretString::from(token))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn hash(token: &SecretString) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.expose_secret().as_bytes(),
    ))
}

/// Whether a string has the shape of a Citadel token (prefix and 43 base62 digits).
pub fn is_well_formed(token: &str) -> bool {
    has_shape(PREFIX, token)
}

/// Whether `secret` is `prefix` followed by 43 base62 digits.
pub(crate) fn has_shape(prefix: &str, secret: &str) -> bool {
    secret.strip_prefix(prefix).is_some_and(|digits| {
        digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Big-endian base62, left-padded to a fixed width so every token has the same length.
fn base62(bytes: &[u8; 32]) -> String {
    let mut number = *bytes;
    let mut digits = Vec::with_capacity(DIGITS);
    for _ in 0..DIGITS {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            // value < 62 * 256, so the quotient fits a byte.
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(is_well_formed(a.expose_secret()), "{}", a.expose_secret());
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn base62_is_positional() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(base62(&one), format!("{}1", "0".repeat(42)));
        let mut sixty_two = [0u8; 32];
        sixty_two[31] = 62;
        assert_eq!(base62(&sixty_two), format!("{}10", "0".repeat(41)));
        assert_eq!(base62(&[0xff; 32]).len(), DIGITS);
    }

    #[test]
    fn malformed_tokens_are_recognized() {
        assert!(!is_well_formed("cit_pat_short"));
        assert!(!is_well_formed(&format!("hf_{}", "a".repeat(43))));
        assert!(!is_well_formed(&format!("{PREFIX}{}", "-".repeat(43))));
    }
}
