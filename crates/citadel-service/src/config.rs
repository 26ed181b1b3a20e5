//! `citadel.toml`: compiled defaults, then the file, then `CITADEL_*` environment variables, then
//! flags; validated after loading.

use std::collections::BTreeMap;
use std::path::PathBuf;

use citadel_blob::BlobConfig;
use citadel_registry::budget::Budget;
use citadel_registry::gates::GatePolicies;
use serde::{Deserialize, Serialize};

use crate::{env, Error, Home, Result};

/// Citadel's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default = "default_artifacts")]
    pub artifacts: BlobConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub tokens: TokenConfig,
    #[serde(default)]
    pub hub: HubConfig,
    /// Quality gates on held-out evaluation: `[gates.default]`, `[gates.catalogs.prod]`.
    #[serde(default)]
    pub gates: GatePolicies,
    /// Training budgets in CPU-hours, by catalog (`"dev"`) or schema (`"dev.support"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budgets: BTreeMap<String, Budget>,
}

/// The model hub `citadel model pull` talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// An https URL speaking the Hugging Face hub protocol. `$CITADEL_HUB_ENDPOINT` wins.
    pub endpoint: String,
    /// A PEM file of extra certificate authorities (a corporate proxy or a private hub).
    /// `$CITADEL_HUB_CA_FILE` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            endpoint: citadel_hub::client::DEFAULT_ENDPOINT.to_owned(),
            ca_file: None,
        }
    }
}

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (relative to the home) or `postgres://…`. `$CITADEL_DATABASE_URL` wins.
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://citadel.db".to_owned(),
        }
    }
}

/// Audit log settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign a checkpoint every this many events (and at every process exit).
    pub checkpoint_every: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_every: 1000,
        }
    }
}

/// Personal access token settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Lifetime of a new token when `--ttl` is not given.
    pub default_ttl_days: u32,
    /// The longest lifetime a token may be given.
    pub max_ttl_days: u32,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            default_ttl_days: 90,
            max_ttl_days: 365,
        }
    }
}

fn default_artifacts() -> BlobConfig {
    BlobConfig::local("artifacts")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: DatabaseConfig::default(),
            artifacts: default_artifacts(),
            audit: AuditConfig::default(),
            tokens: TokenConfig::default(),
            hub: HubConfig::default(),
            gates: GatePolicies::default(),
            budgets: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Loads the home's config file and applies the environment.
    pub fn load(home: &Home) -> Result<Self> {
        let path = home.config_path();
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Home {
            path: path.clone(),
            action: "read",
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|err| Error::Config {
            path: path.clone(),
            message: err.message().to_owned(),
        })?;
        if let Some(url) = env::var(env::DATABASE_URL) {
            config.database.url = url;
        }
        if let Some(endpoint) = env::var(env::HUB_ENDPOINT) {
            config.hub.endpoint = endpoint;
        }
        if let Some(ca_file) = env::var(env::HUB_CA_FILE) {
            config.hub.ca_file = Some(PathBuf::from(ca_file));
        }
        config.validate(&path)?;
        Ok(config)
    }

    /// The config as written by `citadel init`.
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string_pretty(self).map_err(|err| Error::Config {
            path: PathBuf::from("citadel.toml"),
            message: err.to_string(),
        })?;
        Ok(format!(
            "# Citadel configuration. Relative paths are relative to this folder.\n\
             # database.url: sqlite://FILE (embedded) or postgres://USER@HOST/DB; \
             $CITADEL_DATABASE_URL overrides it.\n\
             # artifacts: kind = \"local\" (path) or \"s3\" (bucket, region, endpoint; \
             credentials from AWS_* variables).\n\n{body}"
        ))
    }

    /// The database URL with relative SQLite paths resolved inside the home.
    pub fn database_url(&self, home: &Home) -> String {
        match self.database.url.strip_prefix("sqlite://") {
            Some(path) => {
                let path = path.split('?').next().unwrap_or(path);
                citadel_store::sqlite_url(&home.resolve_path(path.as_ref()))
            }
            None => self.database.url.clone(),
        }
    }

    /// The artifact store with relative local paths resolved inside the home.
    pub fn artifacts(&self, home: &Home) -> BlobConfig {
        match &self.artifacts {
            BlobConfig::Local { path } => BlobConfig::local(home.resolve_path(path)),
            other => other.clone(),
        }
    }

    fn validate(&self, path: &std::path::Path) -> Result<()> {
        let invalid = |message: String| Error::Config {
            path: path.to_owned(),
            message,
        };
        let url = &self.database.url;
        if !(url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url must start with sqlite:// or postgres://".to_owned(),
            ));
        }
        if !self.hub.endpoint.starts_with("https://") {
            return Err(invalid("hub.endpoint must be an https:// URL".to_owned()));
        }
        if self.audit.checkpoint_every == 0 {
            return Err(invalid(
                "audit.checkpoint_every must be at least 1".to_owned(),
            ));
        }
        if self.tokens.default_ttl_days == 0
            || self.tokens.default_ttl_days > self.tokens.max_ttl_days
        {
            return Err(invalid(
                "tokens.default_ttl_days must be between 1 and tokens.max_ttl_days".to_owned(),
            ));
        }
        self.gates
            .validate()
            .map_err(|err| invalid(format!("gates: {err}")))?;
        for (scope, budget) in &self.budgets {
            budget
                .validate()
                .map_err(|err| invalid(format!("budgets.{scope:?}: {err}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_config_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::write(home.config_path(), Config::default().to_toml().unwrap()).unwrap();
        assert_eq!(Config::load(&home).unwrap(), Config::default());
    }

    #[test]
    fn bad_config_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::write(home.config_path(), "[database]\nurl = \"mysql://x\"\n").unwrap();
        let err = Config::load(&home).unwrap_err().to_string();
        assert!(
            err.contains("citadel.toml") && err.contains("postgres://"),
            "{err}"
        );
        std::fs::write(home.config_path(), "[nonsense]\n").unwrap();
        assert!(Config::load(&home).is_err());
    }

    #[test]
    fn relative_sqlite_paths_resolve_in_the_home() {
        let home = Home::at("/srv/c");
        assert_eq!(
            Config::default().database_url(&home),
            "sqlite:///srv/c/citadel.db?mode=rwc"
        );
    }
}
