//! Deterministic ("canonical") JSON: the byte form that audit hashes are computed over.
//!
//! Rules (mirrored by `docs/verify_audit_export.py`, which uses
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`):
//! object keys sorted by Unicode code point, no whitespace, strings as UTF-8 with only `"`, `\` and
//! control characters escaped (`\b \t \n \f \r`, others `\u00xx` lowercase), integers in decimal.
//! Non-integer numbers never reach the hash: [`normalize_numbers`] turns them into strings first.

use serde_json::Value;

/// The canonical bytes of `value`.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

/// Appends the canonical form of `value` to `out`.
pub(crate) fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

/// Appends `s` as a canonical JSON string to `out`.
pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Replaces every non-integer number in `value` by its decimal string, so hashes never depend on
/// how a language prints floating point.
pub fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(to_canonical_bytes(v)).unwrap()
    }

    #[test]
    fn sorts_keys_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [true, null, -3], "y": "x"}});
        assert_eq!(canon(&v), r#"{"a":{"y":"x","z":[true,null,-3]},"b":1}"#);
    }

    #[test]
    fn escapes_like_python_json_dumps_without_ascii_escaping() {
        let v = json!("q\"b\\\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é✓𝄞");
        assert_eq!(
            canon(&v),
            "\"q\\\"b\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é✓𝄞\""
        );
    }

    #[test]
    fn keys_sort_by_code_point() {
        let v = json!({"é": 1, "z": 2, "A": 3, "_": 4});
        assert_eq!(canon(&v), r#"{"A":3,"_":4,"z":2,"é":1}"#);
    }

    #[test]
    fn floats_become_strings_and_integers_stay() {
        let v = normalize_numbers(json!({"f": 1.5, "i": -7, "u": u64::MAX, "n": [0.25]}));
        assert_eq!(
            canon(&v),
            r#"{"f":"1.5","i":-7,"n":["0.25"],"u":18446744073709551615}"#
        );
    }
}
