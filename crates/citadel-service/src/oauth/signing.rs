//! JWT signing keys: Ed25519 pairs made with `ring`, named by their RFC 7638 thumbprint, their
//! private half sealed under a fresh data key wrapped by the home's key-encryption key (bound
//! to the kid, so a sealed key copied to another row does not open), and published as RFC 7517
//! JWKs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use citadel_blob::{DataKey, KeyRing, WrappedKey};
use citadel_store::SealedJwtKey;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{Error, Result};

const PRIVATE_KEY_CONTEXT: &[u8] = b"citadel-service/jwt-signing-key/v1";
const DATA_KEY_CONTEXT: &[u8] = b"citadel-service/jwt-signing-data-key/v1";

/// A new key pair, before it is sealed.
pub(crate) struct NewSigningKey {
    pub kid: String,
    pub public_key: [u8; 32],
    pub pkcs8: Zeroizing<Vec<u8>>,
}

/// Makes a new Ed25519 key pair.
pub(crate) fn generate() -> Result<NewSigningKey> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| Error::Crypto("cannot generate an Ed25519 key"))?;
    let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| Error::Crypto("cannot read the generated Ed25519 key"))?;
    let public_key: [u8; 32] = pair
        .public_key()
        .as_ref()
        .try_into()
        .map_err(|_| Error::Crypto("an Ed25519 public key has 32 bytes"))?;
    Ok(NewSigningKey {
        kid: thumbprint(&public_key),
        public_key,
        pkcs8,
    })
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key (base64url SHA-256 of the canonical
/// JWK members in lexicographic order).
pub(crate) fn thumbprint(public_key: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// The public key as a JWK (RFC 7517, RFC 8037).
pub(crate) fn jwk(kid: &str, public_key: &[u8]) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(public_key),
        "kid": kid,
        "use": "sig",
        "alg": "EdDSA",
    })
}

fn aad(context: &[u8], kid: &str) -> Vec<u8> {
    let mut aad = context.to_vec();
    aad.extend_from_slice(&(kid.len() as u64).to_be_bytes());
    aad.extend_from_slice(kid.as_bytes());
    aad
}

/// Seals a private key under a new data key wrapped by the ring's active key-encryption key.
pub(crate) fn seal(keys: &KeyRing, kid: &str, pkcs8: &[u8]) -> Result<SealedJwtKey> {
    let data_key = DataKey::generate()?;
    let active = keys.active();
    Ok(SealedJwtKey {
        private_key: data_key.seal(pkcs8, &aad(PRIVATE_KEY_CONTEXT, kid))?,
        wrapped_key: active
            .wrap(&data_key, &aad(DATA_KEY_CONTEXT, kid))?
            .as_bytes()
            .to_vec(),
        kek_id: active.id().to_owned(),
    })
}

/// Opens a sealed private key. `Ok(None)` when its key-encryption key is no longer held (a KEK
/// rotation destroyed it); an error when the bytes fail authentication.
pub(crate) fn open(
    keys: &KeyRing,
    kid: &str,
    sealed: &SealedJwtKey,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if keys.get(&sealed.kek_id).is_none() {
        return Ok(None);
    }
    let tampered = || {
        Error::Vault(citadel_vault::Error::Tampered {
            name: format!("JWT signing key {kid}"),
            version: 1,
        })
    };
    let wrapped = WrappedKey::from_bytes(&sealed.wrapped_key).map_err(|_| tampered())?;
    let data_key = keys
        .unwrap(&sealed.kek_id, &wrapped, &aad(DATA_KEY_CONTEXT, kid))
        .map_err(|_| tampered())?;
    let pkcs8 = data_key
        .open(&sealed.private_key, &aad(PRIVATE_KEY_CONTEXT, kid))
        .map_err(|_| tampered())?;
    Ok(Some(Zeroizing::new(pkcs8.to_vec())))
}

#[cfg(test)]
mod tests {
    use citadel_blob::Kek;

    use super::*;

    #[test]
    fn sealed_keys_open_only_under_their_kid_and_kek() {
        let keys = KeyRing::new(Kek::generate().unwrap());
        let key = generate().unwrap();
        assert_eq!(key.kid, thumbprint(&key.public_key));
        assert_eq!(key.kid.len(), 43);
        let sealed = seal(&keys, &key.kid, &key.pkcs8).unwrap();
        assert!(!sealed
            .private_key
            .windows(16)
            .any(|w| key.pkcs8.windows(16).any(|p| p == w)));
        let opened = open(&keys, &key.kid, &sealed).unwrap().unwrap();
        assert_eq!(opened.as_slice(), key.pkcs8.as_slice());

        assert!(matches!(
            open(&keys, "another-kid", &sealed),
            Err(Error::Vault(citadel_vault::Error::Tampered { .. }))
        ));
        let mut flipped = sealed.clone();
        flipped.private_key[20] ^= 1;
        assert!(open(&keys, &key.kid, &flipped).is_err());

        let other = KeyRing::new(Kek::generate().unwrap());
        assert!(open(&other, &key.kid, &sealed).unwrap().is_none());
    }

    #[test]
    fn jwks_entries_follow_rfc_8037() {
        let key = generate().unwrap();
        let jwk = jwk(&key.kid, &key.public_key);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "EdDSA");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x, key.public_key);
        assert!(jwk.get("d").is_none());
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
