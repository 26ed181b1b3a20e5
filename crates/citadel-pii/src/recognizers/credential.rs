//! Credentials, each started by its trigger keyword and checked for its exact shape: AWS access
//! key ids, GitHub tokens, Hugging Face and Citadel tokens, JWTs (whose header must decode to
//! JSON with `alg`) and PEM private-key blocks.

use base64::Engine as _;

use super::Candidate;
use crate::context::{Class, Hit};
use crate::text::is_word_byte;
use crate::{CredentialKind, EntityType};

fn base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Length of the run of `class` bytes at `at`.
fn run(text: &[u8], at: usize, class: impl Fn(u8) -> bool) -> usize {
    text.get(at..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| class(b)).count())
}

fn credential(start: usize, end: usize, score: f64, kind: CredentialKind) -> Candidate {
    Candidate {
        kind: Some(kind),
        ..Candidate::new(EntityType::Credential, start, end, score)
    }
}

/// The credential a trigger hit starts, if its shape is right.
pub(crate) fn at(text: &[u8], hit: Hit) -> Option<Candidate> {
    let body = hit.end;
    match hit.class {
        Class::Aws => {
            let n = run(text, body, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (n == 16 && !text.get(body + n).is_some_and(|&b| is_word_byte(b)))
                .then(|| credential(hit.start, body + n, 0.95, CredentialKind::AwsAccessKeyId))
        }
        Class::Github => {
            let is_pat = text.get(hit.start..body) == Some(b"github_pat_".as_slice());
            let n = if is_pat {
                run(text, body, |b| base62(b) || b == b'_')
            } else {
                run(text, body, base62)
            };
            let ok = if is_pat {
                (40..=255).contains(&n)
            } else {
                (36..=255).contains(&n)
            };
            (ok && !text.get(body + n).is_some_and(|&b| is_word_byte(b)))
                .then(|| credential(hit.start, body + n, 0.95, CredentialKind::GithubToken))
        }
        Class::Hf => {
            let n = run(text, body, base62);
            ((30..=64).contains(&n) && !text.get(body + n).is_some_and(|&b| is_word_byte(b)))
                .then(|| credential(hit.start, body + n, 0.9, CredentialKind::HfToken))
        }
        Class::Citadel => {
            let n = run(text, body, base62);
            (n == 43 && !text.get(body + n).is_some_and(|&b| is_word_byte(b)))
                .then(|| credential(hit.start, body + n, 0.99, CredentialKind::CitadelToken))
        }
        Class::Jwt => jwt(text, hit.start),
        Class::Pem => {
            let end = pem_end(text, hit.start)?.unwrap_or(text.len());
            Some(credential(hit.start, end, 0.99, CredentialKind::PrivateKey))
        }
        _ => None,
    }
}

/// `header.payload.signature` in base64url, the header a JSON object with an `alg` string.
fn jwt(text: &[u8], start: usize) -> Option<Candidate> {
    let header_len = run(text, start, base64url);
    let mut end = start + header_len;
    if text.get(end) != Some(&b'.') || header_len > 4096 {
        return None;
    }
    let payload_len = run(text, end + 1, base64url);
    if payload_len < 2 {
        return None;
    }
    end += 1 + payload_len;
    if text.get(end) != Some(&b'.') {
        return None;
    }
    end += 1 + run(text, end + 1, base64url);
    if text.get(end).is_some_and(|&b| b == b'.' || is_word_byte(b)) {
        return None;
    }
    let header = text.get(start..start + header_len)?;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.strip_suffix(b"=").unwrap_or(header))
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
    json.get("alg")?.as_str()?;
    Some(credential(start, end, 0.95, CredentialKind::Jwt))
}

/// Given `-----BEGIN` at `at`: `None` if this is not a private-key header; `Some(Some(end))`
/// when its `-----END … PRIVATE KEY…-----` line follows; `Some(None)` for a block that is not
/// closed in `text` (a truncated key, or one that goes on in the next line of a stream).
pub(crate) fn pem_end(text: &[u8], at: usize) -> Option<Option<usize>> {
    let header = text.get(at + 10..(at + 90).min(text.len()))?;
    let header_end = at + 10 + memchr::memmem::find(header, b"-----")?;
    let label = text.get(at + 10..header_end)?;
    memchr::memmem::find(label, b"PRIVATE KEY")?;
    let label_ok = label
        .iter()
        .all(|&b| b == b' ' || b.is_ascii_uppercase() || b.is_ascii_digit());
    if !label.starts_with(b" ") || !label_ok {
        return None;
    }
    let mut footer = b"-----END".to_vec();
    footer.extend_from_slice(label);
    footer.extend_from_slice(b"-----");
    let after = header_end + 5;
    Some(memchr::memmem::find(text.get(after..)?, &footer).map(|p| after + p + footer.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn creds(text: &str) -> Vec<(CredentialKind, &str)> {
        let mut hits = Vec::new();
        Keywords::new().unwrap().find(text, &mut hits);
        hits.iter()
            .filter_map(|&h| at(text.as_bytes(), h))
            .map(|c| (c.kind.unwrap(), &text[c.start..c.end]))
            .collect()
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn tokens_of_each_kind() {
        let ghp = format!("ghp_{}", "a1B2".repeat(9));
        let pat = format!("github_pat_11ABCDEFG0_{}", "x".repeat(59));
        let hf = format!("hf_{}", "AbCd".repeat(8) + "Ef");
        let cit = format!("cit_pat_{}", "Z9".repeat(21) + "q");
        let text = format!("key=AKIAIOSFODNN7EXAMPLE {ghp} {pat} ({hf}) {cit}. Bearer {JWT}");
        assert_eq!(
            creds(&text),
            [
                (CredentialKind::AwsAccessKeyId, "AKIAIOSFODNN7EXAMPLE"),
                (CredentialKind::GithubToken, ghp.as_str()),
                (CredentialKind::GithubToken, pat.as_str()),
                (CredentialKind::HfToken, hf.as_str()),
                (CredentialKind::CitadelToken, cit.as_str()),
                (CredentialKind::Jwt, JWT),
            ]
        );
    }

    #[test]
    fn near_misses() {
        let text = format!(
            "AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX ghp_short hf_abc cit_pat_{} eyJub3QiOiJqc29uIn0.eyJhIjoxfQ.x eyJhbGci.x",
            "a".repeat(42)
        );
        assert!(creds(&text).is_empty(), "{:?}", creds(&text));
    }

    #[test]
    fn pem_blocks() {
        let key =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        let text = format!("x {key} y");
        assert_eq!(creds(&text), [(CredentialKind::PrivateKey, key)]);
        let escaped = r"key: -----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----";
        assert_eq!(creds(escaped)[0].1, &escaped[5..]);
        assert_eq!(
            creds("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn")[0]
                .1
                .len(),
            42
        );
        assert!(creds("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
        assert!(creds("-----BEGIN PUBLIC KEY-----").is_empty());
    }
}
