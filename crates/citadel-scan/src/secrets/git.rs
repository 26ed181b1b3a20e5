//! History scans, read with gitoxide (`gix`: read-only, no network, no `git` executable): every
//! commit reachable from any ref (HEAD, branches, tags, remotes, …) once, each compared with its
//! first parent (a root commit with the empty tree), and the lines it added scanned, so a secret a
//! later commit deleted is still found, with the commit that added it.
//!
//! As `git log -M` does, a file renamed as is adds nothing and a file renamed with edits (at least
//! half of it kept) adds only its edited lines. A merge adds only the lines that none of its
//! parents has: what the merge itself brought (a conflict resolution, an evil merge); the rest is
//! reported with the commits that wrote it, never twice. Commits are diffed and scanned in
//! parallel, one repository handle per thread.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use gix::bstr::{BString, ByteSlice};
use gix::diff::tree::recorder::Change;
use gix::objs::TreeRefIter;
use gix::ObjectId;
use imara_diff::{Algorithm, Diff, InternedInput};
use rayon::prelude::*;

use super::engine::{scan_fragment, CommitInfo, Origin};
use super::walk::{BINARY_SNIFF, MAX_FILE};
use super::{sort_findings, RuleSet, ScanStats, SecretFinding};
use crate::{Result, ScanError};

/// Renames with edits are looked for while a commit's added × deleted files stay within this
/// (beyond it, as past git's rename limit, added files count as new).
const MAX_RENAME_PAIRS: usize = 10_000;
/// Bytes of decoded objects each thread keeps (trees come back as the next commit's parent).
const OBJECT_CACHE: usize = 16 << 20;

/// Scans every commit reachable from any ref (HEAD, branches, tags, remotes, …): the lines each
/// commit added relative to its first parent (all of a root commit's files), as `gitleaks git`
/// does. Findings carry the commit id, author (`Name <email>`), author date (ISO 8601) and the
/// path and line in that commit. Binary blobs and blobs over 50 MB are skipped. `repo` is the
/// repository's work tree, its git folder, or any folder inside them; a repository without
/// commits gives no findings.
pub fn scan_git_history(rules: &RuleSet, repo: &Path) -> Result<(Vec<SecretFinding>, ScanStats)> {
    let shared = open(repo)?;
    let commits = reachable_commits(&thread_repo(&shared))?;
    let per_commit: Vec<(Vec<SecretFinding>, ScanStats)> = commits
        .par_iter()
        .map_init(
            || thread_repo(&shared),
            |repo, id| scan_commit(rules, repo, *id),
        )
        .collect::<Result<_>>()?;
    let mut findings = Vec::new();
    let mut stats = ScanStats::default();
    for (found, s) in per_commit {
        findings.extend(found);
        stats.files += s.files;
        stats.bytes += s.bytes;
        stats.skipped_binary += s.skipped_binary;
        stats.skipped_large += s.skipped_large;
    }
    sort_findings(&mut findings);
    // A path-only rule reports a file once per commit, however many blocks of lines it added.
    findings.dedup();
    Ok((findings, stats))
}

fn git_error(what: &str, e: impl std::fmt::Display) -> ScanError {
    ScanError::Git(format!("{what}: {e}"))
}

/// Finds the repository holding `path`, reading its own configuration only: no environment
/// (`GIT_DIR` and the like a hook may have set), no user or system configuration.
fn open(path: &Path) -> Result<gix::ThreadSafeRepository> {
    let options = gix::open::Options::isolated();
    let trust = gix::sec::trust::Mapping {
        full: options.clone(),
        reduced: options,
    };
    gix::ThreadSafeRepository::discover_opts(path, Default::default(), trust)
        .map_err(|e| ScanError::Git(format!("{}: not a git repository ({e})", path.display())))
}

fn thread_repo(shared: &gix::ThreadSafeRepository) -> gix::Repository {
    let mut repo = shared.to_thread_local();
    repo.object_cache_size_if_unset(OBJECT_CACHE);
    repo
}

/// Every commit reachable from HEAD or any ref, once each (annotated tags peeled; tags of trees
/// or blobs name no commit).
fn reachable_commits(repo: &gix::Repository) -> Result<Vec<ObjectId>> {
    let mut tips = Vec::new();
    // An unborn HEAD names no commit yet.
    if let Ok(head) = repo.head_id() {
        tips.push(head.detach());
    }
    let platform = repo
        .references()
        .map_err(|e| git_error("listing refs", e))?;
    let refs = platform
        .all()
        .and_then(|refs| refs.peeled())
        .map_err(|e| git_error("listing refs", e))?;
    for reference in refs {
        let reference = reference.map_err(|e| git_error("reading a ref", e))?;
        if let Some(id) = reference.try_id() {
            tips.push(id.detach());
        }
    }
    tips.sort_unstable();
    tips.dedup();
    tips.retain(|id| {
        repo.find_header(*id)
            .is_ok_and(|h| h.kind() == gix::object::Kind::Commit)
    });
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    repo.rev_walk(tips)
        .all()
        .map_err(|e| git_error("walking history", e))?
        .map(|info| {
            info.map(|i| i.id)
                .map_err(|e| git_error("walking history", e))
        })
        .collect()
}

/// A file a commit wrote: its path, new blob, and the blob it replaced (a modification or a
/// rename with edits) or `None` (a new file).
struct FileChange {
    path: BString,
    new: ObjectId,
    old: Option<ObjectId>,
}

fn scan_commit(
    rules: &RuleSet,
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<(Vec<SecretFinding>, ScanStats)> {
    let what = format!("commit {id}");
    let err = |e: gix::Error| git_error(&what, e);
    let commit = repo.find_commit(id).map_err(err)?;
    let info = commit_info(&commit).map_err(err)?;
    let tree = commit.tree().map_err(err)?;
    // A shallow clone's boundary commits lack their parents: they count as roots.
    let parent_trees = commit
        .parent_ids()
        .filter(|p| repo.has_object(p))
        .map(|p| p.object().and_then(|o| o.peel_to_tree()))
        .collect::<gix::Result<Vec<_>>>()
        .map_err(err)?;

    let mut recorder = gix::diff::tree::Recorder::default();
    let kind = repo.object_hash();
    let old = parent_trees.first().map_or(&[][..], |t| &t.data[..]);
    gix::diff::tree(
        TreeRefIter::from_bytes(old, kind),
        TreeRefIter::from_bytes(&tree.data, kind),
        gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .map_err(|e| git_error(&what, e))?;

    let mut files = Vec::new();
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    for change in recorder.records {
        match change {
            Change::Addition {
                entry_mode,
                oid,
                path,
                ..
            } if entry_mode.is_blob_or_symlink() => added.push((oid, path)),
            Change::Deletion {
                entry_mode, oid, ..
            } if entry_mode.is_blob_or_symlink() => deleted.push(oid),
            Change::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                path,
            } => match (
                previous_entry_mode.is_blob_or_symlink(),
                entry_mode.is_blob_or_symlink(),
            ) {
                (true, true) => files.push(FileChange {
                    path,
                    new: oid,
                    old: Some(previous_oid),
                }),
                (false, true) => added.push((oid, path)),
                (true, false) => deleted.push(previous_oid),
                (false, false) => {}
            },
            // Trees (their files come on their own), submodules.
            _ => {}
        }
    }
    // A file a global allowlist drops by its path is never read (nor counted).
    files.retain(|f| !rules.global_skips_path(&f.path.to_str_lossy()));
    added.retain(|(_, path)| !rules.global_skips_path(&path.to_str_lossy()));

    let mut blobs = Blobs {
        repo,
        loaded: HashMap::new(),
    };
    // Renamed as is: nothing added.
    let deleted_ids: HashSet<ObjectId> = deleted.iter().copied().collect();
    let added_ids: HashSet<ObjectId> = added.iter().map(|(id, _)| *id).collect();
    added.retain(|(id, _)| !deleted_ids.contains(id));
    deleted.retain(|id| !added_ids.contains(id));
    let renamed_from = if !added.is_empty()
        && !deleted.is_empty()
        && added.len() * deleted.len() <= MAX_RENAME_PAIRS
    {
        pair_renames(&mut blobs, &added, &deleted).map_err(err)?
    } else {
        vec![None; added.len()]
    };
    files.extend(
        added
            .into_iter()
            .zip(renamed_from)
            .map(|((new, path), old)| FileChange { path, new, old }),
    );

    let mut stats = ScanStats::default();
    let mut found = Vec::new();
    for file in files {
        let content = match blobs.get(file.new).map_err(err)? {
            Blob::Text(text) => text,
            Blob::Binary => {
                stats.skipped_binary += 1;
                continue;
            }
            Blob::Large => {
                stats.skipped_large += 1;
                continue;
            }
        };
        let starts = line_starts(&content);
        let mut lines = match file.old {
            Some(old) => match blobs.get(old).map_err(err)? {
                Blob::Text(old) => added_lines(&old, &content),
                Blob::Binary | Blob::Large => vec![true; starts.len() - 1],
            },
            None => vec![true; starts.len() - 1],
        };
        // A merge: only the lines its other parents lack too.
        for other in parent_trees.iter().skip(1) {
            if !lines.contains(&true) {
                break;
            }
            let entry = other
                .lookup_entry(file.path.split(|&b| b == b'/'))
                .map_err(err)?;
            let Some(entry) = entry.filter(|e| e.mode().is_blob_or_symlink()) else {
                continue;
            };
            if entry.object_id() == file.new {
                lines.fill(false);
            } else if let Blob::Text(theirs) = blobs.get(entry.object_id()).map_err(err)? {
                for (line, new) in lines.iter_mut().zip(added_lines(&theirs, &content)) {
                    *line &= new;
                }
            }
        }
        let path = file.path.to_str_lossy();
        let origin = Origin {
            path: &path,
            commit: Some(&info),
        };
        let mut any = false;
        for block in added_blocks(&lines) {
            let bytes = &content[starts[block.start]..starts[block.end]];
            any = true;
            stats.bytes += bytes.len() as u64;
            scan_fragment(rules, &origin, bytes, block.start as u64 + 1, &mut found);
        }
        stats.files += u64::from(any);
    }
    Ok((found, stats))
}

fn commit_info(commit: &gix::Commit<'_>) -> gix::Result<CommitInfo> {
    let author = commit.author()?;
    let date = author
        .time()
        .map(|t| t.format_or_unix(gix::date::time::format::ISO8601_STRICT))
        .unwrap_or_default();
    let author = author.trim();
    Ok(CommitInfo {
        id: commit.id.to_string(),
        author: format!("{} <{}>", author.name, author.email),
        date,
    })
}

/// A blob as the scan sees it.
#[derive(Clone)]
enum Blob {
    Text(Rc<[u8]>),
    /// A NUL byte in the first 8 KiB.
    Binary,
    /// Over 50 MB (never read).
    Large,
}

/// The blobs one commit's scan read.
struct Blobs<'r> {
    repo: &'r gix::Repository,
    loaded: HashMap<ObjectId, Blob>,
}

impl Blobs<'_> {
    fn get(&mut self, id: ObjectId) -> gix::Result<Blob> {
        if let Some(blob) = self.loaded.get(&id) {
            return Ok(blob.clone());
        }
        let blob = if self.repo.find_header(id)?.size() > MAX_FILE {
            Blob::Large
        } else {
            let data = self.repo.find_blob(id)?.take_data();
            let sniff = data.len().min(BINARY_SNIFF as usize);
            if memchr::memchr(0, &data[..sniff]).is_some() {
                Blob::Binary
            } else {
                Blob::Text(Rc::from(data))
            }
        };
        self.loaded.insert(id, blob.clone());
        Ok(blob)
    }
}

/// For each added file, the deleted file it was renamed from with edits, if any: the most similar
/// deleted text file that at least half of it still matches (each deleted file used once).
fn pair_renames(
    blobs: &mut Blobs<'_>,
    added: &[(ObjectId, BString)],
    deleted: &[ObjectId],
) -> gix::Result<Vec<Option<ObjectId>>> {
    let mut scored = Vec::new();
    for (a, (new, _)) in added.iter().enumerate() {
        let Blob::Text(new) = blobs.get(*new)? else {
            continue;
        };
        for (d, old) in deleted.iter().enumerate() {
            if let Blob::Text(old) = blobs.get(*old)? {
                if let Some(score) = similarity(&old, &new) {
                    scored.push((score, a, d));
                }
            }
        }
    }
    scored.sort_by(|x, y| y.0.cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let mut from = vec![None; added.len()];
    let mut used = vec![false; deleted.len()];
    for (_, a, d) in scored {
        if from[a].is_none() && !used[d] {
            from[a] = Some(deleted[d]);
            used[d] = true;
        }
    }
    Ok(from)
}

/// How much of `new` (in thousandths of the larger file, by bytes) is lines kept from `old`, if
/// at least half: git's rename threshold.
fn similarity(old: &[u8], new: &[u8]) -> Option<u64> {
    let (small, big) = if old.len() < new.len() {
        (old.len() as u64, new.len() as u64)
    } else {
        (new.len() as u64, old.len() as u64)
    };
    if big == 0 || small * 2 < big {
        return None;
    }
    let starts = line_starts(new);
    let kept: u64 = added_lines(old, new)
        .iter()
        .zip(starts.windows(2))
        .filter(|(added, _)| !**added)
        .map(|(_, w)| (w[1] - w[0]) as u64)
        .sum();
    let score = kept * 1000 / big;
    (score >= 500).then_some(score)
}

/// Whether each line of `new` is one the diff from `old` adds.
fn added_lines(old: &[u8], new: &[u8]) -> Vec<bool> {
    let input = InternedInput::new(old, new);
    let mut diff = Diff::compute(Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    (0..input.after.len())
        .map(|i| diff.is_added(i as u32))
        .collect()
}

/// The byte offset of each line's start, then the length: line `i` is `starts[i]..starts[i + 1]`
/// (its `\n` included), as the diff splits lines.
fn line_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', data).map(|i| i + 1));
    if starts.last() != Some(&data.len()) {
        starts.push(data.len());
    }
    starts
}

/// The runs of consecutive added lines (0-based line ranges).
fn added_blocks(lines: &[bool]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < lines.len() && !lines[i] {
            i += 1;
        }
        let start = i;
        while i < lines.len() && lines[i] {
            i += 1;
        }
        (start < i).then_some(start..i)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn secrets_git_lines_and_blocks() {
        assert_eq!(line_starts(b""), [0]);
        assert_eq!(line_starts(b"a\n"), [0, 2]);
        assert_eq!(line_starts(b"a\nbc"), [0, 2, 4]);
        let old = b"one\ntwo\nthree\n";
        let new = b"zero\none\ntwo\n2.5\nthree\nfour";
        let added = added_lines(old, new);
        assert_eq!(added, [true, false, false, true, false, true]);
        assert_eq!(line_starts(new).len() - 1, added.len());
        let blocks: Vec<_> = added_blocks(&added).collect();
        assert_eq!(blocks, [0..1, 3..4, 5..6]);
        let mut one = added_blocks(&[false, true, true]);
        assert_eq!((one.next(), one.next()), (Some(1..3), None));
        assert_eq!(added_blocks(&[]).count(), 0);
    }

    #[test]
    fn secrets_git_rename_similarity() {
        let old = b"a\nb\nc\nd\ne\nf\n";
        assert_eq!(similarity(old, old), Some(1000));
        assert!(similarity(old, b"a\nb\nc\nd\ne\nX\n").unwrap() >= 800);
        assert_eq!(similarity(old, b"u\nv\nw\nx\ny\nz\n"), None);
        // Too different in size to keep half.
        assert_eq!(similarity(old, b"a\n"), None);
        assert_eq!(similarity(b"", b""), None);
    }
}
