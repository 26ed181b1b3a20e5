//! Key providers: where the key-encryption key lives, and how it is rotated without a window in
//! which a crash could leave a data key wrapped by a key that no longer exists.
//!
//! Rotation, as the service layer drives it:
//! 1. [`KeyProvider::prepare_rotation`] makes the next key durable (it is not used yet) and
//!    returns a ring with it active and the current key held for unwrapping;
//! 2. the caller re-wraps every data key to the next key and records the next key's id as active
//!    in the database, in one transaction;
//! 3. after the commit, [`KeyProvider::commit_rotation`] makes the next key the only key (the old
//!    one is destroyed); if the transaction failed, [`KeyProvider::abort_rotation`] discards it.
//!
//! A crash between 2 and 3 is repaired by [`KeyProvider::recover`] at the next start, which is
//! told the key id the database holds as active and finishes or undoes the swap accordingly.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use citadel_blob::{Kek, KeyRing};
use secrecy::{ExposeSecret, SecretString};

use crate::keyfile::{parse_key, read_key, sync_parent, write_new_key};
use crate::{Error, Result};

/// Holds the key-encryption key. An external KMS implements this trait by keeping its key handle
/// where [`FileKeyProvider`] keeps a file (see `docs/SECURITY.md`, "Key providers").
pub trait KeyProvider: fmt::Debug + Send + Sync {
    /// Where the key comes from, for people and the compliance report (never the key itself).
    fn describe(&self) -> String;

    /// A short, stable name: `file`, `env`, or the KMS's.
    fn kind(&self) -> &'static str;

    /// The keys to work with: the active key, plus any other still held.
    fn load(&self) -> Result<KeyRing>;

    /// Makes a next key durable and returns a ring with it active and the current key held.
    fn prepare_rotation(&self) -> Result<KeyRing>;

    /// After the database committed `next_id` as active: the next key becomes the only key.
    fn commit_rotation(&self, next_id: &str) -> Result<()>;

    /// The rotation to `next_id` failed before its commit: forget the next key.
    fn abort_rotation(&self, next_id: &str) -> Result<()>;

    /// At start-up: finishes or undoes a rotation a crash interrupted, given the key id the
    /// database holds as active.
    fn recover(&self, active_id: &str) -> Result<()>;
}

/// The key in a 0600 file (the default, made by `citadel init`); rotation writes the next key
/// beside it as `<file>.next` and renames it over the old one once the database has committed.
#[derive(Debug, Clone)]
pub struct FileKeyProvider {
    path: PathBuf,
}

impl FileKeyProvider {
    /// The provider of the key file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Creates the key file with a fresh key (fails if it exists) and returns the key.
    pub fn create(&self) -> Result<Kek> {
        let kek = Kek::generate()?;
        write_new_key(&self.path, &kek)?;
        Ok(kek)
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_path(&self) -> PathBuf {
        let mut next = self.path.clone().into_os_string();
        next.push(".next");
        PathBuf::from(next)
    }

    fn next_key(&self) -> Result<Option<Kek>> {
        let next = self.next_path();
        if next.exists() {
            read_key(&next).map(Some)
        } else {
            Ok(None)
        }
    }

    fn remove_next(&self) -> Result<()> {
        let next = self.next_path();
        match fs::remove_file(&next) {
            Ok(()) => sync_parent(&next),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::KeyFile {
                path: next,
                action: "remove",
                source,
            }),
        }
    }
}

impl KeyProvider for FileKeyProvider {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn kind(&self) -> &'static str {
        "file"
    }

    fn load(&self) -> Result<KeyRing> {
        let ring = KeyRing::new(read_key(&self.path)?);
        Ok(match self.next_key()? {
            Some(next) => ring.with_other(next),
            None => ring,
        })
    }

    fn prepare_rotation(&self) -> Result<KeyRing> {
        // A leftover next key belongs to a rotation that never committed (recover ran at open).
        self.remove_next()?;
        let current = read_key(&self.path)?;
        let next = Kek::generate()?;
        write_new_key(&self.next_path(), &next)?;
        Ok(KeyRing::new(next).with_other(current))
    }

    fn commit_rotation(&self, next_id: &str) -> Result<()> {
        let next_path = self.next_path();
        match self.next_key()? {
            Some(next) if next.id() == next_id => {}
            _ => {
                return Err(Error::Rotation(format!(
                    "{} does not hold key {next_id}; the rotation cannot be committed",
                    next_path.display()
                )))
            }
        }
        fs::rename(&next_path, &self.path).map_err(|source| Error::KeyFile {
            path: next_path,
            action: "rename",
            source,
        })?;
        sync_parent(&self.path)
    }

    fn abort_rotation(&self, next_id: &str) -> Result<()> {
        match self.next_key()? {
            Some(next) if next.id() == next_id => self.remove_next(),
            _ => Ok(()),
        }
    }

    fn recover(&self, active_id: &str) -> Result<()> {
        match self.next_key()? {
            Some(next) if next.id() == active_id => self.commit_rotation(active_id),
            Some(next) => self.abort_rotation(next.id()),
            None => Ok(()),
        }
    }
}

/// The key in an environment variable (`CITADEL_MASTER_KEY`, base64), for containers whose
/// orchestrator injects secrets. It cannot make keys: to rotate, the operator sets the new key as
/// the master key and the old one as the previous key, runs `citadel keys rotate`, then drops the
/// previous key from the environment.
pub struct EnvKeyProvider {
    master: SecretString,
    previous: Option<SecretString>,
    variable: &'static str,
}

impl EnvKeyProvider {
    /// The provider of `master` (read from the variable named `variable`) and, during a
    /// rotation, the `previous` key.
    pub fn new(
        variable: &'static str,
        master: SecretString,
        previous: Option<SecretString>,
    ) -> Self {
        Self {
            master,
            previous,
            variable,
        }
    }
}

impl fmt::Debug for EnvKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvKeyProvider")
            .field("variable", &self.variable)
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

impl KeyProvider for EnvKeyProvider {
    fn describe(&self) -> String {
        format!("environment variable {}", self.variable)
    }

    fn kind(&self) -> &'static str {
        "env"
    }

    fn load(&self) -> Result<KeyRing> {
        let ring = KeyRing::new(parse_key(
            self.master.expose_secret().as_bytes(),
            self.variable,
        )?);
        Ok(match &self.previous {
            Some(previous) => ring.with_other(parse_key(
                previous.expose_secret().as_bytes(),
                &format!("{}_PREVIOUS", self.variable),
            )?),
            None => ring,
        })
    }

    fn prepare_rotation(&self) -> Result<KeyRing> {
        if self.previous.is_none() {
            return Err(Error::Rotation(format!(
                "a key from {} cannot be replaced by Citadel: make a key with `citadel keys \
                 generate`, set it as {}, set the old key as {}_PREVIOUS, and run `citadel keys \
                 rotate` again",
                self.variable, self.variable, self.variable
            )));
        }
        self.load()
    }

    fn commit_rotation(&self, _next_id: &str) -> Result<()> {
        Ok(())
    }

    fn abort_rotation(&self, _next_id: &str) -> Result<()> {
        Ok(())
    }

    fn recover(&self, _active_id: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::encode_key;

    fn provider() -> (tempfile::TempDir, FileKeyProvider) {
        let dir = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::new(dir.path().join("kek.key"));
        provider.create().unwrap();
        (dir, provider)
    }

    #[test]
    fn file_rotation_commit_replaces_the_key() {
        let (_dir, provider) = provider();
        let old = provider.load().unwrap().active().id().to_owned();
        let ring = provider.prepare_rotation().unwrap();
        let next = ring.active().id().to_owned();
        assert_ne!(old, next);
        assert!(ring.get(&old).is_some(), "the old key stays held");
        provider.commit_rotation(&next).unwrap();
        let after = provider.load().unwrap();
        assert_eq!(after.ids(), vec![next]);
        let mode = fs::metadata(provider.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn file_rotation_abort_keeps_the_old_key() {
        let (_dir, provider) = provider();
        let old = provider.load().unwrap().active().id().to_owned();
        let next = provider
            .prepare_rotation()
            .unwrap()
            .active()
            .id()
            .to_owned();
        provider.abort_rotation(&next).unwrap();
        assert_eq!(provider.load().unwrap().ids(), vec![old]);
    }

    #[test]
    fn recover_finishes_a_committed_rotation_and_undoes_an_uncommitted_one() {
        let (_dir, provider) = provider();
        let old = provider.load().unwrap().active().id().to_owned();
        let next = provider
            .prepare_rotation()
            .unwrap()
            .active()
            .id()
            .to_owned();
        // Crash after the database committed `next`: the next key is still beside the old one.
        assert_eq!(
            provider.load().unwrap().ids(),
            vec![old.clone(), next.clone()]
        );
        provider.recover(&next).unwrap();
        assert_eq!(provider.load().unwrap().ids(), vec![next.clone()]);

        // Crash before the commit: the database still says `next`, the new file is discarded.
        let abandoned = provider
            .prepare_rotation()
            .unwrap()
            .active()
            .id()
            .to_owned();
        provider.recover(&next).unwrap();
        assert_eq!(provider.load().unwrap().ids(), vec![next]);
        assert!(provider.commit_rotation(&abandoned).is_err());
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        let (_dir, provider) = provider();
        fs::set_permissions(provider.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = provider.load().unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn env_provider_loads_and_rotates_only_with_a_previous_key() {
        let new = Kek::generate().unwrap();
        let old = Kek::generate().unwrap();
        let alone = EnvKeyProvider::new(
            "CITADEL_MASTER_KEY",
            SecretString::from(encode_key(&new).to_string()),
            None,
        );
        assert_eq!(alone.load().unwrap().active().id(), new.id());
        assert!(alone.prepare_rotation().is_err());
        let rotating = EnvKeyProvider::new(
            "CITADEL_MASTER_KEY",
            SecretString::from(encode_key(&new).to_string()),
            Some(SecretString::from(encode_key(&old).to_string())),
        );
        let ring = rotating.prepare_rotation().unwrap();
        assert_eq!(ring.active().id(), new.id());
        assert!(ring.get(old.id()).is_some());
        let debug = format!("{rotating:?}");
        assert!(!debug.contains(encode_key(&new).as_str()));
    }

    #[test]
    fn malformed_keys_say_how_to_fix_them() {
        let bad = EnvKeyProvider::new(
            "CITADEL_MASTER_KEY",
            SecretString::from("not-a-key".to_owned()),
            None,
        );
        let err = bad.load().unwrap_err().to_string();
        assert!(err.contains("CITADEL_MASTER_KEY"), "{err}");
        assert!(err.contains("citadel keys generate"), "{err}");
        assert!(!err.contains("not-a-key"), "{err}");
    }
}
