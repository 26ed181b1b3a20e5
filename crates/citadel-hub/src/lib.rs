//! Model acquisition: a hub client that pins a revision to a commit and checks every file's hash,
//! local import, the file policy (allow-list, traversal, remote code), content scanners for
//! safetensors and pickle files, and signed manifests in the OpenSSF model-signing layout.
//!
//! This crate decides whether bytes may be trusted; it never loads weights, and it never decides
//! who may read them (the service layer does).

pub mod client;
mod digest;
mod error;
pub mod files;
pub mod local;
pub mod loopback;
pub mod manifest;
pub mod scan;

pub use digest::{git_blob_id, GitBlobHasher, Sha256Hasher};
pub use error::{HubError, Result};
