//! History scans: the lines every commit reachable from any ref added, read from the `git`
//! executable's patch output (`git log -p --all -U0`, merges against their first parent), so a
//! secret deleted by a later commit is still found, with the commit that added it.
//!
//! (The pure-Rust `gix` was measured first: with the features a history walk and tree/blob diffs
//! need it added about four minutes to a clean build on two cores, so the `git` executable it is.)

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rayon::prelude::*;

use super::engine::{scan_fragment, CommitInfo, Origin};
use super::{sort_findings, RuleSet, ScanStats, SecretFinding};
use crate::{Result, ScanError};

/// Fragments are scanned in parallel batches of about this many bytes.
const BATCH_BYTES: usize = 8 << 20;

/// A block of consecutive lines one commit added to one file.
#[derive(Debug)]
struct Fragment {
    commit: Arc<CommitInfo>,
    path: Arc<str>,
    first_line: u64,
    content: Vec<u8>,
}

/// Scans every commit reachable from any ref (HEAD, branches, tags, …): the lines each commit
/// added relative to its first parent (all of a root commit's files), as `gitleaks git` does.
/// Findings carry the commit id, author (`Name <email>`), author date and the path in that
/// commit. Needs the `git` executable.
pub fn scan_git_history(rules: &RuleSet, repo: &Path) -> Result<(Vec<SecretFinding>, ScanStats)> {
    let check = git(repo)
        .args(["rev-parse", "--git-dir"])
        .output()
        .map_err(|e| ScanError::Git(format!("cannot run git: {e}")))?;
    if !check.status.success() {
        return Err(ScanError::Git(format!(
            "{}: not a git repository ({})",
            repo.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        )));
    }
    let mut child = git(repo)
        .args([
            "-c",
            "core.quotePath=true",
            "-c",
            "log.showSignature=false",
            "log",
            "--all",
            "--root",
            "-p",
            "-U0",
            "-M",
            "--diff-merges=first-parent",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "--format=%x01%H%x02%an <%ae>%x02%aI",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ScanError::Git(format!("cannot run git: {e}")))?;
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = String::new();
            // Best effort: the message only decorates a failure.
            let _ = err.read_to_string(&mut text);
            text
        })
    });
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| ScanError::Git("git produced no output pipe".into()))?;
    let mut parser = PatchParser::default();
    let mut findings = Vec::new();
    let read = parser.run(BufReader::with_capacity(1 << 20, stdout), |batch| {
        findings.extend(scan_batch(rules, batch));
    });
    let status = child
        .wait()
        .map_err(|e| ScanError::Git(format!("waiting for git: {e}")))?;
    let err_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    read.map_err(|e| ScanError::Git(format!("reading git log: {e}")))?;
    if !status.success() {
        return Err(ScanError::Git(format!(
            "git log failed ({status}): {}",
            err_text.trim()
        )));
    }
    sort_findings(&mut findings);
    // A path-only rule reports a file once per commit, however many hunks it has.
    findings.dedup();
    Ok((findings, parser.stats))
}

/// `git -C repo` with the environment a hook may have set removed.
fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_EXTERNAL_DIFF",
        "GIT_DIFF_OPTS",
        "GIT_PAGER",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn scan_batch(rules: &RuleSet, batch: Vec<Fragment>) -> Vec<SecretFinding> {
    batch
        .par_iter()
        .flat_map_iter(|f| {
            let mut out = Vec::new();
            let origin = Origin {
                path: &f.path,
                commit: Some(&f.commit),
            };
            scan_fragment(rules, &origin, &f.content, f.first_line, &mut out);
            out
        })
        .collect()
}

/// A streaming parser of `git log -p -U0` output.
#[derive(Debug, Default)]
struct PatchParser {
    stats: ScanStats,
    commit: Option<Arc<CommitInfo>>,
    /// The current file's new path (`None` for deletions and before `+++`).
    path: Option<Arc<str>>,
    /// Whether the current file already counted in `stats.files`.
    counted: bool,
    /// Lines still expected in the current hunk: (removed, added).
    remaining: (u64, u64),
    hunk: Option<Fragment>,
    batch: Vec<Fragment>,
    batch_bytes: usize,
}

impl PatchParser {
    fn run(
        &mut self,
        mut input: impl BufRead,
        mut flush: impl FnMut(Vec<Fragment>),
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            self.line(&line);
            if self.batch_bytes >= BATCH_BYTES {
                self.batch_bytes = 0;
                flush(std::mem::take(&mut self.batch));
            }
        }
        self.end_hunk();
        flush(std::mem::take(&mut self.batch));
        Ok(())
    }

    fn line(&mut self, line: &[u8]) {
        if self.remaining != (0, 0) {
            match line.first() {
                Some(b'+') if self.remaining.1 > 0 => {
                    self.remaining.1 -= 1;
                    if let Some(h) = &mut self.hunk {
                        h.content.extend_from_slice(&line[1..]);
                        h.content.push(b'\n');
                    }
                    return;
                }
                Some(b'-') if self.remaining.0 > 0 => {
                    self.remaining.0 -= 1;
                    return;
                }
                Some(b'\\') => return,
                // Anything else ends a malformed hunk early.
                _ => self.remaining = (0, 0),
            }
        }
        if let Some(rest) = line.strip_prefix(b"\x01") {
            self.end_hunk();
            let mut parts = rest.split(|&b| b == 0x02);
            let id = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let author = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let date = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            self.commit = Some(Arc::new(CommitInfo { id, author, date }));
            self.path = None;
        } else if line.starts_with(b"diff --git ") || line.starts_with(b"diff --cc ") {
            self.end_hunk();
            self.path = None;
            self.counted = false;
        } else if line.starts_with(b"Binary files ") {
            self.stats.skipped_binary += 1;
        } else if let Some(p) = line.strip_prefix(b"+++ ") {
            self.path = if p == b"/dev/null" {
                None
            } else {
                let p = unquote(p);
                let p = p.strip_prefix(b"b/").unwrap_or(&p);
                Some(Arc::from(String::from_utf8_lossy(p).as_ref()))
            };
        } else if line.starts_with(b"@@ ") {
            self.end_hunk();
            let Some((old, new)) = parse_hunk_header(line) else {
                return;
            };
            self.remaining = (old.1, new.1);
            if new.1 > 0 {
                if let (Some(commit), Some(path)) = (&self.commit, &self.path) {
                    self.hunk = Some(Fragment {
                        commit: Arc::clone(commit),
                        path: Arc::clone(path),
                        first_line: new.0.max(1),
                        content: Vec::new(),
                    });
                }
            }
        }
    }

    fn end_hunk(&mut self) {
        self.remaining = (0, 0);
        let Some(h) = self.hunk.take() else { return };
        if h.content.is_empty() {
            return;
        }
        if !self.counted {
            self.counted = true;
            self.stats.files += 1;
        }
        self.stats.bytes += h.content.len() as u64;
        self.batch_bytes += h.content.len();
        self.batch.push(h);
    }
}

/// `@@ -a[,b] +c[,d] @@` → ((a, b), (c, d)); an omitted count is 1.
fn parse_hunk_header(line: &[u8]) -> Option<((u64, u64), (u64, u64))> {
    let text = std::str::from_utf8(line).ok()?;
    let mut fields = text.split(' ').skip(1);
    let old = parse_range(fields.next()?.strip_prefix('-')?)?;
    let new = parse_range(fields.next()?.strip_prefix('+')?)?;
    Some((old, new))
}

fn parse_range(s: &str) -> Option<(u64, u64)> {
    match s.split_once(',') {
        Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

/// Undoes git's C-style quoting of a path (`"a\tb\303\251"`); unquoted paths pass through.
fn unquote(p: &[u8]) -> Vec<u8> {
    let Some(inner) = p.strip_prefix(b"\"").and_then(|p| p.strip_suffix(b"\"")) else {
        return p.to_vec();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        i += 1;
        if b != b'\\' || i >= inner.len() {
            out.push(b);
            continue;
        }
        let e = inner[i];
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v & 0xff).unwrap_or(b'?'));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn secrets_git_unquotes_c_style_paths() {
        assert_eq!(unquote(b"plain/path.txt"), b"plain/path.txt");
        assert_eq!(
            unquote(br#""b/a\tb\303\251\"q\\.txt""#),
            b"b/a\tb\xc3\xa9\"q\\.txt"
        );
    }

    #[test]
    fn secrets_git_parses_hunk_headers() {
        assert_eq!(
            parse_hunk_header(b"@@ -0,0 +1,3 @@"),
            Some(((0, 0), (1, 3)))
        );
        assert_eq!(
            parse_hunk_header(b"@@ -5 +7 @@ fn x()"),
            Some(((5, 1), (7, 1)))
        );
        assert_eq!(
            parse_hunk_header(b"@@ -5,2 +4,0 @@"),
            Some(((5, 2), (4, 0)))
        );
        assert_eq!(parse_hunk_header(b"@@ garbage"), None);
    }

    #[test]
    fn secrets_git_patch_parser_keeps_added_blocks_and_their_lines() {
        let patch = b"\x01abc123\x02Ann <ann@x.org>\x022024-01-02T03:04:05+00:00\n\
diff --git a/f.txt b/f.txt\n\
--- a/f.txt\n\
+++ b/f.txt\n\
@@ -2,2 +2,1 @@\n\
--- removed line that looks like a header\n\
-gone\n\
++++ added line that looks like a header\n\
@@ -9,0 +9,2 @@\n\
+x\n\
+y\n\
\\ No newline at end of file\n\
diff --git a/img.png b/img.png\n\
Binary files a/img.png and b/img.png differ\n";
        let mut parser = PatchParser::default();
        let mut frags = Vec::new();
        parser.run(&patch[..], |b| frags.extend(b)).unwrap();
        assert_eq!(frags.len(), 2);
        assert_eq!(&*frags[0].path, "f.txt");
        assert_eq!(frags[0].first_line, 2);
        assert_eq!(
            frags[0].content,
            b"+++ added line that looks like a header\n"
        );
        assert_eq!(frags[1].first_line, 9);
        assert_eq!(frags[1].content, b"x\ny\n");
        assert_eq!(frags[1].commit.id, "abc123");
        assert_eq!(frags[1].commit.author, "Ann <ann@x.org>");
        assert_eq!(parser.stats.files, 1);
        assert_eq!(parser.stats.skipped_binary, 1);
    }
}
