//! Dates of birth: a date (numeric or with a month name) shortly after a birth keyword ("born",
//! "DOB", "date of birth", "birthday"). Dates without such context are not personal data here.

use regex::Regex;

use super::Candidate;
use crate::context::{Class, Hit};
use crate::text::window;
use crate::{EntityType, PiiError};

const MONTH: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// How far after the keyword the date may start.
const WINDOW: usize = 40;

#[derive(Debug)]
pub(crate) struct Dob {
    date: Regex,
}

impl Dob {
    pub(crate) fn new() -> Result<Self, PiiError> {
        let pattern = format!(
            r"(?i-u)\b(?:(?P<ymd>[0-9]{{4}}[-/.][0-9]{{1,2}}[-/.][0-9]{{1,2}})|(?P<dmy>[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.](?:[0-9]{{4}}|[0-9]{{2}}))|{MONTH}\.? [0-9]{{1,2}}(?:st|nd|rd|th)?,? [0-9]{{4}}|[0-9]{{1,2}}(?:st|nd|rd|th)? (?:of )?{MONTH}\.?,? [0-9]{{4}})\b"
        );
        let date = Regex::new(&pattern).map_err(|e| PiiError::Pattern {
            name: "date",
            source: Box::new(e),
        })?;
        Ok(Dob { date })
    }

    /// The first plausible date after a birth keyword.
    pub(crate) fn after(&self, text: &str, hit: Hit) -> Option<Candidate> {
        if hit.class != Class::Dob {
            return None;
        }
        let (base, win) = window(text, hit.end, WINDOW);
        let caps = self.date.captures(win)?;
        let m = caps.get(0)?;
        let numeric = caps
            .name("ymd")
            .map(|d| (d.as_str(), true))
            .or_else(|| caps.name("dmy").map(|d| (d.as_str(), false)));
        if let Some((date, year_first)) = numeric {
            if !plausible(date, year_first) {
                return None;
            }
        }
        Some(Candidate::new(
            EntityType::DateOfBirth,
            base + m.start(),
            base + m.end(),
            0.85,
        ))
    }
}

/// Checks the numbers of a numeric date: a month and a day (in either order when the year is
/// last), and a four-digit year between 1900 and 2099.
fn plausible(date: &str, year_first: bool) -> bool {
    let parts: Vec<u32> = date
        .split(['-', '/', '.'])
        .filter_map(|p| p.parse().ok())
        .collect();
    let [a, b, c] = parts.as_slice() else {
        return false;
    };
    let (year, x, y) = if year_first {
        (*a, *b, *c)
    } else {
        (*c, *a, *b)
    };
    let year_ok = year < 100 || (1900..=2099).contains(&year);
    let day_month = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    year_ok && (day_month(x, y) || (!year_first && day_month(y, x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn dobs(text: &str) -> Vec<&str> {
        let dob = Dob::new().unwrap();
        let mut hits = Vec::new();
        Keywords::new().unwrap().find(text, &mut hits);
        hits.iter()
            .filter_map(|&h| dob.after(text, h))
            .map(|c| &text[c.start..c.end])
            .collect()
    }

    #[test]
    fn dates_with_birth_context() {
        assert_eq!(dobs("born on March 3, 1985 in Ohio"), ["March 3, 1985"]);
        assert_eq!(dobs("DOB: 1985-03-12"), ["1985-03-12"]);
        assert_eq!(dobs("date of birth 03/12/1985."), ["03/12/1985"]);
        assert_eq!(dobs("D.O.B. 12.03.1985"), ["12.03.1985"]);
        assert_eq!(dobs("Birthday: 7th of July 1990"), ["7th of July 1990"]);
        assert_eq!(dobs("She was born 14 Feb. 1972"), ["14 Feb. 1972"]);
    }

    #[test]
    fn dates_without_context_or_impossible() {
        assert!(dobs("the meeting on March 3, 2024").is_empty());
        assert!(dobs("due 2023-04-05").is_empty());
        assert!(dobs("DOB: 1985-13-45").is_empty());
        assert!(dobs("born in a small town long before the war of 1812").is_empty());
    }
}
