//! Rule files in the gitleaks TOML format, merged (`[extend] useDefault`) and compiled into a
//! `RuleSet`: regexes, the keyword automaton and allowlists.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex as BytesRegex, RegexBuilder as BytesRegexBuilder};
use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use serde::Deserialize;

use super::engine::{Allowlist, Condition, Rule, Scope, Target};
use crate::{Result, ScanError};

/// The built-in rules, in the gitleaks format.
const BUILTIN: &str = include_str!("../../rules/secrets.toml");

/// A compiled set of rules with its global allowlists. Build it once and share it: scanning only
/// reads it.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) global: Vec<Allowlist>,
    /// Every distinct keyword, ASCII case-insensitive, for overlapping search.
    pub(crate) keywords: Option<AhoCorasick>,
    /// For each keyword pattern, the rules that list it.
    pub(crate) keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords: they run on every fragment.
    pub(crate) unkeyed: Vec<usize>,
}

impl RuleSet {
    /// Citadel's built-in rules (`rules/secrets.toml`).
    pub fn builtin() -> Result<Self> {
        compile(builtin_raw()?)
    }

    /// Rules from a gitleaks-format TOML file. With `[extend] useDefault = true` they are merged
    /// into the built-in rules as gitleaks does: a rule with a built-in id overrides the fields it
    /// sets and adds its keywords, tags and allowlists; `disabledRules` drops built-in rules.
    /// Unknown keys are ignored. `[extend] path` and `url` are not supported.
    pub fn from_toml(text: &str) -> Result<Self> {
        let user = parse(text)?;
        let extend = user.extend.clone().unwrap_or_default();
        if extend.path.is_some() || extend.url.is_some() {
            return Err(ScanError::InvalidInput(
                "rule file: [extend] path and url are not supported; use useDefault = true or copy the rules".into(),
            ));
        }
        let merged = if extend.use_default {
            merge(builtin_raw()?, user, &extend.disabled_rules)?
        } else {
            if user.rules.is_empty() {
                return Err(ScanError::InvalidInput(
                    "rule file defines no rules (add [extend] useDefault = true to build on the built-in rules)".into(),
                ));
            }
            user
        };
        compile(merged)
    }

    /// The rules for scanning `root`: its `.citadel-secrets.toml`, else its `.gitleaks.toml`
    /// (gitleaks' own default name), else the built-in rules. Returns the file used, if any.
    /// (A file replaces the built-in rules unless it says `[extend] useDefault = true`.)
    pub fn for_root(root: &Path) -> Result<(Self, Option<PathBuf>)> {
        for name in [".citadel-secrets.toml", ".gitleaks.toml"] {
            let path = root.join(name);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| ScanError::io(&path, e))?;
            let set = Self::from_toml(&text).map_err(|e| match e {
                ScanError::InvalidInput(msg) => {
                    ScanError::InvalidInput(format!("{}: {msg}", path.display()))
                }
                other => other,
            })?;
            return Ok((set, Some(path)));
        }
        Ok((Self::builtin()?, None))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rule ids, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.id.as_str()).collect()
    }

    /// `(id, description, tags)` of every rule, in file order (for reports such as SARIF).
    pub fn describe(&self) -> Vec<(&str, &str, &[String])> {
        self.rules
            .iter()
            .map(|r| (r.id.as_str(), r.description.as_str(), r.tags.as_slice()))
            .collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    title: Option<String>,
    extend: Option<RawExtend>,
    rules: Vec<RawRule>,
    allowlist: Option<RawAllowlist>,
    allowlists: Vec<RawAllowlist>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawExtend {
    use_default: bool,
    path: Option<String>,
    #[serde(rename = "URL", alias = "url")]
    url: Option<String>,
    disabled_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawRule {
    id: String,
    description: String,
    regex: Option<String>,
    secret_group: Option<i64>,
    entropy: Option<f64>,
    keywords: Vec<String>,
    path: Option<String>,
    tags: Vec<String>,
    allowlist: Option<RawAllowlist>,
    allowlists: Vec<RawAllowlist>,
    /// Set for built-in rules whose regex is ours: every match contains one of the keywords, so
    /// a single-line regex may run on keyword lines only (`Scope::Lines`).
    #[serde(skip)]
    keyword_in_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawAllowlist {
    description: String,
    condition: Option<String>,
    commits: Vec<String>,
    paths: Vec<String>,
    regex_target: Option<String>,
    regexes: Vec<String>,
    stopwords: Vec<String>,
    target_rules: Vec<String>,
}

fn parse(text: &str) -> Result<RawConfig> {
    toml::from_str::<RawConfig>(text)
        .map_err(|e| ScanError::InvalidInput(format!("rule file: {}", e.message())))
}

fn builtin_raw() -> Result<RawConfig> {
    let mut raw = parse(BUILTIN)?;
    for rule in &mut raw.rules {
        rule.keyword_in_match = true;
    }
    Ok(raw)
}

/// gitleaks' extend: the user's file on top of the base.
fn merge(mut base: RawConfig, user: RawConfig, disabled: &[String]) -> Result<RawConfig> {
    let disabled: HashSet<&str> = disabled.iter().map(String::as_str).collect();
    base.rules.retain(|r| !disabled.contains(r.id.as_str()));
    for rule in user.rules {
        if let Some(existing) = base.rules.iter_mut().find(|r| r.id == rule.id) {
            if !rule.description.is_empty() {
                existing.description = rule.description;
            }
            if rule.regex.is_some() {
                existing.regex = rule.regex;
                existing.keyword_in_match = false;
            }
            if rule.secret_group.is_some() {
                existing.secret_group = rule.secret_group;
            }
            if rule.entropy.is_some() {
                existing.entropy = rule.entropy;
            }
            if rule.path.is_some() {
                existing.path = rule.path;
            }
            existing.keywords.extend(rule.keywords);
            existing.tags.extend(rule.tags);
            existing.allowlists.extend(rule.allowlist);
            existing.allowlists.extend(rule.allowlists);
        } else if !disabled.contains(rule.id.as_str()) {
            base.rules.push(rule);
        }
    }
    if user.title.is_some() {
        base.title = user.title;
    }
    base.allowlists.extend(base.allowlist.take());
    base.allowlists.extend(user.allowlist);
    base.allowlists.extend(user.allowlists);
    Ok(base)
}

fn compile(raw: RawConfig) -> Result<RuleSet> {
    let mut rules = Vec::with_capacity(raw.rules.len());
    let mut seen = HashSet::new();
    for r in raw.rules {
        if r.id.trim().is_empty() {
            return Err(ScanError::InvalidInput(
                "rule file: a rule has no id".into(),
            ));
        }
        if !seen.insert(r.id.clone()) {
            return Err(ScanError::Rule {
                rule: r.id,
                detail: "duplicate rule id".into(),
            });
        }
        rules.push(compile_rule(r)?);
    }
    let mut global = Vec::new();
    for a in raw.allowlist.into_iter().chain(raw.allowlists) {
        if a.target_rules.is_empty() {
            global.push(compile_allowlist(&a, "global allowlist")?);
            continue;
        }
        for target in &a.target_rules {
            let rule = rules.iter_mut().find(|r| &r.id == target).ok_or_else(|| {
                ScanError::InvalidInput(format!(
                    "rule file: allowlist targets unknown rule {target}"
                ))
            })?;
            let compiled = compile_allowlist(&a, target)?;
            rule.allowlists.push(compiled);
        }
    }
    // The keyword automaton: each distinct keyword once, mapped to its rules.
    let mut words: Vec<String> = Vec::new();
    let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
    let mut unkeyed = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.keywords.is_empty() {
            unkeyed.push(i);
        }
        for k in &rule.keywords {
            match words.iter().position(|w| w == k) {
                Some(p) => keyword_rules[p].push(i),
                None => {
                    words.push(k.clone());
                    keyword_rules.push(vec![i]);
                }
            }
        }
    }
    let keywords = if words.is_empty() {
        None
    } else {
        Some(
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&words)
                .map_err(|e| ScanError::InvalidInput(format!("rule keywords: {e}")))?,
        )
    };
    Ok(RuleSet {
        rules,
        global,
        keywords,
        keyword_rules,
        unkeyed,
    })
}

fn compile_rule(r: RawRule) -> Result<Rule> {
    let err = |detail: String| ScanError::Rule {
        rule: r.id.clone(),
        detail,
    };
    let (regex, scope) = match r.regex.as_deref() {
        Some(p) if !p.is_empty() => {
            let (re, single_line) = compile_bytes_regex(p).map_err(&err)?;
            let scope = if single_line && r.keyword_in_match && !r.keywords.is_empty() {
                Scope::Lines
            } else {
                Scope::Whole
            };
            (Some(re), scope)
        }
        _ => (None, Scope::Whole),
    };
    let path = match r.path.as_deref() {
        Some(p) if !p.is_empty() => Some(compile_str_regex(p).map_err(&err)?),
        _ => None,
    };
    if regex.is_none() && path.is_none() {
        return Err(err("a rule needs a regex or a path".into()));
    }
    let secret_group = match r.secret_group {
        None => 0,
        Some(g) => usize::try_from(g).map_err(|_| err(format!("secretGroup {g} is negative")))?,
    };
    if let Some(re) = &regex {
        // captures_len counts the implicit whole-match group.
        if secret_group >= re.captures_len() {
            return Err(err(format!(
                "secretGroup {secret_group} but the regex has {} capture group(s)",
                re.captures_len() - 1
            )));
        }
    }
    let entropy = r.entropy.unwrap_or(0.0);
    if !entropy.is_finite() || entropy < 0.0 {
        return Err(err(format!(
            "entropy {entropy} is not a non-negative number"
        )));
    }
    let mut keywords: Vec<String> = Vec::new();
    for k in &r.keywords {
        let k = k.to_ascii_lowercase();
        if !k.is_empty() && !keywords.contains(&k) {
            keywords.push(k);
        }
    }
    let mut allowlists = Vec::new();
    for a in r.allowlist.iter().chain(&r.allowlists) {
        allowlists.push(compile_allowlist(a, &r.id)?);
    }
    Ok(Rule {
        generic: r.id.to_ascii_lowercase().contains("generic"),
        id: r.id,
        description: r.description,
        regex,
        secret_group,
        entropy: entropy as f32,
        keywords,
        path,
        tags: r.tags,
        allowlists,
        scope,
    })
}

fn compile_allowlist(a: &RawAllowlist, owner: &str) -> Result<Allowlist> {
    let err = |detail: String| ScanError::Rule {
        rule: owner.to_string(),
        detail,
    };
    let condition = match a
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("") | Some("OR") => Condition::Or,
        Some("AND") => Condition::And,
        Some(other) => return Err(err(format!("allowlist condition {other:?} (OR or AND)"))),
    };
    let target = match a.regex_target.as_deref() {
        None | Some("") | Some("secret") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(err(format!(
                "allowlist regexTarget {other:?} (secret, match or line)"
            )))
        }
    };
    let mut regexes = Vec::with_capacity(a.regexes.len());
    for p in &a.regexes {
        regexes.push(compile_bytes_regex(p).map_err(&err)?.0);
    }
    let mut paths = Vec::with_capacity(a.paths.len());
    for p in &a.paths {
        paths.push(compile_str_regex(p).map_err(&err)?);
    }
    let stopwords: Vec<String> = a
        .stopwords
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let stopword_matcher = if stopwords.is_empty() {
        None
    } else {
        Some(
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&stopwords)
                .map_err(|e| err(format!("stopwords: {e}")))?,
        )
    };
    let commits = a
        .commits
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    Ok(Allowlist {
        condition,
        commits,
        paths,
        target,
        regexes,
        stopwords: stopword_matcher,
    })
}

/// Compiles a Go RE2 pattern for byte haystacks. Like Go, `\d`, `\w`, `\s` and `\b` are ASCII
/// (also what keeps the DFA fast on non-ASCII text); a pattern that needs Unicode classes
/// (`\pL`) is compiled in Unicode mode instead. Returns whether no match can span a line.
fn compile_bytes_regex(pattern: &str) -> std::result::Result<(BytesRegex, bool), String> {
    let build = |unicode: bool| {
        BytesRegexBuilder::new(pattern)
            .unicode(unicode)
            .size_limit(32 << 20)
            .dfa_size_limit(8 << 20)
            .build()
    };
    let (re, unicode) = match build(false) {
        Ok(re) => (re, false),
        Err(first) => match build(true) {
            Ok(re) => (re, true),
            Err(_) => return Err(first.to_string()),
        },
    };
    let single_line = regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(false)
        .build()
        .parse(pattern)
        .map(|hir| line_local(&hir))
        .unwrap_or(false);
    Ok((re, single_line))
}

fn compile_str_regex(pattern: &str) -> std::result::Result<Regex, String> {
    Regex::new(pattern).map_err(|e| e.to_string())
}

/// True when no match can contain a newline and the pattern does not anchor at the start or
/// end of the whole text: then searching each line alone finds exactly what searching the whole
/// text would.
fn line_local(hir: &Hir) -> bool {
    let looks = hir.properties().look_set();
    if looks.contains(Look::Start) || looks.contains(Look::End) {
        return false;
    }
    !can_match_newline(hir)
}

fn can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Repetition(r) => can_match_newline(&r.sub),
        HirKind::Capture(c) => can_match_newline(&c.sub),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(can_match_newline),
    }
}

#[cfg(test)]
pub(crate) fn is_line_local(pattern: &str) -> bool {
    compile_bytes_regex(pattern)
        .map(|(_, l)| l)
        .unwrap_or(false)
}

#[cfg(test)]
impl RuleSet {
    /// The same rules with every rule searched over whole fragments (the reference behaviour the
    /// keyword-line windows must reproduce).
    pub(crate) fn exhaustive(mut self) -> Self {
        for r in &mut self.rules {
            r.scope = Scope::Whole;
        }
        self
    }

    pub(crate) fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}
