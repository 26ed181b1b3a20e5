//! `citadel doctor`: the runtime posture of a home, each finding with how to fix it. File and
//! process checks run before the home is opened (so a home that refuses to open can still be
//! diagnosed); token, key and audit checks run as the caller.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use citadel_core::Privilege;

use crate::{Citadel, Context, Home, Result, SecurableRef};

/// A KEK older than this is due for rotation.
pub const KEY_ROTATION_DAYS: i64 = 90;
/// Tokens expiring within this many days are reported.
pub const TOKEN_EXPIRY_WARNING_DAYS: i64 = 14;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warn,
    Fail,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// How to fix it (empty when nothing is to be done).
    pub fix: String,
}

impl Check {
    fn new(check: &'static str, status: Status, detail: String, fix: &str) -> Self {
        Self {
            check,
            status,
            detail,
            fix: fix.to_owned(),
        }
    }
}

/// Checks that need no open home: the process's user and the modes of secret files.
pub fn local_checks(home: &Home) -> Vec<Check> {
    let mut checks = Vec::new();
    let root = rustix::process::geteuid().is_root();
    checks.push(if root {
        Check::new(
            "not running as root",
            Status::Fail,
            "the process runs as root: a compromise would own the host".into(),
            "run Citadel as a dedicated unprivileged user (the container image does)",
        )
    } else {
        Check::new(
            "not running as root",
            Status::Ok,
            format!("uid {}", rustix::process::geteuid().as_raw()),
            "",
        )
    });
    for (label, path) in [
        ("key-encryption key file", home.kek_path()),
        ("instance signing key file", home.signing_key_path()),
        ("credentials file", home.credentials_path()),
    ] {
        checks.push(private_file_check(label, &path));
    }
    checks.push(match std::fs::metadata(home.root()) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Check::new(
            "home folder mode",
            Status::Warn,
            format!(
                "{} is mode {:03o}: others can list it",
                home.root().display(),
                meta.permissions().mode() & 0o777
            ),
            "chmod 700 the home folder",
        ),
        Ok(_) => Check::new("home folder mode", Status::Ok, "0700".into(), ""),
        Err(err) => Check::new(
            "home folder mode",
            Status::Fail,
            format!("{}: {err}", home.root().display()),
            "run `citadel init` or pass --home",
        ),
    });
    checks
}

fn private_file_check(label: &'static str, path: &Path) -> Check {
    match std::fs::metadata(path) {
        Err(_) => Check::new(
            label,
            Status::Info,
            format!("{} is absent", path.display()),
            "",
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                Check::new(
                    label,
                    Status::Fail,
                    format!("{} is mode {mode:03o}", path.display()),
                    "chmod 600 the file (Citadel refuses to start until then)",
                )
            } else {
                Check::new(label, Status::Ok, format!("mode {mode:03o}"), "")
            }
        }
    }
}

impl Citadel {
    /// Checks that need the database: key age, tokens near expiry, the audit chain, TLS.
    /// Needs `MANAGE` on the metastore (it reads every principal's token expiries).
    pub async fn doctor_checks(&self, ctx: &Context) -> Result<Vec<Check>> {
        self.authorize_read(
            ctx,
            "doctor.run",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let mut checks = Vec::new();
        let keys = self.key_status(ctx).await?;
        checks.push(match keys.age_days {
            Some(age) if age > KEY_ROTATION_DAYS => Check::new(
                "key rotation",
                Status::Warn,
                format!("the key-encryption key {} is {age} days old", keys.kek_id),
                "run `citadel keys rotate` (re-wraps data keys, rewrites no artifact)",
            ),
            Some(age) => Check::new(
                "key rotation",
                Status::Ok,
                format!(
                    "key {} is {age} days old (rotate after {KEY_ROTATION_DAYS})",
                    keys.kek_id
                ),
                "",
            ),
            None => Check::new(
                "key rotation",
                Status::Info,
                "the key's activation time is unknown".into(),
                "",
            ),
        });
        let now = OffsetDateTime::now_utc();
        let soon = now + Duration::days(TOKEN_EXPIRY_WARNING_DAYS);
        let expiring: Vec<String> = self
            .store
            .list_tokens(None)
            .await?
            .into_iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at > now && t.expires_at <= soon)
            .map(|t| format!("{} ({})", t.name, t.id))
            .collect();
        checks.push(if expiring.is_empty() {
            Check::new(
                "tokens near expiry",
                Status::Ok,
                format!("none expires within {TOKEN_EXPIRY_WARNING_DAYS} days"),
                "",
            )
        } else {
            Check::new(
                "tokens near expiry",
                Status::Warn,
                format!(
                    "{} expire within {TOKEN_EXPIRY_WARNING_DAYS} days: {}",
                    expiring.len(),
                    expiring.join(", ")
                ),
                "create replacements with `citadel token create` and revoke the old ones",
            )
        });
        let audit = self.audit_verify(ctx).await?;
        checks.push(if audit.intact {
            Check::new(
                "audit chain",
                Status::Ok,
                format!(
                    "{} events and {} signed checkpoints verified",
                    audit.events_verified, audit.checkpoints_verified
                ),
                "",
            )
        } else {
            Check::new(
                "audit chain",
                Status::Fail,
                format!(
                    "broken at seq {}: {}",
                    audit.failed_seq.unwrap_or_default(),
                    audit.failure.unwrap_or_default()
                ),
                "restore the database from a backup and investigate: see docs/AUDIT-VERIFY.md",
            )
        });
        let password_in_url = self
            .config
            .database
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .is_some_and(|(userinfo, _)| userinfo.contains(':'));
        if password_in_url {
            checks.push(Check::new(
                "database credentials",
                Status::Warn,
                "the database URL holds a password".into(),
                "move the password to a .pgpass file (or a secret-injected $CITADEL_DATABASE_URL)",
            ));
        }
        checks.push(Check::new(
            "TLS",
            Status::Info,
            "no gateway is configured in this home yet (`citadel serve` comes with the gateway)"
                .into(),
            "",
        ));
        Ok(checks)
    }
}
