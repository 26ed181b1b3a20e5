//! Secret scanning with gitleaks-format rules: files and folders (`scan_path`, `scan_bytes`), the
//! lines every commit added (`scan_git_history`), SARIF output, a pre-commit hook and a synthetic
//! benchmark tree.
//!
//! How a fragment of text is scanned (`engine`): one Aho-Corasick automaton over every rule's
//! keywords (ASCII case-insensitive) tells which rules can match and where; a rule whose regex
//! cannot cross a line runs only on the lines holding one of its keywords, any other rule on the
//! whole fragment. A regex match yields the secret (the `secretGroup`, else the first non-empty
//! group, else the match), which must beat the rule's Shannon entropy threshold and pass the
//! rule's and the global allowlists (commits, paths, regexes on the secret, match or line,
//! stopwords; OR or AND). A line holding `gitleaks:allow` or `citadel:allow` is skipped.

mod bench;
mod config;
mod engine;
mod git;
mod hook;
mod sarif;
#[cfg(test)]
mod tests;
mod walk;

use serde::Serialize;

pub use bench::bench_tree;
pub use config::RuleSet;
pub use git::scan_git_history;
pub use hook::install_pre_commit_hook;
pub use sarif::to_sarif;
pub use walk::scan_path;

/// One secret found: where, by which rule, and (for history scans) in which commit. The secret
/// itself is never kept: `secret_redacted` shows at most its first four characters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretFinding {
    pub rule_id: String,
    pub description: String,
    /// Relative to the scanned folder (or the repository), with `/` separators.
    pub path: String,
    /// 1-based line of the match's first byte.
    pub line: u64,
    /// 1-based column (in characters) of the match's first byte.
    pub column: u64,
    /// At most the first four characters of the secret (never more than half of it), then `…`.
    pub secret_redacted: String,
    /// gitleaks' fingerprint: `{commit}:{path}:{rule_id}:{line}`, or `{path}:{rule_id}:{line}`
    /// outside a history scan (what `.gitleaksignore` files list).
    pub fingerprint: String,
    /// Shannon entropy of the secret, in bits per byte.
    pub entropy: f32,
    pub commit: Option<String>,
    /// `Name <email>` of the commit's author.
    pub author: Option<String>,
    /// The commit's author date, ISO 8601.
    pub date: Option<String>,
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Files scanned (for history scans: file changes with added lines).
    pub files: u64,
    /// Bytes scanned (for history scans: bytes of added lines).
    pub bytes: u64,
    /// Files skipped as binary (a NUL byte in the first 8 KiB; a binary diff in history scans).
    pub skipped_binary: u64,
    /// Files skipped for being larger than 50 MB.
    pub skipped_large: u64,
}

/// Scans one file's bytes, `path` being the name reported and matched against path rules and
/// allowlists. Findings come sorted by line and column.
pub fn scan_bytes(rules: &RuleSet, path: &str, content: &[u8]) -> Vec<SecretFinding> {
    let mut out = Vec::new();
    engine::scan_fragment(rules, &engine::Origin::file(path), content, 1, &mut out);
    sort_findings(&mut out);
    out
}

/// The order every scan returns: path, line, column, then rule id (and commit, for history).
pub(crate) fn sort_findings(findings: &mut [SecretFinding]) {
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.rule_id, &a.commit)
            .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
    });
}
