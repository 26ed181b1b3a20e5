//! citadel-blob: Citadel's artifact store.
//!
//! Artifacts are envelope-encrypted (a fresh AES-256 data key per artifact, wrapped by the
//! key-encryption key [`Kek`]), framed in authenticated chunks (see `FORMAT.md`), content-addressed by
//! the SHA-256 of their plaintext, and kept in a local folder or an S3-compatible bucket through
//! `object_store`. Writes and reads stream with bounded memory; every read is verified; a write is
//! published atomically and only once durable. [`ArtifactRef`] is what callers keep in their database.
//!
//! This crate never decides who may read an artifact: authorization happens before it is called.

mod address;
mod backend;
mod bench;
mod config;
mod error;
mod format;
mod kek;
mod local;
mod reader;
mod reference;
mod store;
mod writer;

pub use bench::{bench_throughput, ThroughputReport};
pub use config::BlobConfig;
pub use error::{Error, IntegrityFailure, Result};
pub use format::{DEFAULT_CHUNK_SIZE, FORMAT_VERSION};
pub use kek::{DataKey, Kek, KeyRing, WrappedKey, KEY_LEN};
pub use reader::ArtifactReader;
pub use reference::ArtifactRef;
pub use store::BlobStore;
