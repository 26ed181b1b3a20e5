//! Every environment variable Citadel reads, named once.

/// The Citadel home folder (config, keys, database, artifacts). Overridden by `--home`.
pub const HOME: &str = "CITADEL_HOME";
/// A personal access token to act with. Overridden by `--token`.
pub const TOKEN: &str = "CITADEL_TOKEN";
/// A database URL that overrides the config file's (`sqlite://…` or `postgres://…`).
pub const DATABASE_URL: &str = "CITADEL_DATABASE_URL";

/// Reads a variable, treating an empty value as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
