//! E-mail addresses, found from each `@` (located with `memchr`) by scanning the local part
//! back and the domain forward, then validated: dot rules, labels, an alphabetic TLD.

use super::Candidate;
use crate::EntityType;

fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Every valid address in `text`.
pub(crate) fn find(text: &[u8], out: &mut Vec<Candidate>) {
    for at in memchr::memchr_iter(b'@', text) {
        if let Some((start, end)) = around(text, at) {
            out.push(Candidate::new(EntityType::EmailAddress, start, end, 0.95));
        }
    }
}

fn around(text: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && text.get(start - 1).is_some_and(|&b| local_byte(b)) {
        if at - start >= 64 {
            return None;
        }
        start -= 1;
    }
    // A local part starts at a letter or digit (quotes and dots around it are punctuation).
    while start < at && text.get(start).is_some_and(|b| !b.is_ascii_alphanumeric()) {
        start += 1;
    }
    let local = text.get(start..at)?;
    if local.is_empty()
        || local.ends_with(b".")
        || local.windows(2).any(|w| w == b"..")
        || (start > 0 && text.get(start - 1) == Some(&b'@'))
    {
        return None;
    }
    let mut end = at + 1;
    while end - at <= 255 && text.get(end).is_some_and(|&b| domain_byte(b)) {
        end += 1;
    }
    // Trailing dots and hyphens end a sentence, not a domain.
    while end > at + 1 && text.get(end - 1).is_some_and(|&b| b == b'.' || b == b'-') {
        end -= 1;
    }
    let domain = text.get(at + 1..end)?;
    let labels = domain.split(|&b| b == b'.');
    let mut count = 0;
    let mut tld: &[u8] = &[];
    for label in labels {
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
        {
            return None;
        }
        count += 1;
        tld = label;
    }
    let tld_ok = (2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic);
    (count >= 2 && tld_ok && text.get(end) != Some(&b'@')).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text.as_bytes(), &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn valid_addresses() {
        assert_eq!(
            emails("mail jane.doe+news@mail.example.co.uk."),
            ["jane.doe+news@mail.example.co.uk"]
        );
        assert_eq!(emails("<o'brien@example.org>"), ["o'brien@example.org"]);
        assert_eq!(emails("say 'jane@example.com'"), ["jane@example.com"]);
        assert_eq!(emails("(a@b.io), c_d@e-f.com"), ["a@b.io", "c_d@e-f.com"]);
    }

    #[test]
    fn invalid_addresses() {
        for text in [
            "@example.com",
            "user@localhost",
            "user@example.c0m",
            "a..b@example.com",
            "user.@example.com",
            "user@-example.com",
            "user@example..com",
            "twitter @handle here",
            "a@b@c.com",
        ] {
            assert!(emails(text).is_empty(), "{text}: {:?}", emails(text));
        }
    }
}
