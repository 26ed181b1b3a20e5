//! Signed checkpoints: Ed25519 signatures over `(seq, head hash, time)` of the chain.
//!
//! The signed message is the UTF-8 text
//! `"citadel-audit-checkpoint-v1\n{seq}\n{head_hash}\n{time}"` (no trailing newline). The key id is
//! the first 16 hex characters of SHA-256 of the 32-byte public key.

use std::fmt;

use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::AuditError;
use crate::event::format_time;

const CHECKPOINT_DOMAIN: &str = "citadel-audit-checkpoint-v1";

/// A signed statement that the chain had head `head_hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the last event covered.
    pub seq: u64,
    /// Hash of event `seq` (hex).
    pub head_hash: String,
    /// When it was signed (RFC 3339 UTC, microseconds).
    pub time: String,
    /// Which key signed it (see [`PublicKey::key_id`]).
    pub key_id: String,
    /// Ed25519 signature (hex) over [`Checkpoint::signed_message`].
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes that are signed.
    pub fn signed_message(seq: u64, head_hash: &str, time: &str) -> Vec<u8> {
        format!("{CHECKPOINT_DOMAIN}\n{seq}\n{head_hash}\n{time}").into_bytes()
    }

    /// Whether the signature is valid for `key` (and was made by it).
    pub fn verify_signature(&self, key: &PublicKey) -> bool {
        let Ok(signature) = hex::decode(&self.signature) else {
            return false;
        };
        self.key_id == key.key_id()
            && UnparsedPublicKey::new(&signature::ED25519, key.bytes)
                .verify(
                    &Self::signed_message(self.seq, &self.head_hash, &self.time),
                    &signature,
                )
                .is_ok()
    }
}

/// An Ed25519 public key that verifies checkpoints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
}

impl PublicKey {
    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| AuditError::InvalidPublicKey)?;
        Ok(PublicKey { bytes })
    }

    /// The key as lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// First 16 hex characters of SHA-256 of the key bytes.
    pub fn key_id(&self) -> String {
        let mut id = hex::encode(digest::digest(&digest::SHA256, &self.bytes));
        id.truncate(16);
        id
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// Holds the Ed25519 key pair that signs checkpoints. Its `Debug` shows only the key id.
pub struct Signer {
    key_pair: Ed25519KeyPair,
    public_key: PublicKey,
}

impl Signer {
    /// Generates a new key and returns its PKCS#8 v2 document (to be written to a 0600 file).
    pub fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, AuditError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AuditError::InvalidKey("cannot generate a key"))?;
        Ok(Zeroizing::new(document.as_ref().to_vec()))
    }

    /// Loads a key pair from a PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AuditError> {
        let key_pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| AuditError::InvalidKey("not an Ed25519 PKCS#8 document"))?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key_pair.public_key().as_ref());
        Ok(Signer {
            key_pair,
            public_key: PublicKey { bytes },
        })
    }

    /// The public half, for verification.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Signs a checkpoint at `seq` with chain head `head_hash`, dated `time`.
    pub fn sign(
        &self,
        seq: u64,
        head_hash: &str,
        time: OffsetDateTime,
    ) -> Result<Checkpoint, AuditError> {
        let time = format_time(time)?;
        let signature = self
            .key_pair
            .sign(&Checkpoint::signed_message(seq, head_hash, &time));
        Ok(Checkpoint {
            seq,
            head_hash: head_hash.to_owned(),
            time,
            key_id: self.public_key.key_id(),
            signature: hex::encode(signature.as_ref()),
        })
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.public_key.key_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn signer() -> Signer {
        Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap()
    }

    #[test]
    fn signed_checkpoint_verifies_and_tampering_fails() {
        let s = signer();
        let cp = s
            .sign(7, &"ab".repeat(32), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(cp.time, "1970-01-01T00:00:00.000000Z");
        assert!(cp.verify_signature(&s.public_key()));
        for edit in [
            |c: &mut Checkpoint| c.seq += 1,
            |c: &mut Checkpoint| c.head_hash = "cd".repeat(32),
            |c: &mut Checkpoint| c.time.push('x'),
            |c: &mut Checkpoint| c.signature = "00".repeat(64),
            |c: &mut Checkpoint| c.signature = "zz".into(),
        ] {
            let mut bad = cp.clone();
            edit(&mut bad);
            assert!(!bad.verify_signature(&s.public_key()));
        }
        assert!(!cp.verify_signature(&signer().public_key()));
    }

    #[test]
    fn key_id_and_hex_round_trip_and_debug_hides_the_secret() {
        let s = signer();
        let pk = PublicKey::from_hex(&s.public_key().to_hex()).unwrap();
        assert_eq!(pk, s.public_key());
        assert_eq!(pk.key_id().len(), 16);
        assert!(format!("{s:?}").contains(&pk.key_id()));
        assert!(PublicKey::from_hex("abcd").is_err());
        assert!(Signer::from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn signed_message_is_the_documented_text() {
        assert_eq!(
            Checkpoint::signed_message(3, "ff", "T"),
            b"citadel-audit-checkpoint-v1\n3\nff\nT".to_vec()
        );
    }
}
