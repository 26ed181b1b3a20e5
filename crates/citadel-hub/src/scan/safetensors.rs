//! safetensors header checks: the header length, UTF-8, a JSON object without duplicate keys,
//! known dtypes, shapes that match their byte spans, and offsets that tile the data section
//! exactly up to the end of the file (the checks of the `safetensors` crate, and a few more).
//!
//! The header is validated while serde_json streams it: no tree is built, so a 100 MB header of
//! one huge shape array costs no more memory than the header itself.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Finding, Findings, Severity};

/// The largest header accepted, as the `safetensors` crate.
pub const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

/// How many leading bytes [`scan_safetensors_prefix`] needs, from the first 8 bytes: 8 plus the
/// declared header length, or only 8 when that length is above [`SAFETENSORS_MAX_HEADER`] (the
/// length alone condemns the file). Never more than `8 + SAFETENSORS_MAX_HEADER`.
pub fn safetensors_prefix_len(first8: [u8; 8]) -> u64 {
    let declared = u64::from_le_bytes(first8);
    if declared > SAFETENSORS_MAX_HEADER {
        8
    } else {
        8 + declared
    }
}

/// The safetensors header checks on the first bytes of a file, for callers that stream:
/// `prefix` holds the first `min(file_len, safetensors_prefix_len(..))` bytes, `file_len` is the
/// whole file's length. A valid file gives no finding.
pub fn scan_safetensors_prefix(prefix: &[u8], file_len: u64) -> Vec<Finding> {
    let mut findings = Findings::default();
    check(prefix, file_len, &mut findings);
    findings.finish()
}

/// Reads the header of a file of `file_len` bytes (never the tensor data) and checks it.
pub(crate) fn scan_reader(
    reader: &mut impl Read,
    file_len: u64,
    findings: &mut Findings,
) -> io::Result<()> {
    let mut prefix = Vec::new();
    reader.take(8).read_to_end(&mut prefix)?;
    if let Ok(first8) = <[u8; 8]>::try_from(prefix.as_slice()) {
        let wanted = safetensors_prefix_len(first8).min(file_len);
        let rest = wanted.saturating_sub(8);
        prefix.reserve(usize::try_from(rest).unwrap_or(0));
        reader.take(rest).read_to_end(&mut prefix)?;
    }
    check(&prefix, file_len, findings);
    Ok(())
}

/// Whether the first bytes look like a safetensors file (for files without the extension).
pub(crate) fn looks_like(head: &[u8]) -> bool {
    let declared = head
        .get(..8)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_le_bytes);
    declared.is_some_and(|n| (2..=SAFETENSORS_MAX_HEADER).contains(&n))
        && head.get(8) == Some(&b'{')
}

const HIGH: Severity = Severity::High;

fn check(prefix: &[u8], file_len: u64, findings: &mut Findings) {
    let Some(first8) = prefix
        .get(..8)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
    else {
        findings.push(
            HIGH,
            "safetensors.too_small",
            format!("the file has {file_len} bytes, fewer than the 8 that give the header length"),
            None,
        );
        return;
    };
    let declared = u64::from_le_bytes(first8);
    if declared > SAFETENSORS_MAX_HEADER {
        findings.push(
            Severity::Critical,
            "safetensors.header_too_large",
            format!(
                "the header length is {declared} bytes, above the limit of {SAFETENSORS_MAX_HEADER}"
            ),
            Some("byte 0".to_owned()),
        );
        return;
    }
    let header_end = 8 + declared;
    if header_end > file_len {
        findings.push(
            HIGH,
            "safetensors.header_length",
            format!(
                "the header length is {declared} bytes but only {} bytes follow it",
                file_len.saturating_sub(8)
            ),
            Some("byte 0".to_owned()),
        );
        return;
    }
    let Some(header) = usize::try_from(header_end)
        .ok()
        .and_then(|end| prefix.get(8..end))
    else {
        findings.push(
            HIGH,
            "safetensors.header_length",
            format!(
                "only {} of the {declared} header bytes were given to the scanner",
                prefix.len().saturating_sub(8)
            ),
            None,
        );
        return;
    };
    let text = match std::str::from_utf8(header) {
        Ok(text) => text,
        Err(error) => {
            let at = 8 + error.valid_up_to();
            findings.push(
                HIGH,
                "safetensors.header_utf8",
                format!("the header is not valid UTF-8 (byte {at})"),
                Some(format!("byte {at}")),
            );
            return;
        }
    };
    let mut header = Header {
        findings,
        tensors: Vec::new(),
        data_start: header_end,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = HeaderSeed(&mut header)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(error) = parsed {
        header.findings.push(
            HIGH,
            "safetensors.header_json",
            format!("the header is not a valid JSON object: {error}"),
            None,
        );
        return;
    }
    header.check_layout(file_len - header_end);
}

/// The state of one header check: its findings, and per tensor entry (in header order) its byte
/// span, `None` when its entry is unusable.
struct Header<'f> {
    findings: &'f mut Findings,
    tensors: Vec<Option<Span>>,
    /// Where the data section starts in the file, for locations.
    data_start: u64,
}

#[derive(Debug)]
struct Span {
    name: Box<str>,
    begin: u64,
    end: u64,
}

impl Header<'_> {
    /// Checks one tensor entry; returns its span when its offsets are usable.
    fn tensor(&mut self, name: &str, entry: Result<Entry, String>) -> Option<Span> {
        let bad = |findings: &mut Findings, what: String| {
            findings.push(
                HIGH,
                "safetensors.bad_entry",
                format!("tensor \"{name}\" {what}"),
                None,
            );
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(kind) => {
                bad(self.findings, format!("is {kind}, not an object"));
                return None;
            }
        };
        for field in &entry.duplicates {
            self.findings.push(
                HIGH,
                "safetensors.duplicate_key",
                format!("tensor \"{name}\" has two \"{field}\" fields"),
                None,
            );
        }
        let bits = match entry.dtype {
            None => {
                bad(self.findings, "has no dtype".to_owned());
                None
            }
            Some(Scalar::Str(dtype)) => {
                let bits = dtype_bits(&dtype);
                if bits.is_none() {
                    self.findings.push(
                        HIGH,
                        "safetensors.unknown_dtype",
                        format!("tensor \"{name}\" has the unknown dtype \"{dtype}\""),
                        None,
                    );
                }
                bits
            }
            Some(other) => {
                bad(self.findings, format!("has a dtype that is {other}"));
                None
            }
        };
        let elements = match entry.shape {
            None => {
                bad(self.findings, "has no shape".to_owned());
                None
            }
            Some(Shape::Bad(kind)) => {
                bad(
                    self.findings,
                    format!("has a shape holding {kind}, not an array of non-negative integers"),
                );
                None
            }
            Some(Shape::Elements(None)) => {
                self.findings.push(
                    HIGH,
                    "safetensors.overflow",
                    format!("the shape of tensor \"{name}\" multiplies past 2^64 elements"),
                    None,
                );
                None
            }
            Some(Shape::Elements(Some(elements))) => Some(elements),
        };
        let span = match entry.offsets {
            None => {
                bad(self.findings, "has no data_offsets".to_owned());
                None
            }
            Some(Err(why)) => {
                bad(self.findings, format!("has data_offsets that are {why}"));
                None
            }
            Some(Ok((begin, end))) => Some(Span {
                name: name.into(),
                begin,
                end,
            }),
        };
        if let (Some(bits), Some(elements), Some(span)) = (bits, elements, &span) {
            let stored = span.end - span.begin;
            match elements.checked_mul(bits) {
                None => self.findings.push(
                    HIGH,
                    "safetensors.overflow",
                    format!("the size of tensor \"{name}\" overflows 64 bits"),
                    None,
                ),
                Some(total) if total % 8 != 0 => self.findings.push(
                    HIGH,
                    "safetensors.size_mismatch",
                    format!("tensor \"{name}\" holds {total} bits, not a whole number of bytes"),
                    None,
                ),
                Some(total) if total / 8 != stored => self.findings.push(
                    HIGH,
                    "safetensors.size_mismatch",
                    format!(
                        "tensor \"{name}\" needs {} bytes for its shape and dtype, but its \
                         data_offsets span {stored}",
                        total / 8
                    ),
                    None,
                ),
                Some(_) => {}
            }
        }
        span
    }

    /// Sorted by offset, the spans must tile the data section from 0 to its end: no hole, no
    /// overlap, nothing after the last tensor, nothing missing.
    fn check_layout(self, data_len: u64) {
        let mut spans: Vec<Span> = self.tensors.into_iter().flatten().collect();
        spans.sort_unstable_by_key(|span| (span.begin, span.end));
        let mut covered = 0u64;
        let mut previous: Option<&str> = None;
        for span in &spans {
            let location = Some(format!(
                "byte {}",
                self.data_start.saturating_add(span.begin)
            ));
            if span.begin > covered {
                let message = match previous {
                    None => format!(
                        "the first tensor, \"{}\", starts at byte {} of the data section, not 0",
                        span.name, span.begin
                    ),
                    Some(previous) => format!(
                        "bytes {covered}..{} of the data section belong to no tensor (between \
                         \"{previous}\" and \"{}\")",
                        span.begin, span.name
                    ),
                };
                self.findings
                    .push(HIGH, "safetensors.hole", message, location);
            } else if span.begin < covered {
                self.findings.push(
                    HIGH,
                    "safetensors.overlap",
                    format!(
                        "tensor \"{}\" starts at byte {} of the data section, inside \"{}\", \
                         which ends at byte {covered}",
                        span.name,
                        span.begin,
                        previous.unwrap_or("?")
                    ),
                    location,
                );
            }
            if span.end >= covered {
                covered = span.end;
                previous = Some(&span.name);
            }
        }
        if covered < data_len {
            self.findings.push(
                HIGH,
                "safetensors.trailing_bytes",
                format!("{} bytes follow the last tensor's data", data_len - covered),
                Some(format!("byte {}", self.data_start.saturating_add(covered))),
            );
        } else if covered > data_len {
            self.findings.push(
                HIGH,
                "safetensors.truncated",
                format!(
                    "the tensors need {covered} bytes of data but the file holds {data_len}: it \
                     is truncated"
                ),
                None,
            );
        }
    }
}

/// Bits per element of every dtype the `safetensors` crate knows (0.6: F4, F6 and F8_E8M0).
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// A JSON value reduced to what the checks need; containers are skipped, never stored.
enum Scalar {
    Uint(u64),
    Str(String),
    Other(&'static str),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uint(n) => write!(f, "the number {n}"),
            Self::Str(_) => f.write_str("a string"),
            Self::Other(kind) => f.write_str(kind),
        }
    }
}

/// The non-container `visit_*` methods, each turning its value into a [`Scalar`] handed to the
/// visitor's `scalar` method: the visitors below accept any JSON value, so a wrong type is a
/// finding about that entry, not an error that stops the whole parse.
macro_rules! visit_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(self.scalar(Scalar::Other("a boolean")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(self
                .scalar(u64::try_from(v).map_or(Scalar::Other("a negative number"), Scalar::Uint)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(self.scalar(Scalar::Uint(v)))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(self.scalar(Scalar::Other("a fractional number")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(self.scalar(Scalar::Str(v.to_owned())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(self.scalar(Scalar::Other("null")))
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct ScalarVisitor;

impl ScalarVisitor {
    fn scalar(self, scalar: Scalar) -> Scalar {
        scalar
    }
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    visit_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        skip_seq(seq)?;
        Ok(Scalar::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        skip_map(map)?;
        Ok(Scalar::Other("an object"))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A shape: its element count (`None` when the product overflows), or what was wrong with it.
enum Shape {
    Elements(Option<u64>),
    Bad(String),
}

struct ShapeVisitor;

impl ShapeVisitor {
    fn scalar(self, scalar: Scalar) -> Shape {
        Shape::Bad(scalar.to_string())
    }
}

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of dimensions")
    }

    visit_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut elements = Some(1u64);
        let mut bad = None;
        while let Some(dimension) = seq.next_element::<Scalar>()? {
            match dimension {
                Scalar::Uint(n) => elements = elements.and_then(|e| e.checked_mul(n)),
                other => {
                    bad.get_or_insert_with(|| other.to_string());
                }
            }
        }
        Ok(bad.map_or(Shape::Elements(elements), Shape::Bad))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
        skip_map(map)?;
        Ok(Shape::Bad("an object".to_owned()))
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

/// `[begin, end]` with `begin <= end`, or why not.
struct Offsets(Result<(u64, u64), String>);

struct OffsetsVisitor;

impl OffsetsVisitor {
    fn scalar(self, scalar: Scalar) -> Offsets {
        Offsets(Err(format!("{scalar}, not [begin, end]")))
    }
}

impl<'de> Visitor<'de> for OffsetsVisitor {
    type Value = Offsets;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[begin, end]")
    }

    visit_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Offsets, A::Error> {
        let mut numbers = Vec::with_capacity(2);
        let mut count = 0usize;
        let mut bad = None;
        while let Some(value) = seq.next_element::<Scalar>()? {
            count += 1;
            match value {
                Scalar::Uint(n) if numbers.len() < 2 => numbers.push(n),
                Scalar::Uint(_) => {}
                other => {
                    bad.get_or_insert_with(|| other.to_string());
                }
            }
        }
        Ok(Offsets(match (bad, numbers.as_slice()) {
            (Some(kind), _) => Err(format!("not integers (one is {kind})")),
            (None, &[begin, end]) if count == 2 => {
                if begin <= end {
                    Ok((begin, end))
                } else {
                    Err(format!("reversed: [{begin}, {end}]"))
                }
            }
            (None, _) => Err(format!("{count} numbers, not 2")),
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Offsets, A::Error> {
        skip_map(map)?;
        Ok(Offsets(Err("an object, not [begin, end]".to_owned())))
    }
}

impl<'de> Deserialize<'de> for Offsets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OffsetsVisitor)
    }
}

/// The fields of a tensor entry (other fields are ignored, as the `safetensors` crate does).
#[derive(Default)]
struct Entry {
    dtype: Option<Scalar>,
    shape: Option<Shape>,
    offsets: Option<Result<(u64, u64), String>>,
    duplicates: Vec<&'static str>,
}

/// A tensor entry, or the kind of JSON value found instead of an object.
struct EntryValue(Result<Entry, String>);

struct EntryVisitor;

impl EntryVisitor {
    fn scalar(self, scalar: Scalar) -> EntryValue {
        EntryValue(Err(scalar.to_string()))
    }
}

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = EntryValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor entry")
    }

    visit_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<EntryValue, A::Error> {
        skip_seq(seq)?;
        Ok(EntryValue(Err("an array".to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryValue, A::Error> {
        let mut entry = Entry::default();
        while let Some(key) = map.next_key::<String>()? {
            let field = match key.as_str() {
                "dtype" => {
                    let dtype = map.next_value::<Scalar>()?;
                    entry.dtype.replace(dtype).map(|_| "dtype")
                }
                "shape" => {
                    let shape = map.next_value::<Shape>()?;
                    entry.shape.replace(shape).map(|_| "shape")
                }
                "data_offsets" => {
                    let Offsets(offsets) = map.next_value::<Offsets>()?;
                    entry.offsets.replace(offsets).map(|_| "data_offsets")
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    None
                }
            };
            entry.duplicates.extend(field);
        }
        Ok(EntryValue(Ok(entry)))
    }
}

impl<'de> Deserialize<'de> for EntryValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}

/// The whole header: an object of tensor entries and an optional `__metadata__`.
struct HeaderSeed<'a, 'f>(&'a mut Header<'f>);

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header = self.0;
        // Name -> index of its span. Readers keep the last of duplicate keys silently, so the
        // layout is checked with the last one, and the duplicate itself is a finding.
        let mut seen: HashMap<String, Option<usize>> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let previous = seen.get(&key).copied();
            if previous.is_some() {
                header.findings.push(
                    HIGH,
                    "safetensors.duplicate_key",
                    format!(
                        "the header names \"{key}\" twice (readers silently keep the last one)"
                    ),
                    None,
                );
            }
            let index = if key == "__metadata__" {
                map.next_value_seed(MetadataSeed(header.findings))?;
                None
            } else {
                let EntryValue(entry) = map.next_value()?;
                let span = header.tensor(&key, entry);
                match previous.flatten() {
                    Some(index) => {
                        if let Some(slot) = header.tensors.get_mut(index) {
                            *slot = span;
                        }
                        Some(index)
                    }
                    None => {
                        header.tensors.push(span);
                        Some(header.tensors.len() - 1)
                    }
                }
            };
            seen.insert(key, index);
        }
        Ok(())
    }
}

/// `__metadata__`: an object of strings. Anything else is Medium: the `safetensors` crate
/// refuses it, but it holds no tensor.
struct MetadataSeed<'a>(&'a mut Findings);

impl MetadataSeed<'_> {
    fn scalar(self, scalar: Scalar) {
        self.0.push(
            Severity::Medium,
            "safetensors.metadata",
            format!("__metadata__ is {scalar}, not an object of strings"),
            None,
        );
    }
}

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    visit_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        skip_seq(seq)?;
        self.scalar(Scalar::Other("an array"));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let findings = self.0;
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Scalar>()?;
            if !matches!(value, Scalar::Str(_)) {
                findings.push(
                    Severity::Medium,
                    "safetensors.metadata",
                    format!("__metadata__ \"{key}\" is {value}, not a string"),
                    None,
                );
            }
            if !seen.insert(key.clone()) {
                findings.push(
                    HIGH,
                    "safetensors.duplicate_key",
                    format!("__metadata__ names \"{key}\" twice"),
                    None,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::scan::Verdict;

    /// A safetensors file: the header's length, the header, then `data_len` bytes of data.
    pub(crate) fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + data_len, 0x3f);
        bytes
    }

    const VALID: &str = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"scale":{"dtype":"F4","shape":[2, 1],"data_offsets":[22,23]},"empty":{"dtype":"I64","shape":[0,4],"data_offsets":[23,23]}}"#;

    /// Every crafted file of these tests, with the rules it must raise (a valid file, none).
    pub(crate) fn cases() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
        let entry = |name: &str, dtype: &str, shape: &str, begin: u64, end: u64| {
            format!(
                r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{begin},{end}]}}"#
            )
        };
        let a = entry("a", "F32", "[2,2]", 0, 16);
        let mut too_large = (SAFETENSORS_MAX_HEADER + 1).to_le_bytes().to_vec();
        too_large.extend_from_slice(b"{}");
        let mut longer = 100u64.to_le_bytes().to_vec();
        longer.extend_from_slice(br#"{"a":1}"#);
        let mut not_utf8 = file(r#"{"a":"x"}"#, 0);
        not_utf8[14] = 0xff;
        vec![
            ("valid", file(VALID, 23), vec![]),
            ("empty header", file("{}", 0), vec![]),
            ("padded header", file(&format!("{{{a}}}   "), 16), vec![]),
            (
                "shorter than 8 bytes",
                b"\x02\x00\x00".to_vec(),
                vec!["safetensors.too_small"],
            ),
            (
                "header too large",
                too_large,
                vec!["safetensors.header_too_large"],
            ),
            (
                "header longer than the file",
                longer,
                vec!["safetensors.header_length"],
            ),
            ("invalid UTF-8", not_utf8, vec!["safetensors.header_utf8"]),
            (
                "array header",
                file("[]", 0),
                vec!["safetensors.header_json"],
            ),
            (
                "not JSON",
                file("{\"a\":", 0),
                vec!["safetensors.header_json"],
            ),
            (
                "duplicate key",
                file(&format!("{{{a},{a}}}"), 16),
                vec!["safetensors.duplicate_key"],
            ),
            (
                "duplicate field",
                file(
                    r#"{"a":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                    16,
                ),
                vec!["safetensors.duplicate_key"],
            ),
            (
                "unknown dtype",
                file(&format!("{{{}}}", entry("a", "F31", "[2,2]", 0, 16)), 16),
                vec!["safetensors.unknown_dtype"],
            ),
            (
                "shape times dtype is not the span",
                file(&format!("{{{}}}", entry("a", "F32", "[2,3]", 0, 16)), 16),
                vec!["safetensors.size_mismatch"],
            ),
            (
                "sub-byte tensor of a fractional size",
                file(&format!("{{{}}}", entry("a", "F4", "[3]", 0, 2)), 2),
                vec!["safetensors.size_mismatch"],
            ),
            (
                "overflowing shape",
                file(
                    &format!(
                        "{{{}}}",
                        entry("a", "F32", "[4294967296,4294967296,16]", 0, 16)
                    ),
                    16,
                ),
                vec!["safetensors.overflow"],
            ),
            (
                "overflowing size",
                file(
                    &format!("{{{}}}", entry("a", "F64", "[4611686018427387904]", 0, 16)),
                    16,
                ),
                vec!["safetensors.overflow"],
            ),
            (
                "negative dimension",
                file(&format!("{{{}}}", entry("a", "F32", "[-1,4]", 0, 16)), 16),
                vec!["safetensors.bad_entry"],
            ),
            (
                "missing offsets",
                file(r#"{"a":{"dtype":"F32","shape":[4]}}"#, 0),
                vec!["safetensors.bad_entry"],
            ),
            (
                "reversed offsets",
                file(&format!("{{{}}}", entry("a", "F32", "[]", 8, 4)), 0),
                vec!["safetensors.bad_entry"],
            ),
            (
                "entry not an object",
                file(r#"{"a":[1,2]}"#, 0),
                vec!["safetensors.bad_entry"],
            ),
            (
                "hole",
                file(&format!("{{{a},{}}}", entry("b", "F32", "[4]", 20, 36)), 36),
                vec!["safetensors.hole"],
            ),
            (
                "overlap",
                file(&format!("{{{a},{}}}", entry("b", "F32", "[4]", 8, 24)), 24),
                vec!["safetensors.overlap"],
            ),
            (
                "offsets not starting at 0",
                file(&format!("{{{}}}", entry("a", "F32", "[4]", 4, 20)), 20),
                vec!["safetensors.hole"],
            ),
            (
                "trailing bytes",
                file(&format!("{{{a}}}"), 20),
                vec!["safetensors.trailing_bytes"],
            ),
            (
                "truncated",
                file(&format!("{{{a}}}"), 10),
                vec!["safetensors.truncated"],
            ),
            (
                "metadata not strings",
                file(r#"{"__metadata__":{"epochs":3,"name":"x"}}"#, 0),
                vec!["safetensors.metadata"],
            ),
            (
                "metadata not an object",
                file(r#"{"__metadata__":"pt"}"#, 0),
                vec!["safetensors.metadata"],
            ),
        ]
    }

    fn scan(bytes: &[u8]) -> Vec<Finding> {
        let wanted = match <[u8; 8]>::try_from(bytes.get(..8).unwrap_or_default()) {
            Ok(first8) => usize::try_from(safetensors_prefix_len(first8)).unwrap(),
            Err(_) => bytes.len(),
        };
        scan_safetensors_prefix(&bytes[..wanted.min(bytes.len())], bytes.len() as u64)
    }

    #[test]
    fn each_crafted_file_raises_its_rule() {
        for (case, bytes, expected) in cases() {
            let findings = scan(&bytes);
            let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
            assert_eq!(rules, expected, "{case}: {findings:?}");
        }
    }

    #[test]
    fn severities_and_verdicts() {
        for (case, bytes, expected) in cases() {
            let verdict = Verdict::from_findings(&scan(&bytes));
            let wanted = match expected.as_slice() {
                [] => Verdict::Clean,
                ["safetensors.metadata"] => Verdict::Suspicious,
                _ => Verdict::Dangerous,
            };
            assert_eq!(verdict, wanted, "{case}");
        }
        let mut too_large = u64::MAX.to_le_bytes().to_vec();
        too_large.push(b'{');
        assert_eq!(scan(&too_large)[0].severity, Severity::Critical);
    }

    #[test]
    fn messages_name_the_tensor_and_the_offsets() {
        let header = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[20,36]}}"#;
        let findings = scan(&file(header, 36));
        assert_eq!(
            findings[0].message,
            "bytes 16..20 of the data section belong to no tensor (between \"a\" and \"b\")"
        );
        assert_eq!(
            findings[0].location,
            Some(format!("byte {}", 8 + header.len() + 20))
        );
        let findings = scan(&file(
            r#"{"w":{"dtype":"Q8","shape":[],"data_offsets":[0,0]}}"#,
            0,
        ));
        assert_eq!(
            findings[0].message,
            "tensor \"w\" has the unknown dtype \"Q8\""
        );
    }

    #[test]
    fn the_last_of_duplicate_entries_is_laid_out() {
        // Readers keep the last "a"; its span, not the first one's, must tile the data.
        let header = r#"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let rules: Vec<String> = scan(&file(header, 16))
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, ["safetensors.duplicate_key"]);
    }

    #[test]
    fn prefix_length() {
        assert_eq!(safetensors_prefix_len(100u64.to_le_bytes()), 108);
        assert_eq!(safetensors_prefix_len(u64::MAX.to_le_bytes()), 8);
        assert_eq!(
            safetensors_prefix_len(SAFETENSORS_MAX_HEADER.to_le_bytes()),
            8 + SAFETENSORS_MAX_HEADER
        );
        // A prefix shorter than the header it declares is reported, not trusted.
        let bytes = file(VALID, 23);
        let findings = scan_safetensors_prefix(&bytes[..20], bytes.len() as u64);
        assert_eq!(findings[0].rule, "safetensors.header_length");
    }

    #[test]
    fn many_bad_entries_are_summarized() {
        let entries: Vec<String> = (0..100)
            .map(|i| format!(r#""t{i}":{{"dtype":"X","shape":[],"data_offsets":[0,0]}}"#))
            .collect();
        let findings = scan(&file(&format!("{{{}}}", entries.join(",")), 0));
        assert_eq!(findings.len(), Findings::PER_RULE + 1);
        let summary = findings.last().unwrap();
        assert_eq!(summary.rule, "safetensors.unknown_dtype");
        assert_eq!(summary.severity, Severity::High);
        assert!(
            summary.message.starts_with("80 more"),
            "{}",
            summary.message
        );
    }
}
