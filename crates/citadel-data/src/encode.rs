//! The stored form of a version's rows: canonical JSONL, written with its count, digest and schema.
//!
//! Canonical means one compact JSON object per line, `\n`-terminated, object keys sorted by their
//! UTF-8 bytes at every depth, numbers and strings as `serde_json` writes them. The same rows
//! always give the same bytes, so the SHA-256 of the plaintext identifies a version's content.

use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DataError, Result};
use crate::format::{JsonlReader, Row, MAX_RECORD_BYTES};
use crate::schema::{Schema, SchemaBuilder};

/// What a [`RowWriter`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodeSummary {
    /// Rows written.
    pub rows: u64,
    /// Plaintext bytes written.
    pub bytes: u64,
    /// SHA-256 of the plaintext, lower-case hex.
    pub sha256: String,
    /// The schema inferred from the rows written.
    pub schema: Schema,
}

/// Writes rows in canonical JSONL to `W`, counting, hashing and inferring the schema on the way.
///
/// Output is buffered; call [`RowWriter::finish`] to flush it and get the summary. A row whose
/// encoding exceeds [`MAX_RECORD_BYTES`] is refused so that [`StoredRows`] can always read back
/// what was written.
pub struct RowWriter<W: Write> {
    out: BufWriter<W>,
    hasher: digest::Context,
    schema: SchemaBuilder,
    rows: u64,
    bytes: u64,
    line: Vec<u8>,
}

impl<W: Write> fmt::Debug for RowWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowWriter")
            .field("rows", &self.rows)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<W: Write> RowWriter<W> {
    /// A writer into `out` (which need not be buffered).
    pub fn new(out: W) -> Self {
        RowWriter {
            out: BufWriter::with_capacity(256 << 10, out),
            hasher: digest::Context::new(&digest::SHA256),
            schema: SchemaBuilder::new(),
            rows: 0,
            bytes: 0,
            line: Vec::new(),
        }
    }

    /// Appends one row.
    pub fn write_row(&mut self, row: &Row) -> Result<()> {
        let number = self.rows + 1;
        self.line.clear();
        write_object(&mut self.line, row)?;
        if self.line.len() > MAX_RECORD_BYTES {
            return Err(DataError::RowTooLarge {
                row: number,
                bytes: self.line.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        self.schema.observe(row)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.hasher.update(&self.line);
        self.rows = number;
        self.bytes += self.line.len() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes the output and returns it with the summary of what was written.
    pub fn finish(self) -> Result<(W, EncodeSummary)> {
        let out = self
            .out
            .into_inner()
            .map_err(|e| DataError::from(e.into_error()))?;
        let summary = EncodeSummary {
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finish().as_ref()),
            schema: self.schema.finish(),
        };
        Ok((out, summary))
    }
}

/// Encodes one row canonically (without the line end).
pub fn encode_row(row: &Row) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_object(&mut out, row)?;
    Ok(out)
}

fn write_object(out: &mut Vec<u8>, map: &serde_json::Map<String, Value>) -> Result<()> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).map_err(io::Error::from)?;
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<()> {
    match value {
        Value::Object(map) => write_object(out, map),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
            Ok(())
        }
        scalar => Ok(serde_json::to_writer(&mut *out, scalar).map_err(io::Error::from)?),
    }
}

/// Reads back rows written by a [`RowWriter`] (after decryption), one at a time.
#[derive(Debug)]
pub struct StoredRows<R> {
    lines: JsonlReader<R>,
}

impl<R: BufRead> StoredRows<R> {
    /// Reads stored rows from `input`.
    pub fn new(input: R) -> Self {
        StoredRows {
            lines: JsonlReader::new(input),
        }
    }
}

impl<R: BufRead> Iterator for StoredRows<R> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        self.lines.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataType;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn canonical_bytes_sort_keys_at_every_depth() {
        let a = row(json!({"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": "é\"\n"}, "A": null}));
        assert_eq!(
            String::from_utf8(encode_row(&a).unwrap()).unwrap(),
            r#"{"A":null,"a":{"c":"é\"\n","z":[3,{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn writer_counts_hashes_and_infers_then_reads_back() {
        let rows = vec![
            row(json!({"id": 1, "email": "a@b.c"})),
            row(json!({"id": 2, "email": null, "score": 0.5})),
        ];
        let mut w = RowWriter::new(Vec::new());
        for r in &rows {
            w.write_row(r).unwrap();
        }
        assert_eq!(w.rows(), 2);
        let (bytes, summary) = w.finish().unwrap();
        let expected = "{\"email\":\"a@b.c\",\"id\":1}\n{\"email\":null,\"id\":2,\"score\":0.5}\n";
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(summary.rows, 2);
        assert_eq!(summary.bytes, expected.len() as u64);
        assert_eq!(
            summary.sha256,
            hex::encode(digest::digest(&digest::SHA256, expected.as_bytes()).as_ref())
        );
        assert_eq!(
            summary.schema.column("email").unwrap().data_type,
            DataType::String
        );
        assert!(summary.schema.column("email").unwrap().nullable);
        assert!(summary.schema.column("score").unwrap().nullable);

        let back: Vec<Row> = StoredRows::new(&bytes[..]).map(Result::unwrap).collect();
        assert_eq!(back, rows);

        // Same rows, same digest.
        let mut again = RowWriter::new(Vec::new());
        for r in &back {
            again.write_row(r).unwrap();
        }
        assert_eq!(again.finish().unwrap().1.sha256, summary.sha256);
    }

    #[test]
    fn empty_output_has_the_empty_digest() {
        let (bytes, summary) = RowWriter::new(Vec::new()).finish().unwrap();
        assert!(bytes.is_empty());
        assert_eq!(summary.rows, 0);
        assert_eq!(
            summary.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn oversized_row_is_refused_and_nothing_is_written() {
        let mut w = RowWriter::new(Vec::new());
        w.write_row(&row(json!({"a": 1}))).unwrap();
        let big = row(json!({"a": "x".repeat(MAX_RECORD_BYTES)}));
        let err = w.write_row(&big).unwrap_err();
        assert!(
            matches!(err, DataError::RowTooLarge { row: 2, .. }),
            "{err:?}"
        );
        let (bytes, summary) = w.finish().unwrap();
        assert_eq!(summary.rows, 1);
        assert_eq!(bytes, b"{\"a\":1}\n");
    }

    #[test]
    fn write_errors_surface() {
        #[derive(Debug)]
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::other("disk full"))
            }
        }
        let mut w = RowWriter::new(Broken);
        w.write_row(&row(json!({"a": 1}))).unwrap();
        let err = w.finish().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
