//! Anonymizers: an [`Operator`] per entity type rewrites each finding's text. Hashing,
//! pseudonyms and encryption use secrets the caller hands in (a per-dataset salt, a pseudonym
//! key, a 32-byte encryption key); [`decrypt`] reverses encryption with the same key.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::pseudonym::pseudonym;
use crate::text::ByteCounter;
use crate::{EntityType, Finding, PiiError};

/// Associated data bound into every encrypted token, so tokens of another purpose do not open.
const AAD: &[u8] = b"citadel-pii/v1";
const TOKEN_PREFIX: &str = "ENC[";

/// What to do with one finding's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operator {
    /// Replace with `<ENTITY_TYPE>` (or `new_value`).
    Replace {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_value: Option<String>,
    },
    /// Remove the text.
    Redact,
    /// Replace `chars_to_mask` characters (at most all) with `mask_char`, from the start or, with
    /// `from_end`, from the end (Presidio's mask).
    Mask {
        mask_char: char,
        chars_to_mask: usize,
        #[serde(default)]
        from_end: bool,
    },
    /// Mask all but the last `keep` characters (never keeping more than half of them):
    /// `***************1111`.
    MaskKeepLast { mask_char: char, keep: usize },
    /// Hex SHA-256 of `salt ‖ value`, with the anonymizer's per-dataset salt.
    Hash,
    /// A consistent fake value of the same type, chosen by HMAC-SHA256 under the pseudonym key.
    Pseudonymize,
    /// An `ENC[…]` token: AES-256-GCM under the encryption key with a random nonce.
    Encrypt,
    /// Leave the text as it is.
    Keep,
}

/// The operator for each entity type, with a default for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operators {
    pub default: Operator,
    #[serde(default)]
    pub entities: BTreeMap<EntityType, Operator>,
}

impl Operators {
    /// `default` for every type.
    pub fn new(default: Operator) -> Self {
        Operators {
            default,
            entities: BTreeMap::new(),
        }
    }

    /// Uses `operator` for `entity_type`.
    pub fn with(mut self, entity_type: EntityType, operator: Operator) -> Self {
        self.entities.insert(entity_type, operator);
        self
    }

    /// The operator for `entity_type`.
    pub fn get(&self, entity_type: EntityType) -> &Operator {
        self.entities.get(&entity_type).unwrap_or(&self.default)
    }
}

impl Default for Operators {
    /// Replace everything with `<ENTITY_TYPE>`.
    fn default() -> Self {
        Operators::new(Operator::Replace { new_value: None })
    }
}

/// Applies [`Operators`] to findings. Holds its secrets privately (its `Debug` shows only
/// whether each is set).
pub struct Anonymizer {
    operators: Operators,
    salt: Option<Zeroizing<Vec<u8>>>,
    pseudonym_key: Option<hmac::Key>,
    encryption_key: Option<LessSafeKey>,
    random: SystemRandom,
}

impl fmt::Debug for Anonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anonymizer")
            .field("operators", &self.operators)
            .field("salt", &self.salt.as_ref().map(|_| "set"))
            .field("pseudonym_key", &self.pseudonym_key.as_ref().map(|_| "set"))
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "set"),
            )
            .finish()
    }
}

impl Anonymizer {
    pub fn new(operators: Operators) -> Self {
        Anonymizer {
            operators,
            salt: None,
            pseudonym_key: None,
            encryption_key: None,
            random: SystemRandom::new(),
        }
    }

    /// The salt for [`Operator::Hash`]: one per dataset, so equal values link within a dataset
    /// and not across datasets.
    pub fn with_hash_salt(mut self, salt: &[u8]) -> Self {
        self.salt = Some(Zeroizing::new(salt.to_vec()));
        self
    }

    /// The key for [`Operator::Pseudonymize`].
    pub fn with_pseudonym_key(mut self, key: &[u8]) -> Self {
        self.pseudonym_key = Some(hmac::Key::new(hmac::HMAC_SHA256, key));
        self
    }

    /// The 32-byte key for [`Operator::Encrypt`] (the dataset key).
    pub fn with_encryption_key(mut self, key: &[u8]) -> Result<Self, PiiError> {
        self.encryption_key = Some(aes_key(key)?);
        Ok(self)
    }

    /// The operators in use.
    pub fn operators(&self) -> &Operators {
        &self.operators
    }

    /// Rewrites `text`, applying to each finding the operator of its type. Findings must lie
    /// within the text and not overlap (as [`crate::Analyzer::analyze`] returns them).
    pub fn anonymize(&self, text: &str, findings: &[Finding]) -> Result<String, PiiError> {
        let mut sorted: Vec<&Finding> = findings.iter().collect();
        sorted.sort_by_key(|f| (f.start, f.end));
        let mut bytes = ByteCounter::new(text);
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut last_end = 0;
        for f in sorted {
            let span = || PiiError::InvalidSpan {
                start: f.start,
                end: f.end,
                chars: text.chars().count(),
            };
            if f.start >= f.end || f.start < last_end {
                return Err(span());
            }
            let start = bytes.byte_at(f.start).ok_or_else(span)?;
            let end = bytes.byte_at(f.end).ok_or_else(span)?;
            let (Some(before), Some(value)) = (text.get(copied..start), text.get(start..end))
            else {
                return Err(span());
            };
            out.push_str(before);
            out.push_str(&self.operate(f.entity_type, value)?);
            copied = end;
            last_end = f.end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        Ok(out)
    }

    /// The replacement of one value of type `entity_type`.
    pub fn operate(&self, entity_type: EntityType, value: &str) -> Result<String, PiiError> {
        Ok(match self.operators.get(entity_type) {
            Operator::Replace { new_value } => new_value
                .clone()
                .unwrap_or_else(|| format!("<{}>", entity_type.as_str())),
            Operator::Redact => String::new(),
            Operator::Mask {
                mask_char,
                chars_to_mask,
                from_end,
            } => {
                let n = value.chars().count();
                let masked = (*chars_to_mask).min(n);
                value
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        let hide = if *from_end {
                            i >= n - masked
                        } else {
                            i < masked
                        };
                        if hide {
                            *mask_char
                        } else {
                            c
                        }
                    })
                    .collect()
            }
            Operator::MaskKeepLast { mask_char, keep } => {
                let n = value.chars().count();
                let keep = (*keep).min(n / 2);
                value
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i + keep < n { *mask_char } else { c })
                    .collect()
            }
            Operator::Hash => {
                let salt = self.salt.as_ref().ok_or(PiiError::MissingSecret {
                    operator: "hash",
                    secret: "a hash salt",
                })?;
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(salt);
                ctx.update(value.as_bytes());
                hex::encode(ctx.finish())
            }
            Operator::Pseudonymize => {
                let key = self.pseudonym_key.as_ref().ok_or(PiiError::MissingSecret {
                    operator: "pseudonymize",
                    secret: "a pseudonym key",
                })?;
                pseudonym(key, entity_type, value)
            }
            Operator::Encrypt => {
                let key = self
                    .encryption_key
                    .as_ref()
                    .ok_or(PiiError::MissingSecret {
                        operator: "encrypt",
                        secret: "an encryption key",
                    })?;
                self.encrypt(key, value)?
            }
            Operator::Keep => value.to_owned(),
        })
    }

    fn encrypt(&self, key: &LessSafeKey, value: &str) -> Result<String, PiiError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| PiiError::Encrypt)?;
        let mut sealed = value.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut sealed,
        )
        .map_err(|_| PiiError::Encrypt)?;
        let mut token = nonce.to_vec();
        token.extend_from_slice(&sealed);
        Ok(format!("{TOKEN_PREFIX}{}]", URL_SAFE_NO_PAD.encode(token)))
    }
}

fn aes_key(key: &[u8]) -> Result<LessSafeKey, PiiError> {
    if key.len() != 32 {
        return Err(PiiError::KeyLength(key.len()));
    }
    let key =
        UnboundKey::new(&aead::AES_256_GCM, key).map_err(|_| PiiError::KeyLength(key.len()))?;
    Ok(LessSafeKey::new(key))
}

/// Decrypts one `ENC[…]` token made by [`Operator::Encrypt`] with the same 32-byte key. A wrong
/// key, an altered or truncated token is an error.
pub fn decrypt(token: &str, key: &[u8]) -> Result<String, PiiError> {
    let key = aes_key(key)?;
    open(&key, token)
}

fn open(key: &LessSafeKey, token: &str) -> Result<String, PiiError> {
    let body = token
        .trim()
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(PiiError::Decrypt)?;
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| PiiError::Decrypt)?;
    if raw.len() < NONCE_LEN + aead::AES_256_GCM.tag_len() {
        return Err(PiiError::Decrypt);
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| PiiError::Decrypt)?;
    let mut sealed = sealed.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(AAD), &mut sealed)
        .map_err(|_| PiiError::Decrypt)?;
    String::from_utf8(plain.to_vec()).map_err(|_| PiiError::Decrypt)
}

/// Replaces every `ENC[…]` token in `text` by its plaintext (for a reader allowed to see it).
pub fn decrypt_all(text: &str, key: &[u8]) -> Result<String, PiiError> {
    let key = aes_key(key)?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOKEN_PREFIX) {
        let body_start = at + TOKEN_PREFIX.len();
        let body_len = rest
            .get(body_start..)
            .unwrap_or("")
            .bytes()
            .take_while(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .count();
        let token_end = body_start + body_len + 1;
        match rest.get(at..token_end) {
            Some(token) if token.ends_with(']') => {
                out.push_str(rest.get(..at).unwrap_or(""));
                out.push_str(&open(&key, token)?);
                rest = rest.get(token_end..).unwrap_or("");
            }
            _ => {
                out.push_str(rest.get(..body_start).unwrap_or(""));
                rest = rest.get(body_start..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn finding(entity_type: EntityType, start: usize, end: usize) -> Finding {
        Finding {
            entity_type,
            start,
            end,
            score: 0.9,
            kind: None,
        }
    }

    fn one(op: Operator, t: EntityType, value: &str) -> String {
        Anonymizer::new(Operators::new(op))
            .with_hash_salt(b"salt")
            .with_pseudonym_key(b"key")
            .with_encryption_key(&KEY)
            .unwrap()
            .operate(t, value)
            .unwrap()
    }

    #[test]
    fn replace_redact_mask_keep() {
        let t = EntityType::UsSsn;
        assert_eq!(
            one(Operator::Replace { new_value: None }, t, "536-90-4399"),
            "<US_SSN>"
        );
        assert_eq!(
            one(
                Operator::Replace {
                    new_value: Some("[x]".into())
                },
                t,
                "536-90-4399"
            ),
            "[x]"
        );
        assert_eq!(one(Operator::Redact, t, "536-90-4399"), "");
        let mask = |n, from_end| Operator::Mask {
            mask_char: '#',
            chars_to_mask: n,
            from_end,
        };
        assert_eq!(one(mask(3, false), t, "536-90-4399"), "###-90-4399");
        assert_eq!(one(mask(4, true), t, "536-90-4399"), "536-90-####");
        assert_eq!(one(mask(99, false), t, "Zoë"), "###");
        let keep = Operator::MaskKeepLast {
            mask_char: '*',
            keep: 4,
        };
        assert_eq!(
            one(keep.clone(), t, "4111 1111 1111 1111"),
            "***************1111"
        );
        assert_eq!(one(keep, t, "abc"), "**c");
        assert_eq!(one(Operator::Keep, t, "x"), "x");
    }

    #[test]
    fn salted_hash_links_within_a_dataset_only() {
        let hash = |salt: &[u8], v: &str| {
            Anonymizer::new(Operators::new(Operator::Hash))
                .with_hash_salt(salt)
                .operate(EntityType::EmailAddress, v)
                .unwrap()
        };
        let a = hash(b"dataset-a", "jane@example.com");
        assert_eq!(a.len(), 64);
        assert_eq!(a, hash(b"dataset-a", "jane@example.com"));
        assert_ne!(a, hash(b"dataset-b", "jane@example.com"));
        assert_ne!(a, hash(b"dataset-a", "john@example.com"));
        let expected = hex::encode(digest::digest(
            &digest::SHA256,
            b"dataset-ajane@example.com",
        ));
        assert_eq!(a, expected);
    }

    #[test]
    fn pseudonyms_consistent_per_key() {
        let p = |key: &[u8], v: &str| {
            Anonymizer::new(Operators::new(Operator::Pseudonymize))
                .with_pseudonym_key(key)
                .operate(EntityType::EmailAddress, v)
                .unwrap()
        };
        let a = p(b"k1", "jane@example.org");
        assert!(a.ends_with("@example.com"), "{a}");
        assert_eq!(a, p(b"k1", "jane@example.org"));
        assert_ne!(a, p(b"k2", "jane@example.org"));
        assert_ne!(a, p(b"k1", "john@example.org"));
    }

    #[test]
    fn encryption_round_trip_and_failures() {
        let token = one(Operator::Encrypt, EntityType::Person, "Zoë Smith");
        assert!(token.starts_with("ENC[") && token.ends_with(']'));
        assert!(!token.contains("Zo"));
        assert_ne!(
            token,
            one(Operator::Encrypt, EntityType::Person, "Zoë Smith"),
            "random nonce"
        );
        assert_eq!(decrypt(&token, &KEY).unwrap(), "Zoë Smith");
        assert!(matches!(decrypt(&token, &[8; 32]), Err(PiiError::Decrypt)));
        let mut altered = token.clone().into_bytes();
        altered[8] = if altered[8] == b'A' { b'B' } else { b'A' };
        assert!(decrypt(std::str::from_utf8(&altered).unwrap(), &KEY).is_err());
        assert!(decrypt("ENC[abc]", &KEY).is_err());
        assert!(decrypt("plain", &KEY).is_err());
        assert!(matches!(
            decrypt(&token, &[1; 16]),
            Err(PiiError::KeyLength(16))
        ));
        let text = format!("name {token}, again {token}. ENC[ not a token");
        assert_eq!(
            decrypt_all(&text, &KEY).unwrap(),
            "name Zoë Smith, again Zoë Smith. ENC[ not a token"
        );
    }

    #[test]
    fn missing_secrets_are_errors() {
        let anonymizer = Anonymizer::new(Operators::new(Operator::Hash));
        assert!(matches!(
            anonymizer.operate(EntityType::Url, "x"),
            Err(PiiError::MissingSecret { .. })
        ));
        assert!(Anonymizer::new(Operators::default())
            .with_encryption_key(&[0; 31])
            .is_err());
        let debug = format!(
            "{:?}",
            Anonymizer::new(Operators::default()).with_hash_salt(b"secret-salt")
        );
        assert!(!debug.contains("secret-salt") && debug.contains("set"));
    }

    #[test]
    fn anonymize_spans_in_chars() {
        let text = "Zoë — mail zoe@example.com or call (415) 555-2671.";
        let email = text.chars().position(|c| c == 'z').unwrap();
        let phone = text.chars().position(|c| c == '(').unwrap();
        let findings = [
            finding(EntityType::PhoneNumber, phone, phone + 14),
            finding(EntityType::EmailAddress, email, email + 15),
        ];
        let operators = Operators::default().with(
            EntityType::PhoneNumber,
            Operator::MaskKeepLast {
                mask_char: '*',
                keep: 4,
            },
        );
        let out = Anonymizer::new(operators)
            .anonymize(text, &findings)
            .unwrap();
        assert_eq!(out, "Zoë — mail <EMAIL_ADDRESS> or call **********2671.");
        let overlapping = [
            finding(EntityType::Url, 0, 5),
            finding(EntityType::Url, 4, 6),
        ];
        assert!(Anonymizer::new(Operators::default())
            .anonymize(text, &overlapping)
            .is_err());
        let outside = [finding(EntityType::Url, 40, 400)];
        assert!(Anonymizer::new(Operators::default())
            .anonymize(text, &outside)
            .is_err());
    }

    #[test]
    fn operators_from_json() {
        let ops: Operators = serde_json::from_str(
            r#"{"default":{"type":"replace"},"entities":{"EMAIL_ADDRESS":{"type":"mask","mask_char":"*","chars_to_mask":3}}}"#,
        )
        .unwrap();
        assert_eq!(
            ops.get(EntityType::Url),
            &Operator::Replace { new_value: None }
        );
        assert_eq!(
            ops.get(EntityType::EmailAddress),
            &Operator::Mask {
                mask_char: '*',
                chars_to_mask: 3,
                from_end: false
            }
        );
    }
}
