//! Keywords found in one Aho-Corasick pass (a DFA) over the text: context words that raise or
//! enable a recognizer ("born", "passport", "SSN", "Dear", "named"), and trigger prefixes that
//! start one (`AKIA`, `ghp_`, `eyJ`, `-----BEGIN`, `https://`). Two-letter words ("hi", "Mr",
//! "id") are left out: they hide inside too many words ("this", "address") and cost more to
//! filter than they help; the person recognizer sees titles and greetings as words itself.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::text::{boundary_after, boundary_before};
use crate::PiiError;

/// What a keyword is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Dob,
    Passport,
    License,
    Ssn,
    Phone,
    Card,
    /// Words right before a name: "Dear", "Hello", "named", "Sincerely,".
    PersonCue,
    /// Words that make a known name more likely a person: "patient", "customer", "thanks".
    PersonHint,
    /// Words before numbers that are identifiers, not cards: "order", "transaction", "ref".
    IdCue,
    Url,
    Aws,
    Github,
    Hf,
    Citadel,
    Jwt,
    Pem,
}

/// How a keyword must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Whole word, any ASCII case.
    Word,
    /// Word start, any ASCII case, any continuation ("birth" in "birthday").
    Prefix,
    /// Exact case, at a word start; the recognizer checks what follows.
    Trigger,
    /// Exact case, anywhere.
    Anywhere,
}

const KEYWORDS: &[(&str, Class, Fit)] = &[
    ("born", Class::Dob, Fit::Word),
    ("birth", Class::Dob, Fit::Prefix),
    ("dob", Class::Dob, Fit::Word),
    ("d.o.b", Class::Dob, Fit::Prefix),
    ("passport", Class::Passport, Fit::Prefix),
    ("driver", Class::License, Fit::Prefix),
    ("driving", Class::License, Fit::Word),
    ("license", Class::License, Fit::Word),
    ("licence", Class::License, Fit::Word),
    ("dl#", Class::License, Fit::Prefix),
    ("dl:", Class::License, Fit::Prefix),
    ("dl ", Class::License, Fit::Prefix),
    ("dln", Class::License, Fit::Word),
    ("ssn", Class::Ssn, Fit::Word),
    ("social security", Class::Ssn, Fit::Word),
    ("ss#", Class::Ssn, Fit::Prefix),
    ("phone", Class::Phone, Fit::Prefix),
    ("tel ", Class::Phone, Fit::Prefix),
    ("tel:", Class::Phone, Fit::Prefix),
    ("tel.", Class::Phone, Fit::Prefix),
    ("telephone", Class::Phone, Fit::Word),
    ("mobile", Class::Phone, Fit::Word),
    ("cell", Class::Phone, Fit::Prefix),
    ("call", Class::Phone, Fit::Prefix),
    ("fax", Class::Phone, Fit::Word),
    ("whatsapp", Class::Phone, Fit::Word),
    ("text me", Class::Phone, Fit::Word),
    ("reach", Class::Phone, Fit::Prefix),
    ("dial", Class::Phone, Fit::Prefix),
    ("card", Class::Card, Fit::Prefix),
    ("visa", Class::Card, Fit::Word),
    ("mastercard", Class::Card, Fit::Word),
    ("amex", Class::Card, Fit::Word),
    ("credit", Class::Card, Fit::Word),
    ("debit", Class::Card, Fit::Word),
    ("dear", Class::PersonCue, Fit::Word),
    ("hello", Class::PersonCue, Fit::Word),
    ("named", Class::PersonCue, Fit::Word),
    ("name is", Class::PersonCue, Fit::Word),
    ("name:", Class::PersonCue, Fit::Prefix),
    ("patient", Class::PersonHint, Fit::Word),
    ("customer", Class::PersonHint, Fit::Word),
    ("employee", Class::PersonHint, Fit::Word),
    ("sincerely", Class::PersonCue, Fit::Word),
    ("regards", Class::PersonCue, Fit::Word),
    ("thanks", Class::PersonHint, Fit::Word),
    ("attn", Class::PersonCue, Fit::Word),
    ("signed", Class::PersonCue, Fit::Word),
    ("signed by", Class::PersonCue, Fit::Word),
    ("spoke with", Class::PersonCue, Fit::Word),
    ("order", Class::IdCue, Fit::Word),
    ("invoice", Class::IdCue, Fit::Word),
    ("transaction", Class::IdCue, Fit::Word),
    ("txn", Class::IdCue, Fit::Word),
    ("ref ", Class::IdCue, Fit::Prefix),
    ("ref:", Class::IdCue, Fit::Prefix),
    ("ref#", Class::IdCue, Fit::Prefix),
    ("ref.", Class::IdCue, Fit::Prefix),
    ("reference", Class::IdCue, Fit::Word),
    ("tracking", Class::IdCue, Fit::Word),
    ("ticket", Class::IdCue, Fit::Word),
    ("serial", Class::IdCue, Fit::Word),
    ("sku", Class::IdCue, Fit::Word),
    ("batch", Class::IdCue, Fit::Word),
    ("lot", Class::IdCue, Fit::Word),
    ("record", Class::IdCue, Fit::Word),
    ("account", Class::IdCue, Fit::Word),
    ("acct", Class::IdCue, Fit::Word),
    ("member", Class::IdCue, Fit::Word),
    ("http://", Class::Url, Fit::Prefix),
    ("https://", Class::Url, Fit::Prefix),
    ("ftp://", Class::Url, Fit::Prefix),
    ("www.", Class::Url, Fit::Prefix),
    ("AKIA", Class::Aws, Fit::Trigger),
    ("ASIA", Class::Aws, Fit::Trigger),
    ("ghp_", Class::Github, Fit::Trigger),
    ("gho_", Class::Github, Fit::Trigger),
    ("ghs_", Class::Github, Fit::Trigger),
    ("ghu_", Class::Github, Fit::Trigger),
    ("ghr_", Class::Github, Fit::Trigger),
    ("github_pat_", Class::Github, Fit::Trigger),
    ("hf_", Class::Hf, Fit::Trigger),
    ("cit_pat_", Class::Citadel, Fit::Trigger),
    ("eyJ", Class::Jwt, Fit::Trigger),
    ("-----BEGIN", Class::Pem, Fit::Anywhere),
];

/// One keyword occurrence, in byte offsets of the analyzed text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub class: Class,
}

/// The compiled keyword automaton.
#[derive(Debug)]
pub(crate) struct Keywords {
    automaton: AhoCorasick,
}

impl Keywords {
    pub(crate) fn new() -> Result<Self, PiiError> {
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(KEYWORDS.iter().map(|(k, _, _)| k))
            .map_err(|e| PiiError::Pattern {
                name: "keywords",
                source: Box::new(e),
            })?;
        Ok(Keywords { automaton })
    }

    /// Every keyword occurrence that fits its rule, in text order.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        for m in self.automaton.find_iter(text) {
            let Some(&(keyword, class, fit)) = KEYWORDS.get(m.pattern().as_usize()) else {
                continue;
            };
            let (start, end) = (m.start(), m.end());
            let fits = match fit {
                Fit::Word => boundary_before(bytes, start) && boundary_after(bytes, end),
                Fit::Prefix => boundary_before(bytes, start),
                Fit::Trigger => {
                    boundary_before(bytes, start)
                        && bytes.get(start..end) == Some(keyword.as_bytes())
                }
                Fit::Anywhere => bytes.get(start..end) == Some(keyword.as_bytes()),
            };
            if fits {
                out.push(Hit { start, end, class });
            }
        }
    }
}

/// Keyword hits of one text, with window look-ups.
#[derive(Debug)]
pub(crate) struct Hits<'h> {
    pub all: &'h [Hit],
}

impl Hits<'_> {
    /// Whether a hit of `class` ends within `before` bytes before `at` (and not after it).
    pub(crate) fn near_before(&self, class: Class, at: usize, before: usize) -> bool {
        let from = at.saturating_sub(before);
        let first = self.all.partition_point(|h| h.end < from);
        self.all
            .get(first..)
            .unwrap_or(&[])
            .iter()
            .take_while(|h| h.start < at)
            .any(|h| h.class == class && h.end <= at)
    }

    /// Whether a hit of `class` ends within `before` bytes before `at` with nothing but spaces
    /// and punctuation between ("Dear John", "Sincerely, Jane", "name: Li").
    pub(crate) fn right_before(&self, text: &[u8], class: Class, at: usize, before: usize) -> bool {
        self.last_before(class, at, before).is_some_and(|h| {
            text.get(h.end..at).is_some_and(|gap| {
                gap.iter()
                    .all(|b| !b.is_ascii_alphanumeric() && *b != b'\n')
            })
        })
    }

    /// The last hit of `class` that ends at or before `at` and within `before` bytes of it.
    pub(crate) fn last_before(&self, class: Class, at: usize, before: usize) -> Option<Hit> {
        let from = at.saturating_sub(before);
        let first = self.all.partition_point(|h| h.end < from);
        self.all
            .get(first..)
            .unwrap_or(&[])
            .iter()
            .take_while(|h| h.start < at)
            .filter(|h| h.class == class && h.end <= at)
            .last()
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> Vec<(Class, &str)> {
        let keywords = Keywords::new().unwrap();
        let mut hits = Vec::new();
        keywords.find(text, &mut hits);
        hits.iter()
            .map(|h| (h.class, &text[h.start..h.end]))
            .collect()
    }

    #[test]
    fn words_need_boundaries_and_triggers_need_case() {
        assert_eq!(classes("handle the DOB"), [(Class::Dob, "DOB")]);
        assert_eq!(classes("Birthday: x"), [(Class::Dob, "Birth")]);
        assert_eq!(classes("akia AKIAX hotel"), [(Class::Aws, "AKIA")]);
        assert_eq!(
            classes("Dear Mr. X, -----BEGIN"),
            [(Class::PersonCue, "Dear"), (Class::Pem, "-----BEGIN")]
        );
    }

    #[test]
    fn window_lookups() {
        let keywords = Keywords::new().unwrap();
        let text = "SSN: 123 and later phone 5";
        let mut all = Vec::new();
        keywords.find(text, &mut all);
        let hits = Hits { all: &all };
        assert!(hits.near_before(Class::Ssn, 5, 10));
        assert!(!hits.near_before(Class::Ssn, 40, 10));
        assert!(!hits.near_before(Class::Phone, 5, 10));
        assert!(hits.last_before(Class::Phone, text.len(), 10).is_some());
    }
}
