//! JSONL: one JSON object per line; blank lines skipped; lines longer than a limit refused.

use std::fmt;
use std::io::{BufRead, Read};

use serde_json::Value;

use super::{kind_name, Row, MAX_RECORD_BYTES};
use crate::error::{DataError, Result};

/// Reads JSON-object rows from JSONL, one line at a time.
///
/// Accepts `\n` or `\r\n` line ends, a UTF-8 byte-order mark on the first line and a last line
/// without a newline. A line that is not one JSON object, or longer than the limit, is an error
/// naming its 1-based line number; the reader yields nothing after an error.
pub struct JsonlReader<R> {
    input: R,
    line: u64,
    max_line_bytes: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R> fmt::Debug for JsonlReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlReader")
            .field("line", &self.line)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader with the default line limit, [`MAX_RECORD_BYTES`].
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            line: 0,
            max_line_bytes: MAX_RECORD_BYTES,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Sets the longest accepted line, in bytes (without its line end).
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next line into `buf` without its line end; `false` at the end of input.
    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        // One byte past the limit (plus the newline) is enough to know a line is too long.
        let cap = self.max_line_bytes as u64 + 2;
        let n = (&mut self.input)
            .take(cap)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        let complete = self.buf.last() == Some(&b'\n');
        if complete {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max_line_bytes {
            return Err(DataError::RecordTooLong {
                line: self.line,
                limit: self.max_line_bytes,
            });
        }
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        Ok(true)
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = self.line;
            let value: Value = serde_json::from_slice(&self.buf)
                .map_err(|source| DataError::InvalidJson { line, source })?;
            return match value {
                Value::Object(row) => Ok(Some(row)),
                other => Err(DataError::NotAnObject {
                    line,
                    found: kind_name(&other),
                }),
            };
        }
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        if self.done {
            return None;
        }
        let item = self.next_row().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(input: &[u8]) -> Vec<Result<Row>> {
        JsonlReader::new(input).collect()
    }

    #[test]
    fn reads_objects_skipping_blank_lines() {
        let input = b"\xEF\xBB\xBF{\"a\":1,\"b\":{\"c\":[1,2]}}\r\n\n   \n{\"a\":\"x\"}";
        let rows: Vec<Row> = read_all(input).into_iter().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            Value::Object(rows[0].clone()),
            json!({"a":1,"b":{"c":[1,2]}})
        );
        assert_eq!(rows[1]["a"], json!("x"));
        assert!(read_all(b"").is_empty());
        assert!(read_all(b"\n\n").is_empty());
    }

    #[test]
    fn non_object_line_names_its_line_and_stops() {
        let out = read_all(b"{\"a\":1}\n\n[1,2]\n{\"a\":2}\n");
        assert_eq!(out.len(), 2, "the reader stops after the first error");
        assert!(out[0].is_ok());
        let err = out[1].as_ref().unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotAnObject {
                    line: 3,
                    found: "an array"
                }
            ),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("line 3: expected a JSON object, found an array"));
    }

    #[test]
    fn invalid_json_names_its_line() {
        for (input, line) in [
            (&b"{\"a\":1}\n{\"a\":\n"[..], 2),
            (&b"{\"a\":1} trailing\n"[..], 1),
            (&b"\n\n\n{\"s\":\"\xff\"}\n"[..], 4),
        ] {
            let out = read_all(input);
            let err = out.last().unwrap().as_ref().unwrap_err();
            match err {
                DataError::InvalidJson { line: l, .. } => assert_eq!(*l, line),
                other => panic!("expected invalid JSON, got {other:?}"),
            }
            assert!(err
                .to_string()
                .starts_with(&format!("line {line}: invalid JSON")));
        }
    }

    #[test]
    fn line_limit_is_exact_and_refuses_longer_lines() {
        let ok = b"{\"a\":\"xyz\"}\n"; // 11 bytes before the newline
        let rows: Vec<_> = JsonlReader::new(&ok[..]).with_max_line_bytes(11).collect();
        assert!(rows[0].is_ok());
        let crlf = b"{\"a\":\"xyz\"}\r\n";
        let rows: Vec<_> = JsonlReader::new(&crlf[..])
            .with_max_line_bytes(11)
            .collect();
        assert!(rows[0].is_ok(), "{rows:?}");

        let long = format!(
            "{{\"a\":1}}\n{{\"a\":\"{}\"}}\n{{\"a\":3}}\n",
            "x".repeat(100)
        );
        let out: Vec<_> = JsonlReader::new(long.as_bytes())
            .with_max_line_bytes(50)
            .collect();
        assert_eq!(out.len(), 2);
        let err = out[1].as_ref().unwrap_err();
        assert!(
            matches!(err, DataError::RecordTooLong { line: 2, limit: 50 }),
            "{err:?}"
        );
        // Without a trailing newline too.
        let out: Vec<_> = JsonlReader::new("x".repeat(60).as_bytes())
            .with_max_line_bytes(50)
            .collect();
        assert!(matches!(
            out[0],
            Err(DataError::RecordTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}\n", "[".repeat(10_000), "]".repeat(10_000));
        let out = read_all(deep.as_bytes());
        assert!(matches!(
            out[0],
            Err(DataError::InvalidJson { line: 1, .. })
        ));
    }
}
