//! Forbidden keywords: whole words or phrases, any letter case, matched by one Aho-Corasick
//! automaton over normalized text. Keywords are normalized the same way, each padded with a
//! space on both sides, so a match always starts and ends at a word boundary: "ass" does not
//! hit "class", and "Project  Falcon!" hits the keyword "project falcon".

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::normalize::normalize;
use crate::GuardError;

/// The keyword automaton. Empty when the policy forbids nothing.
#[derive(Debug)]
pub(crate) struct Keywords {
    automaton: Option<AhoCorasick>,
    count: usize,
}

impl Keywords {
    /// Builds the automaton for `keywords` (already validated).
    pub(crate) fn new(keywords: &[String]) -> Result<Self, GuardError> {
        if keywords.is_empty() {
            return Ok(Keywords {
                automaton: None,
                count: 0,
            });
        }
        let patterns: Vec<String> = keywords.iter().map(|k| normalize(k, false)).collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| GuardError::Build {
                what: "forbidden-keyword automaton",
                reason: e.to_string(),
            })?;
        Ok(Keywords {
            automaton: Some(automaton),
            count: keywords.len(),
        })
    }

    /// Whether any keyword is forbidden.
    pub(crate) fn is_active(&self) -> bool {
        self.automaton.is_some()
    }

    /// The 1-based positions, in the policy's list, of the keywords in `normalized` text,
    /// ascending and without repeats.
    pub(crate) fn find(&self, normalized: &str) -> Vec<usize> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let mut seen = vec![false; self.count];
        for m in automaton.find_overlapping_iter(normalized) {
            if let Some(slot) = seen.get_mut(m.pattern().as_usize()) {
                *slot = true;
            }
        }
        seen.iter()
            .enumerate()
            .filter_map(|(i, hit)| hit.then_some(i + 1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(keywords: &[&str], text: &str) -> Vec<usize> {
        let keywords: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        Keywords::new(&keywords)
            .unwrap()
            .find(&normalize(text, false))
    }

    #[test]
    fn whole_words_in_any_case() {
        let list = ["ass", "Project Falcon", "acme"];
        assert_eq!(
            find(&list, "This class has a bass and a glass."),
            Vec::<usize>::new()
        );
        assert_eq!(find(&list, "Don't be an ASS."), [1]);
        assert_eq!(find(&list, "ass"), [1]);
        assert_eq!(find(&list, "about project   falcon!"), [2]);
        assert_eq!(find(&list, "project-falcon"), [2]);
        assert_eq!(
            find(&list, "projectfalcon and falcon project"),
            Vec::<usize>::new()
        );
        assert_eq!(find(&list, "ACME, acme and Acme: ass"), [1, 3]);
        assert_eq!(
            find(&list, "ac\u{200b}me"),
            [3],
            "invisible characters do not split a word"
        );
        assert_eq!(find(&list, "acmes"), Vec::<usize>::new());
    }

    #[test]
    fn overlapping_keywords_are_all_found() {
        let list = ["new york", "york city", "new"];
        assert_eq!(find(&list, "I love New York City"), [1, 2, 3]);
        assert_eq!(find(&["straße"], "Die STRASSE und die Straße"), [1]);
    }

    #[test]
    fn nothing_forbidden_finds_nothing() {
        assert!(find(&[], "anything at all").is_empty());
    }
}
