//! Person names: capitalized words looked up in the gazetteer, combined into "given family"
//! pairs, and weighed with context (a title such as "Mr." right before, or a cue such as "Dear",
//! "Hello", "named" shortly before). Words that are also everyday words ("Will", "May",
//! "Grace") need context or a second name word; words that never name people ("The",
//! "Monday") break pairs; a following "Street", "Hospital" or "Inc" makes it a place or firm.

use super::{boosted, Candidate};
use crate::context::{Class, Hits};
use crate::names::{WordKind, GAZETTEER};
use crate::text::find_in_range;
use crate::EntityType;

/// A capitalized word.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    kind: WordKind,
    /// Nothing but spaces and quotes between the start of the sentence (or text) and the word.
    sentence_start: bool,
}

/// Collects capitalized words: an ASCII capital at a word start, then letters, joined across
/// `'` or `-` before another capital (`O'Brien`, `Smith-Jones`). Words without a lower-case
/// letter (`I`, `NASA`) are skipped.
fn words(text: &str, out: &mut Vec<Word>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = find_in_range(bytes, i, b'A', b'Z') {
        i = at;
        let prev = if i == 0 {
            b' '
        } else {
            bytes.get(i - 1).copied().unwrap_or(b' ')
        };
        if prev.is_ascii_alphanumeric() || prev >= 0x80 || prev == b'_' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut lower = false;
        let mut foreign = false;
        loop {
            while let Some(&c) = bytes.get(i) {
                if c.is_ascii_lowercase() {
                    lower = true;
                } else if c >= 0x80 {
                    foreign = true;
                } else if !c.is_ascii_uppercase() {
                    break;
                }
                i += 1;
            }
            let joins = matches!(bytes.get(i), Some(b'\'' | b'-'))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_uppercase);
            if !joins {
                break;
            }
            i += 1;
        }
        if !lower
            || bytes
                .get(i)
                .is_some_and(|&c| c.is_ascii_digit() || c == b'_')
        {
            continue;
        }
        let Some(word) = text.get(start..i) else {
            continue;
        };
        let kind = if foreign {
            WordKind::default()
        } else {
            GAZETTEER.kind(word)
        };
        out.push(Word {
            start,
            end: i,
            kind,
            sentence_start: sentence_start(bytes, start),
        });
    }
}

fn sentence_start(bytes: &[u8], at: usize) -> bool {
    let before = bytes.get(..at).unwrap_or(&[]);
    match before
        .iter()
        .rev()
        .find(|&&b| !matches!(b, b' ' | b'"' | b'\'' | b'\t' | b'*' | b'-' | b'(' | b'['))
    {
        None => true,
        Some(b) => matches!(b, b'.' | b'!' | b'?' | b'\n' | b'\r' | b':' | b';'),
    }
}

/// Whether `b` directly follows `a` as the next word of one name: one space, or a middle
/// initial (`John F. Kennedy`).
fn adjacent(bytes: &[u8], a: &Word, b: &Word) -> bool {
    match bytes.get(a.end..b.start) {
        Some(b" ") => true,
        Some([b' ', initial, b'.', b' ']) => initial.is_ascii_uppercase(),
        _ => false,
    }
}

/// Titles that precede a name ("Mr. Smith", "Dr Okafor").
const TITLES: &[&str] = &[
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Madam",
];
/// Greetings that precede a name ("Hi Jane,").
const GREETINGS: &[&str] = &["Hi", "Hey", "Hello", "Dear", "Thanks", "Cheers"];

/// What the capitalized word before `word` says about it: (a title, a greeting).
fn preceded(text: &str, prev: Option<&Word>, word: &Word) -> (bool, bool) {
    let Some(prev) = prev else {
        return (false, false);
    };
    let gap = text.as_bytes().get(prev.end..word.start);
    let before = text.get(prev.start..prev.end).unwrap_or("");
    let title = TITLES.contains(&before) && matches!(gap, Some(b" " | b". " | b"."));
    let greeting = GREETINGS.contains(&before) && matches!(gap, Some(b" " | b", "));
    (title, greeting)
}

pub(crate) fn find(text: &str, hits: &Hits<'_>, out: &mut Vec<Candidate>) {
    let mut all = Vec::new();
    words(text, &mut all);
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&first) = all.get(i) {
        let prev = i.checked_sub(1).and_then(|p| all.get(p));
        let (title, greeting) = preceded(text, prev, &first);
        let cue = greeting || hits.right_before(bytes, Class::PersonCue, first.start, 16);
        let hint = hits.near_before(Class::PersonHint, first.start, 24);
        if first.kind.common || first.kind.org {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut org = false;
        while j - i < 2 {
            let (Some(a), Some(b)) = (all.get(j), all.get(j + 1)) else {
                break;
            };
            if !adjacent(bytes, a, b) {
                break;
            }
            if b.kind.org {
                org = true;
                break;
            }
            if b.kind.common || (j > i && !b.kind.family) {
                break;
            }
            j += 1;
        }
        let last = all.get(j).copied().unwrap_or(first);
        let score = if org {
            None
        } else if title {
            Some(0.9)
        } else if j > i {
            pair_score(&first, &last, cue)
        } else {
            single_score(&first, cue)
        };
        if let Some(score) = score {
            let known = first.kind.given || last.kind.family;
            let score = boosted(score, cue || (hint && known), 0.1);
            out.push(Candidate::new(
                EntityType::Person,
                first.start,
                last.end,
                score,
            ));
            i = j + 1;
        } else {
            i += 1;
        }
    }
}

fn pair_score(first: &Word, last: &Word, cue: bool) -> Option<f64> {
    let (f, l) = (first.kind, last.kind);
    let last_named = l.family || l.given;
    match (f.given, last_named) {
        (true, true) => match u8::from(f.ambiguous) + u8::from(l.ambiguous) {
            0 => Some(0.85),
            1 => Some(0.75),
            _ => cue.then_some(0.8),
        },
        (true, false) => (!f.ambiguous || cue).then_some(0.6),
        (false, true) => {
            let plausible = l.family && !l.ambiguous && !first.sentence_start;
            (plausible || cue).then_some(0.6)
        }
        (false, false) => cue.then_some(0.6),
    }
}

fn single_score(word: &Word, cue: bool) -> Option<f64> {
    let k = word.kind;
    if k.given && !k.ambiguous {
        Some(if cue { 0.75 } else { 0.5 })
    } else if cue && (k.given || k.family || !word.sentence_start) {
        Some(0.6)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn people(text: &str) -> Vec<&str> {
        let mut all = Vec::new();
        Keywords::new().unwrap().find(text, &mut all);
        let mut out = Vec::new();
        find(text, &Hits { all: &all }, &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn names_in_context() {
        assert_eq!(people("Dear John Smith, thank you."), ["John Smith"]);
        assert_eq!(people("Our new hire, Harold Lane, starts"), ["Harold Lane"]);
        assert_eq!(
            people("Dear Aisha Kamau, Also, see the docs."),
            ["Aisha Kamau"]
        );
        assert_eq!(
            people("I met Maria Garcia and Wei Zhang at noon."),
            ["Maria Garcia", "Wei Zhang"]
        );
        assert_eq!(people("Ask Mr. Zamorski about it."), ["Zamorski"]);
        assert_eq!(people("Dr Okafor will see you"), ["Okafor"]);
        assert_eq!(
            people("signed by John F. Kennedy yesterday"),
            ["John F. Kennedy"]
        );
        assert_eq!(people("Hello Grace, welcome"), ["Grace"]);
        assert_eq!(people("Will Smith arrived"), ["Will Smith"]);
        assert_eq!(people("we called Sean O'Brien's office"), ["Sean O'Brien"]);
        assert_eq!(people("Dear Thandiwe Ndlovu,"), ["Thandiwe Ndlovu"]);
        assert_eq!(people("Kevin said hi"), ["Kevin"]);
    }

    #[test]
    fn not_names() {
        for text in [
            "Apple pie is great",
            "Will you come tomorrow?",
            "May I ask a question?",
            "The Grace period ends Monday.",
            "We drove down Washington Street.",
            "Check the NASA report, I think.",
            "She works at Henry Ford Hospital.",
            "May Day parade",
            "Apple Johnson",
            "Quarterly Report for North Star",
            "Customer Success closed three tickets.",
            "reply to me, thanks. The Washington Post ran it.",
        ] {
            assert!(people(text).is_empty(), "{text}: {:?}", people(text));
        }
    }

    #[test]
    fn multibyte_text_around_names() {
        assert_eq!(people("Zoë — met Carlos Diaz"), ["Carlos Diaz"]);
        assert!(people("Ångström units").is_empty());
    }
}
