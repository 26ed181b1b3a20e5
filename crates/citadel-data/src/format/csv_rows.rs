//! CSV with a header row: each record becomes a row of typed values ([`super::typed_value`]).

use std::fmt;
use std::io::{self, Read};

use super::{typed_value, Row, MAX_RECORD_BYTES};
use crate::error::{DataError, Result};

/// How far the CSV parser may read ahead of the record it is assembling.
const READ_AHEAD: u64 = 64 << 10;

/// Reads rows from CSV: the first record names the columns, later records become rows.
///
/// Cells are typed by [`super::typed_value`] (empty → null, integers, floats, booleans, else text).
/// An empty header cell is named `column_N` (1-based position, as pandas writes its index);
/// a repeated header name, a record with a different number of cells, or a record longer than the
/// limit is an error naming the line. The reader yields nothing after an error.
pub struct CsvReader<R> {
    reader: csv::Reader<Counted<R>>,
    columns: Option<Vec<String>>,
    record: csv::StringRecord,
    max_record_bytes: usize,
    done: bool,
}

impl<R> fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvReader")
            .field("columns", &self.columns)
            .field("max_record_bytes", &self.max_record_bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Counts bytes read since the last record ended, refusing to read on past the limit.
struct Counted<R> {
    inner: R,
    since_record: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.since_record > self.limit {
            self.exceeded = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "CSV record longer than the limit",
            ));
        }
        let n = self.inner.read(buf)?;
        self.since_record += n as u64;
        Ok(n)
    }
}

impl<R: Read> CsvReader<R> {
    /// A reader with the default record limit, [`MAX_RECORD_BYTES`].
    pub fn new(input: R) -> Self {
        let counted = Counted {
            inner: input,
            since_record: 0,
            limit: MAX_RECORD_BYTES as u64 + READ_AHEAD,
            exceeded: false,
        };
        CsvReader {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(counted),
            columns: None,
            record: csv::StringRecord::new(),
            max_record_bytes: MAX_RECORD_BYTES,
            done: false,
        }
    }

    /// Sets the longest accepted record, in bytes (enforced within 64 KiB of read-ahead).
    pub fn with_max_record_bytes(mut self, max_record_bytes: usize) -> Self {
        self.max_record_bytes = max_record_bytes;
        self.reader.get_mut().limit = max_record_bytes as u64 + READ_AHEAD;
        self
    }

    /// Reads one record into `self.record`; `false` at the end of input.
    fn read_record(&mut self) -> Result<bool> {
        match self.reader.read_record(&mut self.record) {
            Ok(more) => {
                self.reader.get_mut().since_record = 0;
                Ok(more)
            }
            Err(_) if self.reader.get_ref().exceeded => Err(DataError::RecordTooLong {
                line: self.reader.position().line(),
                limit: self.max_record_bytes,
            }),
            Err(source) => Err(DataError::Csv { source }),
        }
    }

    fn header(&mut self) -> Result<Vec<String>> {
        if !self.read_record()? {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = Vec::with_capacity(self.record.len());
        for (i, cell) in self.record.iter().enumerate() {
            let cell = if i == 0 {
                cell.trim_start_matches('\u{feff}')
            } else {
                cell
            };
            let name = if cell.is_empty() {
                format!("column_{}", i + 1)
            } else {
                cell.to_owned()
            };
            if let Some(first) = names.iter().position(|n| *n == name) {
                return Err(DataError::CsvHeader {
                    reason: format!(
                        "column `{name}` appears twice (positions {} and {}); rename one",
                        first + 1,
                        i + 1
                    ),
                });
            }
            names.push(name);
        }
        Ok(names)
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let columns = match self.columns.take() {
            Some(columns) => columns,
            None => self.header()?,
        };
        let more = self.read_record();
        let result = match more {
            Ok(true) => {
                let mut row = Row::new();
                for (name, cell) in columns.iter().zip(self.record.iter()) {
                    row.insert(name.clone(), typed_value(cell));
                }
                Ok(Some(row))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        self.columns = Some(columns);
        result
    }
}

impl<R: Read> Iterator for CsvReader<R> {
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
    use serde_json::{json, Value};

    fn rows(input: &str) -> Vec<Value> {
        CsvReader::new(input.as_bytes())
            .map(|r| Value::Object(r.unwrap()))
            .collect()
    }

    #[test]
    fn header_names_columns_and_cells_are_typed() {
        let out = rows(
            "\u{feff}id,name,score,active,zip,note\n\
             1,Ann,3.5,true,02134,\n\
             2,\"Smith, Bob\",-2,FALSE,10001,\"say \"\"hi\"\"\"\n",
        );
        assert_eq!(
            out,
            vec![
                json!({"id":1,"name":"Ann","score":3.5,"active":true,"zip":"02134","note":null}),
                json!({"id":2,"name":"Smith, Bob","score":-2,"active":false,"zip":10001,"note":"say \"hi\""}),
            ]
        );
    }

    #[test]
    fn empty_input_and_header_only_give_no_rows() {
        assert!(rows("").is_empty());
        assert!(rows("a,b\n").is_empty());
    }

    #[test]
    fn empty_header_cells_are_named_by_position() {
        let out = rows(",a,\n0,x,y\n");
        assert_eq!(out, vec![json!({"column_1":0,"a":"x","column_3":"y"})]);
    }

    #[test]
    fn duplicate_header_is_refused() {
        let err = CsvReader::new(&b"a,b,a\n1,2,3\n"[..])
            .next()
            .unwrap()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`a` appears twice (positions 1 and 3)"),
            "{msg}"
        );
    }

    #[test]
    fn ragged_record_names_its_line_and_stops() {
        let mut reader = CsvReader::new(&b"a,b\n1,2\n3\n4,5\n"[..]);
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err();
        assert!(matches!(err, DataError::Csv { .. }), "{err:?}");
        assert!(err.to_string().contains("line: 3"), "{err}");
        assert!(reader.next().is_none());
    }

    #[test]
    fn invalid_utf8_is_an_error_with_its_line() {
        let mut reader = CsvReader::new(&b"a\nok\n\xff\xfe\n"[..]);
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn overlong_record_is_refused_with_its_line() {
        let limit = 1000;
        let big = format!("a,b\n1,2\n3,\"{}\"\n5,6\n", "x".repeat(200_000));
        let mut reader = CsvReader::new(big.as_bytes()).with_max_record_bytes(limit);
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                DataError::RecordTooLong {
                    line: 3,
                    limit: 1000
                }
            ),
            "{err:?}"
        );
        // Records under the limit pass, however many there are.
        let many = format!("a\n{}", "0123456789\n".repeat(50_000));
        let read: Vec<Row> = CsvReader::new(many.as_bytes())
            .with_max_record_bytes(limit)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(read.len(), 50_000);
    }
}
