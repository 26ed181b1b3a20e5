//! `BlobStore`: put and read artifacts. Writes are staged, made durable, then published without ever
//! overwriting under their content address; reads authenticate every chunk and check the digest.
//! It never decides who may read: callers authorize before calling.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio_util::io::SyncIoBridge;

use crate::address::{record_location, staging_location, unique_location};
use crate::backend::{Backend, Staged};
use crate::config::BlobConfig;
use crate::error::{Error, IntegrityFailure, Result};
use crate::format::{ChunkCipher, ARTIFACT_ID_LEN, DEFAULT_CHUNK_SIZE, FORMAT_VERSION, HEADER_LEN};
use crate::kek::{random_fill, DataKey, Kek, KeyRing};
use crate::local::{run_blocking, sync_dir, FileSink};
use crate::reader::{self, ArtifactReader};
use crate::reference::{wrap_aad, ArtifactRef};
use crate::writer::{encrypt_into, Encrypted};

/// Most bytes `read_to_vec` reserves up front.
const READ_TO_VEC_PREALLOCATION: u64 = 64 * 1024 * 1024;

/// The artifact store: envelope-encrypted, content-addressed, in a local folder or an S3 bucket.
#[derive(Debug)]
pub struct BlobStore {
    backend: Backend,
    keys: KeyRing,
    /// Serializes publication within this process, so that concurrent puts of the same content agree
    /// on one object even where the server's conditional copy is not atomic (across processes, that
    /// takes a server whose `If-None-Match` is atomic, as Amazon S3's is).
    publishing: tokio::sync::Mutex<()>,
}

impl BlobStore {
    /// Opens the configured store and removes staging leftovers of earlier crashed writes.
    /// New data keys are wrapped by the ring's active key; reads unwrap with whichever held key
    /// the reference names.
    pub async fn open(config: &BlobConfig, keys: impl Into<KeyRing>) -> Result<Self> {
        let store = Self {
            backend: Backend::open(config).await?,
            keys: keys.into(),
            publishing: tokio::sync::Mutex::new(()),
        };
        let removed = store.cleanup_staging().await?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed abandoned staging objects from the artifact store"
            );
        }
        Ok(store)
    }

    /// Id of the key-encryption key new artifacts are wrapped with.
    pub fn kek_id(&self) -> &str {
        self.keys.active().id()
    }

    /// The key-encryption keys this store holds.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Stores everything `source` yields; returns the reference to keep in the database row. When it
    /// returns, the artifact is durable and published.
    pub async fn put_reader<R>(&self, source: R) -> Result<ArtifactRef>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Worker(format!("put_reader needs a Tokio runtime: {e}")))?;
        self.put(SyncIoBridge::new_with_handle(source, runtime), None)
            .await
    }

    /// Like [`BlobStore::put_reader`], but publishes only if the content's digest is `expected`
    /// (`sha256:<hex>`); otherwise nothing is published and the error is a digest mismatch. For
    /// sources whose digest is promised by someone else (a hub's LFS listing): the store's own
    /// hash is the check, so the bytes are hashed once.
    pub async fn put_reader_expecting<R>(&self, source: R, expected: &str) -> Result<ArtifactRef>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Worker(format!("put_reader needs a Tokio runtime: {e}")))?;
        self.put(
            SyncIoBridge::new_with_handle(source, runtime),
            Some(expected),
        )
        .await
    }

    /// Stores a local file.
    pub async fn put_file(&self, path: &Path) -> Result<ArtifactRef> {
        let owned = path.to_path_buf();
        let file =
            run_blocking(move || File::open(&owned).map_err(|e| Error::io(&owned, e))).await?;
        self.put(file, None).await
    }

    /// Stores an in-memory value.
    pub async fn put_bytes(&self, data: impl Into<Bytes>) -> Result<ArtifactRef> {
        self.put(Cursor::new(data.into()), None).await
    }

    /// Stores what a blocking reader yields (read on a worker thread).
    async fn put(
        &self,
        source: impl Read + Send + 'static,
        expected: Option<&str>,
    ) -> Result<ArtifactRef> {
        let mut artifact_id = [0u8; ARTIFACT_ID_LEN];
        random_fill(&mut artifact_id)?;
        let data_key = DataKey::generate()?;
        let cipher = ChunkCipher::new(data_key.aead()?, artifact_id, DEFAULT_CHUNK_SIZE)?;
        let mut sink = self
            .backend
            .stage(&staging_location(&hex::encode(artifact_id)))
            .await?;
        let encrypted = match encrypt_into(source, cipher, &mut sink).await {
            Ok(encrypted) => encrypted,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        };
        if let Some(expected) = expected {
            let actual = encrypted.digest.to_string();
            if actual != expected {
                sink.abort().await;
                return Err(IntegrityFailure::DigestMismatch {
                    expected: expected.to_owned(),
                    actual,
                }
                .into());
            }
        }
        let staged = sink.finish().await?;
        let reference = ArtifactRef {
            format_version: FORMAT_VERSION,
            digest: encrypted.digest.to_string(),
            size: encrypted.size,
            chunk_size: DEFAULT_CHUNK_SIZE,
            artifact_id: hex::encode(artifact_id),
            location: encrypted.digest.location(),
            kek_id: self.keys.active().id().to_string(),
            wrapped_key: self
                .keys
                .active()
                .wrap(&data_key, &wrap_aad(&artifact_id))?,
        };
        let published = self.publish(&staged, reference, encrypted).await;
        if let Err(e) = self.backend.discard(staged).await {
            tracing::warn!(error = %e, "could not remove a staging object; the next open removes it");
        }
        published
    }

    /// Publishes a staged artifact under its content address. If an artifact with the same content is
    /// already published there and this store's KEK can unwrap its key, that one is kept and its
    /// reference returned; otherwise this one is published under a location unique to it.
    async fn publish(
        &self,
        staged: &Staged,
        reference: ArtifactRef,
        encrypted: Encrypted,
    ) -> Result<ArtifactRef> {
        let _publishing = self.publishing.lock().await;
        let primary = encrypted.digest.location();
        if self.backend.publish(staged, &primary).await? {
            let record = serde_json::to_vec(&reference)
                .map_err(|e| Error::Worker(format!("serializing a reference: {e}")))?;
            self.backend
                .write_small(&record_location(&primary), record.into())
                .await?;
            return Ok(reference);
        }
        if let Some(existing) = self.adoptable(&reference).await? {
            return Ok(existing);
        }
        let unique = unique_location(&primary, &reference.artifact_id);
        if !self.backend.publish(staged, &unique).await? {
            return Err(Error::Worker(format!("{unique} unexpectedly exists")));
        }
        Ok(ArtifactRef {
            location: unique,
            ..reference
        })
    }

    /// The reference of the artifact already published at `ours.location`, if this store can use it.
    async fn adoptable(&self, ours: &ArtifactRef) -> Result<Option<ArtifactRef>> {
        let Some(record) = self
            .backend
            .read_small(&record_location(&ours.location))
            .await?
        else {
            return Ok(None);
        };
        let Ok(existing) = serde_json::from_slice::<ArtifactRef>(&record) else {
            return Ok(None);
        };
        let same_content = existing.digest == ours.digest
            && existing.size == ours.size
            && existing.location == ours.location;
        if same_content && existing.unwrap_key(&self.keys).is_ok() {
            Ok(Some(existing))
        } else {
            Ok(None)
        }
    }

    /// Opens a verifying reader over an artifact's plaintext.
    pub async fn open_reader(&self, reference: &ArtifactRef) -> Result<ArtifactReader> {
        let parsed = reference.parse()?;
        let data_key = reference.unwrap_key(&self.keys)?;
        let cipher = ChunkCipher::new(data_key.aead()?, parsed.artifact_id, reference.chunk_size)?;
        let source = self.backend.source(&reference.location).await?;
        Ok(reader::spawn(source, cipher, parsed.layout, parsed.digest))
    }

    /// Checks that the referenced object is sealed without reading its content: the data key
    /// unwraps under a key of the ring, and the stored header is this artifact's authenticated
    /// envelope header (magic, format, cipher suite, chunk size, artifact id and tag).
    pub async fn check_sealed(&self, reference: &ArtifactRef) -> Result<()> {
        let parsed = reference.parse()?;
        let data_key = reference.unwrap_key(&self.keys)?;
        let cipher = ChunkCipher::new(data_key.aead()?, parsed.artifact_id, reference.chunk_size)?;
        let mut source = self.backend.source(&reference.location).await?;
        let header = source.read_up_to(HEADER_LEN).await?;
        cipher.check_header(&header)?;
        Ok(())
    }

    /// Streams the plaintext into `writer`; returns the byte count. The writer may have received bytes
    /// before an integrity error at the end: use [`BlobStore::read_to_path`] for all-or-nothing output.
    pub async fn copy_to_writer<W>(&self, reference: &ArtifactRef, writer: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin,
    {
        let mut reader = self.open_reader(reference).await?;
        let mut written = 0u64;
        while let Some(chunk) = reader.next().await {
            let chunk = chunk?;
            writer.write_all(&chunk).await.map_err(Error::Stream)?;
            written += chunk.len() as u64;
        }
        writer.flush().await.map_err(Error::Stream)?;
        Ok(written)
    }

    /// Writes the plaintext to `dest` only if everything verified: the bytes go to a temporary file
    /// beside `dest`, fsync'd, then renamed over it. On failure nothing appears at `dest`.
    pub async fn read_to_path(&self, reference: &ArtifactRef, dest: &Path) -> Result<()> {
        let name = dest
            .file_name()
            .ok_or_else(|| Error::io(dest, std::io::ErrorKind::InvalidInput.into()))?;
        let temp = dest.with_file_name(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut reader = self.open_reader(reference).await?;
        let mut sink = FileSink::create(temp.clone(), false).await?;
        while let Some(chunk) = reader.next().await {
            let written = match chunk {
                Ok(chunk) => sink.write(chunk).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                sink.abort().await;
                return Err(e);
            }
        }
        drop(sink.finish().await?);
        let dest = dest.to_path_buf();
        run_blocking(move || {
            std::fs::rename(&temp, &dest).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                Error::io(&dest, e)
            })?;
            match dest.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
                _ => sync_dir(Path::new(".")),
            }
        })
        .await
    }

    /// Reads a (small) artifact into memory, verified.
    pub async fn read_to_vec(&self, reference: &ArtifactRef) -> Result<Vec<u8>> {
        // The size comes from a database row: trust it for a hint, not for an allocation.
        let capacity = usize::try_from(reference.size.min(READ_TO_VEC_PREALLOCATION)).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        self.copy_to_writer(reference, &mut out).await?;
        Ok(out)
    }

    /// Whether the referenced object is present (its content is checked only when read).
    pub async fn exists(&self, reference: &ArtifactRef) -> Result<bool> {
        reference.parse()?;
        self.backend.exists(&reference.location).await
    }

    /// Deletes the referenced object. Deduplicated artifacts share objects: the caller must delete only
    /// when no other row references the same location.
    pub async fn delete(&self, reference: &ArtifactRef) -> Result<()> {
        reference.parse()?;
        self.backend.delete(&reference.location).await?;
        self.backend
            .delete(&record_location(&reference.location))
            .await
    }

    /// Re-wraps an artifact's data key to `new` (unwrapping with this store's keys) without
    /// rewriting the artifact, and updates the deduplication record when it holds this artifact's
    /// old reference. Store the returned reference in place of the old one.
    pub async fn rewrap(&self, reference: &ArtifactRef, new: &Kek) -> Result<ArtifactRef> {
        let rewrapped = reference.rewrapped(&self.keys, new)?;
        let record_at = record_location(&reference.location);
        if let Some(record) = self.backend.read_small(&record_at).await? {
            let record = serde_json::from_slice::<ArtifactRef>(&record).ok();
            if record.as_ref() == Some(reference) {
                let updated = serde_json::to_vec(&rewrapped)
                    .map_err(|e| Error::Worker(format!("serializing a reference: {e}")))?;
                self.backend.write_small(&record_at, updated.into()).await?;
            }
        }
        Ok(rewrapped)
    }

    /// Removes abandoned staging objects (from crashed writes); returns how many.
    pub async fn cleanup_staging(&self) -> Result<usize> {
        self.backend.cleanup_staging().await
    }
}
