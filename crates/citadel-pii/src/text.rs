//! Small text helpers shared by the recognizers: byte classes, char-boundary clamping, a fast
//! hasher for the gazetteer, and byte-to-char offset conversion.

use std::hash::{BuildHasherDefault, Hasher};

/// ASCII letters, digits and `_`: what counts as "inside a word" for boundaries.
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `text[..at]` ends at a word boundary (start of text or a non-word byte before `at`).
pub(crate) fn boundary_before(text: &[u8], at: usize) -> bool {
    at == 0 || text.get(at - 1).is_none_or(|&b| !is_word_byte(b))
}

/// Whether `text[at..]` starts at a word boundary (end of text or a non-word byte at `at`).
pub(crate) fn boundary_after(text: &[u8], at: usize) -> bool {
    text.get(at).is_none_or(|&b| !is_word_byte(b))
}

/// The largest char boundary of `text` at or below `at`.
pub(crate) fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A window `text[from..from+len]` cut back to char boundaries.
pub(crate) fn window(text: &str, from: usize, len: usize) -> (usize, &str) {
    let start = floor_boundary(text, from);
    let end = floor_boundary(text, from.saturating_add(len));
    (start, text.get(start..end).unwrap_or(""))
}

/// The first byte of `bytes[from..]` within `lo..=hi` (ASCII), testing eight bytes at a time.
pub(crate) fn find_in_range(bytes: &[u8], from: usize, lo: u8, hi: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    debug_assert!(lo >= 1 && hi < 128 && lo <= hi);
    let rest = bytes.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        let low7 = x & !HIGH;
        // High bit of each byte: low7 >= lo, and not low7 > hi, and the byte is ASCII.
        let at_least_lo = low7 + ONES * u64::from(128 - lo);
        let above_hi = low7 + ONES * u64::from(127 - hi);
        let mask = at_least_lo & !above_hi & !x & HIGH;
        if mask != 0 {
            return Some(at + (mask.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| (lo..=hi).contains(b))
        .map(|k| at + k)
}

/// FNV-1a: fast and good enough for looking up short words in a fixed gazetteer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub(crate) type FnvBuild = BuildHasherDefault<Fnv>;

/// Converts ascending byte offsets into char offsets in one forward walk. `offsets` must be
/// sorted ascending and lie on char boundaries of `text`.
pub(crate) struct CharCounter<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharCounter<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        CharCounter {
            text,
            byte: 0,
            chars: 0,
        }
    }

    /// The char offset of byte offset `at` (which must not be below the previous call's).
    pub(crate) fn chars_at(&mut self, at: usize) -> usize {
        let at = floor_boundary(self.text, at);
        if at > self.byte {
            self.chars += self
                .text
                .get(self.byte..at)
                .map_or(0, |s| s.chars().count());
            self.byte = at;
        }
        self.chars
    }
}

/// Converts ascending char offsets to byte offsets in one forward walk; `None` past the end.
pub(crate) struct ByteCounter<'a> {
    iter: std::iter::Peekable<std::str::CharIndices<'a>>,
    chars: usize,
    len: usize,
}

impl<'a> ByteCounter<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        ByteCounter {
            iter: text.char_indices().peekable(),
            chars: 0,
            len: text.len(),
        }
    }

    /// The byte offset of char offset `at` (not below the previous call's), `None` if `at` is
    /// past the end of the text.
    pub(crate) fn byte_at(&mut self, at: usize) -> Option<usize> {
        while self.chars < at {
            self.iter.next()?;
            self.chars += 1;
        }
        Some(self.iter.peek().map_or(self.len, |&(i, _)| i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_convert_both_ways() {
        let text = "Zoë — at x";
        let mut chars = CharCounter::new(text);
        assert_eq!(chars.chars_at(0), 0);
        assert_eq!(chars.chars_at(text.find("at").unwrap()), 6);
        assert_eq!(chars.chars_at(text.len()), 10);
        let mut bytes = ByteCounter::new(text);
        assert_eq!(bytes.byte_at(6), Some(text.find("at").unwrap()));
        assert_eq!(bytes.byte_at(10), Some(text.len()));
        assert_eq!(bytes.byte_at(11), None);
    }

    #[test]
    fn byte_ranges_found_eight_at_a_time() {
        let text = "é no digits here, then 7 and Z".as_bytes();
        let naive = |from: usize, lo: u8, hi: u8| {
            (from..text.len()).find(|&i| (lo..=hi).contains(&text[i]))
        };
        for from in 0..text.len() {
            assert_eq!(
                find_in_range(text, from, b'0', b'9'),
                naive(from, b'0', b'9')
            );
            assert_eq!(
                find_in_range(text, from, b'A', b'Z'),
                naive(from, b'A', b'Z')
            );
        }
        assert_eq!(
            find_in_range(&[0xC3, 0xB7, 0xB0, 0xB9], 0, b'0', b'9'),
            None
        );
        assert_eq!(find_in_range(b"abc", 9, b'0', b'9'), None);
    }

    #[test]
    fn windows_respect_char_boundaries() {
        let text = "aé€b";
        assert_eq!(window(text, 0, 2), (0, "a"));
        assert_eq!(window(text, 2, 10), (1, "é€b"));
        assert_eq!(window(text, 99, 3), (text.len(), ""));
        assert!(boundary_before(b"a b", 2));
        assert!(!boundary_before(b"ab", 1));
        assert!(boundary_after(b"ab", 2));
    }
}
