//! Credential shapes masked whether or not this process ever loaded them.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// A credential shape and what replaces a match (`$keep` names a group kept as it was, such as
/// the header name before the credential).
struct Shape {
    pattern: &'static str,
    replacement: &'static str,
}

const SHAPES: &[Shape] = &[
    // PEM private-key blocks, including a block cut off before its END line.
    Shape {
        pattern: r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        replacement: "[REDACTED]",
    },
    // Passwords in URLs: scheme://user:password@host.
    Shape {
        pattern: r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@",
        replacement: "${keep}[REDACTED]@",
    },
    // Credentials in query strings.
    Shape {
        pattern: r"(?i)(?P<keep>[?&](?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|client_secret|password|passwd|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&\s#]+",
        replacement: "${keep}[REDACTED]",
    },
    // Authorization and API-key headers, scheme and credential together.
    Shape {
        pattern: r"(?i)(?P<keep>\b(?:x-api-key|api-key|x-auth-token|authorization)\s*[:=]\s*)(?:(?:bearer|basic|token)\s+)?[^\s,;]+",
        replacement: "${keep}[REDACTED]",
    },
    // Authorization schemes elsewhere in messages.
    Shape {
        pattern: r"(?i)(?P<keep>\b(?:bearer|basic|token)\s+)[A-Za-z0-9\-._~+/]{8,}=*",
        replacement: "${keep}[REDACTED]",
    },
    // Citadel personal access tokens and OAuth client secrets.
    Shape {
        pattern: r"cit_(?:pat|cs)_[A-Za-z0-9]+",
        replacement: "[REDACTED]",
    },
    // Hugging Face tokens.
    Shape {
        pattern: r"\bhf_[A-Za-z0-9]{20,}",
        replacement: "[REDACTED]",
    },
    // GitHub tokens (classic and fine-grained).
    Shape {
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
        replacement: "[REDACTED]",
    },
    // AWS access key ids.
    Shape {
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
        replacement: "[REDACTED]",
    },
    // JSON Web Tokens: a JSON header, then the payload and the signature (empty when unsigned),
    // all base64url.
    Shape {
        pattern: r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
        replacement: "[REDACTED]",
    },
];

/// Every shape, compiled once. The patterns are constants covered by tests, so none fails to
/// compile in a released build.
static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .filter_map(|shape| {
            Regex::new(shape.pattern)
                .ok()
                .map(|regex| (regex, shape.replacement))
        })
        .collect()
});

/// `text` with every credential shape masked.
pub(crate) fn mask(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (regex, replacement) in COMPILED.iter() {
        if let Cow::Owned(replaced) = regex.replace_all(&out, *replacement) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_compiles() {
        assert_eq!(COMPILED.len(), SHAPES.len());
    }

    #[test]
    fn masks_each_shape() {
        let cases = [
            (
                "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nafter",
                "key:\n[REDACTED]\nafter",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk",
                "[REDACTED]",
            ),
            (
                "clone https://bob:s3cr3t@git.example.com/x",
                "clone https://[REDACTED]@git.example.com/x",
            ),
            (
                "GET /files?name=a&token=abc123&x=1",
                "GET /files?name=a&token=[REDACTED]&x=1",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.abc.def-ghi",
                "Authorization: [REDACTED]",
            ),
            ("sent bearer abcdefgh12345678", "sent bearer [REDACTED]"),
            ("x-api-key: sk-live-123456", "x-api-key: [REDACTED]"),
            (
                "token cit_pat_0123456789abcdefghijABCDEFGHIJ0123456789abc ok",
                "token [REDACTED] ok",
            ),
            ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678", "[REDACTED]"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "[REDACTED]"),
            ("id AKIAIOSFODNN7EXAMPLE here", "id [REDACTED] here"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x",
                "jwt [REDACTED]",
            ),
            // An EdDSA access token as the gateway issues them.
            (
                "access_token\":\"eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJib3QiLCJzY29wZSI6Imludm9rZSJ9.3q2-7_AbCdEfGhIjKlMnOpQrStUvWxYz\"}",
                "access_token\":\"[REDACTED]\"}",
            ),
            // A payload that is not `{"…`, and an unsigned token.
            ("t=eyJhbGciOiJub25lIn0.e30x.", "t=[REDACTED]"),
            (
                "bad secret cit_cs_0123456789abcdefghijABCDEFGHIJ0123456789abc for client x",
                "bad secret [REDACTED] for client x",
            ),
            (
                "--client-secret=cit_cs_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNnMmLlKkJ,next",
                "--client-secret=[REDACTED],next",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(mask(input), expected, "input: {input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "the token expired; ask for a new one",
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M",
            "AKIA is a prefix",
            "hf_ alone",
            "key_id=abc",
            "cit_cs_ alone",
            "eyJ is how base64 JSON starts",
        ] {
            assert!(matches!(mask(text), Cow::Borrowed(_)), "changed: {text}");
        }
    }
}
