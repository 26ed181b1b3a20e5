//! Network identifiers: IPv6 and MAC addresses, found from separators (`:`, `-`, `.`, located
//! with `memchr`) that sit between hex digits and checked with a hex-address regex on that
//! token only (IPv6 parsed with `std::net`), and URLs from their scheme or `www.` keyword.

use std::net::Ipv6Addr;

use regex::Regex;

use super::Candidate;
use crate::context::{Class, Hit};
use crate::text::{boundary_after, boundary_before};
use crate::{EntityType, PiiError};

/// Colon-separated hex (IPv6, `aa:bb:cc:dd:ee:ff`), dash-separated MACs and Cisco dotted MACs.
const HEX: &str = concat!(
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f.]{0,15}",
    r"|(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}",
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
);

#[derive(Debug)]
pub(crate) struct Network {
    hex: Regex,
}

impl Network {
    pub(crate) fn new() -> Result<Self, PiiError> {
        let hex = Regex::new(HEX).map_err(|e| PiiError::Pattern {
            name: "hex address",
            source: Box::new(e),
        })?;
        Ok(Network { hex })
    }

    /// IPv6 and MAC addresses.
    pub(crate) fn find_addresses(&self, text: &str, out: &mut Vec<Candidate>) {
        let bytes = text.as_bytes();
        let hexish = |i: usize| {
            bytes
                .get(i)
                .is_some_and(|&b| b.is_ascii_hexdigit() || b == b':')
        };
        let token_byte = |i: usize| {
            bytes
                .get(i)
                .is_some_and(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'-' | b'.'))
        };
        let mut done = 0;
        for p in memchr::memchr3_iter(b':', b'-', b'.', bytes) {
            // Only a separator between hex digits (or a `::`) can be part of an address.
            let colon = bytes.get(p) == Some(&b':');
            let left = p.checked_sub(1).is_some_and(|l| {
                if colon {
                    hexish(l)
                } else {
                    bytes.get(l).is_some_and(u8::is_ascii_hexdigit)
                }
            });
            let right = if colon {
                hexish(p + 1)
            } else {
                bytes.get(p + 1).is_some_and(u8::is_ascii_hexdigit)
            };
            if p < done || !(left && right) {
                continue;
            }
            let mut start = p;
            while start > 0 && p - start < 48 && token_byte(start - 1) {
                start -= 1;
            }
            let mut end = p + 1;
            while end - p < 48 && token_byte(end) {
                end += 1;
            }
            done = end;
            let Some(window) = text.get(start..end) else {
                continue;
            };
            for m in self.hex.find_iter(window) {
                self.address(text, start + m.start(), start + m.end(), out);
            }
        }
    }

    /// Checks one regex match and proposes it as a MAC or IPv6 address.
    fn address(&self, text: &str, start: usize, mut end: usize, out: &mut Vec<Candidate>) {
        let bytes = text.as_bytes();
        while end > start && bytes.get(end - 1) == Some(&b'.') {
            end -= 1;
        }
        let Some(token) = text.get(start..end) else {
            return;
        };
        let glued = |b: Option<&u8>| b.is_some_and(|&b| b == b':' || b == b'-' || b == b'.');
        if !boundary_before(bytes, start)
            || !boundary_after(bytes, end)
            || glued(start.checked_sub(1).and_then(|i| bytes.get(i)))
            || (glued(bytes.get(end)) && bytes.get(end + 1).is_some_and(u8::is_ascii_hexdigit))
        {
            return;
        }
        if is_mac(token.as_bytes()) {
            out.push(Candidate::new(EntityType::MacAddress, start, end, 0.7));
        } else if token.contains(':') && ipv6(token) {
            out.push(Candidate::new(EntityType::IpAddress, start, end, 0.7));
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` (one separator throughout) or `aabb.ccdd.eeff`.
fn is_mac(token: &[u8]) -> bool {
    match token.len() {
        17 => {
            let sep = token.get(2).copied();
            matches!(sep, Some(b':' | b'-'))
                && token.iter().enumerate().all(|(i, &b)| {
                    if i % 3 == 2 {
                        Some(b) == sep
                    } else {
                        b.is_ascii_hexdigit()
                    }
                })
        }
        14 => token.iter().enumerate().all(|(i, &b)| {
            if i % 5 == 4 {
                b == b'.'
            } else {
                b.is_ascii_hexdigit()
            }
        }),
        _ => false,
    }
}

/// A real IPv6 address with at least two non-empty groups and four hex digits (so `::1`,
/// `10:30:00` and `a::b` in code are not flagged).
fn ipv6(token: &str) -> bool {
    let groups = token.split(':').filter(|g| !g.is_empty()).count();
    let hex = token.bytes().filter(u8::is_ascii_hexdigit).count();
    groups >= 2 && hex >= 4 && token.parse::<Ipv6Addr>().is_ok()
}

/// A URL starting at a scheme or `www.` keyword hit: up to whitespace or a quote, without the
/// sentence punctuation that follows it.
pub(crate) fn url(text: &str, hit: Hit) -> Option<Candidate> {
    if hit.class != Class::Url {
        return None;
    }
    let bytes = text.as_bytes();
    let mut end = hit.end;
    while let Some(&b) = bytes.get(end) {
        if b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'"' | b'`' | b'\'' | b'\\') {
            break;
        }
        end += 1;
    }
    let opens = |end: usize| {
        bytes
            .get(hit.start..end)
            .map_or(0, |s| s.iter().filter(|&&b| b == b'(').count())
    };
    while let Some(&b) = bytes.get(end.wrapping_sub(1)) {
        let unbalanced = b == b')' && opens(end) == 0;
        if end > hit.end
            && (matches!(b, b'.' | b',' | b';' | b':' | b'!' | b'?' | b']' | b'}') || unbalanced)
        {
            end -= 1;
        } else {
            break;
        }
    }
    let host_end = bytes
        .get(hit.end..end)?
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b':'))
        .map_or(end, |p| hit.end + p);
    let host = text.get(hit.end..host_end)?;
    let host = host.rsplit('@').next().unwrap_or(host);
    let ok = host.len() >= 3
        && (host.contains('.') || host == "localhost")
        && !host.starts_with('.')
        && !host.ends_with('.')
        && text.is_char_boundary(end);
    ok.then(|| Candidate::new(EntityType::Url, hit.start, end, 0.6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn addresses(text: &str) -> Vec<(EntityType, &str)> {
        let mut out = Vec::new();
        Network::new().unwrap().find_addresses(text, &mut out);
        out.iter()
            .map(|c| (c.entity_type, &text[c.start..c.end]))
            .collect()
    }

    fn urls(text: &str) -> Vec<&str> {
        let mut hits = Vec::new();
        Keywords::new().unwrap().find(text, &mut hits);
        hits.iter()
            .filter_map(|&h| url(text, h))
            .map(|c| &text[c.start..c.end])
            .collect()
    }

    #[test]
    fn macs_and_ipv6() {
        assert_eq!(
            addresses("mac 00:1A:2b:3C:4d:5E."),
            [(EntityType::MacAddress, "00:1A:2b:3C:4d:5E")]
        );
        assert_eq!(
            addresses("mac 00-1a-2b-3c-4d-5e"),
            [(EntityType::MacAddress, "00-1a-2b-3c-4d-5e")]
        );
        assert_eq!(
            addresses("mac 001a.2b3c.4d5e"),
            [(EntityType::MacAddress, "001a.2b3c.4d5e")]
        );
        assert_eq!(
            addresses("from 2001:db8::8a2e:370:7334."),
            [(EntityType::IpAddress, "2001:db8::8a2e:370:7334")]
        );
        assert_eq!(
            addresses("v6 fe80::1ff:fe23:4567:890a"),
            [(EntityType::IpAddress, "fe80::1ff:fe23:4567:890a")]
        );
        assert_eq!(
            addresses("mapped ::ffff:192.0.2.128"),
            [(EntityType::IpAddress, "::ffff:192.0.2.128")]
        );
    }

    #[test]
    fn hex_decoys() {
        for text in [
            "at 10:30:00 today",
            "use std::io::Read",
            "a::b",
            "00:1A:2B:3C:4D",
            "00:1A-2B:3C:4D:5E",
            "ratio 12:34:56:78",
            "Note: see deadbeef:cafe",
        ] {
            assert!(addresses(text).is_empty(), "{text}: {:?}", addresses(text));
        }
    }

    #[test]
    fn urls_trimmed() {
        assert_eq!(
            urls("see https://example.com/a?b=1."),
            ["https://example.com/a?b=1"]
        );
        assert_eq!(urls("(www.example.org/about)"), ["www.example.org/about"]);
        assert_eq!(
            urls("wiki https://en.wikipedia.org/wiki/Foo_(bar) ok"),
            ["https://en.wikipedia.org/wiki/Foo_(bar)"]
        );
        assert!(urls("http:// nothing").is_empty());
        assert!(urls("https://x").is_empty());
    }
}
