//! Citadel access tokens as JWTs (RFC 9068 profile): signing with Ed25519 and the checks a
//! bearer JWT must pass before its claims are believed. Pure: keys come in as bytes, the caller
//! looks up which key a `kid` names.
//!
//! Only `EdDSA` is accepted, with `typ: at+jwt` and a `kid`; `alg: none`, HMAC and RSA/ECDSA
//! tokens are refused before any key is touched, and a header that carries its own key (`jwk`,
//! `jku`, `x5c`, `x5u`) or critical extensions is refused too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `typ` header of Citadel access tokens (RFC 9068).
const TOKEN_TYPE: &str = "at+jwt";
/// The audience Citadel itself accepts, and the default of issued tokens.
pub const DEFAULT_AUDIENCE: &str = "citadel";
/// Lifetime of an issued access token, in seconds.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 10 * 60;
/// The longest lifetime a token may claim (`exp - iat`), in seconds.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// Longest `kid` looked up.
const MAX_KID_LEN: usize = 128;

/// The claims of a Citadel access token. Every one is required and strictly typed: a token
/// whose `exp` is a string, or whose `aud` is a list, does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuing home, `citadel:<metastore id>`.
    pub iss: String,
    /// The principal id.
    pub sub: String,
    pub aud: String,
    /// One token scope: `control`, `invoke` or `metrics`.
    pub scope: String,
    /// The OAuth client the token was issued to (RFC 9068).
    pub client_id: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// A unique id, for the audit log.
    pub jti: String,
}

/// Why a bearer JWT was refused (before the principal and client checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Audience,
    Issuer,
    Lifetime,
}

impl Rejection {
    /// The reason shown to the caller and written to the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed JWT: not a Citadel access token",
            Self::Algorithm => {
                "JWT refused: only EdDSA-signed Citadel access tokens (typ at+jwt, with a kid) \
                 are accepted"
            }
            Self::UnknownKey => {
                "the JWT is signed by an unknown or long-retired key; request a new token"
            }
            Self::Signature => "the JWT's signature is invalid",
            Self::Expired => "the JWT expired; request a new one from the token endpoint",
            Self::NotYetValid => {
                "the JWT is not valid yet (nbf or iat in the future); check clocks"
            }
            Self::Audience => "the JWT was issued for another audience",
            Self::Issuer => "the JWT was issued by another issuer",
            Self::Lifetime => "the JWT claims a lifetime over 15 minutes; Citadel issues none",
        }
    }
}

/// Whether a bearer has the shape of a compact JWS (three base64url parts, a JSON header).
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3 && token.starts_with("eyJ")
}

/// Signs `claims` with the PKCS#8 Ed25519 key `pkcs8`, naming it `kid` in the header.
pub fn sign(
    claims: &Claims,
    kid: &str,
    pkcs8: &[u8],
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(TOKEN_TYPE.to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(pkcs8))
}

/// The `kid` of a token whose header is acceptable: `alg` EdDSA, `typ` at+jwt, no embedded key
/// or critical extension. Nothing is verified yet.
pub fn header_kid(token: &str) -> Result<String, Rejection> {
    let encoded = token.split('.').next().unwrap_or_default();
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Rejection::Malformed)?;
    let header = header.as_object().ok_or(Rejection::Malformed)?;
    let embeds_key = ["jwk", "jku", "x5c", "x5u", "crit"]
        .iter()
        .any(|name| header.contains_key(*name));
    let alg = header.get("alg").and_then(|v| v.as_str());
    let typ = header.get("typ").and_then(|v| v.as_str());
    if alg != Some("EdDSA") || typ != Some(TOKEN_TYPE) || embeds_key {
        return Err(Rejection::Algorithm);
    }
    match header.get("kid").and_then(|v| v.as_str()) {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok(kid.to_owned()),
        _ => Err(Rejection::Algorithm),
    }
}

/// Verifies `token` against the raw 32-byte Ed25519 `public_key`: signature, `iss`, `aud`,
/// `exp` and `nbf` (with [`LEEWAY_SECS`]), `iat` not in the future and a lifetime of at most
/// [`MAX_ACCESS_TOKEN_TTL_SECS`], all against the system clock. Call [`header_kid`] first to
/// find the key.
pub fn verify(
    token: &str,
    public_key: &[u8],
    issuer: &str,
    audience: &str,
) -> Result<Claims, Rejection> {
    if public_key.len() != 32 {
        return Err(Rejection::UnknownKey);
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_ed_der(public_key), &validation)
            .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Rejection::Signature,
            ErrorKind::ExpiredSignature => Rejection::Expired,
            ErrorKind::ImmatureSignature => Rejection::NotYetValid,
            ErrorKind::InvalidAudience => Rejection::Audience,
            ErrorKind::InvalidIssuer => Rejection::Issuer,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => Rejection::Algorithm,
            _ => Rejection::Malformed,
        })?;
    let claims = data.claims;
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    if claims.iat > now.saturating_add(LEEWAY_SECS) {
        return Err(Rejection::NotYetValid);
    }
    if claims.exp <= claims.iat || claims.exp - claims.iat > MAX_ACCESS_TOKEN_TTL_SECS {
        return Err(Rejection::Lifetime);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    const ISSUER: &str = "citadel:test";

    struct TestKey {
        pkcs8: Vec<u8>,
        public: Vec<u8>,
    }

    fn key() -> TestKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        TestKey {
            pkcs8: pkcs8.as_ref().to_vec(),
            public: pair.public_key().as_ref().to_vec(),
        }
    }

    fn now() -> u64 {
        time::OffsetDateTime::now_utc().unix_timestamp() as u64
    }

    fn claims() -> Claims {
        let now = now();
        Claims {
            iss: ISSUER.to_owned(),
            sub: "0190a0b4-0000-7000-8000-000000000001".to_owned(),
            aud: DEFAULT_AUDIENCE.to_owned(),
            scope: "invoke".to_owned(),
            client_id: "0190a0b4-0000-7000-8000-000000000002".to_owned(),
            iat: now,
            nbf: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            jti: "jti-1".to_owned(),
        }
    }

    fn check(token: &str, key: &TestKey) -> Result<Claims, Rejection> {
        header_kid(token)?;
        verify(token, &key.public, ISSUER, DEFAULT_AUDIENCE)
    }

    fn b64(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A token with the header replaced by `header`, keeping payload and signature.
    fn with_header(token: &str, header: serde_json::Value) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", b64(&header))
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let key = key();
        let token = sign(&claims(), "kid-1", &key.pkcs8).unwrap();
        assert!(looks_like_jwt(&token), "{token}");
        assert_eq!(header_kid(&token), Ok("kid-1".to_owned()));
        assert_eq!(check(&token, &key), Ok(claims_like(&token)));
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "at+jwt");
    }

    /// The claims inside `token`, read without verification (for comparing).
    fn claims_like(token: &str) -> Claims {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() {
        let key = key();
        let now = now();
        let mut expired = claims();
        expired.iat = now - 700;
        expired.nbf = now - 700;
        expired.exp = now - LEEWAY_SECS - 5;
        let token = sign(&expired, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::Expired));

        let mut within_leeway = claims();
        within_leeway.iat = now - 630;
        within_leeway.nbf = now - 630;
        within_leeway.exp = now - 30;
        let token = sign(&within_leeway, "k", &key.pkcs8).unwrap();
        assert!(check(&token, &key).is_ok());

        let mut early = claims();
        early.nbf = now + LEEWAY_SECS + 60;
        let token = sign(&early, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::NotYetValid));

        let mut issued_later = claims();
        issued_later.iat = now + LEEWAY_SECS + 60;
        issued_later.exp = issued_later.iat + 60;
        let token = sign(&issued_later, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::NotYetValid));
    }

    #[test]
    fn wrong_audience_issuer_and_lifetime_are_refused() {
        let key = key();
        let mut other_aud = claims();
        other_aud.aud = "billing".to_owned();
        let token = sign(&other_aud, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::Audience));

        let mut other_iss = claims();
        other_iss.iss = "citadel:another-home".to_owned();
        let token = sign(&other_iss, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::Issuer));

        let mut long = claims();
        long.exp = long.iat + MAX_ACCESS_TOKEN_TTL_SECS + 1;
        let token = sign(&long, "k", &key.pkcs8).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::Lifetime));
    }

    #[test]
    fn another_key_or_a_tampered_token_fails_the_signature() {
        let key = key();
        let token = sign(&claims(), "k", &key.pkcs8).unwrap();
        let other = self::key();
        assert_eq!(check(&token, &other), Err(Rejection::Signature));

        // Payload changed (scope widened), signature kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut widened = claims_like(&token);
        widened.scope = "control".to_owned();
        parts[1] = b64(&serde_json::to_value(&widened).unwrap());
        assert_eq!(check(&parts.join("."), &key), Err(Rejection::Signature));

        // Signature changed in its first byte.
        let mut signature = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(2).unwrap())
            .unwrap();
        signature[0] ^= 1;
        let (signed, _) = token.rsplit_once('.').unwrap();
        let flipped = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&signature));
        assert_eq!(check(&flipped, &key), Err(Rejection::Signature));

        // Signature cut short.
        let short = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&signature[..32]));
        assert!(check(&short, &key).is_err());
    }

    #[test]
    fn alg_none_and_algorithm_confusion_are_refused() {
        let key = key();
        let token = sign(&claims(), "k", &key.pkcs8).unwrap();
        let payload = token.split('.').nth(1).unwrap();

        let none = format!(
            "{}.{payload}.",
            b64(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k"}))
        );
        assert_eq!(check(&none, &key), Err(Rejection::Algorithm));
        assert!(!looks_like_jwt(&none));

        // HS256 with the public key as the HMAC secret: the classic confusion attack.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some("k".to_owned());
        let forged =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&key.public))
                .unwrap();
        assert_eq!(check(&forged, &key), Err(Rejection::Algorithm));
        // Even a verifier that skipped the header check refuses it.
        assert_eq!(
            verify(&forged, &key.public, ISSUER, DEFAULT_AUDIENCE),
            Err(Rejection::Algorithm)
        );

        for header in [
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt"}),
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k"}),
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k", "jku": "https://evil"}),
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k", "crit": ["exp"]}),
        ] {
            assert_eq!(
                check(&with_header(&token, header.clone()), &key),
                Err(Rejection::Algorithm),
                "{header}"
            );
        }
    }

    #[test]
    fn claims_of_the_wrong_type_or_missing_are_malformed() {
        let key = key();
        let now = now();
        let mut bad = serde_json::to_value(claims()).unwrap();
        bad["nbf"] = serde_json::json!((now + 100_000).to_string());
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some("k".to_owned());
        let token =
            jsonwebtoken::encode(&header, &bad, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap();
        assert!(check(&token, &key).is_err());

        let mut missing = serde_json::to_value(claims()).unwrap();
        missing.as_object_mut().unwrap().remove("exp");
        let token =
            jsonwebtoken::encode(&header, &missing, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap();
        assert_eq!(check(&token, &key), Err(Rejection::Malformed));

        for junk in ["", "a.b", "eyJ.x.y.z", "eyJhbGciOi$.e.s", "not a token"] {
            assert!(!looks_like_jwt(junk), "{junk}");
        }
        assert_eq!(
            header_kid("eyJub3QganNvbg.e30.c2ln"),
            Err(Rejection::Malformed)
        );
    }

    #[test]
    fn a_wrong_size_key_is_refused_without_panicking() {
        let key = key();
        let token = sign(&claims(), "k", &key.pkcs8).unwrap();
        assert_eq!(
            verify(&token, &key.public[..16], ISSUER, DEFAULT_AUDIENCE),
            Err(Rejection::UnknownKey)
        );
    }
}
