//! Passport and driver-licence numbers: identifier-shaped tokens (capital letters and digits)
//! shortly after their keywords ("passport no.", "driver's license", "DL#"). Without the keyword
//! such tokens are order numbers, SKUs or serials.

use regex::Regex;

use super::Candidate;
use crate::context::{Class, Hit};
use crate::text::window;
use crate::{EntityType, PiiError};

/// How far after the keyword the number may start.
const WINDOW: usize = 48;

#[derive(Debug)]
pub(crate) struct Ids {
    token: Regex,
}

impl Ids {
    pub(crate) fn new() -> Result<Self, PiiError> {
        let token = Regex::new(r"(?-u)\b[A-Z0-9][A-Z0-9\-]{3,18}[A-Z0-9]\b").map_err(|e| {
            PiiError::Pattern {
                name: "identifier",
                source: Box::new(e),
            }
        })?;
        Ok(Ids { token })
    }

    /// The first identifier-shaped token after a passport or licence keyword.
    pub(crate) fn after(&self, text: &str, hit: Hit) -> Option<Candidate> {
        let (entity_type, score) = match hit.class {
            Class::Passport => (EntityType::Passport, 0.8),
            Class::License => (EntityType::DriverLicense, 0.75),
            _ => return None,
        };
        let (base, win) = window(text, hit.end, WINDOW);
        for m in self.token.find_iter(win) {
            let token = m.as_str().as_bytes();
            let digits = token.iter().filter(|b| b.is_ascii_digit()).count();
            let alnum = token.iter().filter(|b| b.is_ascii_alphanumeric()).count();
            let shaped = match entity_type {
                EntityType::Passport => {
                    (6..=9).contains(&alnum) && alnum == token.len() && digits >= 4
                }
                _ => (5..=16).contains(&alnum) && digits >= 4,
            };
            // A following `-` or `.` digit means a date or a longer number, not this token.
            let next = win.as_bytes().get(m.end()..m.end() + 2);
            let continues =
                next.is_some_and(|n| matches!(n[0], b'.' | b'/' | b'-') && n[1].is_ascii_digit());
            if shaped && !continues && !date_like(token) {
                return Some(Candidate::new(
                    entity_type,
                    base + m.start(),
                    base + m.end(),
                    score,
                ));
            }
        }
        None
    }
}

/// `2024-05-01`, `01-05-2024`: dates, not identifiers.
fn date_like(token: &[u8]) -> bool {
    let groups: Vec<usize> = token.split(|&b| b == b'-').map(<[u8]>::len).collect();
    token.iter().all(|b| b.is_ascii_digit() || *b == b'-')
        && matches!(groups.as_slice(), [4, 1 | 2, 1 | 2] | [1 | 2, 1 | 2, 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn ids(text: &str) -> Vec<(EntityType, &str)> {
        let ids = Ids::new().unwrap();
        let mut hits = Vec::new();
        Keywords::new().unwrap().find(text, &mut hits);
        let mut found: Vec<_> = hits
            .iter()
            .filter_map(|&h| ids.after(text, h))
            .map(|c| (c.entity_type, &text[c.start..c.end]))
            .collect();
        found.dedup();
        found
    }

    #[test]
    fn passports_and_licences_with_context() {
        assert_eq!(
            ids("passport number X12345678."),
            [(EntityType::Passport, "X12345678")]
        );
        assert_eq!(
            ids("Passport: C01X00T47"),
            [(EntityType::Passport, "C01X00T47")]
        );
        assert_eq!(
            ids("my passport no. is 123456789"),
            [(EntityType::Passport, "123456789")]
        );
        assert_eq!(
            ids("driver's license D1234567"),
            [(EntityType::DriverLicense, "D1234567")]
        );
        assert_eq!(
            ids("DL# S123-4567-8901"),
            [(EntityType::DriverLicense, "S123-4567-8901")]
        );
        assert_eq!(
            ids("driving licence number MORGA753116SM9IJ"),
            [(EntityType::DriverLicense, "MORGA753116SM9IJ")]
        );
    }

    #[test]
    fn identifiers_without_context_or_shape() {
        assert!(ids("order X12345678 shipped").is_empty());
        assert!(ids("passport photo taken in 2019").is_empty());
        assert!(ids("MIT license 2.0").is_empty());
        assert!(ids("license renewed on 2024-05-01").is_empty());
    }
}
