//! Masks secrets in audit parameters before they are hashed and stored.
//!
//! A value is masked when its key names a secret (a `_`/`-`/`.`-separated segment such as `token`,
//! `secret`, `password` or `key`, unless the key ends in a harmless segment such as `id` or `name`),
//! and any string is passed through [`citadel_redact::redact`], which masks every secret value the
//! process has loaded and well-known credential shapes (`cit_pat_…`, `hf_…`, AWS key ids, …).

use serde_json::Value;

pub use citadel_redact::REDACTED;

const SECRET_SEGMENTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "key",
    "apikey",
    "credential",
    "credentials",
    "authorization",
    "pkcs8",
];
const HARMLESS_LAST_SEGMENTS: &[&str] = &["id", "ids", "name", "names", "scope", "ttl", "count"];

/// Returns `params` with secret values masked (recursively through objects and arrays).
pub fn redact_params(params: Value) -> Value {
    match params {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if is_secret_key(&key) && !value.is_null() {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_params(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_params).collect()),
        Value::String(s) => match citadel_redact::redact(&s) {
            std::borrow::Cow::Borrowed(_) => Value::String(s),
            std::borrow::Cow::Owned(masked) => Value::String(masked),
        },
        other => other,
    }
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let segments: Vec<&str> = lower
        .split(['_', '-', '.'])
        .filter(|s| !s.is_empty())
        .collect();
    let names_secret = segments.iter().any(|s| SECRET_SEGMENTS.contains(s));
    let harmless = segments
        .last()
        .is_some_and(|s| HARMLESS_LAST_SEGMENTS.contains(s));
    names_secret && !harmless
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secret_keys_at_any_depth() {
        let v = redact_params(json!({
            "token": "abc", "Password": "p", "api_key": "k", "client-secret": "s",
            "nested": [{"private.key": "x", "ok": 1}], "secret_value": null
        }));
        assert_eq!(
            v,
            json!({
                "token": REDACTED, "Password": REDACTED, "api_key": REDACTED,
                "client-secret": REDACTED, "nested": [{"private.key": REDACTED, "ok": 1}],
                "secret_value": null
            })
        );
    }

    #[test]
    fn keeps_identifiers_and_names_of_secrets() {
        let v = json!({"token_id": "t1", "key_id": "k1", "token_name": "ci", "secret_scope": "s",
                       "name": "alice", "monkey": "m", "tokens": 3});
        assert_eq!(redact_params(v.clone()), v);
    }

    #[test]
    fn masks_pat_shaped_strings_anywhere() {
        let v = redact_params(json!({"note": "use cit_pat_AbC123xyz, not cit_pat_Q.", "n": 1}));
        assert_eq!(
            v,
            json!({"note": "use [REDACTED], not [REDACTED].", "n": 1})
        );
        assert_eq!(redact_params(json!(["cit_pat_x"])), json!([REDACTED]));
    }
}
