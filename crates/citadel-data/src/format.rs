//! Input formats (JSONL, CSV, Parquet) read as a stream of JSON-object rows in bounded memory.
//!
//! Every reader is an `Iterator<Item = Result<Row>>` that holds one record at a time (Parquet: one
//! page per column). After the first error a reader yields `None`: inputs are taken whole or not
//! at all.

mod csv_rows;
mod jsonl;
mod parquet_rows;

use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::str::FromStr;

use serde_json::{Number, Value};

pub use csv_rows::CsvReader;
pub use jsonl::JsonlReader;
pub use parquet_rows::ParquetReader;

use crate::error::{DataError, Result};

/// One dataset row: a JSON object (values may nest).
pub type Row = serde_json::Map<String, Value>;

/// The default and stored-row limit on one record: 16 MiB.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// A supported input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
}

impl Format {
    /// The format named by a path's extension (case-insensitive).
    pub fn from_path_extension(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(DataError::UnknownExtension {
                path: path.display().to_string(),
            }),
        }
    }

    /// The format's lower-case name, as [`FromStr`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(DataError::parse(
                "format",
                s,
                "expected jsonl, csv or parquet",
            )),
        }
    }
}

/// Rows from any supported input: pick the format, then iterate.
#[derive(Debug)]
pub struct RowReader {
    inner: Inner,
}

enum Inner {
    Jsonl(JsonlReader<Box<dyn BufRead + Send>>),
    Csv(CsvReader<Box<dyn BufRead + Send>>),
    Parquet(ParquetReader),
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inner::Jsonl(r) => r.fmt(f),
            Inner::Csv(r) => r.fmt(f),
            Inner::Parquet(r) => r.fmt(f),
        }
    }
}

impl RowReader {
    /// Opens a file in the given format.
    pub fn open(path: &Path, format: Format) -> Result<RowReader> {
        let inner = match format {
            Format::Parquet => Inner::Parquet(ParquetReader::open(path)?),
            Format::Jsonl | Format::Csv => {
                let file = std::fs::File::open(path)?;
                return RowReader::from_buf_read(std::io::BufReader::new(file), format);
            }
        };
        Ok(RowReader { inner })
    }

    /// Reads a stream (a file, stdin, a decrypting reader) in JSONL or CSV; Parquet needs
    /// [`RowReader::open`] because it is read from its footer.
    pub fn from_buf_read(
        input: impl BufRead + Send + 'static,
        format: Format,
    ) -> Result<RowReader> {
        let input: Box<dyn BufRead + Send> = Box::new(input);
        let inner = match format {
            Format::Jsonl => Inner::Jsonl(JsonlReader::new(input)),
            Format::Csv => Inner::Csv(CsvReader::new(input)),
            Format::Parquet => return Err(DataError::ParquetNeedsFile),
        };
        Ok(RowReader { inner })
    }
}

impl Iterator for RowReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        match &mut self.inner {
            Inner::Jsonl(r) => r.next(),
            Inner::Csv(r) => r.next(),
            Inner::Parquet(r) => r.next(),
        }
    }
}

/// Types a text value the way CSV cells and `COLUMN=VALUE` conditions are typed.
///
/// Empty → null; `true`/`false` (any case) → boolean; a decimal integer that fits in 64 bits and
/// has no leading zero or `+` → integer; a finite decimal number with a `.` or exponent → float;
/// anything else (including `007`, `NaN`, `1_000`) → the string itself, so no text is altered.
pub fn typed_value(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if let Some(number) = number_from_text(text) {
        return Value::Number(number);
    }
    Value::String(text.to_owned())
}

pub(crate) fn number_from_text(text: &str) -> Option<Number> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || (int_part.len() > 1 && int_part.starts_with('0')) {
        return None;
    }
    if frac_part.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    if let Some(exp) = exponent {
        let digits = exp.strip_prefix(['-', '+']).unwrap_or(exp);
        if !all_digits(digits) {
            return None;
        }
    }
    if frac_part.is_none() && exponent.is_none() {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::from(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Number::from(u));
        }
        // Integers past 64 bits would lose digits as floats: keep them as text.
        return None;
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// The name of a JSON value's kind, for error messages.
pub(crate) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn format_from_extension_and_name() {
        assert_eq!(
            Format::from_path_extension(Path::new("a/b.JSONL")).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::from_path_extension(Path::new("x.ndjson")).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::from_path_extension(Path::new("x.csv")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::from_path_extension(Path::new("x.parquet")).unwrap(),
            Format::Parquet
        );
        let err = Format::from_path_extension(Path::new("x.txt")).unwrap_err();
        assert!(err.to_string().contains("x.txt"), "{err}");
        assert!(Format::from_path_extension(Path::new("noext")).is_err());

        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
        assert_eq!("parquet".parse::<Format>().unwrap(), Format::Parquet);
        for f in [Format::Jsonl, Format::Csv, Format::Parquet] {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        let err = "xlsx".parse::<Format>().unwrap_err().to_string();
        assert!(
            err.contains("xlsx") && err.contains("jsonl, csv or parquet"),
            "{err}"
        );
    }

    #[test]
    fn text_typing() {
        assert_eq!(typed_value(""), Value::Null);
        assert_eq!(typed_value("true"), json!(true));
        assert_eq!(typed_value("FALSE"), json!(false));
        assert_eq!(typed_value("42"), json!(42));
        assert_eq!(typed_value("-7"), json!(-7));
        assert_eq!(typed_value("0"), json!(0));
        assert_eq!(typed_value("18446744073709551615"), json!(u64::MAX));
        assert_eq!(
            typed_value("123456789012345678901234567890"),
            json!("123456789012345678901234567890")
        );
        assert_eq!(typed_value("3.5"), json!(3.5));
        assert_eq!(typed_value("-0.25"), json!(-0.25));
        assert_eq!(typed_value("1e3"), json!(1000.0));
        assert_eq!(typed_value("2.5E-1"), json!(0.25));
        // Text that merely looks numeric stays text, unaltered.
        for s in [
            "007", "+5", "NaN", "inf", "1_000", ".5", "5.", "1e", "0x10", " 42", "12a", "-",
            "1.2.3", "tru", "00.5",
        ] {
            assert_eq!(typed_value(s), json!(s), "{s}");
        }
    }

    /// Deterministic pseudo-random bytes, biased towards JSON and CSV punctuation.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"{}[]\",:\\\n\r 0123456789.eE-+tfnulrsa\xc3\xa9\xff";
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ALPHABET[(state % ALPHABET.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn random_input_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        for seed in 0..300 {
            let bytes = noise(seed, 1 + (seed as usize * 37) % 600);
            let mut prefixed = b"{\"a\":".to_vec();
            prefixed.extend_from_slice(&bytes);
            for input in [bytes.clone(), prefixed] {
                for format in [Format::Jsonl, Format::Csv] {
                    let reader =
                        RowReader::from_buf_read(std::io::Cursor::new(input.clone()), format);
                    let results: Vec<_> = reader.unwrap().collect();
                    // At most one error, and only as the last item.
                    let errors = results.iter().filter(|r| r.is_err()).count();
                    assert!(errors <= 1);
                    if errors == 1 {
                        assert!(results.last().unwrap().is_err());
                    }
                }
            }
            if seed % 10 == 0 {
                let path = dir.path().join("noise.parquet");
                let mut file = b"PAR1".to_vec();
                file.extend_from_slice(&bytes);
                file.extend_from_slice(&(bytes.len() as u32 / 2).to_le_bytes());
                file.extend_from_slice(b"PAR1");
                std::fs::write(&path, &file).unwrap();
                if let Ok(reader) = RowReader::open(&path, Format::Parquet) {
                    let _ = reader.count();
                }
            }
        }
    }

    #[test]
    fn row_reader_from_stream_and_file() {
        let rows: Vec<Row> =
            RowReader::from_buf_read(&b"{\"a\":1}\n{\"a\":2}\n"[..], Format::Jsonl)
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["a"], json!(2));

        let rows: Vec<Row> = RowReader::from_buf_read(&b"a,b\n1,x\n"[..], Format::Csv)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![json!({"a": 1, "b": "x"}).as_object().unwrap().clone()]
        );

        let err = RowReader::from_buf_read(&b""[..], Format::Parquet).unwrap_err();
        assert!(matches!(err, DataError::ParquetNeedsFile));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "x\nhello\n").unwrap();
        let rows: Vec<Row> = RowReader::open(&path, Format::Csv)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(rows[0]["x"], json!("hello"));
        let missing = RowReader::open(&dir.path().join("nope.jsonl"), Format::Jsonl).unwrap_err();
        assert!(matches!(missing, DataError::Io { .. }));
    }
}
