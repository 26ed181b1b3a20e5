//! Test fixtures: a store on a temporary local folder or on the S3 test server, raw object access for
//! tampering, deterministic test data, and a macro running one check on every available backend.

use std::sync::Arc;

use citadel_blob::{ArtifactRef, BlobConfig, BlobStore, Error, IntegrityFailure, Kek, KeyRing};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use tempfile::TempDir;

/// Chunk size of artifacts written by the store.
pub const CHUNK: usize = citadel_blob::DEFAULT_CHUNK_SIZE as usize;
/// Header bytes before the first frame.
pub const HEADER: usize = 48;
/// Stored bytes of one full frame (chunk plus tag).
pub const FRAME: usize = CHUNK + 16;

/// A store plus raw access to the objects beneath it.
pub struct Fixture {
    pub config: BlobConfig,
    pub kek: Arc<Kek>,
    pub store: BlobStore,
    pub raw: Arc<dyn ObjectStore>,
    pub dir: Option<TempDir>,
}

impl Fixture {
    pub async fn local() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = BlobConfig::local(dir.path().join("blobs"));
        let kek = Arc::new(Kek::generate().unwrap());
        let store = BlobStore::open(&config, kek.clone()).await.unwrap();
        let raw = Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("blobs")).unwrap());
        Fixture {
            config,
            kek,
            store,
            raw,
            dir: Some(dir),
        }
    }

    /// A fixture on the S3 test server under a fresh prefix, or `None` when no server is configured.
    pub async fn s3() -> Option<Fixture> {
        let endpoint = std::env::var("CITADEL_TEST_S3_ENDPOINT").ok()?;
        let bucket =
            std::env::var("CITADEL_TEST_S3_BUCKET").unwrap_or_else(|_| "citadel-test".into());
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let config = BlobConfig::S3 {
            endpoint: Some(endpoint.clone()),
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            prefix: Some(prefix.clone()),
            allow_http: true,
            staging_grace_secs: 0,
        };
        let kek = Arc::new(Kek::generate().unwrap());
        let store = BlobStore::open(&config, kek.clone()).await.unwrap();
        let s3 = AmazonS3Builder::from_env()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_allow_http(true)
            .build()
            .unwrap();
        let raw = Arc::new(PrefixStore::new(s3, ObjectPath::from(prefix)));
        Some(Fixture {
            config,
            kek,
            store,
            raw,
            dir: None,
        })
    }

    /// A second store on the same storage, with the given KEK (runs the open-time cleanup).
    pub async fn reopen_with(&self, kek: Arc<Kek>) -> BlobStore {
        BlobStore::open(&self.config, kek).await.unwrap()
    }

    pub async fn reopen_with_ring(&self, keys: KeyRing) -> BlobStore {
        BlobStore::open(&self.config, keys).await.unwrap()
    }

    pub async fn raw_get(&self, location: &str) -> Vec<u8> {
        let path = ObjectPath::parse(location).unwrap();
        self.raw
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    pub async fn raw_put(&self, location: &str, data: Vec<u8>) {
        let path = ObjectPath::parse(location).unwrap();
        self.raw.put(&path, data.into()).await.unwrap();
    }

    /// Object keys under `prefix`, sorted.
    pub async fn raw_list(&self, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt as _;
        let prefix = ObjectPath::from(prefix);
        let mut keys: Vec<String> = self
            .raw
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// Rewrites the stored object of `reference` through `edit`.
    pub async fn tamper(&self, reference: &ArtifactRef, edit: impl FnOnce(&mut Vec<u8>)) {
        let mut stored = self.raw_get(&reference.location).await;
        edit(&mut stored);
        self.raw_put(&reference.location, stored).await;
    }
}

/// Deterministic, incompressible-looking bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Asserts that `result` is an integrity error and returns which check failed.
pub fn integrity<T: std::fmt::Debug>(result: Result<T, Error>) -> IntegrityFailure {
    match result {
        Err(Error::Integrity { what }) => what,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

/// Defines `local::NAME` and `s3::NAME` tests running `NAME(&Fixture)` on each backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&crate::support::Fixture::local().await).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match crate::support::Fixture::s3().await {
                        Some(fixture) => super::$name(&fixture).await,
                        None => eprintln!("CITADEL_TEST_S3_ENDPOINT not set: S3 test skipped"),
                    }
                }
            )*
        }
    };
}
pub(crate) use on_every_backend;
