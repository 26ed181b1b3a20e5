//! IBANs: the country's registered length and the ISO 7064 mod-97 checksum, in the compact
//! (`DE89370400440532013000`) and the printed (`DE89 3704 0044 0532 0130 00`) forms.

use super::Candidate;
use crate::text::is_word_byte;
use crate::EntityType;

/// IBAN lengths by country (SWIFT IBAN registry).
#[rustfmt::skip]
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16),
    (b"BG", 22), (b"BH", 22), (b"BR", 29), (b"BY", 28), (b"CH", 21), (b"CR", 22), (b"CY", 28),
    (b"CZ", 24), (b"DE", 22), (b"DK", 18), (b"DO", 28), (b"EE", 20), (b"EG", 29), (b"ES", 24),
    (b"FI", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22), (b"GE", 22), (b"GI", 23), (b"GL", 18),
    (b"GR", 27), (b"GT", 28), (b"HR", 21), (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23),
    (b"IS", 26), (b"IT", 27), (b"JO", 30), (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32),
    (b"LI", 21), (b"LT", 20), (b"LU", 20), (b"LV", 21), (b"MC", 27), (b"MD", 24), (b"ME", 22),
    (b"MK", 19), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NL", 18), (b"NO", 15), (b"PK", 24),
    (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22), (b"SA", 24),
    (b"SC", 31), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27), (b"ST", 25), (b"SV", 28),
    (b"TL", 23), (b"TN", 24), (b"TR", 26), (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20),
];

/// The registered IBAN length of a two-letter country code.
pub(crate) fn country_length(country: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|&(_, n)| n)
}

/// ISO 7064 mod-97-10 over an IBAN's characters (uppercase letters and digits): the first four
/// moved to the end, letters as 10..35; valid when the remainder is 1.
pub(crate) fn mod97_valid(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem = 0u32;
    for &c in tail.iter().chain(head) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Parses an IBAN starting at `at` (its country code), allowing single spaces between
/// characters; the IBAN must end at a word boundary.
pub(crate) fn parse(text: &[u8], at: usize) -> Option<Candidate> {
    let country = text.get(at..at + 2)?;
    let len = country_length(country)?;
    if !text.get(at + 2..at + 4)?.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = at;
    while n < len {
        let &b = text.get(i)?;
        if b == b' ' && n > 0 && text.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
            continue;
        }
        if !(b.is_ascii_digit() || b.is_ascii_uppercase()) {
            return None;
        }
        *chars.get_mut(n)? = b;
        n += 1;
        i += 1;
    }
    if text.get(i).is_some_and(|&b| is_word_byte(b)) {
        return None;
    }
    mod97_valid(chars.get(..len)?).then(|| Candidate::new(EntityType::IbanCode, at, i, 0.95))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iban(text: &str) -> Option<&str> {
        let at = text.find(|c: char| c.is_ascii_uppercase())?;
        parse(text.as_bytes(), at).map(|c| &text[c.start..c.end])
    }

    #[test]
    fn valid_ibans() {
        assert_eq!(
            iban("x DE89370400440532013000 y"),
            Some("DE89370400440532013000")
        );
        assert_eq!(
            iban("to DE89 3704 0044 0532 0130 00, thanks"),
            Some("DE89 3704 0044 0532 0130 00")
        );
        assert_eq!(
            iban("GB82 WEST 1234 5698 7654 32"),
            Some("GB82 WEST 1234 5698 7654 32")
        );
        assert_eq!(
            iban("FR1420041010050500013M02606"),
            Some("FR1420041010050500013M02606")
        );
        assert_eq!(iban("NO9386011117947"), Some("NO9386011117947"));
    }

    #[test]
    fn invalid_ibans() {
        assert_eq!(iban("DE88370400440532013000"), None, "checksum");
        assert_eq!(iban("DE8937040044053201300"), None, "too short");
        assert_eq!(iban("DE893704004405320130001"), None, "too long");
        assert_eq!(iban("ZZ89370400440532013000"), None, "no such country");
        assert_eq!(
            iban("DE89 3704 0044 0532 0130 00X"),
            None,
            "glued to a word"
        );
    }
}
