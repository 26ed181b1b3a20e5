//! The name gazetteer: common given and family names, names that are also everyday words,
//! capitalized words that are never names (embedded from `data/*.txt`), and the words that turn a
//! name into a place or a firm.

use std::collections::HashMap;
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

/// Words after a name that make the whole a place or an organization ("Washington Street").
const ORG_SUFFIX: &[&str] = &[
    "Street",
    "Avenue",
    "Road",
    "Drive",
    "Boulevard",
    "Square",
    "Inc",
    "Ltd",
    "Llc",
    "Corp",
    "Company",
    "Bank",
    "University",
    "College",
    "School",
    "Institute",
    "Hospital",
    "Clinic",
    "Center",
    "Centre",
    "Foundation",
    "City",
    "County",
    "State",
    "River",
    "Lake",
    "Hotel",
    "Airport",
    "Station",
    "Museum",
    "Church",
    "Group",
    "Partners",
    "Post",
    "Times",
];

/// The embedded name lists, parsed once into one map.
#[derive(Debug)]
pub(crate) struct Gazetteer {
    pub given_list: Vec<&'static str>,
    pub family_list: Vec<&'static str>,
    words: HashMap<&'static str, WordKind, FnvBuild>,
}

/// What the gazetteer knows about a capitalized word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WordKind {
    pub given: bool,
    pub family: bool,
    /// Also an everyday word or a place ("Will", "May", "Brown", "Paris").
    pub ambiguous: bool,
    /// Never a name ("The", "Monday").
    pub common: bool,
    /// After a name, makes it a place or a firm ("Street", "Hospital", "Inc").
    pub org: bool,
}

impl Gazetteer {
    fn load() -> Self {
        let given_list: Vec<_> = entries(GIVEN).collect();
        let family_list: Vec<_> = entries(FAMILY).collect();
        let mut words: HashMap<&'static str, WordKind, FnvBuild> = HashMap::default();
        for &w in &given_list {
            words.entry(w).or_default().given = true;
        }
        for &w in &family_list {
            words.entry(w).or_default().family = true;
        }
        for w in entries(AMBIGUOUS) {
            words.entry(w).or_default().ambiguous = true;
        }
        for w in entries(COMMON) {
            words.entry(w).or_default().common = true;
        }
        for &w in ORG_SUFFIX {
            words.entry(w).or_default().org = true;
        }
        Gazetteer {
            given_list,
            family_list,
            words,
        }
    }

    /// One hash lookup per capitalized word.
    pub(crate) fn kind(&self, word: &str) -> WordKind {
        self.words.get(word).copied().unwrap_or_default()
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
        let unique = |l: &[&str]| l.iter().collect::<std::collections::HashSet<_>>().len();
        assert_eq!(
            unique(&g.given_list),
            g.given_list.len(),
            "given names repeat"
        );
        assert_eq!(
            unique(&g.family_list),
            g.family_list.len(),
            "family names repeat"
        );
        assert!(g.kind("Hospital").org && !g.kind("Hospital").given);
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
