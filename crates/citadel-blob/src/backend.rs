//! The storage backends behind one interface: staging, no-clobber publication, reads, records, cleanup.
//! Both go through `object_store`; the local folder adds fsync, staging locks and large-buffer IO.

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetResultPayload, ObjectStore, WriteMultipart};

use crate::address::STAGING_PREFIX;
use crate::config::BlobConfig;
use crate::error::{Error, Result};
use crate::local::{self, run_blocking, FileSink};

/// S3 multipart part size (S3 requires at least 5 MiB except for the last part).
const S3_PART_BYTES: usize = 16 * 1024 * 1024;
/// S3 parts uploaded concurrently.
const S3_PARTS_IN_FLIGHT: usize = 4;

/// One configured storage backend.
#[derive(Debug)]
pub(crate) struct Backend {
    store: Arc<dyn ObjectStore>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Local { root: PathBuf },
    S3 { staging_grace: Duration },
}

/// An object being written under the staging prefix.
pub(crate) enum StagingSink {
    Local(FileSink),
    S3 {
        upload: WriteMultipart,
        location: ObjectPath,
    },
}

/// A complete, durable staging object waiting to be published.
#[derive(Debug)]
pub(crate) enum Staged {
    /// The open file keeps the staging lock until the staged object is discarded.
    Local {
        path: PathBuf,
        _lock: File,
    },
    S3 {
        location: ObjectPath,
    },
}

/// The stored bytes of an object, read in large pieces.
pub(crate) enum CipherSource {
    File(Option<File>),
    Stream {
        stream: BoxStream<'static, object_store::Result<Bytes>>,
        buffer: BytesMut,
    },
}

impl Backend {
    /// Connects to (or creates the folder of) the configured backend.
    pub(crate) async fn open(config: &BlobConfig) -> Result<Self> {
        match config {
            BlobConfig::Local { path } => {
                let root = path.clone();
                let staging = root.join(STAGING_PREFIX);
                run_blocking(move || {
                    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))
                })
                .await?;
                let store = LocalFileSystem::new_with_prefix(path)?;
                let root = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
                Ok(Self {
                    store: Arc::new(store),
                    kind: Kind::Local { root },
                })
            }
            BlobConfig::S3 {
                endpoint,
                bucket,
                region,
                prefix,
                allow_http,
                staging_grace_secs,
            } => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http)
                    .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| Error::Config(format!("S3 bucket {bucket:?}: {e}")))?;
                let store: Arc<dyn ObjectStore> = match prefix.as_deref() {
                    Some(prefix) if !prefix.is_empty() => Arc::new(PrefixStore::new(
                        s3,
                        ObjectPath::parse(prefix)
                            .map_err(|e| Error::Config(format!("S3 prefix: {e}")))?,
                    )),
                    _ => Arc::new(s3),
                };
                Ok(Self {
                    store,
                    kind: Kind::S3 {
                        staging_grace: Duration::from_secs(*staging_grace_secs),
                    },
                })
            }
        }
    }

    /// Starts writing a staging object named `name`.
    pub(crate) async fn stage(&self, name: &str) -> Result<StagingSink> {
        let location = object_path(name)?;
        match &self.kind {
            Kind::Local { root } => {
                let sink = FileSink::create(root.join(location.as_ref()), true).await?;
                Ok(StagingSink::Local(sink))
            }
            Kind::S3 { .. } => {
                let upload = self.store.put_multipart(&location).await?;
                Ok(StagingSink::S3 {
                    upload: WriteMultipart::new_with_chunk_size(upload, S3_PART_BYTES),
                    location,
                })
            }
        }
    }

    /// Publishes a staged object at `location` unless an object is already there; returns whether it
    /// published. Never overwrites. The staged object stays until [`Backend::discard`].
    pub(crate) async fn publish(&self, staged: &Staged, location: &str) -> Result<bool> {
        let dest = object_path(location)?;
        match (staged, &self.kind) {
            (Staged::Local { path, .. }, Kind::Local { root }) => {
                let (staged, dest, root) = (path.clone(), root.join(dest.as_ref()), root.clone());
                run_blocking(move || local::publish_no_clobber(&staged, &dest, &root)).await
            }
            (Staged::S3 { location: source }, Kind::S3 { .. }) => {
                if self.exists(location).await? {
                    return Ok(false);
                }
                match self.store.copy_if_not_exists(source, &dest).await {
                    Ok(()) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Err(Error::Worker("staged object from another backend".into())),
        }
    }

    /// Removes a staging object (and releases its lock).
    pub(crate) async fn discard(&self, staged: Staged) -> Result<()> {
        match staged {
            Staged::Local { path, _lock } => {
                run_blocking(move || {
                    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    drop(_lock);
                    Ok(())
                })
                .await
            }
            Staged::S3 { location } => Ok(self.store.delete(&location).await?),
        }
    }

    /// Opens an object for reading.
    pub(crate) async fn source(&self, location: &str) -> Result<CipherSource> {
        let result = self
            .store
            .get(&object_path(location)?)
            .await
            .map_err(|e| not_found(e, location))?;
        Ok(match result.payload {
            GetResultPayload::File(file, _) => CipherSource::File(Some(file)),
            GetResultPayload::Stream(stream) => CipherSource::Stream {
                stream,
                buffer: BytesMut::new(),
            },
        })
    }

    pub(crate) async fn exists(&self, location: &str) -> Result<bool> {
        match self.store.head(&object_path(location)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub(crate) async fn delete(&self, location: &str) -> Result<()> {
        match self.store.delete(&object_path(location)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes (or replaces) a small object atomically and durably.
    pub(crate) async fn write_small(&self, location: &str, data: Bytes) -> Result<()> {
        let dest = object_path(location)?;
        match &self.kind {
            Kind::Local { root } => {
                let (dest, root) = (root.join(dest.as_ref()), root.clone());
                run_blocking(move || {
                    local::write_durable(&dest, &data, &root.join(STAGING_PREFIX), &root)
                })
                .await
            }
            Kind::S3 { .. } => {
                self.store.put(&dest, data.into()).await?;
                Ok(())
            }
        }
    }

    /// Reads a small object whole; `None` when it does not exist.
    pub(crate) async fn read_small(&self, location: &str) -> Result<Option<Bytes>> {
        match self.store.get(&object_path(location)?).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes abandoned staging objects; returns how many. Local: every file no live writer holds
    /// locked. S3: objects older than the configured grace (younger ones may be mid-publication).
    pub(crate) async fn cleanup_staging(&self) -> Result<usize> {
        match &self.kind {
            Kind::Local { root } => {
                let staging = root.join(STAGING_PREFIX);
                run_blocking(move || local::cleanup_staging_dir(&staging)).await
            }
            Kind::S3 { staging_grace } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let cutoff = now.saturating_sub(*staging_grace).as_secs();
                let prefix = ObjectPath::from(STAGING_PREFIX);
                let leftovers: Vec<_> = self
                    .store
                    .list(Some(&prefix))
                    .try_filter(|meta| {
                        let old = u64::try_from(meta.last_modified.timestamp())
                            .is_ok_and(|modified| modified <= cutoff);
                        futures::future::ready(old)
                    })
                    .try_collect()
                    .await?;
                for meta in &leftovers {
                    self.delete(meta.location.as_ref()).await?;
                }
                Ok(leftovers.len())
            }
        }
    }
}

impl StagingSink {
    /// Appends stored bytes.
    pub(crate) async fn write(&mut self, data: Bytes) -> Result<()> {
        match self {
            StagingSink::Local(sink) => sink.write(data).await,
            StagingSink::S3 { upload, .. } => {
                upload.wait_for_capacity(S3_PARTS_IN_FLIGHT).await?;
                upload.put(data);
                Ok(())
            }
        }
    }

    /// Completes the staging object durably.
    pub(crate) async fn finish(self) -> Result<Staged> {
        match self {
            StagingSink::Local(sink) => {
                let path = sink.path().to_path_buf();
                let lock = sink.finish().await?;
                Ok(Staged::Local { path, _lock: lock })
            }
            StagingSink::S3 { upload, location } => {
                upload.finish().await?;
                Ok(Staged::S3 { location })
            }
        }
    }

    /// Abandons the staging object.
    pub(crate) async fn abort(self) {
        match self {
            StagingSink::Local(sink) => sink.abort().await,
            // Parts of an aborted upload are never visible; a bucket lifecycle rule reclaims any left over.
            StagingSink::S3 { upload, .. } => drop(upload.abort().await),
        }
    }
}

impl CipherSource {
    /// Reads up to `len` bytes, fewer only at the end of the object.
    pub(crate) async fn read_up_to(&mut self, len: usize) -> Result<BytesMut> {
        match self {
            CipherSource::File(slot) => {
                let mut file = slot
                    .take()
                    .ok_or_else(|| Error::Worker("file source used after a failure".into()))?;
                let (file, data) = run_blocking(move || {
                    let mut data = Vec::with_capacity(len);
                    (&mut file)
                        .take(len as u64)
                        .read_to_end(&mut data)
                        .map_err(Error::Stream)?;
                    Ok((file, data))
                })
                .await?;
                *slot = Some(file);
                // A freshly read vector is uniquely owned, so this conversion does not copy.
                Ok(Bytes::from(data)
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..])))
            }
            CipherSource::Stream { stream, buffer } => {
                while buffer.len() < len {
                    match stream.next().await {
                        Some(piece) => buffer.extend_from_slice(&piece?),
                        None => break,
                    }
                }
                Ok(buffer.split_to(len.min(buffer.len())))
            }
        }
    }
}

/// An `object_store` path from one of this crate's object keys.
fn object_path(location: &str) -> Result<ObjectPath> {
    ObjectPath::parse(location)
        .map_err(|e| Error::InvalidRef(format!("location {location:?}: {e}")))
}

fn not_found(error: object_store::Error, location: &str) -> Error {
    match error {
        object_store::Error::NotFound { .. } => Error::NotFound {
            location: location.to_string(),
        },
        other => other.into(),
    }
}
