//! Secret values at rest: each version sealed with its own data key, bound to its name.

use std::fmt;

use citadel_blob::{DataKey, Kek, KeyRing, WrappedKey};
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Largest secret value accepted (a PEM bundle fits; a model does not).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Longest secret key name.
const MAX_NAME_LEN: usize = 128;

/// Domain separation for the value's and the wrapped data key's associated data.
const VALUE_CONTEXT: &[u8] = b"citadel-vault/secret-value/v1";
const KEY_CONTEXT: &[u8] = b"citadel-vault/secret-key/v1";

/// Which secret a sealed value belongs to; all three parts are bound into the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCoordinates<'a> {
    /// Full name of the scope, `catalog.schema.scope`.
    pub scope: &'a str,
    /// Key name inside the scope.
    pub name: &'a str,
    /// Version number, from 1.
    pub version: u32,
}

impl SecretCoordinates<'_> {
    /// Associated data: context, then each part length-prefixed so no two coordinates collide.
    fn aad(&self, context: &[u8]) -> Vec<u8> {
        let mut aad = context.to_vec();
        for part in [self.scope.as_bytes(), self.name.as_bytes()] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad.extend_from_slice(&self.version.to_be_bytes());
        aad
    }
}

/// A sealed secret version as stored: ciphertext and its data key wrapped by the KEK `kek_id`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub ciphertext: Vec<u8>,
    pub wrapped_key: WrappedKey,
    pub kek_id: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// Checks a secret key name: 1 to 128 of letters, digits, `_`, `-`, `.`, starting with a letter
/// or digit (no path separators, no `..`), so names are safe in URLs, files and audit logs.
pub fn validate_secret_name(name: &str) -> Result<()> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > MAX_NAME_LEN || !valid_chars || !starts_well || name.contains("..") {
        return Err(Error::InvalidSecret(format!(
            "invalid secret name {name:?}: use 1 to {MAX_NAME_LEN} letters, digits, '_', '-' or \
             '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// Encrypts `value` for `at` under a fresh data key wrapped by the ring's active key.
pub fn seal_secret(
    keys: &KeyRing,
    at: &SecretCoordinates<'_>,
    value: &SecretString,
) -> Result<SealedSecret> {
    let bytes = value.expose_secret().as_bytes();
    if bytes.is_empty() {
        return Err(Error::InvalidSecret(
            "a secret value cannot be empty".into(),
        ));
    }
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(Error::InvalidSecret(format!(
            "a secret value has at most {MAX_SECRET_BYTES} bytes, this one has {}",
            bytes.len()
        )));
    }
    let data_key = DataKey::generate()?;
    let active = keys.active();
    Ok(SealedSecret {
        ciphertext: data_key.seal(bytes, &at.aad(VALUE_CONTEXT))?,
        wrapped_key: active.wrap(&data_key, &at.aad(KEY_CONTEXT))?,
        kek_id: active.id().to_owned(),
    })
}

/// Decrypts a sealed version. The value is registered for redaction before it is returned, so it
/// is masked in any log line or error from here on.
pub fn open_secret(
    keys: &KeyRing,
    at: &SecretCoordinates<'_>,
    sealed: &SealedSecret,
) -> Result<SecretString> {
    let tampered = || Error::Tampered {
        name: at.name.to_owned(),
        version: at.version,
    };
    let data_key = keys
        .unwrap(&sealed.kek_id, &sealed.wrapped_key, &at.aad(KEY_CONTEXT))
        .map_err(|e| match e {
            citadel_blob::Error::Unwrap => tampered(),
            other => Error::Crypto(other),
        })?;
    let plain = data_key
        .open(&sealed.ciphertext, &at.aad(VALUE_CONTEXT))
        .map_err(|_| tampered())?;
    let text = std::str::from_utf8(&plain).map_err(|_| tampered())?;
    citadel_redact::register_secret(text);
    Ok(SecretString::from(text.to_owned()))
}

/// A version's data key re-wrapped from the key `kek_id` (held by `keys`) to `new`, for key
/// rotation; the sealed value itself is unchanged.
pub fn rewrap_secret_key(
    keys: &KeyRing,
    at: &SecretCoordinates<'_>,
    kek_id: &str,
    wrapped_key: &WrappedKey,
    new: &Kek,
) -> Result<WrappedKey> {
    let aad = at.aad(KEY_CONTEXT);
    let data_key = keys.unwrap(kek_id, wrapped_key, &aad)?;
    Ok(new.wrap(&data_key, &aad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(scope: &'a str, name: &'a str, version: u32) -> SecretCoordinates<'a> {
        SecretCoordinates {
            scope,
            name,
            version,
        }
    }

    #[test]
    fn round_trip_and_redaction() {
        let keys = KeyRing::new(Kek::generate().unwrap());
        let value = SecretString::from("canary-vault-5d1e77".to_owned());
        let coords = at("dev.ml.hub", "token", 1);
        let sealed = seal_secret(&keys, &coords, &value).unwrap();
        assert!(!format!("{sealed:?}").contains("canary"));
        let opened = open_secret(&keys, &coords, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "canary-vault-5d1e77");
        assert_eq!(
            citadel_redact::redact("leaked canary-vault-5d1e77"),
            "leaked [REDACTED]"
        );
    }

    #[test]
    fn a_value_moved_to_another_name_or_version_fails() {
        let keys = KeyRing::new(Kek::generate().unwrap());
        let value = SecretString::from("value-123456".to_owned());
        let sealed = seal_secret(&keys, &at("dev.ml.hub", "token", 1), &value).unwrap();
        for moved in [
            at("dev.ml.hub", "other", 1),
            at("dev.ml.other", "token", 1),
            at("dev.ml.hub", "token", 2),
            // Length prefixes: shifting bytes between scope and name does not collide.
            at("dev.ml.hubt", "oken", 1),
        ] {
            assert!(
                matches!(
                    open_secret(&keys, &moved, &sealed),
                    Err(Error::Tampered { .. })
                ),
                "{moved:?}"
            );
        }
        let mut tampered = sealed.clone();
        tampered.ciphertext[13] ^= 1;
        assert!(open_secret(&keys, &at("dev.ml.hub", "token", 1), &tampered).is_err());
    }

    #[test]
    fn rewrap_keeps_the_value_under_the_new_key_only() {
        let old = KeyRing::new(Kek::generate().unwrap());
        let new = Kek::generate().unwrap();
        let coords = at("dev.ml.hub", "token", 3);
        let value = SecretString::from("rotate-me-please".to_owned());
        let sealed = seal_secret(&old, &coords, &value).unwrap();
        let rewrapped = SealedSecret {
            wrapped_key: rewrap_secret_key(
                &old,
                &coords,
                &sealed.kek_id,
                &sealed.wrapped_key,
                &new,
            )
            .unwrap(),
            kek_id: new.id().to_owned(),
            ..sealed.clone()
        };
        let new_ring = KeyRing::new(new);
        assert_eq!(
            open_secret(&new_ring, &coords, &rewrapped)
                .unwrap()
                .expose_secret(),
            "rotate-me-please"
        );
        assert!(open_secret(&new_ring, &coords, &sealed).is_err());
    }

    #[test]
    fn names_and_values_are_checked() {
        for good in ["token", "HF_TOKEN", "aws.secret-key_2"] {
            assert!(validate_secret_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "-x",
            "a..b",
            "spaced name",
            &"x".repeat(129),
        ] {
            assert!(validate_secret_name(bad).is_err(), "{bad:?}");
        }
        let keys = KeyRing::new(Kek::generate().unwrap());
        let coords = at("a.b.c", "k", 1);
        assert!(seal_secret(&keys, &coords, &SecretString::from(String::new())).is_err());
        let huge = SecretString::from("x".repeat(MAX_SECRET_BYTES + 1));
        assert!(seal_secret(&keys, &coords, &huge).is_err());
    }
}
