//! Version orderings for OSV ranges: SemVer 2.0 precedence, PEP 440, and a dotted fallback.
//!
//! Comparisons never fail: a version that does not parse under its scheme is compared with the
//! fallback ordering instead. Nothing here sorts with these comparisons (a comparison that mixes
//! schemes is not guaranteed to be a total order), so callers only ask pairwise questions.

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// How the versions of one ecosystem (or of a `SEMVER` range) are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// SemVer 2.0 precedence (build metadata ignored); `v` prefixes and missing minor or patch
    /// numbers are tolerated.
    Semver,
    /// PEP 440 (Python packages).
    Pep440,
    /// Runs of digits compared as numbers, runs of letters as text (see [`generic_cmp`]).
    Generic,
}

impl Scheme {
    /// The ordering of `ECOSYSTEM` ranges in `ecosystem` (an OSV ecosystem name, any `:suffix`
    /// already removed, lowercase).
    pub(crate) fn for_ecosystem(ecosystem: &str) -> Self {
        match ecosystem {
            "crates.io" | "npm" | "go" | "hex" | "pub" | "swifturl" => Self::Semver,
            "pypi" => Self::Pep440,
            _ => Self::Generic,
        }
    }

    /// Compares two versions under this scheme, falling back to [`generic_cmp`] when either does
    /// not parse.
    pub(crate) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Self::Semver => match (parse_semver(a), parse_semver(b)) {
                (Some(x), Some(y)) => semver_cmp(&x, &y),
                _ => generic_cmp(a, b),
            },
            Self::Pep440 => match (Pep440::parse(a), Pep440::parse(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => generic_cmp(a, b),
            },
            Self::Generic => generic_cmp(a, b),
        }
    }
}

/// Parses a SemVer version, tolerating a `v` prefix and a release of one or two numbers
/// (`1.2` reads as `1.2.0`).
fn parse_semver(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    if let Ok(version) = semver::Version::parse(text) {
        return Some(version);
    }
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let parts = core.split('.').count();
    if parts == 0 || parts > 2 || core.is_empty() {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - parts));
    semver::Version::parse(&padded).ok()
}

/// SemVer precedence: build metadata does not take part (`semver::Version`'s own `Ord` orders
/// it, the specification does not).
fn semver_cmp(a: &semver::Version, b: &semver::Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// The fallback ordering: each version is split into runs of digits and runs of letters (any
/// other character separates runs). Runs are compared pairwise: numbers numerically, letters as
/// lowercase text, a number above letters. When one version runs out first, it is the smaller one
/// if the other continues with a number (`1.0` < `1.0.1`) and the larger one if the other
/// continues with letters (`1.0rc1` < `1.0`).
pub(crate) fn generic_cmp(a: &str, b: &str) -> Ordering {
    let left = tokens(a);
    let right = tokens(b);
    for pair in left.iter().zip(right.iter()) {
        let ordering = match pair {
            (Token::Num(x), Token::Num(y)) => numeric_text_cmp(x, y),
            (Token::Text(x), Token::Text(y)) => x.cmp(y),
            (Token::Num(_), Token::Text(_)) => Ordering::Greater,
            (Token::Text(_), Token::Num(_)) => Ordering::Less,
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    let common = left.len().min(right.len());
    match (left.get(common), right.get(common)) {
        (Some(Token::Num(_)), None) => Ordering::Greater,
        (Some(Token::Text(_)), None) => Ordering::Less,
        (None, Some(Token::Num(_))) => Ordering::Less,
        (None, Some(Token::Text(_))) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// Digits with leading zeros removed (compared by length, then text: no overflow).
    Num(String),
    Text(String),
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut digits = false;
    let flush = |current: &mut String, digits: bool, out: &mut Vec<Token>| {
        if current.is_empty() {
            return;
        }
        let run = std::mem::take(current);
        out.push(if digits {
            let trimmed = run.trim_start_matches('0');
            Token::Num(trimmed.to_owned())
        } else {
            Token::Text(run.to_lowercase())
        });
    };
    for c in text.chars() {
        if c.is_ascii_digit() || c.is_alphabetic() {
            let is_digit = c.is_ascii_digit();
            if !current.is_empty() && is_digit != digits {
                flush(&mut current, digits, &mut out);
            }
            digits = is_digit;
            current.push(c);
        } else {
            flush(&mut current, digits, &mut out);
        }
    }
    flush(&mut current, digits, &mut out);
    out
}

/// Compares two digit strings without leading zeros as numbers.
fn numeric_text_cmp(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A PEP 440 version reduced to its sort key (as `packaging.version` computes it).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pep440 {
    epoch: u64,
    /// Release numbers without trailing zeros (`1.0` equals `1.0.0`).
    release: Vec<u64>,
    pre: PreKey,
    /// `None` (no post-release) sorts first.
    post: Option<u64>,
    dev: DevKey,
    /// `None` (no local label) sorts first.
    local: Option<Vec<LocalPart>>,
}

/// The pre-release key: a dev release without pre- or post-release sorts before every
/// pre-release of its release, and a final release after them.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    DevOnly,
    /// Phase (0 `a`, 1 `b`, 2 `rc`) and number.
    Pre(u8, u64),
    Final,
}

/// A dev release sorts before the same version without `.dev`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DevKey {
    Dev(u64),
    None,
}

/// Local version segments: text sorts before numbers.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Text(String),
    Num(u64),
}

fn pep440_regex() -> Option<&'static Regex> {
    static PATTERN: OnceLock<Option<Regex>> = OnceLock::new();
    PATTERN
        .get_or_init(|| {
            Regex::new(concat!(
                r"(?i)^\s*v?",
                r"(?:(?P<epoch>[0-9]+)!)?",
                r"(?P<release>[0-9]+(?:\.[0-9]+)*)",
                r"(?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]+)?)?",
                r"(?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?",
                r"(?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?",
                r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?",
                r"\s*$",
            ))
            .ok()
        })
        .as_ref()
}

impl Pep440 {
    fn parse(text: &str) -> Option<Self> {
        let caps = pep440_regex()?.captures(text)?;
        let number = |name: &str| -> Option<Option<u64>> {
            match caps.name(name) {
                Some(m) => m.as_str().parse().ok().map(Some),
                None => Some(None),
            }
        };
        let epoch = number("epoch")?.unwrap_or(0);
        let mut release = Vec::new();
        for part in caps.name("release")?.as_str().split('.') {
            release.push(part.parse::<u64>().ok()?);
        }
        while release.last() == Some(&0) {
            release.pop();
        }
        let pre = match caps.name("pre_l") {
            Some(label) => {
                let phase = match label.as_str().to_ascii_lowercase().as_str() {
                    "a" | "alpha" => 0,
                    "b" | "beta" => 1,
                    _ => 2,
                };
                Some((phase, number("pre_n")?.unwrap_or(0)))
            }
            None => None,
        };
        let post = if caps.name("post_n1").is_some() {
            number("post_n1")?
        } else if caps.name("post_l").is_some() {
            Some(number("post_n2")?.unwrap_or(0))
        } else {
            None
        };
        let dev = if caps.name("dev_l").is_some() {
            Some(number("dev_n")?.unwrap_or(0))
        } else {
            None
        };
        let pre = match (pre, post, dev) {
            (Some((phase, n)), _, _) => PreKey::Pre(phase, n),
            (None, None, Some(_)) => PreKey::DevOnly,
            (None, _, _) => PreKey::Final,
        };
        let local = caps.name("local").map(|m| {
            m.as_str()
                .split(['-', '_', '.'])
                .map(|part| match part.parse::<u64>() {
                    Ok(n) if part.bytes().all(|b| b.is_ascii_digit()) => LocalPart::Num(n),
                    _ => LocalPart::Text(part.to_ascii_lowercase()),
                })
                .collect()
        });
        Some(Self {
            epoch,
            release,
            pre,
            post,
            dev: dev.map_or(DevKey::None, DevKey::Dev),
            local,
        })
    }
}
