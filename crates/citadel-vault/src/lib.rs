//! citadel-vault: the keys that protect everything else, and secret values at rest.
//!
//! - [`KeyProvider`] holds the key-encryption key (KEK) that wraps every data key. Two providers
//!   ship: [`FileKeyProvider`] (the 0600 key file `citadel init` makes, the default) and
//!   [`EnvKeyProvider`] (`CITADEL_MASTER_KEY`, for containers). An external KMS plugs in behind
//!   the same trait (see `docs/SECURITY.md`). Rotation is a three-step protocol (prepare, commit,
//!   or abort) so that a crash at any point leaves every data key unwrappable.
//! - [`seal_secret`] and [`open_secret`] encrypt one secret version under its own data key,
//!   binding the scope, key name and version as associated data: a sealed value copied to another
//!   name or version does not decrypt. Opened values come back only as [`secrecy::SecretString`]
//!   and are registered with [`citadel_redact`] so they are masked wherever they reappear.
//!
//! Who may read which secret is the service layer's decision; this crate only keeps the bytes safe.

mod error;
mod keyfile;
mod provider;
mod secret;

pub use error::{Error, Result};
pub use keyfile::encode_key;
pub use provider::{EnvKeyProvider, FileKeyProvider, KeyProvider};
pub use secret::{
    open_secret, rewrap_secret_key, seal_secret, validate_secret_name, SealedSecret,
    SecretCoordinates, MAX_SECRET_BYTES,
};
