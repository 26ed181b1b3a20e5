//! Numbers: one pass finds runs of digits joined by short separators ("4111 1111 …",
//! "(415) 555-2671", "192.168.0.1"); each run is split into digit groups and offered to the
//! card (Luhn + IIN), SSN (area/group/serial rules), phone (E.164, North American, national
//! formats) and IPv4 validators, and to the IBAN parser when two capitals precede it.

use std::net::Ipv4Addr;

use super::{boosted, iban, Candidate};
use crate::context::{Class, Hits};
use crate::text::{boundary_after, boundary_before, find_in_range};
use crate::EntityType;

/// The separator before a digit group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Start,
    Space,
    Dash,
    Dot,
    Slash,
    /// `(` or ` (`
    Open,
    /// `)`, `) ` or `)-`
    Close,
    /// Punctuation then a space (`. `, `/ `, `- `): a sentence or list break, not a joint.
    Break,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    sep: Sep,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// One numeric run and its groups.
struct Run<'a> {
    bytes: &'a [u8],
    groups: &'a [Group],
    /// Offset of the run's first byte (`+`, `(` or a digit).
    start: usize,
    plus: bool,
    open_first: bool,
    /// The run is not glued to a word before it ("v2.1", "ID42").
    head_ok: bool,
    /// The run is not glued to a word after it ("42nd", "2671ext").
    tail_ok: bool,
    hits: &'a Hits<'a>,
}

/// Up to 24 digits of consecutive groups, without separators.
struct Digits {
    buf: [u8; 24],
    len: usize,
}

impl Digits {
    fn new() -> Self {
        Digits {
            buf: [0; 24],
            len: 0,
        }
    }

    /// Appends digits; false (and nothing appended) past 24.
    fn push(&mut self, digits: &[u8]) -> bool {
        let end = self.len + digits.len();
        match self.buf.get_mut(self.len..end) {
            Some(slot) => {
                slot.copy_from_slice(digits);
                self.len = end;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Run<'_> {
    fn group(&self, i: usize) -> Option<Group> {
        self.groups.get(i).copied()
    }

    fn digits_of(&self, g: Group) -> &[u8] {
        self.bytes.get(g.start..g.end).unwrap_or(&[])
    }

    fn sep(&self, i: usize) -> Sep {
        self.group(i).map_or(Sep::Other, |g| g.sep)
    }

    /// An entity may start at group `i`: the run's head for the first group, else after a space
    /// or a break.
    fn starts_ok(&self, i: usize) -> bool {
        if i == 0 {
            self.head_ok
        } else {
            matches!(self.sep(i), Sep::Space | Sep::Break)
        }
    }

    /// An entity may end after group `j`: at the run's tail, before a break, or before one of
    /// `seps`.
    fn ends_ok(&self, j: usize, seps: &[Sep]) -> bool {
        if j + 1 == self.groups.len() {
            self.tail_ok
        } else {
            let next = self.sep(j + 1);
            next == Sep::Break || seps.contains(&next)
        }
    }

    fn context(&self, class: Class, at: usize) -> bool {
        self.hits.near_before(class, at, 40)
    }
}

fn joint(b: Option<&u8>) -> bool {
    matches!(b, Some(b' ' | b'.' | b'/' | b'(' | b')' | b'-'))
}

/// The next run at or after `from`: digits joined by one or two separator bytes (space, `.`,
/// `/`, `-`, parentheses), opened by a `+` or `(` right before the first digit.
fn next_run(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let first = find_in_range(bytes, from, b'0', b'9')?;
    let opened = first > from && matches!(bytes.get(first - 1), Some(b'+' | b'('));
    let start = if opened { first - 1 } else { first };
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut end = first + 1;
    loop {
        while digit(end) {
            end += 1;
        }
        if joint(bytes.get(end)) && digit(end + 1) {
            end += 2;
        } else if joint(bytes.get(end)) && joint(bytes.get(end + 1)) && digit(end + 2) {
            end += 3;
        } else {
            return Some((start, end));
        }
    }
}

/// Every card, SSN, phone, IPv4 and IBAN candidate in `text`.
pub(crate) fn find(text: &str, hits: &Hits<'_>, out: &mut Vec<Candidate>) {
    let bytes = text.as_bytes();
    let mut groups = Vec::new();
    let mut from = 0;
    while let Some((start, end)) = next_run(bytes, from) {
        from = end;
        let Some(&first) = bytes.get(start) else {
            continue;
        };
        if first.is_ascii_digit()
            && start >= 2
            && bytes
                .get(start - 2..start)
                .is_some_and(|p| p.iter().all(u8::is_ascii_uppercase))
            && boundary_before(bytes, start - 2)
        {
            if let Some(c) = iban::parse(bytes, start - 2) {
                out.push(c);
            }
        }
        split(bytes, start, end, &mut groups);
        // The digits of an IBAN that failed its checksum are not a card or a phone: skip
        // them up to the first break.
        let first_group = if iban_shaped(bytes, start) {
            match groups.iter().position(|g| g.sep == Sep::Break) {
                Some(k) => k,
                None => continue,
            }
        } else {
            0
        };
        let run = Run {
            bytes,
            groups: &groups,
            start,
            plus: first == b'+',
            open_first: first == b'(',
            head_ok: boundary_before(bytes, start),
            tail_ok: boundary_after(bytes, end),
            hits,
        };
        for i in first_group..groups.len() {
            card(&run, i, out);
            ssn(&run, i, out);
            phone(&run, i, out);
            ipv4(&run, i, out);
        }
    }
}

/// Whether a run starting at `start` continues an IBAN-shaped text: glued to two capitals
/// (`DE89…`), or after space-separated groups of four capitals and digits that go back to
/// two capitals and two digits (`NL76 ABNA 0417…`).
fn iban_shaped(bytes: &[u8], start: usize) -> bool {
    let upper = |b: &u8| b.is_ascii_uppercase();
    if start >= 2
        && bytes
            .get(start - 2..start)
            .is_some_and(|p| p.iter().all(upper))
        && boundary_before(bytes, start - 2)
    {
        return true;
    }
    let mut end = start;
    for _ in 0..8 {
        if end < 5 || bytes.get(end - 1) != Some(&b' ') {
            return false;
        }
        let Some(token) = bytes.get(end - 5..end - 1) else {
            return false;
        };
        let head = token.get(..2).is_some_and(|h| h.iter().all(upper))
            && token
                .get(2..)
                .is_some_and(|t| t.iter().all(u8::is_ascii_digit));
        if head && boundary_before(bytes, end - 5) {
            return true;
        }
        if !token
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return false;
        }
        end -= 5;
    }
    false
}

/// Splits `bytes[start..end]` into digit groups with the separator before each.
fn split(bytes: &[u8], start: usize, end: usize, groups: &mut Vec<Group>) {
    groups.clear();
    let mut i = start;
    let mut sep_start = start;
    while i < end {
        let Some(&b) = bytes.get(i) else { break };
        if b.is_ascii_digit() {
            let g_start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) && i < end {
                i += 1;
            }
            let sep = if groups.is_empty() {
                if bytes.get(sep_start..g_start) == Some(b"(") {
                    Sep::Open
                } else {
                    Sep::Start
                }
            } else {
                classify(bytes.get(sep_start..g_start).unwrap_or(&[]))
            };
            groups.push(Group {
                start: g_start,
                end: i,
                sep,
            });
            sep_start = i;
        } else {
            i += 1;
        }
    }
}

fn classify(sep: &[u8]) -> Sep {
    match sep {
        b" " => Sep::Space,
        b"-" => Sep::Dash,
        b"." => Sep::Dot,
        b"/" => Sep::Slash,
        b"(" | b" (" => Sep::Open,
        b")" | b") " | b")-" => Sep::Close,
        [_, b' '] => Sep::Break,
        _ => Sep::Other,
    }
}

// ---------------------------------------------------------------- credit cards

/// Luhn checksum over ASCII digits.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum % 10 == 0
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, &d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// Whether the issuer prefix and length belong to a card network (Visa, Mastercard, Amex,
/// Discover, Diners, JCB, UnionPay, Maestro).
pub(crate) fn plausible_iin(digits: &[u8]) -> bool {
    let len = digits.len();
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    match p1 {
        4 => matches!(len, 13 | 16 | 19),
        2 => (2221..=2720).contains(&p4) && len == 16,
        3 => {
            (matches!(p2, 34 | 37) && len == 15)
                || (((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&len))
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
        }
        5 => {
            ((51..=55).contains(&p2) && len == 16)
                || (matches!(p2, 50 | 56 | 57 | 58) && (13..=19).contains(&len))
        }
        6 => {
            (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62)
                && (16..=19).contains(&len)
                || (matches!(p2, 63 | 67) && (13..=19).contains(&len))
        }
        _ => false,
    }
}

fn card(run: &Run<'_>, i: usize, out: &mut Vec<Candidate>) {
    if !run.starts_ok(i) {
        return;
    }
    let Some(first) = run.group(i) else { return };
    let mut digits = Digits::new();
    let mut sep = None;
    let mut best = None;
    let mut j = i;
    while let Some(g) = run.group(j) {
        if j > i {
            let s = g.sep;
            if !matches!(s, Sep::Space | Sep::Dash)
                || sep.is_some_and(|x| x != s)
                || first.len() < 3
                || g.len() < 3
            {
                break;
            }
            sep = Some(s);
        }
        if !digits.push(run.digits_of(g)) || digits.len > 19 {
            break;
        }
        let d = digits.as_slice();
        if (13..=19).contains(&d.len())
            && run.ends_ok(j, &[Sep::Space])
            && plausible_iin(d)
            && luhn_valid(d)
        {
            best = Some((j, sep));
        }
        j += 1;
    }
    let Some((last, sep)) = best else { return };
    // Grouped digits that go on with the same separator are a longer number, not a card.
    let joined = |k: usize| sep.is_some() && run.group(k).is_some_and(|g| Some(g.sep) == sep);
    if joined(i) || joined(last + 1) {
        return;
    }
    if let Some(end) = run.group(last).map(|g| g.end) {
        // "order 4…", "transaction 5…": an identifier that happens to pass Luhn.
        let card_context = run.context(Class::Card, first.start);
        let id_context = id_cue(run, first.start);
        let score = if id_context && !card_context {
            0.3
        } else {
            boosted(0.9, card_context, 0.05)
        };
        out.push(Candidate::new(
            EntityType::CreditCard,
            first.start,
            end,
            score,
        ));
    }
}

/// An identifier word ("order", "transaction", "ref") that labels the number at `at`: only
/// `#`, `:`, `=`, spaces and "no"/"number" between them.
fn id_cue(run: &Run<'_>, at: usize) -> bool {
    run.hits.last_before(Class::IdCue, at, 24).is_some_and(|h| {
        let gap =
            String::from_utf8_lossy(run.bytes.get(h.end..at).unwrap_or(&[])).to_ascii_lowercase();
        gap.split([' ', '#', ':', '=', '.'])
            .all(|w| matches!(w, "" | "no" | "nr" | "number" | "num" | "id"))
    })
}

// ---------------------------------------------------------------- US SSN

/// The SSA's numbering rules: area not 000, 666 or 900-999; group not 00; serial not 0000; and
/// not one of the numbers SSA voided after they were published in advertising.
pub(crate) fn ssn_valid(digits: &[u8]) -> bool {
    if digits.len() != 9 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = prefix_num(digits, 3);
    let group = prefix_num(digits.get(3..).unwrap_or(&[]), 2);
    let serial = prefix_num(digits.get(5..).unwrap_or(&[]), 4);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && digits != b"078051120"
        && digits != b"219099999"
}

fn ssn(run: &Run<'_>, i: usize, out: &mut Vec<Candidate>) {
    if !run.starts_ok(i) {
        return;
    }
    let Some(a) = run.group(i) else { return };
    let context = run.context(Class::Ssn, a.start);
    if let (Some(g), Some(s)) = (run.group(i + 1), run.group(i + 2)) {
        if a.len() == 3
            && g.len() == 2
            && s.len() == 4
            && g.sep == s.sep
            && matches!(g.sep, Sep::Dash | Sep::Space)
            && run.ends_ok(i + 2, &[Sep::Space])
        {
            let mut digits = Digits::new();
            for part in [a, g, s] {
                digits.push(run.digits_of(part));
            }
            if ssn_valid(digits.as_slice()) {
                let (base, boost) = if g.sep == Sep::Dash {
                    (0.85, 0.1)
                } else {
                    (0.6, 0.3)
                };
                let score = boosted(base, context, boost);
                out.push(Candidate::new(EntityType::UsSsn, a.start, s.end, score));
            }
        }
    }
    if a.len() == 9 && context && run.ends_ok(i, &[Sep::Space]) && ssn_valid(run.digits_of(a)) {
        out.push(Candidate::new(EntityType::UsSsn, a.start, a.end, 0.7));
    }
}

// ---------------------------------------------------------------- phone numbers

/// Country calling codes with two digits; single-digit codes are 1 and 7, and three-digit codes
/// fill the remaining ranges.
const CC2: &[u32] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// The length of the country calling code that `digits` (after `+` or `00`) starts with.
fn country_code_len(digits: &[u8]) -> Option<usize> {
    let d0 = prefix_num(digits, 1);
    if digits.len() < 3 || d0 == 0 {
        return None;
    }
    if d0 == 1 || d0 == 7 {
        return Some(1);
    }
    if CC2.contains(&prefix_num(digits, 2)) {
        return Some(2);
    }
    Some(3)
}

/// A North American number: 10 digits, area code and exchange not starting with 0 or 1.
fn nanp_valid(digits: &[u8]) -> bool {
    let area = prefix_num(digits, 3);
    let exchange = prefix_num(digits.get(3..).unwrap_or(&[]), 3);
    digits.len() == 10 && area >= 200 && area % 100 != 11 && exchange >= 200
}

fn phone(run: &Run<'_>, i: usize, out: &mut Vec<Candidate>) {
    let Some(first) = run.group(i) else { return };
    let context = run.context(Class::Phone, run.start.min(first.start));
    if i == 0 && run.plus && run.head_ok {
        if let Some((end, _)) = international(run, 0, 0) {
            let score = boosted(0.8, context, 0.15);
            out.push(Candidate::new(
                EntityType::PhoneNumber,
                run.start,
                end,
                score,
            ));
        }
        return;
    }
    if !run.starts_ok(i) {
        return;
    }
    let digits = run.digits_of(first);
    if digits.len() >= 4 && digits.starts_with(b"00") && !(i == 0 && run.open_first) {
        if let Some((end, _)) = international(run, i, 2) {
            let score = boosted(0.65, context, 0.25);
            out.push(Candidate::new(
                EntityType::PhoneNumber,
                first.start,
                end,
                score,
            ));
        }
        return;
    }
    nanp(run, i, context, out);
    national(run, i, context, out);
}

/// `+CC …` (or `00CC …` with `skip` = 2): digits 8 to 15, groups of two or more after the
/// first; `+1` numbers must be valid North American numbers. Returns the longest valid end.
fn international(run: &Run<'_>, i: usize, skip: usize) -> Option<(usize, usize)> {
    let first = run.group(i)?;
    let mut digits = Digits::new();
    digits.push(run.digits_of(first).get(skip..)?);
    let lead = digits.as_slice();
    let cc_len = if lead.len() <= 3 {
        // The first group is the whole country code: it must be one.
        let code = prefix_num(lead, lead.len());
        let known = match lead.len() {
            1 => code == 1 || code == 7,
            2 => CC2.contains(&code),
            _ => country_code_len(lead) == Some(3),
        };
        known.then_some(lead.len())?
    } else {
        country_code_len(lead)?
    };
    let mut best = None;
    let mut j = i;
    while let Some(g) = run.group(j) {
        if j > i {
            if !matches!(
                g.sep,
                Sep::Space | Sep::Dash | Sep::Dot | Sep::Open | Sep::Close
            ) {
                break;
            }
            let after_cc = j == i + 1 && first.len() - skip == cc_len;
            if g.len() < 2 && !after_cc {
                break;
            }
            if !digits.push(run.digits_of(g)) {
                break;
            }
        }
        let d = digits.as_slice();
        if d.len() > 15 {
            break;
        }
        let national = d.get(cc_len..).unwrap_or(&[]);
        let valid = if cc_len == 1 && d.first() == Some(&b'1') {
            nanp_valid(national)
        } else {
            (8..=15).contains(&d.len()) && national.len() >= 6
        };
        if valid && run.ends_ok(j, &[Sep::Space]) {
            best = Some((g.end, j));
        }
        j += 1;
    }
    best
}

/// `(415) 555-2671`, `415-555-2671`, `415.555.2671`, `1-800-555-0199`, and bare ten digits
/// (which need context).
fn nanp(run: &Run<'_>, i: usize, context: bool, out: &mut Vec<Candidate>) {
    let Some(first) = run.group(i) else { return };
    let single = run.digits_of(first);
    if (single.len() == 10 || (single.len() == 11 && single.first() == Some(&b'1')))
        && run.ends_ok(i, &[Sep::Space])
        && nanp_valid(single.get(single.len() - 10..).unwrap_or(&[]))
        && !(i == 0 && run.open_first)
    {
        let score = boosted(0.3, context, 0.35);
        out.push(Candidate::new(
            EntityType::PhoneNumber,
            first.start,
            first.end,
            score,
        ));
        return;
    }
    let plain = [Sep::Space, Sep::Dash, Sep::Dot];
    let mut a = i;
    if single == b"1" && plain.contains(&run.sep(i + 1)) {
        a += 1;
    }
    let (Some(area), Some(exchange), Some(line)) =
        (run.group(a), run.group(a + 1), run.group(a + 2))
    else {
        return;
    };
    let paren = area.sep == Sep::Open && exchange.sep == Sep::Close;
    if paren && !(a == 0 && run.open_first) {
        return;
    }
    let shaped = area.len() == 3
        && exchange.len() == 3
        && line.len() == 4
        && (paren || plain.contains(&exchange.sep))
        && plain.contains(&line.sep)
        && run.ends_ok(a + 2, &[Sep::Space]);
    if !shaped {
        return;
    }
    let mut digits = Digits::new();
    for g in [area, exchange, line] {
        digits.push(run.digits_of(g));
    }
    if !nanp_valid(digits.as_slice()) {
        return;
    }
    let start = if paren { run.start } else { first.start };
    let score = boosted(0.7, context, 0.2);
    out.push(Candidate::new(
        EntityType::PhoneNumber,
        start,
        line.end,
        score,
    ));
}

/// National numbers with a trunk `0`: `020 7946 0958`, `01 23 45 67 89`, `030/1234567`,
/// `(020) 7946 0958`: 10 or 11 digits, one kind of separator.
fn national(run: &Run<'_>, i: usize, context: bool, out: &mut Vec<Candidate>) {
    let Some(first) = run.group(i) else { return };
    if i > 0 && first.sep != Sep::Break {
        return;
    }
    let lead = run.digits_of(first);
    if lead.first() != Some(&b'0') || lead.starts_with(b"00") || !(2..=5).contains(&lead.len()) {
        return;
    }
    let paren = i == 0 && run.open_first;
    let mut digits = Digits::new();
    digits.push(lead);
    let mut sep = None;
    let mut best = None;
    let mut j = i + 1;
    while let Some(g) = run.group(j) {
        let s = g.sep;
        let allowed = if paren && j == i + 1 {
            s == Sep::Close
        } else {
            matches!(s, Sep::Space | Sep::Dash | Sep::Dot | Sep::Slash)
                && sep.is_none_or(|x| x == s || (x == Sep::Close && s == Sep::Space))
        };
        if !allowed
            || g.len() < 2
            || (s == Sep::Slash && j > i + 1)
            || !digits.push(run.digits_of(g))
        {
            break;
        }
        sep = Some(if paren && j == i + 1 { Sep::Close } else { s });
        let n = digits.len;
        if (10..=11).contains(&n) && run.ends_ok(j, &[Sep::Space]) {
            best = Some(g.end);
        }
        if n > 11 {
            break;
        }
        j += 1;
    }
    if let Some(end) = best {
        let start = if paren { run.start } else { first.start };
        let score = boosted(0.55, context, 0.3);
        out.push(Candidate::new(EntityType::PhoneNumber, start, end, score));
    }
}

// ---------------------------------------------------------------- IPv4

fn ipv4(run: &Run<'_>, i: usize, out: &mut Vec<Candidate>) {
    if !run.starts_ok(i) {
        return;
    }
    let mut parts = [Group {
        start: 0,
        end: 0,
        sep: Sep::Start,
    }; 4];
    for (k, part) in parts.iter_mut().enumerate() {
        let Some(g) = run.group(i + k) else { return };
        let d = run.digits_of(g);
        if (k > 0 && g.sep != Sep::Dot) || d.len() > 3 || (d.len() > 1 && d.first() == Some(&b'0'))
        {
            return;
        }
        *part = g;
    }
    if run.sep(i + 4) == Sep::Dot || !run.ends_ok(i + 3, &[Sep::Space, Sep::Slash]) {
        return;
    }
    let (start, end) = (parts[0].start, parts[3].end);
    let valid = std::str::from_utf8(run.bytes.get(start..end).unwrap_or(&[]))
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .is_some_and(|ip| !ip.is_unspecified());
    if valid {
        out.push(Candidate::new(EntityType::IpAddress, start, end, 0.6));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Keywords;

    fn find(text: &str) -> Vec<(EntityType, String, f64)> {
        let keywords = Keywords::new().unwrap();
        let mut all = Vec::new();
        keywords.find(text, &mut all);
        let hits = Hits { all: &all };
        let mut out = Vec::new();
        super::find(text, &hits, &mut out);
        out.retain(|c| c.score >= 0.4);
        crate::analyzer::resolve(out)
            .iter()
            .map(|c| (c.entity_type, text[c.start..c.end].to_owned(), c.score))
            .collect()
    }

    fn found(text: &str, t: EntityType) -> Vec<String> {
        find(text)
            .into_iter()
            .filter(|(e, _, _)| *e == t)
            .map(|(_, s, _)| s)
            .collect()
    }

    #[test]
    fn luhn_and_iin() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(plausible_iin(b"378282246310005"));
        assert!(plausible_iin(b"5555555555554444"));
        assert!(plausible_iin(b"2223003122003222"));
        assert!(!plausible_iin(b"9111111111111111"));
        assert!(!plausible_iin(b"41111111111111"));
    }

    #[test]
    fn cards_valid_and_invalid() {
        let t = EntityType::CreditCard;
        assert_eq!(
            found("card 4111 1111 1111 1111.", t),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            found("paid 4111-1111-1111-1111 ok", t),
            ["4111-1111-1111-1111"]
        );
        assert_eq!(found("amex 3782 822463 10005", t), ["3782 822463 10005"]);
        assert_eq!(found("x 5555555555554444 y", t), ["5555555555554444"]);
        assert!(found("card 4111 1111 1111 1112", t).is_empty(), "bad Luhn");
        assert!(
            found("mixed 4111 1111-1111 1111", t).is_empty(),
            "mixed separators"
        );
        assert!(
            found("id A4111111111111111", t).is_empty(),
            "glued to a word"
        );
        assert!(found("9111111111111111111", t).is_empty(), "no such issuer");
        assert!(
            found("IBAN ES90 5579 5112 4772 8096 4385", t).is_empty(),
            "inside an IBAN"
        );
        assert!(
            found("n 5579 5112 4772 8096 4385", t).is_empty(),
            "a longer number"
        );
        assert_eq!(
            found("order 12. 4111 1111 1111 1111", t),
            ["4111 1111 1111 1111"]
        );
        assert!(
            found("transaction 4111111111111111", t).is_empty(),
            "an identifier"
        );
        assert_eq!(
            found("order paid by card 4111111111111111", t),
            ["4111111111111111"]
        );
        assert_eq!(
            found(
                "GB96 MUBY 7440 4568 6119 28. 3580-5791-7884-7997 declined",
                t
            ),
            ["3580-5791-7884-7997"]
        );
    }

    #[test]
    fn ssn_rules() {
        let t = EntityType::UsSsn;
        assert_eq!(found("SSN 123-45-6789", t), ["123-45-6789"]);
        assert_eq!(
            found("box 5224. 172-36-0228 (applicant)", t),
            ["172-36-0228"]
        );
        assert_eq!(found("it is 536-90-4399.", t), ["536-90-4399"]);
        assert_eq!(found("ssn: 536 90 4399", t), ["536 90 4399"]);
        assert_eq!(found("social security number 536904399", t), ["536904399"]);
        assert!(
            found("number 536904399", t).is_empty(),
            "bare nine digits need context"
        );
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
        ] {
            assert!(found(&format!("SSN {bad}"), t).is_empty(), "{bad}");
        }
        assert!(found("123-45-67890", t).is_empty());
        assert!(found("123-45-6789-1", t).is_empty());
    }

    #[test]
    fn phones_in_many_formats() {
        let t = EntityType::PhoneNumber;
        for p in [
            "(415) 555-2671",
            "415-555-2671",
            "415.555.2671",
            "1-800-555-0199",
            "+1 415 555 2671",
            "+1-415-555-2671",
            "+1 (415) 555-2671",
            "+14155552671",
            "+442079460958",
            "+44 20 7946 0958",
            "+44 (0)20 7946 0958",
            "+49 30 12345678",
            "+33 1 23 45 67 89",
            "+91 98765 43210",
            "+81 3-1234-5678",
            "0044 20 7946 0958",
            "020 7946 0958",
            "01 23 45 67 89",
            "030/1234567",
            "(020) 7946 0958",
        ] {
            assert_eq!(found(&format!("call {p} today"), t), [p], "{p}");
            let after_break = format!("ref 1ZSMRN8D245TNGU816. {p} is the desk");
            assert_eq!(found(&after_break, t), [p], "{p}");
        }
        assert_eq!(found("phone 4155552671", t), ["4155552671"]);
        assert!(find("serial 4155552671").is_empty());
    }

    #[test]
    fn phone_decoys() {
        let t = EntityType::PhoneNumber;
        for d in [
            "on 2023-04-05 at",
            "due 05/03/2021 12 people",
            "version 2.14.3",
            "order 4829-1734",
            "cost $1,234.56",
            "room 2048",
            "ip 192.168.1.20",
            "(123) 456-7890",
            "+1 415 555 26",
            "ISBN 978-3-16-148410-0",
            "IBAN NL76 TRRP 0527 3006 02",
            "tracking 1ZSMRN8D245TNGU816",
            "card 3739 0300 5705 117",
        ] {
            assert!(found(d, t).is_empty(), "{d}: {:?}", find(d));
        }
    }

    #[test]
    fn ipv4_addresses() {
        let t = EntityType::IpAddress;
        assert_eq!(found("from 192.168.1.20.", t), ["192.168.1.20"]);
        assert_eq!(found("net 10.0.0.0/8", t), ["10.0.0.0"]);
        assert!(found("v 1.2.3.4.5", t).is_empty());
        assert!(found("x 256.1.1.1", t).is_empty());
        assert!(found("x 01.2.3.4", t).is_empty());
        assert!(found("v1.2.3.4", t).is_empty());
    }
}
