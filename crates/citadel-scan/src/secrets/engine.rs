//! The matcher: runs a `RuleSet` over one fragment of text (a file, or a block of lines a commit
//! added) and turns regex matches into findings.

use std::ops::Range;

use aho_corasick::AhoCorasick;
use memchr::{memchr, memchr_iter, memmem, memrchr};
use regex::bytes::Regex as BytesRegex;
use regex::Regex;

use super::config::RuleSet;
use super::SecretFinding;

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) regex: Option<BytesRegex>,
    /// 0: the first non-empty capture group, else the whole match.
    pub(crate) secret_group: usize,
    /// The secret's entropy must exceed this (0: no check).
    pub(crate) entropy: f32,
    /// Lowercase.
    pub(crate) keywords: Vec<String>,
    pub(crate) path: Option<Regex>,
    pub(crate) tags: Vec<String>,
    pub(crate) allowlists: Vec<Allowlist>,
    pub(crate) scope: Scope,
    /// gitleaks drops a generic finding when a specific rule found the same secret on its line.
    pub(crate) generic: bool,
}

/// Where a rule's regex runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Only on the lines that hold one of its keywords (single-line regexes whose matches
    /// contain a keyword).
    Lines,
    /// On the whole fragment, when any keyword occurs (or always, without keywords).
    Whole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    Or,
    And,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Secret,
    Match,
    Line,
}

/// An allowlist: findings it matches are dropped.
#[derive(Debug)]
pub(crate) struct Allowlist {
    pub(crate) condition: Condition,
    /// Lowercase commit ids (a prefix of at least 7 characters matches too).
    pub(crate) commits: Vec<String>,
    pub(crate) paths: Vec<Regex>,
    pub(crate) target: Target,
    pub(crate) regexes: Vec<BytesRegex>,
    pub(crate) stopwords: Option<AhoCorasick>,
}

/// The parts of a candidate finding an allowlist looks at.
struct Candidate<'a> {
    secret: &'a [u8],
    matched: &'a [u8],
    line: &'a [u8],
    path: &'a str,
    commit: Option<&'a str>,
}

impl Allowlist {
    fn commit_allowed(&self, commit: Option<&str>) -> bool {
        let Some(commit) = commit else { return false };
        self.commits
            .iter()
            .any(|c| c == commit || (c.len() >= 7 && commit.starts_with(c.as_str())))
    }

    fn path_allowed(&self, path: &str) -> bool {
        self.paths.iter().any(|p| p.is_match(path))
    }

    fn regex_allowed(&self, c: &Candidate<'_>) -> bool {
        let hay = match self.target {
            Target::Secret => c.secret,
            Target::Match => c.matched,
            Target::Line => c.line,
        };
        self.regexes.iter().any(|r| r.is_match(hay))
    }

    fn stopword_allowed(&self, secret: &[u8]) -> bool {
        self.stopwords
            .as_ref()
            .is_some_and(|s| s.find(secret).is_some())
    }

    /// Whether this allowlist drops every finding of a fragment (commit or path alone decide).
    fn skips_fragment(&self, path: &str, commit: Option<&str>) -> bool {
        match self.condition {
            Condition::Or => self.commit_allowed(commit) || self.path_allowed(path),
            Condition::And => {
                let only_where = self.regexes.is_empty() && self.stopwords.is_none();
                let set = !self.commits.is_empty() || !self.paths.is_empty();
                only_where
                    && set
                    && (self.commits.is_empty() || self.commit_allowed(commit))
                    && (self.paths.is_empty() || self.path_allowed(path))
            }
        }
    }

    fn allows(&self, c: &Candidate<'_>) -> bool {
        match self.condition {
            Condition::Or => {
                self.commit_allowed(c.commit)
                    || self.path_allowed(c.path)
                    || self.regex_allowed(c)
                    || self.stopword_allowed(c.secret)
            }
            Condition::And => {
                let mut any = false;
                let mut all = true;
                if !self.commits.is_empty() {
                    any = true;
                    all &= self.commit_allowed(c.commit);
                }
                if !self.paths.is_empty() {
                    any = true;
                    all &= self.path_allowed(c.path);
                }
                if !self.regexes.is_empty() {
                    any = true;
                    all &= self.regex_allowed(c);
                }
                if self.stopwords.is_some() {
                    any = true;
                    all &= self.stopword_allowed(c.secret);
                }
                any && all
            }
        }
    }
}

/// Where a fragment comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) path: &'a str,
    pub(crate) commit: Option<&'a CommitInfo>,
}

impl<'a> Origin<'a> {
    pub(crate) fn file(path: &'a str) -> Self {
        Self { path, commit: None }
    }
}

/// The commit a history fragment was added by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitInfo {
    pub(crate) id: String,
    pub(crate) author: String,
    pub(crate) date: String,
}

/// Keyword lines closer than this are searched as one window (the lines between cannot change a
/// single-line regex's matches on the keyword lines; it saves a search call per line).
const WINDOW_GAP: usize = 128;

/// What a rule will search in the current fragment.
#[derive(Debug, Clone)]
enum Plan {
    Skip,
    Whole,
    Windows(Vec<Range<usize>>),
}

/// A match that survived the rule's checks, before it becomes a finding.
#[derive(Debug)]
struct Hit {
    rule: usize,
    matched: Range<usize>,
    secret: Range<usize>,
    entropy: f32,
}

impl RuleSet {
    /// Whether a global allowlist drops every finding in the file at `path` (outside history).
    pub(crate) fn global_skips_path(&self, path: &str) -> bool {
        self.global.iter().any(|a| a.skips_fragment(path, None))
    }
}

/// Scans `content`, whose first line is line `first_line` of the file, appending findings.
pub(crate) fn scan_fragment(
    set: &RuleSet,
    origin: &Origin<'_>,
    content: &[u8],
    first_line: u64,
    out: &mut Vec<SecretFinding>,
) {
    let commit_id = origin.commit.map(|c| c.id.as_str());
    if set
        .global
        .iter()
        .any(|a| a.skips_fragment(origin.path, commit_id))
    {
        return;
    }
    let mut plans: Vec<Plan> = vec![Plan::Skip; set.rules.len()];
    let eligible: Vec<bool> = set
        .rules
        .iter()
        .map(|r| r.path.as_ref().is_none_or(|p| p.is_match(origin.path)))
        .collect();
    let mut hits: Vec<Hit> = Vec::new();

    // Path-only rules: the file itself is the finding.
    for (i, rule) in set.rules.iter().enumerate() {
        if rule.regex.is_none() && eligible[i] {
            let cand = Candidate {
                secret: origin.path.as_bytes(),
                matched: origin.path.as_bytes(),
                line: origin.path.as_bytes(),
                path: origin.path,
                commit: commit_id,
            };
            if !allowed(set, rule, &cand) {
                hits.push(Hit {
                    rule: i,
                    matched: 0..0,
                    secret: 0..0,
                    entropy: 0.0,
                });
            }
        }
    }

    for &i in &set.unkeyed {
        if eligible[i] && set.rules[i].regex.is_some() {
            plans[i] = Plan::Whole;
        }
    }
    if let Some(ac) = &set.keywords {
        // The bounds of the last line a keyword was seen on, reused while hits stay on it.
        let mut line = 0..0;
        for m in ac.find_overlapping_iter(content) {
            let rules = &set.keyword_rules[m.pattern().as_usize()];
            for &i in rules {
                if !eligible[i] || set.rules[i].regex.is_none() {
                    continue;
                }
                match set.rules[i].scope {
                    Scope::Whole => plans[i] = Plan::Whole,
                    Scope::Lines => {
                        if m.start() < line.start || m.end() > line.end || line.is_empty() {
                            line = line_bounds(content, m.start(), m.end());
                        }
                        let plan = &mut plans[i];
                        match plan {
                            Plan::Whole => {}
                            Plan::Skip => *plan = Plan::Windows(vec![line.clone()]),
                            Plan::Windows(w) => match w.last_mut() {
                                Some(last) if line.start <= last.end + WINDOW_GAP => {
                                    last.start = last.start.min(line.start);
                                    last.end = last.end.max(line.end);
                                }
                                _ => w.push(line.clone()),
                            },
                        }
                    }
                }
            }
        }
    }

    for (i, plan) in plans.iter().enumerate() {
        let rule = &set.rules[i];
        let Some(re) = &rule.regex else { continue };
        match plan {
            Plan::Skip => {}
            Plan::Whole => run_regex(set, i, re, content, 0..content.len(), origin, &mut hits),
            Plan::Windows(windows) => {
                for w in windows {
                    run_regex(set, i, re, content, w.clone(), origin, &mut hits);
                }
            }
        }
    }
    if hits.is_empty() {
        return;
    }
    drop_generic_duplicates(set, content, &mut hits);

    let mut lines = LineIndex::default();
    for hit in hits {
        out.push(finding(set, &hit, content, first_line, origin, &mut lines));
    }
}

/// Runs one rule's regex over `content[window]`, keeping the matches that pass its checks.
fn run_regex(
    set: &RuleSet,
    index: usize,
    re: &BytesRegex,
    content: &[u8],
    window: Range<usize>,
    origin: &Origin<'_>,
    hits: &mut Vec<Hit>,
) {
    let rule = &set.rules[index];
    let base = window.start;
    let Some(hay) = content.get(window) else {
        return;
    };
    for caps in re.captures_iter(hay) {
        let Some(whole) = caps.get(0) else { continue };
        let secret = if rule.secret_group > 0 {
            caps.get(rule.secret_group)
        } else {
            caps.iter()
                .skip(1)
                .flatten()
                .find(|g| !g.is_empty())
                .or(Some(whole))
        };
        let Some(secret) = secret else { continue };
        if secret.is_empty() {
            continue;
        }
        let matched = base + whole.start()..base + whole.end();
        let secret = base + secret.start()..base + secret.end();
        let entropy = shannon_entropy(&content[secret.clone()]);
        if rule.entropy > 0.0 && entropy <= rule.entropy {
            continue;
        }
        let line = line_bounds(content, matched.start, matched.end);
        let line_text = &content[line];
        if memmem::find(line_text, b"gitleaks:allow").is_some()
            || memmem::find(line_text, b"citadel:allow").is_some()
        {
            continue;
        }
        let cand = Candidate {
            secret: &content[secret.clone()],
            matched: &content[matched.clone()],
            line: line_text,
            path: origin.path,
            commit: origin.commit.map(|c| c.id.as_str()),
        };
        if allowed(set, rule, &cand) {
            continue;
        }
        hits.push(Hit {
            rule: index,
            matched,
            secret,
            entropy,
        });
    }
}

fn allowed(set: &RuleSet, rule: &Rule, cand: &Candidate<'_>) -> bool {
    rule.allowlists.iter().any(|a| a.allows(cand)) || set.global.iter().any(|a| a.allows(cand))
}

/// Drops a generic rule's hit when a specific rule found an overlapping secret on the same line
/// (gitleaks' precedence), and exact duplicates.
fn drop_generic_duplicates(set: &RuleSet, content: &[u8], hits: &mut Vec<Hit>) {
    if !hits.iter().any(|h| set.rules[h.rule].generic) {
        return;
    }
    let specific: Vec<(Range<usize>, Range<usize>)> = hits
        .iter()
        .filter(|h| !set.rules[h.rule].generic)
        .map(|h| {
            (
                line_bounds(content, h.matched.start, h.matched.start),
                h.secret.clone(),
            )
        })
        .collect();
    hits.retain(|h| {
        if !set.rules[h.rule].generic {
            return true;
        }
        let line = line_bounds(content, h.matched.start, h.matched.start);
        !specific
            .iter()
            .any(|(l, s)| *l == line && s.start < h.secret.end && h.secret.start < s.end)
    });
}

fn finding(
    set: &RuleSet,
    hit: &Hit,
    content: &[u8],
    first_line: u64,
    origin: &Origin<'_>,
    lines: &mut LineIndex,
) -> SecretFinding {
    let rule = &set.rules[hit.rule];
    let (line, column, redacted) = if hit.matched.is_empty() && hit.secret.is_empty() {
        // A path-only rule: the file as a whole.
        (1, 1, redact(origin.path.as_bytes()))
    } else {
        let before = lines.newlines_before(content, hit.matched.start);
        let line_start = memrchr(b'\n', &content[..hit.matched.start]).map_or(0, |p| p + 1);
        let column = count_chars(&content[line_start..hit.matched.start]) + 1;
        (
            first_line + before,
            column,
            redact(&content[hit.secret.clone()]),
        )
    };
    let fingerprint = match origin.commit {
        Some(c) => format!("{}:{}:{}:{}", c.id, origin.path, rule.id, line),
        None => format!("{}:{}:{}", origin.path, rule.id, line),
    };
    SecretFinding {
        rule_id: rule.id.clone(),
        description: rule.description.clone(),
        path: origin.path.to_string(),
        line,
        column,
        secret_redacted: redacted,
        fingerprint,
        entropy: hit.entropy,
        commit: origin.commit.map(|c| c.id.clone()),
        author: origin.commit.map(|c| c.author.clone()),
        date: origin.commit.map(|c| c.date.clone()),
    }
}

/// Newline offsets of a fragment, built on the first finding only.
#[derive(Debug, Default)]
struct LineIndex {
    newlines: Option<Vec<usize>>,
}

impl LineIndex {
    fn newlines_before(&mut self, content: &[u8], pos: usize) -> u64 {
        let newlines = self
            .newlines
            .get_or_insert_with(|| memchr_iter(b'\n', content).collect());
        newlines.partition_point(|&p| p < pos) as u64
    }
}

/// The line (without its `\n`) holding `start..end`, extended over any line the range crosses.
fn line_bounds(content: &[u8], start: usize, end: usize) -> Range<usize> {
    let s = memrchr(b'\n', &content[..start]).map_or(0, |p| p + 1);
    let end = end.max(start).min(content.len());
    let e = memchr(b'\n', &content[end..]).map_or(content.len(), |p| end + p);
    s..e
}

fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

/// Shannon entropy in bits per byte, as gitleaks computes it (over bytes).
pub(crate) fn shannon_entropy(data: &[u8]) -> f32 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    h as f32
}

/// The first characters of a secret (four at most, never more than half), then `…`.
pub(crate) fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let chars = text.chars().count();
    let keep = (chars / 2).min(4);
    let mut out: String = text
        .chars()
        .take(keep)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    out.push('…');
    out
}
