//! Scanning a file or a folder: a walk that follows no symlink and skips `.git`, then files read
//! and scanned in parallel.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::engine::{scan_fragment, Origin};
use super::{sort_findings, RuleSet, ScanStats, SecretFinding};
use crate::{Result, ScanError};

/// Files larger than this are skipped.
pub(super) const MAX_FILE: u64 = 50_000_000;
/// A NUL byte in this many leading bytes marks a file binary.
pub(super) const BINARY_SNIFF: u64 = 8 * 1024;

/// Scans a file, or every file under a folder (recursively, following no symlink, skipping `.git`
/// folders, binary files and files over 50 MB), in parallel. Paths in findings are relative to
/// `root` (a file's own name when `root` is a file), with `/` separators. Findings are sorted by
/// path, line and column.
pub fn scan_path(rules: &RuleSet, root: &Path) -> Result<(Vec<SecretFinding>, ScanStats)> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| ScanError::io(root, e))?;
    let mut files: Vec<(PathBuf, String, u64)> = Vec::new();
    let mut stats = ScanStats::default();
    if meta.is_dir() {
        walk(root, "", &mut files)?;
    } else if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.to_string_lossy().into_owned());
        files.push((root.to_path_buf(), name, meta.len()));
    } else {
        return Err(ScanError::InvalidInput(format!(
            "{}: not a file or folder (symlinks are not followed)",
            root.display()
        )));
    }
    // A file a global allowlist drops by its path is never read (nor counted).
    files.retain(|(_, rel, _)| !rules.global_skips_path(rel));
    files.retain(|(_, _, len)| {
        let large = *len > MAX_FILE;
        stats.skipped_large += u64::from(large);
        !large
    });
    let results: Vec<Result<Scanned>> = files
        .par_iter()
        .map(|(path, rel, len)| scan_file(rules, path, rel, *len))
        .collect();
    let mut findings = Vec::new();
    for r in results {
        match r? {
            Scanned::Binary => stats.skipped_binary += 1,
            Scanned::Text { bytes, found } => {
                stats.files += 1;
                stats.bytes += bytes;
                findings.extend(found);
            }
        }
    }
    sort_findings(&mut findings);
    Ok((findings, stats))
}

enum Scanned {
    Binary,
    Text {
        bytes: u64,
        found: Vec<SecretFinding>,
    },
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<(PathBuf, String, u64)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| ScanError::io(dir, e))?;
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ScanError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry
            .file_type()
            .map_err(|e| ScanError::io(entry.path(), e))?;
        children.push((name, kind, entry.path()));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind, path) in children {
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if kind.is_dir() {
            if name != ".git" {
                walk(&path, &child_rel, out)?;
            }
        } else if kind.is_file() {
            let len = std::fs::symlink_metadata(&path)
                .map_err(|e| ScanError::io(&path, e))?
                .len();
            out.push((path, child_rel, len));
        }
        // Symlinks, sockets, devices: never followed or read.
    }
    Ok(())
}

fn scan_file(rules: &RuleSet, path: &Path, rel: &str, len: u64) -> Result<Scanned> {
    let mut file = File::open(path).map_err(|e| ScanError::io(path, e))?;
    let cap = usize::try_from(len.min(MAX_FILE)).unwrap_or(0);
    let mut content = Vec::with_capacity(cap.saturating_add(1));
    (&mut file)
        .take(BINARY_SNIFF)
        .read_to_end(&mut content)
        .map_err(|e| ScanError::io(path, e))?;
    if memchr::memchr(0, &content).is_some() {
        return Ok(Scanned::Binary);
    }
    // Read at most the limit (the file may have grown since it was listed).
    file.take(MAX_FILE)
        .read_to_end(&mut content)
        .map_err(|e| ScanError::io(path, e))?;
    let mut found = Vec::new();
    scan_fragment(rules, &Origin::file(rel), &content, 1, &mut found);
    Ok(Scanned::Text {
        bytes: content.len() as u64,
        found,
    })
}
