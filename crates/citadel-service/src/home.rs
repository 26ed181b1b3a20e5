//! The Citadel home: where the config, keys, credentials, database and artifacts live, and the
//! file-permission rules that protect them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{env, Error, Result};

/// The folder used when neither `--home` nor `$CITADEL_HOME` is given.
pub const DEFAULT_HOME: &str = ".citadel";

/// Paths inside one Citadel home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home from `--home`, else `$CITADEL_HOME`, else `./.citadel`.
    pub fn resolve(flag: Option<PathBuf>) -> Self {
        let root = flag
            .or_else(|| env::var(env::HOME).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        Self { root }
    }

    /// A home at an explicit path.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `citadel.toml`: the configuration.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("citadel.toml")
    }

    /// The key-encryption key (0600).
    pub fn kek_path(&self) -> PathBuf {
        self.root.join("keys").join("kek.key")
    }

    /// The Ed25519 key that signs audit checkpoints, PKCS#8 (0600).
    pub fn signing_key_path(&self) -> PathBuf {
        self.root.join("keys").join("audit-signing.p8")
    }

    /// The admin token written by `citadel init` and the default token of later commands (0600).
    pub fn credentials_path(&self) -> PathBuf {
        self.root.join("credentials")
    }

    /// The embedded SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.root.join("citadel.db")
    }

    /// The default local artifact folder.
    pub fn artifacts_path(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Resolves a path from the config file: relative paths are relative to the home.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.root.join(path)
        }
    }

    /// Whether anything of a Citadel home is already here.
    pub fn is_initialized(&self) -> bool {
        [
            self.config_path(),
            self.kek_path(),
            self.signing_key_path(),
            self.credentials_path(),
            self.database_path(),
        ]
        .iter()
        .any(|path| path.exists())
    }

    /// Refuses to go on when a secret file can be read by anyone but its owner.
    pub fn check_private(&self, path: &Path) -> Result<()> {
        let metadata = fs::metadata(path).map_err(|source| Error::Home {
            path: path.to_owned(),
            action: "read",
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        Ok(())
    }

    /// Creates a new file readable only by its owner (0600), fails if it exists, and syncs it.
    pub fn write_private(&self, path: &Path, contents: &[u8]) -> Result<()> {
        let io_error = |source| Error::Home {
            path: path.to_owned(),
            action: "write",
            source,
        };
        if let Some(parent) = path.parent() {
            create_private_dir(parent).map_err(io_error)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_error)?;
        file.write_all(contents).map_err(io_error)?;
        file.sync_all().map_err(io_error)
    }

    /// Reads a secret file after checking its permissions.
    pub fn read_private(&self, path: &Path) -> Result<Vec<u8>> {
        self.check_private(path)?;
        fs::read(path).map_err(|source| Error::Home {
            path: path.to_owned(),
            action: "read",
            source,
        })
    }
}

/// Creates a folder (and parents) with mode 0700 where it is new.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let key = home.kek_path();
        home.write_private(&key, b"secret").unwrap();
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(home.read_private(&key).unwrap(), b"secret");
        assert!(
            home.write_private(&key, b"again").is_err(),
            "must not overwrite"
        );

        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        let err = home.read_private(&key).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o604)).unwrap();
        assert!(home.check_private(&key).is_err());
    }

    #[test]
    fn relative_config_paths_resolve_inside_the_home() {
        let home = Home::at("/srv/citadel");
        assert_eq!(
            home.resolve_path(Path::new("artifacts")),
            PathBuf::from("/srv/citadel/artifacts")
        );
        assert_eq!(
            home.resolve_path(Path::new("/data")),
            PathBuf::from("/data")
        );
    }
}
