//! The name gazetteer: common given and family names, names that are also everyday words, and
//! capitalized words that are never names, embedded from `data/*.txt`.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::text::FnvBuild;

const GIVEN: &str = include_str!("../data/given_names.txt");
const FAMILY: &str = include_str!("../data/family_names.txt");
const AMBIGUOUS: &str = include_str!("../data/ambiguous_names.txt");
const COMMON: &str = include_str!("../data/capitalized_words.txt");

fn entries(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The embedded name lists, parsed once.
#[derive(Debug)]
pub(crate) struct Gazetteer {
    pub given_list: Vec<&'static str>,
    pub family_list: Vec<&'static str>,
    given: HashSet<&'static str, FnvBuild>,
    family: HashSet<&'static str, FnvBuild>,
    ambiguous: HashSet<&'static str, FnvBuild>,
    common: HashSet<&'static str, FnvBuild>,
}

/// What the gazetteer knows about a capitalized word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WordKind {
    pub given: bool,
    pub family: bool,
    /// Also an everyday word or a place ("Will", "May", "Brown", "Paris").
    pub ambiguous: bool,
    /// Never a name ("The", "Monday", "Street").
    pub common: bool,
}

impl Gazetteer {
    fn load() -> Self {
        let given_list: Vec<_> = entries(GIVEN).collect();
        let family_list: Vec<_> = entries(FAMILY).collect();
        Gazetteer {
            given: given_list.iter().copied().collect(),
            family: family_list.iter().copied().collect(),
            ambiguous: entries(AMBIGUOUS).collect(),
            common: entries(COMMON).collect(),
            given_list,
            family_list,
        }
    }

    pub(crate) fn kind(&self, word: &str) -> WordKind {
        WordKind {
            given: self.given.contains(word),
            family: self.family.contains(word),
            ambiguous: self.ambiguous.contains(word),
            common: self.common.contains(word),
        }
    }
}

/// The gazetteer, parsed on first use.
pub(crate) static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(Gazetteer::load);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_large_and_distinct() {
        let g = &*GAZETTEER;
        assert!(g.given_list.len() >= 300, "{}", g.given_list.len());
        assert!(g.family_list.len() >= 300, "{}", g.family_list.len());
        assert_eq!(g.given.len(), g.given_list.len(), "given names repeat");
        assert_eq!(g.family.len(), g.family_list.len(), "family names repeat");
        assert!(g.kind("John").given && !g.kind("John").ambiguous);
        assert!(g.kind("Smith").family);
        assert!(g.kind("Will").given && g.kind("Will").ambiguous);
        assert!(g.kind("Monday").common);
        assert!(!g.kind("Apple").given);
        for word in entries(AMBIGUOUS) {
            let k = g.kind(word);
            assert!(k.given || k.family, "{word} is in no name list");
        }
    }
}
