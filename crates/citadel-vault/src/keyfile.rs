//! Reading and writing key files: base64 of 32 bytes, mode 0600, synced, replaced atomically.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use citadel_blob::Kek;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Parses base64 key text (surrounding whitespace allowed); `source_name` names it in errors.
pub(crate) fn parse_key(text: &[u8], source_name: &str) -> Result<Kek> {
    let malformed = || Error::MalformedKey {
        source_name: source_name.to_owned(),
    };
    let bytes = Zeroizing::new(BASE64.decode(text.trim_ascii()).map_err(|_| malformed())?);
    Kek::from_bytes(&bytes).map_err(|_| malformed())
}

/// The base64 text of a key, as written to key files and printed by `citadel keys generate`.
pub fn encode_key(kek: &Kek) -> Zeroizing<String> {
    Zeroizing::new(BASE64.encode(kek.to_bytes().as_slice()))
}

/// Reads a key file after checking that only its owner can read it.
pub(crate) fn read_key(path: &Path) -> Result<Kek> {
    let io = |action, source| Error::KeyFile {
        path: path.to_owned(),
        action,
        source,
    };
    let mode = fs::metadata(path)
        .map_err(|e| io("read", e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(fs::read(path).map_err(|e| io("read", e))?);
    parse_key(&text, &path.display().to_string())
}

/// Writes a new key file (0600, must not exist), synced together with its folder.
pub(crate) fn write_new_key(path: &Path, kek: &Kek) -> Result<()> {
    let io = |action, source| Error::KeyFile {
        path: path.to_owned(),
        action,
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", e))?;
    let text = encode_key(kek);
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", e))?;
    sync_parent(path)
}

/// Syncs the folder holding `path`, making a create, rename or removal in it durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| Error::KeyFile {
            path: parent.to_owned(),
            action: "sync",
            source,
        })
}
