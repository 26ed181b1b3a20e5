//! Every environment variable Citadel reads, named once.

/// The Citadel home folder (config, keys, database, artifacts). Overridden by `--home`.
pub const HOME: &str = "CITADEL_HOME";
/// A personal access token to act with. Overridden by `--token`.
pub const TOKEN: &str = "CITADEL_TOKEN";
/// A database URL that overrides the config file's (`sqlite://…` or `postgres://…`).
pub const DATABASE_URL: &str = "CITADEL_DATABASE_URL";

/// Log filter for stderr (`warn` by default; e.g. `info`, `citadel_blob=debug`).
pub const LOG: &str = "CITADEL_LOG";
/// The key-encryption key (base64 of 32 bytes) for containers; replaces the home's key file.
pub const MASTER_KEY: &str = "CITADEL_MASTER_KEY";
/// The previous master key, set only while `citadel keys rotate` moves data keys off it.
pub const MASTER_KEY_PREVIOUS: &str = "CITADEL_MASTER_KEY_PREVIOUS";

/// The model hub `citadel model pull` talks to (default: config `hub.endpoint`).
pub const HUB_ENDPOINT: &str = "CITADEL_HUB_ENDPOINT";
/// A PEM file of certificate authorities to trust for the hub, besides the system's.
pub const HUB_CA_FILE: &str = "CITADEL_HUB_CA_FILE";

/// Reads a variable, treating an empty value as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
