//! The pre-commit hook: scans the work tree before every commit and stops the commit on a
//! finding.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, ScanError};

/// Marks a hook as ours: only such a hook is ever replaced.
const MARKER: &str = "# citadel-secret-scan-hook v1";

fn script() -> String {
    format!(
        "#!/bin/sh\n\
{MARKER}\n\
# Installed by `citadel scan secrets --install-hook`: refuses the commit when the work tree\n\
# holds a secret. Set CITADEL to the binary's path if `citadel` is not on PATH.\n\
root=\"$(git rev-parse --show-toplevel)\" || exit 1\n\
\"${{CITADEL:-citadel}}\" scan secrets \"$root\" || {{\n\
\techo 'citadel: secrets found (or the scan failed); commit refused.' >&2\n\
\techo 'Remove them, or allowlist false positives in .citadel-secrets.toml.' >&2\n\
\texit 1\n\
}}\n"
    )
}

/// Writes the repository's `pre-commit` hook (mode 0755) running `citadel scan secrets` over
/// the work tree, and returns its path. The hooks folder is the one git uses (`core.hooksPath`,
/// worktrees). A hook that already exists is replaced only if this function wrote it.
pub fn install_pre_commit_hook(repo: &Path) -> Result<PathBuf> {
    let hooks = hooks_dir(repo)?;
    std::fs::create_dir_all(&hooks).map_err(|e| ScanError::io(&hooks, e))?;
    let path = hooks.join("pre-commit");
    match std::fs::symlink_metadata(&path) {
        Ok(_) => {
            let existing = std::fs::read_to_string(&path).unwrap_or_default();
            if !existing.lines().any(|l| l.trim() == MARKER) {
                return Err(ScanError::InvalidInput(format!(
                    "{} already exists and was not installed by citadel; not overwriting it \
                     (add `citadel scan secrets \"$(git rev-parse --show-toplevel)\"` to it yourself, \
                     or move it away and retry)",
                    path.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ScanError::io(&path, e)),
    }
    std::fs::write(&path, script()).map_err(|e| ScanError::io(&path, e))?;
    set_executable(&path)?;
    Ok(path)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ScanError::io(path, e))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

/// The hooks folder git uses for `repo`.
fn hooks_dir(repo: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--git-path", "hooks"])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .map_err(|e| ScanError::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(ScanError::Git(format!(
            "{}: not a git repository ({})",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let p = PathBuf::from(text);
    Ok(if p.is_absolute() { p } else { repo.join(p) })
}
