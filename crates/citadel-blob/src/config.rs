//! Where artifacts are stored: a local folder (the default) or an S3-compatible bucket.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Seconds an S3 staging object must be old before [`crate::BlobStore::cleanup_staging`] removes it.
const DEFAULT_S3_STAGING_GRACE_SECS: u64 = 15 * 60;

/// Artifact store configuration, embeddable in the binary's TOML config (`kind = "local" | "s3"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BlobConfig {
    /// A folder on a local file system.
    Local {
        /// Root folder; created if missing.
        path: PathBuf,
    },
    /// An S3-compatible bucket. Credentials come from the standard `AWS_*` environment variables.
    S3 {
        /// Endpoint URL for S3-compatible servers (`http://127.0.0.1:9000`); AWS when absent.
        #[serde(default)]
        endpoint: Option<String>,
        /// Bucket name; the bucket must exist.
        bucket: String,
        /// Region, e.g. `us-east-1`.
        region: String,
        /// Key prefix inside the bucket, so several homes can share one bucket.
        #[serde(default)]
        prefix: Option<String>,
        /// Allow plain HTTP (only for loopback test servers).
        #[serde(default)]
        allow_http: bool,
        /// Age in seconds after which leftover staging objects are removed (in-flight copies are younger).
        #[serde(default = "default_s3_staging_grace_secs")]
        staging_grace_secs: u64,
    },
}

fn default_s3_staging_grace_secs() -> u64 {
    DEFAULT_S3_STAGING_GRACE_SECS
}

impl BlobConfig {
    /// A local folder store.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        BlobConfig::Local { path: path.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_from_json_with_defaults() {
        let local: BlobConfig = serde_json::from_str(r#"{"kind":"local","path":"/x"}"#).unwrap();
        assert_eq!(local, BlobConfig::local("/x"));
        let s3: BlobConfig =
            serde_json::from_str(r#"{"kind":"s3","bucket":"b","region":"us-east-1"}"#).unwrap();
        assert!(matches!(
            s3,
            BlobConfig::S3 {
                staging_grace_secs: 900,
                allow_http: false,
                ..
            }
        ));
        assert!(serde_json::from_str::<BlobConfig>(r#"{"kind":"ftp"}"#).is_err());
    }
}
