//! Key-encryption key (KEK), per-artifact data keys, and wrapping one with the other (AES-256-GCM, ring).
//!
//! Loading or creating the KEK file is the caller's job; this module only holds keys in memory, zeroizes
//! them on drop, and never prints them: `Debug` shows the key id only.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length in bytes of every symmetric key in this crate (AES-256).
pub const KEY_LEN: usize = 32;

/// Length of a wrapped data key: random nonce, encrypted key, authentication tag.
const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + 16;

/// Fills `out` from the operating system's secure random generator.
pub(crate) fn random_fill(out: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| Error::Key("the system random generator failed"))
}

/// Builds an AES-256-GCM key from raw bytes.
fn aead_key(bytes: &[u8; KEY_LEN]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Key("invalid AES-256 key"))
}

/// The key-encryption key: wraps and unwraps data keys. Identified by a stable, non-secret key id.
pub struct Kek {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl Kek {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(key.as_mut())?;
        Ok(Self::from_key(key))
    }

    /// A key from its 32 raw bytes (as read from a key file or a key provider).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::Key("a key-encryption key must be exactly 32 bytes"))?;
        Ok(Self::from_key(Zeroizing::new(array)))
    }

    fn from_key(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, key.as_ref());
        let id = hex::encode(&digest.as_ref()[..8]);
        Self { key, id }
    }

    /// The raw key bytes, for writing the key file; zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(*self.key)
    }

    /// Stable public id: hex of the first 8 bytes of SHA-256 of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `data_key` under this KEK, bound to `aad` (which must be given again to unwrap).
    pub fn wrap(&self, data_key: &DataKey, aad: &[u8]) -> Result<WrappedKey> {
        let mut nonce = [0u8; NONCE_LEN];
        random_fill(&mut nonce)?;
        let mut sealed = Vec::with_capacity(WRAPPED_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(data_key.key.as_ref());
        let tag = aead_key(&self.key)?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed[NONCE_LEN..],
            )
            .map_err(|_| Error::Key("wrapping the data key failed"))?;
        sealed.extend_from_slice(tag.as_ref());
        Ok(WrappedKey(sealed))
    }

    /// Decrypts a wrapped data key; fails with [`Error::Unwrap`] on a wrong KEK, wrong `aad` or tampering.
    pub fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey> {
        let (nonce, sealed) = wrapped
            .0
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(Error::Unwrap)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain = aead_key(&self.key)?
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buffer,
            )
            .map_err(|_| Error::Unwrap)?;
        let key: [u8; KEY_LEN] = (&*plain).try_into().map_err(|_| Error::Unwrap)?;
        Ok(DataKey {
            key: Zeroizing::new(key),
        })
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The key-encryption keys a process holds: the active one, which wraps new data keys, and any
/// others still needed to unwrap data keys (a key being rotated away, or the next key of a
/// rotation interrupted after its commit). Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<Kek>,
    others: Vec<Arc<Kek>>,
}

impl KeyRing {
    /// A ring holding only `active`.
    pub fn new(active: impl Into<Arc<Kek>>) -> Self {
        Self {
            active: active.into(),
            others: Vec::new(),
        }
    }

    /// The same ring also holding `kek` for unwrapping (ignored when already held).
    pub fn with_other(mut self, kek: impl Into<Arc<Kek>>) -> Self {
        let kek = kek.into();
        if self.get(kek.id()).is_none() {
            self.others.push(kek);
        }
        self
    }

    /// The key that wraps new data keys.
    pub fn active(&self) -> &Arc<Kek> {
        &self.active
    }

    /// The held key with this id, active or not.
    pub fn get(&self, kek_id: &str) -> Option<&Arc<Kek>> {
        std::iter::once(&self.active)
            .chain(&self.others)
            .find(|kek| kek.id() == kek_id)
    }

    /// Ids of every held key, active first.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(&self.active)
            .chain(&self.others)
            .map(|kek| kek.id().to_owned())
            .collect()
    }

    /// Unwraps a data key wrapped by the key `kek_id`, which must be held.
    pub fn unwrap(&self, kek_id: &str, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey> {
        let kek = self.get(kek_id).ok_or_else(|| Error::KekMismatch {
            wrapped_by: kek_id.to_owned(),
            offered: self.ids().join(", "),
        })?;
        kek.unwrap(wrapped, aad)
    }
}

impl From<Arc<Kek>> for KeyRing {
    fn from(kek: Arc<Kek>) -> Self {
        Self::new(kek)
    }
}

impl From<Kek> for KeyRing {
    fn from(kek: Kek) -> Self {
        Self::new(kek)
    }
}

/// A per-artifact (or per-secret) data key; zeroized on drop, never printed.
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(key.as_mut())?;
        Ok(Self { key })
    }

    /// A 32-byte key derived from this data key for one purpose (HKDF-SHA256 with `label`), so one
    /// wrapped key can serve several uses (a dataset's salt, pseudonym key and encryption key)
    /// without any of them revealing another.
    pub fn derive(&self, label: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                KEY_LEN
            }
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"citadel-blob/derive/v1");
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        salt.extract(self.key.as_ref())
            .expand(&[label], Len)
            .and_then(|okm| okm.fill(out.as_mut()))
            .map_err(|_| Error::Key("deriving a key failed"))?;
        Ok(out)
    }

    /// Encrypts a short message (a secret value) under this data key, bound to `aad`:
    /// `nonce (12) ‖ ciphertext ‖ tag (16)`. Each data key seals one message, so a random nonce
    /// never repeats under a key.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random_fill(&mut nonce)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        let tag = self
            .aead()?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed[NONCE_LEN..],
            )
            .map_err(|_| Error::Key("sealing the message failed"))?;
        sealed.extend_from_slice(tag.as_ref());
        Ok(sealed)
    }

    /// Decrypts what [`DataKey::seal`] produced; fails with [`Error::Unwrap`] on a wrong key,
    /// wrong `aad` or tampering. The plaintext is zeroized when dropped.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (nonce, body) = sealed
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(Error::Unwrap)?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let len = self
            .aead()?
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buffer,
            )
            .map_err(|_| Error::Unwrap)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }

    /// The AES-256-GCM key for sealing or opening content with this data key.
    pub(crate) fn aead(&self) -> Result<LessSafeKey> {
        aead_key(&self.key)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A data key encrypted by a KEK: `nonce (12) ‖ ciphertext (32) ‖ tag (16)`, serialized as base64.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    /// The wrapped bytes (not secret: they are encrypted).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parses wrapped bytes, checking only their length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() == WRAPPED_LEN {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(Error::InvalidRef(format!(
                "a wrapped key is {WRAPPED_LEN} bytes, got {}",
                bytes.len()
            )))
        }
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({})", BASE64.encode(&self.0))
    }
}

impl Serialize for WrappedKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for WrappedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = BASE64.decode(text).map_err(serde::de::Error::custom)?;
        WrappedKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip_and_bindings() {
        let kek = Kek::generate().unwrap();
        let data_key = DataKey::generate().unwrap();
        let wrapped = kek.wrap(&data_key, b"aad-1").unwrap();
        let unwrapped = kek.unwrap(&wrapped, b"aad-1").unwrap();
        assert_eq!(*unwrapped.key, *data_key.key);
        assert!(matches!(kek.unwrap(&wrapped, b"aad-2"), Err(Error::Unwrap)));
        let other = Kek::generate().unwrap();
        assert!(matches!(
            other.unwrap(&wrapped, b"aad-1"),
            Err(Error::Unwrap)
        ));
        let mut tampered = wrapped.as_bytes().to_vec();
        tampered[20] ^= 1;
        let tampered = WrappedKey::from_bytes(&tampered).unwrap();
        assert!(matches!(
            kek.unwrap(&tampered, b"aad-1"),
            Err(Error::Unwrap)
        ));
    }

    #[test]
    fn key_id_is_stable_and_debug_hides_the_key() {
        let kek = Kek::generate().unwrap();
        let again = Kek::from_bytes(kek.to_bytes().as_ref()).unwrap();
        assert_eq!(kek.id(), again.id());
        assert_eq!(kek.id().len(), 16);
        let debug = format!("{kek:?}");
        assert!(debug.contains(kek.id()));
        assert!(!debug.contains(&hex::encode(kek.to_bytes().as_ref())));
        assert_eq!(format!("{:?}", DataKey::generate().unwrap()), "DataKey(..)");
        assert!(Kek::from_bytes(&[0u8; 31]).is_err());
    }

    #[test]
    fn key_ring_finds_keys_by_id() {
        let active = Kek::generate().unwrap();
        let old = Kek::generate().unwrap();
        let data_key = DataKey::generate().unwrap();
        let wrapped = old.wrap(&data_key, b"a").unwrap();
        let old_id = old.id().to_owned();
        let ring = KeyRing::new(active).with_other(old);
        assert_eq!(ring.ids().len(), 2);
        assert!(ring.unwrap(&old_id, &wrapped, b"a").is_ok());
        let alone = KeyRing::new(Kek::generate().unwrap());
        assert!(matches!(
            alone.unwrap(&old_id, &wrapped, b"a"),
            Err(Error::KekMismatch { .. })
        ));
    }

    #[test]
    fn derived_keys_differ_by_label_and_are_stable() {
        let key = DataKey::generate().unwrap();
        let salt = key.derive(b"salt").unwrap();
        assert_eq!(*salt, *key.derive(b"salt").unwrap());
        assert_ne!(*salt, *key.derive(b"pseudonym").unwrap());
        assert_ne!(
            *salt,
            *DataKey::generate().unwrap().derive(b"salt").unwrap()
        );
    }

    #[test]
    fn sealed_messages_are_bound_to_key_and_aad() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"hunter2", b"scope/key/1").unwrap();
        assert_eq!(&*key.open(&sealed, b"scope/key/1").unwrap(), b"hunter2");
        assert!(key.open(&sealed, b"scope/other/1").is_err());
        assert!(DataKey::generate()
            .unwrap()
            .open(&sealed, b"scope/key/1")
            .is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(key.open(&tampered, b"scope/key/1").is_err());
        assert!(key.open(&sealed[..5], b"scope/key/1").is_err());
    }

    #[test]
    fn wrapped_key_serializes_as_base64() {
        let kek = Kek::generate().unwrap();
        let wrapped = kek.wrap(&DataKey::generate().unwrap(), b"x").unwrap();
        let json = serde_json::to_string(&wrapped).unwrap();
        let back: WrappedKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, wrapped);
        assert!(serde_json::from_str::<WrappedKey>("\"AAAA\"").is_err());
    }
}
