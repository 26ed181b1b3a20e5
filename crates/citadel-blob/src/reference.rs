//! `ArtifactRef`: what the caller stores in its database row to find, decrypt and verify an artifact.

use serde::{Deserialize, Serialize};

use crate::address::{check_location, Digest};
use crate::error::{Error, Result};
use crate::format::{ArtifactId, Layout, ARTIFACT_ID_LEN, FORMAT_VERSION};
use crate::kek::{DataKey, Kek, KeyRing, WrappedKey};

/// Domain separation for the associated data of a wrapped artifact data key.
const WRAP_CONTEXT: &[u8] = b"citadel-blob/data-key/v1";

/// A stored artifact: its content address, where it lies, and its data key wrapped by a KEK.
///
/// The wrapped key lives here (in the caller's database), not in the artifact, so rotating the KEK
/// re-wraps keys without rewriting artifacts ([`crate::BlobStore::rewrap`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// Artifact format version.
    pub format_version: u16,
    /// `sha256:<hex>` of the plaintext.
    pub digest: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Random id bound into every chunk (hex).
    pub artifact_id: String,
    /// Object key in the store.
    pub location: String,
    /// Id of the KEK that wraps the data key.
    pub kek_id: String,
    /// The artifact's data key, wrapped by that KEK.
    pub wrapped_key: WrappedKey,
}

/// The checked parts of a reference that reading needs.
pub(crate) struct Parsed {
    pub(crate) digest: Digest,
    pub(crate) artifact_id: ArtifactId,
    pub(crate) layout: Layout,
}

impl ArtifactRef {
    /// The same artifact with its data key re-wrapped to `new`. Pure: touches no storage.
    /// `keys` must hold the key that wraps it now.
    pub fn rewrapped(&self, keys: &KeyRing, new: &Kek) -> Result<ArtifactRef> {
        let data_key = self.unwrap_key(keys)?;
        let artifact_id = self.parse()?.artifact_id;
        Ok(ArtifactRef {
            kek_id: new.id().to_string(),
            wrapped_key: new.wrap(&data_key, &wrap_aad(&artifact_id))?,
            ..self.clone()
        })
    }

    /// Unwraps the data key with the key of `keys` the reference names.
    pub(crate) fn unwrap_key(&self, keys: &KeyRing) -> Result<DataKey> {
        keys.unwrap(
            &self.kek_id,
            &self.wrapped_key,
            &wrap_aad(&self.parse()?.artifact_id),
        )
    }

    /// Validates the fields and derives what reading needs.
    pub(crate) fn parse(&self) -> Result<Parsed> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::InvalidRef(format!(
                "unsupported format version {}",
                self.format_version
            )));
        }
        let digest = Digest::parse(&self.digest)?;
        check_location(&digest, &self.location)?;
        let artifact_id = hex::decode(&self.artifact_id)
            .ok()
            .and_then(|bytes| <[u8; ARTIFACT_ID_LEN]>::try_from(bytes).ok())
            .ok_or_else(|| Error::InvalidRef("artifact id is not 32 hex digits".into()))?;
        Ok(Parsed {
            digest,
            artifact_id,
            layout: Layout::new(self.size, self.chunk_size)?,
        })
    }
}

/// Associated data binding a wrapped data key to its artifact.
pub(crate) fn wrap_aad(artifact_id: &ArtifactId) -> Vec<u8> {
    [WRAP_CONTEXT, artifact_id.as_slice()].concat()
}
