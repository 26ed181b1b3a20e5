//! Local model folders: listing their files without following symlinks, so an import or a
//! verification reads only what is inside the folder.

use std::path::{Path, PathBuf};

use crate::{HubError, Result};

/// The deepest folder nesting accepted (models are flat; this stops pathological trees).
const MAX_DEPTH: usize = 16;

/// A regular file inside a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Relative path with '/'.
    pub relative: String,
    pub path: PathBuf,
    pub size: u64,
}

/// Every regular file under `dir`, sorted by relative path. Symlinks and special files are
/// refused, not followed or skipped: a folder that holds one is not imported.
pub fn list_files(dir: &Path) -> Result<Vec<LocalFile>> {
    let mut files = Vec::new();
    walk(dir, &mut |relative, path| {
        let size = std::fs::symlink_metadata(path)
            .map_err(|e| HubError::io(path, e))?
            .len();
        files.push(LocalFile {
            relative: relative.to_owned(),
            path: path.to_owned(),
            size,
        });
        Ok(())
    })?;
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

/// Calls `visit(relative, path)` for every regular file under `dir`.
pub fn walk(dir: &Path, visit: &mut dyn FnMut(&str, &Path) -> Result<()>) -> Result<()> {
    let metadata = std::fs::symlink_metadata(dir).map_err(|e| HubError::io(dir, e))?;
    if !metadata.is_dir() {
        return Err(HubError::InvalidInput(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    walk_inner(dir, "", 0, visit)
}

fn walk_inner(
    dir: &Path,
    prefix: &str,
    depth: usize,
    visit: &mut dyn FnMut(&str, &Path) -> Result<()>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(HubError::Refused {
            path: prefix.to_owned(),
            reason: format!("folders nest deeper than {MAX_DEPTH} levels"),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|e| HubError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| HubError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| HubError::Refused {
            path: format!("{prefix}{}", name.to_string_lossy()),
            reason: "the name is not UTF-8".into(),
        })?;
        let relative = format!("{prefix}{name}");
        let kind = entry.file_type().map_err(|e| HubError::io(&path, e))?;
        if kind.is_symlink() {
            return Err(HubError::Refused {
                path: relative,
                reason: "symbolic links are not followed: copy the file into the folder".into(),
            });
        } else if kind.is_dir() {
            walk_inner(&path, &format!("{relative}/"), depth + 1, visit)?;
        } else if kind.is_file() {
            visit(&relative, &path)?;
        } else {
            return Err(HubError::Refused {
                path: relative,
                reason: "not a regular file".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_relative_and_symlinks_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), b"abc").unwrap();
        let files = list_files(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| (f.relative.as_str(), f.size))
            .collect();
        assert_eq!(names, [("config.json", 2), ("sub/a.txt", 3)]);

        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("tokenizer.json")).unwrap();
        match list_files(dir.path()) {
            Err(HubError::Refused { path, reason }) => {
                assert_eq!(path, "tokenizer.json");
                assert!(reason.contains("symbolic"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
