//! The analyzer: runs every recognizer over a text in a few cheap passes (one Aho-Corasick pass
//! for keywords and triggers, `memchr` for `@`, one regex pass for numeric runs, one for hex
//! addresses, one byte scan for capitalized words), resolves overlaps, and reports findings in
//! char offsets. [`LineScanner`] does the same line by line over a stream of any size.

use std::collections::BTreeMap;

use crate::context::{Class, Hits, Keywords};
use crate::recognizers::network::{self, Network};
use crate::recognizers::Candidate;
use crate::recognizers::{credential, dob::Dob, email, ids::Ids, numeric, person};
use crate::text::CharCounter;
use crate::{CredentialKind, EntityType, Finding, PiiError};

/// Which entity types to report and how confident a finding must be.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerConfig {
    /// The types to look for (default: all).
    pub entities: Vec<EntityType>,
    /// Findings scoring below this are dropped (default 0.4, which keeps a bare given name such
    /// as "Kevin" at 0.5 and drops ten bare digits that merely could be a phone number).
    pub min_score: f64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            entities: EntityType::ALL.to_vec(),
            min_score: 0.4,
        }
    }
}

/// The PII analyzer. Build it once and share it: it is `Send + Sync` and `analyze` takes `&self`.
#[derive(Debug)]
pub struct Analyzer {
    enabled: [bool; EntityType::ALL.len()],
    min_score: f64,
    keywords: Keywords,
    network: Network,
    dob: Dob,
    ids: Ids,
}

impl Analyzer {
    /// Compiles the recognizers. Fails only if a built-in pattern does not compile (a bug).
    pub fn new(config: AnalyzerConfig) -> Result<Self, PiiError> {
        let mut enabled = [false; EntityType::ALL.len()];
        for t in &config.entities {
            if let Some(slot) = enabled.get_mut(t.index()) {
                *slot = true;
            }
        }
        Ok(Analyzer {
            enabled,
            min_score: config.min_score,
            keywords: Keywords::new()?,
            network: Network::new()?,
            dob: Dob::new()?,
            ids: Ids::new()?,
        })
    }

    fn wants(&self, t: EntityType) -> bool {
        self.enabled.get(t.index()).copied().unwrap_or(false)
    }

    /// Finds the entities in `text`, sorted by start, without overlaps (of two overlapping
    /// candidates the higher score wins, then the longer span). Offsets are chars of `text`.
    pub fn analyze(&self, text: &str) -> Vec<Finding> {
        let candidates = self.candidates(text);
        to_findings(text, resolve(candidates))
    }

    /// A scanner for a stream of lines, so a caller never holds more than one line in memory.
    pub fn lines(&self) -> LineScanner<'_> {
        LineScanner {
            analyzer: self,
            open_private_key: false,
            lines: 0,
            chars: 0,
            line_start: 0,
        }
    }

    /// Every candidate of an enabled type scoring at least `min_score`, in byte offsets.
    fn candidates(&self, text: &str) -> Vec<Candidate> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut all = Vec::new();
        self.keywords.find(text, &mut all);
        let hits = Hits { all: &all };
        for &hit in &all {
            let candidate = match hit.class {
                Class::Url if self.wants(EntityType::Url) => network::url(text, hit),
                Class::Dob if self.wants(EntityType::DateOfBirth) => self.dob.after(text, hit),
                Class::Passport | Class::License => self.ids.after(text, hit),
                Class::Aws
                | Class::Github
                | Class::Hf
                | Class::Citadel
                | Class::Jwt
                | Class::Pem
                    if self.wants(EntityType::Credential) =>
                {
                    credential::at(bytes, hit)
                }
                _ => None,
            };
            out.extend(candidate);
        }
        if self.wants(EntityType::EmailAddress) {
            email::find(bytes, &mut out);
        }
        let numeric = [
            EntityType::CreditCard,
            EntityType::UsSsn,
            EntityType::PhoneNumber,
            EntityType::IpAddress,
            EntityType::IbanCode,
        ];
        if numeric.iter().any(|&t| self.wants(t)) {
            numeric::find(text, &hits, &mut out);
        }
        if self.wants(EntityType::MacAddress) || self.wants(EntityType::IpAddress) {
            self.network.find_addresses(text, &mut out);
        }
        if self.wants(EntityType::Person) {
            person::find(text, &hits, &mut out);
        }
        out.retain(|c| self.wants(c.entity_type) && c.score >= self.min_score && c.end > c.start);
        out
    }
}

/// Keeps the best of overlapping candidates: higher score, then longer span, then earlier.
/// Returns them sorted by start.
pub(crate) fn resolve(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: BTreeMap<usize, Candidate> = BTreeMap::new();
    for c in candidates {
        let before = kept.range(..c.end).next_back();
        let overlaps = before.is_some_and(|(_, k)| k.end > c.start);
        if !overlaps {
            kept.insert(c.start, c);
        }
    }
    kept.into_values().collect()
}

/// Converts resolved (sorted, disjoint) byte-offset candidates to char-offset findings.
fn to_findings(text: &str, candidates: Vec<Candidate>) -> Vec<Finding> {
    let mut counter = CharCounter::new(text);
    candidates
        .into_iter()
        .map(|c| Finding {
            entity_type: c.entity_type,
            start: counter.chars_at(c.start),
            end: counter.chars_at(c.end),
            score: (c.score * 100.0).round() / 100.0,
            kind: c.kind,
        })
        .collect()
}

/// Analyzes a stream line by line. Findings are in chars relative to the line passed in;
/// [`LineScanner::line_offset`] gives the line's offset in the whole stream. A PEM private-key
/// block spanning lines is reported on each of its lines.
#[derive(Debug)]
pub struct LineScanner<'a> {
    analyzer: &'a Analyzer,
    open_private_key: bool,
    lines: usize,
    chars: usize,
    line_start: usize,
}

impl LineScanner<'_> {
    /// Analyzes the next line. Pass lines with their terminators (as `BufRead::read_line`
    /// returns them) for stream offsets that count the newlines too.
    pub fn scan(&mut self, line: &str) -> Vec<Finding> {
        let analyzer = self.analyzer;
        let mut candidates = analyzer.candidates(line);
        let content_end = line.trim_end_matches(['\n', '\r']).len();
        if self.open_private_key {
            let footer = private_key_footer(line.as_bytes());
            self.open_private_key = footer.is_none();
            let end = footer.unwrap_or(content_end).min(content_end);
            if analyzer.wants(EntityType::Credential) && end > 0 {
                candidates.push(Candidate {
                    kind: Some(CredentialKind::PrivateKey),
                    ..Candidate::new(EntityType::Credential, 0, end, 0.99)
                });
            }
        } else {
            self.open_private_key = opens_private_key(line);
        }
        // A private key open at the end of the line is reported up to the line's end.
        for c in &mut candidates {
            if c.kind == Some(CredentialKind::PrivateKey) {
                c.end = c.end.min(content_end);
            }
        }
        let findings = to_findings(line, resolve(candidates));
        self.line_start = self.chars;
        self.chars += line.chars().count();
        self.lines += 1;
        findings
    }

    /// How many lines were scanned so far (so the last scanned line's 1-based number).
    pub fn line_number(&self) -> usize {
        self.lines
    }

    /// The offset, in chars of the whole stream, of the line scanned last.
    pub fn line_offset(&self) -> usize {
        self.line_start
    }
}

/// Whether `line` opens a private-key block that it does not close.
fn opens_private_key(line: &str) -> bool {
    let bytes = line.as_bytes();
    memchr::memmem::find_iter(bytes, b"-----BEGIN")
        .filter_map(|at| credential::pem_end(bytes, at))
        .last()
        .is_some_and(|end| end.is_none())
}

/// The end of a `-----END … PRIVATE KEY…-----` footer in `line`.
fn private_key_footer(line: &[u8]) -> Option<usize> {
    let at = memchr::memmem::find(line, b"-----END ")? + 9;
    let rest = line.get(at..)?;
    let close = memchr::memmem::find(rest, b"-----")?;
    memchr::memmem::find(rest.get(..close)?, b"PRIVATE KEY")?;
    Some(at + close + 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer {
        Analyzer::new(AnalyzerConfig::default()).unwrap()
    }

    /// The text of each finding, cut by char offsets.
    fn spans(text: &str, findings: &[Finding]) -> Vec<(EntityType, String)> {
        let chars: Vec<char> = text.chars().collect();
        findings
            .iter()
            .map(|f| (f.entity_type, chars[f.start..f.end].iter().collect()))
            .collect()
    }

    #[test]
    fn char_offsets_after_multibyte_text() {
        let text = "Zoë — naïve café 🙂 écrit à zoe@example.com puis appelle +33 1 23 45 67 89.";
        let findings = analyzer().analyze(text);
        assert_eq!(
            spans(text, &findings),
            [
                (EntityType::EmailAddress, "zoe@example.com".to_owned()),
                (EntityType::PhoneNumber, "+33 1 23 45 67 89".to_owned()),
            ]
        );
        let email = text.find("zoe@").unwrap();
        assert_eq!(findings[0].start, text[..email].chars().count());
        assert_ne!(findings[0].start, email, "bytes and chars differ here");
    }

    #[test]
    fn one_pass_finds_every_type() {
        let text = "Dear John Smith, SSN 536-90-4399, card 4111-1111-1111-1111, IBAN \
                    DE89 3704 0044 0532 0130 00, from 10.1.2.3 and fe80::1ff:fe23:4567:890a, \
                    mac 00:1a:2b:3c:4d:5e, see https://example.com/x, born on March 3, 1985, \
                    passport X12345678, driver's license D1234567, key AKIAIOSFODNN7EXAMPLE, \
                    mail j@example.org or call (415) 555-2671.";
        let found: Vec<EntityType> = analyzer()
            .analyze(text)
            .iter()
            .map(|f| f.entity_type)
            .collect();
        let mut expected = vec![
            EntityType::Person,
            EntityType::UsSsn,
            EntityType::CreditCard,
            EntityType::IbanCode,
            EntityType::IpAddress,
            EntityType::IpAddress,
            EntityType::MacAddress,
            EntityType::Url,
            EntityType::DateOfBirth,
            EntityType::Passport,
            EntityType::DriverLicense,
            EntityType::Credential,
            EntityType::EmailAddress,
            EntityType::PhoneNumber,
        ];
        assert_eq!(found, expected);
        expected.sort();
        expected.dedup();
        assert_eq!(expected.len(), EntityType::ALL.len());
    }

    #[test]
    fn overlaps_keep_the_higher_score_then_the_longer_span() {
        let c = |t, start, end, score| Candidate::new(t, start, end, score);
        let kept = resolve(vec![
            c(EntityType::Url, 0, 30, 0.6),
            c(EntityType::EmailAddress, 5, 20, 0.95),
            c(EntityType::Person, 25, 28, 0.5),
            c(EntityType::PhoneNumber, 40, 50, 0.7),
            c(EntityType::UsSsn, 40, 49, 0.7),
            c(EntityType::IpAddress, 50, 55, 0.6),
        ]);
        let types: Vec<_> = kept.iter().map(|c| c.entity_type).collect();
        assert_eq!(
            types,
            [
                EntityType::EmailAddress,
                EntityType::Person,
                EntityType::PhoneNumber,
                EntityType::IpAddress
            ]
        );
        let text = "write to a@example.com";
        let url = format!("https://x.org/?to={text}");
        assert_eq!(analyzer().analyze(&url)[0].entity_type, EntityType::Url);
    }

    #[test]
    fn config_filters_types_and_scores() {
        let text = "Kevin paid with 4111 1111 1111 1111";
        let only_cards = Analyzer::new(AnalyzerConfig {
            entities: vec![EntityType::CreditCard],
            ..AnalyzerConfig::default()
        })
        .unwrap();
        let found = only_cards.analyze(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].entity_type, EntityType::CreditCard);
        let strict = Analyzer::new(AnalyzerConfig {
            min_score: 0.8,
            ..AnalyzerConfig::default()
        })
        .unwrap();
        assert_eq!(strict.analyze(text).len(), 1, "the bare name scores 0.5");
        assert_eq!(analyzer().analyze(text).len(), 2);
    }

    #[test]
    fn nothing_in_plain_prose_and_no_panic_on_odd_input() {
        let a = analyzer();
        assert!(a
            .analyze("Apple pie was served after the talk; will you come?")
            .is_empty());
        for text in [
            "",
            "@",
            "+",
            "(",
            "-----BEGIN",
            "-----BEGIN RSA PRIVATE KEY-----",
            "eyJ.",
            "DE",
            "DE8",
            "é@é.é",
            "1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0",
            "(((((1))))) ++++1",
            "\u{0}\u{7f}\u{10ffff}",
        ] {
            let findings = a.analyze(text);
            let n = text.chars().count();
            assert!(
                findings.iter().all(|f| f.start < f.end && f.end <= n),
                "{text:?}"
            );
        }
    }

    #[test]
    fn line_scanner_offsets_and_private_keys_across_lines() {
        let a = analyzer();
        let mut scanner = a.lines();
        let lines = [
            "héllo\n",
            "key: -----BEGIN EC PRIVATE KEY-----\n",
            "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5Nt\n",
            "-----END EC PRIVATE KEY----- mail x@example.com\n",
            "done\n",
        ];
        let mut seen = Vec::new();
        for line in lines {
            let findings = scanner.scan(line);
            seen.push((
                scanner.line_number(),
                scanner.line_offset(),
                spans(line, &findings),
            ));
        }
        let key = |s: &str| (EntityType::Credential, s.to_owned());
        assert_eq!(seen[0], (1, 0, vec![]));
        assert_eq!(seen[1], (2, 6, vec![key("-----BEGIN EC PRIVATE KEY-----")]));
        assert_eq!(
            seen[2],
            (
                3,
                42,
                vec![key("MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5Nt")]
            )
        );
        assert_eq!(
            seen[3].2,
            vec![
                key("-----END EC PRIVATE KEY-----"),
                (EntityType::EmailAddress, "x@example.com".to_owned())
            ]
        );
        assert_eq!(seen[4].2, vec![]);
        let whole: String = lines.concat();
        let in_one = a.analyze(&whole);
        assert_eq!(in_one[0].entity_type, EntityType::Credential);
        assert_eq!(spans(&whole, &in_one)[0].1.lines().count(), 3);
    }

    #[test]
    fn analyzer_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Analyzer>();
    }
}
