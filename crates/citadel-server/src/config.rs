//! `citadel serve`'s configuration: compiled defaults, then a TOML file (`--config`), then flags;
//! validated once after loading. Relative paths are relative to the Citadel home.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use citadel_service::alerts::{RetryPolicy, WebhookSettings};
use serde::{Deserialize, Serialize};

/// The longest wait between two attempts of an alert notification.
const MAX_ALERT_BACKOFF: Duration = Duration::from_secs(30);

/// The shortest drift interval: each evaluation reads every endpoint's baseline.
const MIN_DRIFT_INTERVAL_SECS: u64 = 30;

/// Where the gateway listens and how it protects itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain (`citadel tls init` writes one for local development).
    pub tls_cert: PathBuf,
    /// PEM private key (PKCS#8, RSA or SEC1); must not be readable by group or others.
    pub tls_key: PathBuf,
    /// Longest time a request may take, generation included.
    pub request_timeout_secs: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// How long an authenticated credential is trusted before it is checked again; revocations
    /// take effect within this time. 0 checks every request against the database.
    pub auth_cache_secs: u64,
    /// How often endpoint configurations are reloaded from the database.
    pub refresh_secs: u64,
    /// Shares rate limits between replicas (e.g. `redis://127.0.0.1:6379`); per-process
    /// buckets when absent.
    pub redis_url: Option<String>,
    /// Largest `max_tokens` a caller may ask for.
    pub max_completion_tokens: u32,
    /// The `aud` that JWTs must carry to be accepted here.
    pub jwt_audience: String,
    /// Refuse to start as root unless this is set (containers should use a plain user).
    pub allow_root: bool,
    /// How often the alert rules are evaluated; 0 turns the schedule off (`citadel alerts
    /// evaluate` still works).
    pub alerts_interval_secs: u64,
    /// Alert rules (TOML) that replace, switch off or add to the built-in ones; `citadel alerts
    /// rules --config FILE` shows the result.
    pub alerts_rules: Option<PathBuf>,
    /// Where alert notifications are posted (`[[alert_webhooks]]` with `url` and
    /// `secret_file`, a 0600 file holding the HMAC secret).
    pub alert_webhooks: Vec<WebhookSettings>,
    /// Attempts per notification and webhook (1 to 10).
    pub alert_webhook_attempts: u32,
    /// The wait after a notification's first failed attempt, doubled after each further one
    /// (with jitter, at most 30 s).
    pub alert_webhook_backoff_ms: u64,
    /// How often each serving endpoint's last hour of traffic is compared with the week before
    /// it (a warning in the log and `citadel_drift_score` in the metrics); 0 turns it off.
    pub drift_interval_secs: u64,
    /// Adds a `Server-Timing: gateway;dur=MS` header to every response: the time the gateway
    /// spent on the request up to its response headers, for finding where latency comes from.
    /// Off by default: it tells callers how long checks took.
    pub server_timing: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: PathBuf::from("tls/server.crt"),
            tls_key: PathBuf::from("tls/server.key"),
            request_timeout_secs: 120,
            max_body_bytes: 1 << 20,
            shutdown_grace_secs: 30,
            auth_cache_secs: 5,
            refresh_secs: 2,
            redis_url: None,
            max_completion_tokens: 2048,
            jwt_audience: "citadel".to_owned(),
            allow_root: false,
            alerts_interval_secs: 30,
            alerts_rules: None,
            alert_webhooks: Vec::new(),
            alert_webhook_attempts: 5,
            alert_webhook_backoff_ms: 500,
            drift_interval_secs: 300,
            server_timing: false,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid server configuration: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid server configuration: {0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Reads `path` over the defaults and validates the result.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that would make the gateway unsafe or useless.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.request_timeout_secs == 0 || self.request_timeout_secs > 3600 {
            return invalid("request_timeout_secs must be between 1 and 3600");
        }
        if !(1024..=64 << 20).contains(&self.max_body_bytes) {
            return invalid("max_body_bytes must be between 1 KiB and 64 MiB");
        }
        if self.auth_cache_secs > 300 {
            return invalid("auth_cache_secs must be at most 300, so revocations take effect");
        }
        if self.refresh_secs == 0 {
            return invalid("refresh_secs must be at least 1");
        }
        if self.max_completion_tokens == 0 {
            return invalid("max_completion_tokens must be at least 1");
        }
        if self.drift_interval_secs != 0 && self.drift_interval_secs < MIN_DRIFT_INTERVAL_SECS {
            return invalid(
                "drift_interval_secs must be 0 (off) or at least 30: each check reads the \
                 endpoints' whole baseline",
            );
        }
        if self.alerts_interval_secs != 0 && self.alerts_interval_secs < 5 {
            return invalid("alerts_interval_secs must be 0 (off) or at least 5");
        }
        if let Err(err) = self.alert_retry().validate() {
            return Err(ConfigError::Invalid(format!(
                "alert_webhook_attempts or alert_webhook_backoff_ms: {err}"
            )));
        }
        if self.jwt_audience.is_empty() {
            return invalid("jwt_audience must not be empty");
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How alert notifications are retried.
    pub fn alert_retry(&self) -> RetryPolicy {
        let base = Duration::from_millis(self.alert_webhook_backoff_ms);
        RetryPolicy {
            attempts: self.alert_webhook_attempts,
            base,
            max: base.max(MAX_ALERT_BACKOFF),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_loopback_only() {
        let config = ServerConfig::default();
        config.validate().unwrap();
        assert!(config.listen.ip().is_loopback());
        assert!(!config.allow_root);
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9443\"\nauth_cache_secs = 0\n").unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.auth_cache_secs, 0);
        assert_eq!(config.request_timeout_secs, 120);

        std::fs::write(&path, "listen_on = \"0.0.0.0:9443\"\n").unwrap();
        let err = ServerConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("listen_on"), "{err}");

        std::fs::write(&path, "max_body_bytes = 10\n").unwrap();
        assert!(ServerConfig::load(&path).is_err());

        std::fs::write(
            &path,
            "alerts_interval_secs = 60\nalert_webhook_attempts = 3\n[[alert_webhooks]]\n\
             url = \"https://alerts.example.com/hook\"\nsecret_file = \"alerts.key\"\n",
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.alerts_interval_secs, 60);
        assert_eq!(
            config.alert_webhooks[0].secret_file,
            PathBuf::from("alerts.key")
        );
        assert_eq!(config.alert_retry().attempts, 3);
        for bad in [
            "alerts_interval_secs = 1\n",
            "alert_webhook_attempts = 0\n",
            "alert_webhook_backoff_ms = 0\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = ServerConfig::load(&path).unwrap_err().to_string();
            assert!(err.contains(bad.split(' ').next().unwrap()), "{err}");
        }

        std::fs::write(&path, "drift_interval_secs = 0\n").unwrap();
        assert_eq!(ServerConfig::load(&path).unwrap().drift_interval_secs, 0);
        std::fs::write(&path, "drift_interval_secs = 5\n").unwrap();
        let err = ServerConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("drift_interval_secs"), "{err}");
    }
}
