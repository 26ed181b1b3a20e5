//! Column mask functions and how each one rewrites a value.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DataError, Result};

/// The largest `n` of [`MaskFunction::LastN`].
pub const MAX_LAST_N: u16 = 64;

const HIDDEN: &str = "****";

/// How a masked column's value is shown. Stored (serde) as its text form, e.g. `"last_n:4"`.
///
/// Null values stay null under every function (there is nothing to hide). The text functions
/// (`mask_email`, `mask_all`, `last_n`, `hash`) apply to a non-string value's JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MaskFunction {
    /// `john@example.com` → `j***@example.com`; text without a usable `@` → `****`.
    MaskEmail,
    /// Any value → `****` (its length hidden too).
    MaskAll,
    /// `4111111111111111` → `****1111`; text of `n` characters or fewer → `****`.
    LastN(u16),
    /// SHA-256 of the dataset's salt followed by the text, lower-case hex (as `citadel-pii`'s
    /// hash operator computes it, so masked reads and hashed versions of one dataset agree):
    /// equal values stay joinable within a dataset and unlinkable across datasets.
    Hash,
    /// Always null.
    Null,
    /// `[REDACTED]`.
    Redact,
}

impl MaskFunction {
    /// The masked form of `value`, hashing with `salt` (the dataset's).
    pub fn apply(&self, value: &Value, salt: &[u8]) -> Value {
        if value.is_null() {
            return Value::Null;
        }
        let text = || match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            MaskFunction::Null => Value::Null,
            MaskFunction::Redact => Value::String("[REDACTED]".into()),
            MaskFunction::MaskAll => Value::String(HIDDEN.into()),
            MaskFunction::MaskEmail => Value::String(mask_email(&text())),
            MaskFunction::LastN(n) => Value::String(last_n(&text(), usize::from(*n))),
            MaskFunction::Hash => {
                let mut hash = digest::Context::new(&digest::SHA256);
                hash.update(salt);
                hash.update(text().as_bytes());
                Value::String(hex::encode(hash.finish().as_ref()))
            }
        }
    }
}

fn mask_email(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((local, domain)) if !domain.is_empty() => match local.chars().next() {
            Some(first) => format!("{first}***@{domain}"),
            None => HIDDEN.into(),
        },
        _ => HIDDEN.into(),
    }
}

fn last_n(text: &str, n: usize) -> String {
    let count = text.chars().count();
    if count <= n {
        return HIDDEN.into();
    }
    let tail: String = text.chars().skip(count - n).collect();
    format!("{HIDDEN}{tail}")
}

impl FromStr for MaskFunction {
    type Err = DataError;

    /// Accepts `mask_email`, `mask_all`, `last4` / `last_n:4`, `hash`, `null`, `redact`
    /// (case-insensitive, `-` for `_` allowed).
    fn from_str(s: &str) -> Result<MaskFunction> {
        let name = s.trim().to_ascii_lowercase().replace('-', "_");
        let count = |digits: &str| match digits.parse::<u16>() {
            Ok(n) if (1..=MAX_LAST_N).contains(&n) => Ok(MaskFunction::LastN(n)),
            _ => Err(DataError::parse(
                "mask function",
                s,
                format!("last_n needs a count from 1 to {MAX_LAST_N}, as in last4 or last_n:4"),
            )),
        };
        match name.as_str() {
            "mask_email" => Ok(MaskFunction::MaskEmail),
            "mask_all" => Ok(MaskFunction::MaskAll),
            "hash" => Ok(MaskFunction::Hash),
            "null" => Ok(MaskFunction::Null),
            "redact" => Ok(MaskFunction::Redact),
            other => {
                if let Some(digits) = other.strip_prefix("last_n:") {
                    count(digits)
                } else if let Some(digits) = other.strip_prefix("last") {
                    count(digits)
                } else {
                    Err(DataError::parse(
                        "mask function",
                        s,
                        "expected mask_email, mask_all, last4 (or last_n:N), hash, null or redact",
                    ))
                }
            }
        }
    }
}

impl TryFrom<String> for MaskFunction {
    type Error = DataError;

    fn try_from(s: String) -> Result<MaskFunction> {
        s.parse()
    }
}

impl From<MaskFunction> for String {
    fn from(f: MaskFunction) -> String {
        f.to_string()
    }
}

impl fmt::Display for MaskFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskFunction::MaskEmail => f.write_str("mask_email"),
            MaskFunction::MaskAll => f.write_str("mask_all"),
            MaskFunction::LastN(n) => write!(f, "last_n:{n}"),
            MaskFunction::Hash => f.write_str("hash"),
            MaskFunction::Null => f.write_str("null"),
            MaskFunction::Redact => f.write_str("redact"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(f: &str, v: Value) -> Value {
        f.parse::<MaskFunction>().unwrap().apply(&v, b"salt-a")
    }

    #[test]
    fn parses_cli_names_and_round_trips() {
        assert_eq!(
            "mask_email".parse::<MaskFunction>().unwrap(),
            MaskFunction::MaskEmail
        );
        assert_eq!(
            "MASK-ALL".parse::<MaskFunction>().unwrap(),
            MaskFunction::MaskAll
        );
        assert_eq!(
            "last4".parse::<MaskFunction>().unwrap(),
            MaskFunction::LastN(4)
        );
        assert_eq!(
            "last_n:2".parse::<MaskFunction>().unwrap(),
            MaskFunction::LastN(2)
        );
        assert_eq!("hash".parse::<MaskFunction>().unwrap(), MaskFunction::Hash);
        assert_eq!("null".parse::<MaskFunction>().unwrap(), MaskFunction::Null);
        assert_eq!(
            "redact".parse::<MaskFunction>().unwrap(),
            MaskFunction::Redact
        );
        for bad in ["last0", "last", "last_n:", "last_n:65", "lastx", "blur", ""] {
            let err = bad.parse::<MaskFunction>().unwrap_err();
            assert!(matches!(err, DataError::Parse { .. }), "{bad}");
        }
        for f in [
            MaskFunction::MaskEmail,
            MaskFunction::MaskAll,
            MaskFunction::LastN(4),
            MaskFunction::Hash,
            MaskFunction::Null,
            MaskFunction::Redact,
        ] {
            assert_eq!(f.to_string().parse::<MaskFunction>().unwrap(), f);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<MaskFunction>(&json).unwrap(), f);
        }
        assert_eq!(
            serde_json::to_string(&MaskFunction::LastN(4)).unwrap(),
            "\"last_n:4\""
        );
        assert!(serde_json::from_str::<MaskFunction>("\"last_n:0\"").is_err());
    }

    #[test]
    fn mask_email() {
        assert_eq!(
            apply("mask_email", json!("john@example.com")),
            json!("j***@example.com")
        );
        assert_eq!(apply("mask_email", json!("émile@x.fr")), json!("é***@x.fr"));
        assert_eq!(
            apply("mask_email", json!("a\"b@c@d.org")),
            json!("a***@d.org")
        );
        assert_eq!(apply("mask_email", json!("not an email")), json!("****"));
        assert_eq!(apply("mask_email", json!("@example.com")), json!("****"));
        assert_eq!(apply("mask_email", json!("john@")), json!("****"));
        assert_eq!(apply("mask_email", json!(12)), json!("****"));
    }

    #[test]
    fn mask_all_last_n_null_redact() {
        assert_eq!(apply("mask_all", json!("secret")), json!("****"));
        assert_eq!(apply("mask_all", json!({"a": 1})), json!("****"));
        assert_eq!(
            apply("last4", json!("4111 1111 1111 1234")),
            json!("****1234")
        );
        assert_eq!(
            apply("last4", json!(4_111_111_111_111_234_u64)),
            json!("****1234")
        );
        assert_eq!(apply("last_n:2", json!("żółw")), json!("****łw"));
        assert_eq!(
            apply("last4", json!("1234")),
            json!("****"),
            "never the whole value"
        );
        assert_eq!(apply("null", json!("x")), Value::Null);
        assert_eq!(apply("redact", json!(["a"])), json!("[REDACTED]"));
        for f in ["mask_email", "mask_all", "last4", "hash", "null", "redact"] {
            assert_eq!(apply(f, Value::Null), Value::Null, "{f}");
        }
    }

    #[test]
    fn hash_is_salted_and_deterministic() {
        let h = |v: Value, salt: &[u8]| MaskFunction::Hash.apply(&v, salt);
        let a = h(json!("john@example.com"), b"salt-a");
        assert_eq!(a, h(json!("john@example.com"), b"salt-a"));
        assert_ne!(a, h(json!("john@example.com"), b"salt-b"));
        assert_ne!(a, h(json!("jane@example.com"), b"salt-a"));
        let text = a.as_str().unwrap();
        assert_eq!(text.len(), 64);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Known answer: SHA-256("abc") with the salt "a" and the text "bc".
        assert_eq!(
            h(json!("bc"), b"a"),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // The same digest as the anonymizer's hash operator.
        let anonymizer =
            citadel_pii::Anonymizer::new(citadel_pii::Operators::new(citadel_pii::Operator::Hash))
                .with_hash_salt(b"salt-a");
        assert_eq!(
            a,
            json!(anonymizer
                .operate(citadel_pii::EntityType::EmailAddress, "john@example.com")
                .unwrap())
        );
        // A number hashes as its JSON text.
        assert_eq!(h(json!(42), b"k"), h(json!("42"), b"k"));
    }
}
