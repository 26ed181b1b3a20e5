//! Parquet through the `parquet` crate's record API (no Arrow), each record turned into JSON.
//!
//! Value mapping: integers and booleans as themselves; floats as numbers (NaN and infinities become
//! null, which JSON cannot hold); decimals as exact decimal strings; UTF-8 as strings; other binary
//! as a string when it is valid UTF-8 (old writers omit the annotation), else standard base64;
//! dates as `YYYY-MM-DD`; times as `HH:MM:SS.ffffff`; timestamps as RFC 3339 UTC; structs as
//! objects; lists as arrays; maps with string keys as objects, other maps as arrays of
//! `{"key","value"}`.

use std::fmt;
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use base64::Engine as _;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use serde_json::{Number, Value};
use time::{Date, OffsetDateTime, Time};

use super::Row;
use crate::error::{DataError, Result};

/// Unix epoch as a Julian day number.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// Reads the rows of a Parquet file one at a time (decoding one page per column at a time).
///
/// The `parquet` crate can fail on malformed files by panicking; this reader turns such a failure
/// into [`DataError::ParquetMalformed`] and yields nothing after it.
pub struct ParquetReader {
    rows: RowIter<'static>,
    total_rows: u64,
    row: u64,
    done: bool,
}

impl fmt::Debug for ParquetReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetReader")
            .field("total_rows", &self.total_rows)
            .field("row", &self.row)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ParquetReader {
    /// Opens a Parquet file and reads its footer.
    pub fn open(path: &Path) -> Result<ParquetReader> {
        let file = File::open(path)?;
        let opened = catch_unwind(AssertUnwindSafe(|| {
            SerializedFileReader::new(file).map(|reader| {
                let total_rows = reader.metadata().file_metadata().num_rows();
                (RowIter::from_file_into(Box::new(reader)), total_rows)
            })
        }));
        match opened {
            Ok(Ok((rows, total_rows))) => Ok(ParquetReader {
                rows,
                total_rows: u64::try_from(total_rows).unwrap_or(0),
                row: 0,
                done: false,
            }),
            Ok(Err(source)) => Err(DataError::Parquet { source }),
            Err(_) => Err(DataError::ParquetMalformed { row: 0 }),
        }
    }

    /// The row count the file's footer declares (for progress display; not trusted for limits).
    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }
}

impl Iterator for ParquetReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        if self.done {
            return None;
        }
        self.row += 1;
        let item = match catch_unwind(AssertUnwindSafe(|| self.rows.next())) {
            Ok(Some(Ok(record))) => Some(Ok(record
                .get_column_iter()
                .map(|(name, field)| (name.clone(), field_to_json(field)))
                .collect())),
            Ok(Some(Err(source))) => Some(Err(DataError::Parquet { source })),
            Ok(None) => None,
            Err(_) => Some(Err(DataError::ParquetMalformed { row: self.row })),
        };
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn date(days: i32) -> Value {
    UNIX_EPOCH_JULIAN_DAY
        .checked_add(days)
        .and_then(|julian| Date::from_julian_day(julian).ok())
        .map_or(Value::from(days), |d| Value::String(d.to_string()))
}

fn time_of_day(micros: i64) -> Value {
    let time = u64::try_from(micros).ok().and_then(|m| {
        let secs = m / 1_000_000;
        let (h, mi, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        Time::from_hms_micro(
            u8::try_from(h).ok()?,
            mi as u8,
            s as u8,
            (m % 1_000_000) as u32,
        )
        .ok()
    });
    match time {
        Some(t) => Value::String(format!(
            "{:02}:{:02}:{:02}.{:06}",
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )),
        None => Value::from(micros),
    }
}

fn timestamp(nanos: i128, raw: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::from(raw), Value::String)
}

fn field_to_json(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float16(f) => float(f.to_f64()),
        Field::Float(f) => float(f64::from(*f)),
        Field::Double(f) => float(*f),
        Field::Decimal(_) => Value::String(field.to_string()),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes.data())),
        },
        Field::Date(days) => date(*days),
        Field::TimeMillis(ms) => time_of_day(i64::from(*ms) * 1000),
        Field::TimeMicros(us) => time_of_day(*us),
        Field::TimestampMillis(ms) => timestamp(i128::from(*ms) * 1_000_000, *ms),
        Field::TimestampMicros(us) => timestamp(i128::from(*us) * 1000, *us),
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, value)| (name.clone(), field_to_json(value)))
                .collect(),
        ),
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(field_to_json).collect())
        }
        Field::MapInternal(map) => {
            let entries = map.entries();
            if entries.iter().all(|(k, _)| matches!(k, Field::Str(_))) {
                Value::Object(
                    entries
                        .iter()
                        .filter_map(|(k, v)| match k {
                            Field::Str(k) => Some((k.clone(), field_to_json(v))),
                            _ => None,
                        })
                        .collect(),
                )
            } else {
                Value::Array(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let mut pair = serde_json::Map::new();
                            pair.insert("key".into(), field_to_json(k));
                            pair.insert("value".into(), field_to_json(v));
                            Value::Object(pair)
                        })
                        .collect(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use serde_json::json;
    use std::sync::Arc;

    /// Writes a two-row-group file with required, optional, logical-type and nested columns.
    fn write_fixture(path: &Path, compression: parquet::basic::Compression) {
        let schema = Arc::new(
            parse_message_type(
                "message m {
                    required int64 id;
                    optional binary name (UTF8);
                    optional double score;
                    required int32 day (DATE);
                    required int64 at (TIMESTAMP_MILLIS);
                    optional binary blob;
                }",
            )
            .unwrap(),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(compression)
                .build(),
        );
        let file = File::create(path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
        for group in 0..2i64 {
            let mut rg = writer.next_row_group().unwrap();
            let ids = [group * 2 + 1, group * 2 + 2];
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>()
                .write_batch(&ids, None, None)
                .unwrap();
            col.close().unwrap();
            // name: second row null
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>()
                .write_batch(&[ByteArray::from("Ann")], Some(&[1, 0]), None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<DoubleType>()
                .write_batch(&[0.5, f64::NAN], Some(&[1, 1]), None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int32Type>()
                .write_batch(&[20_779, 0], None, None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<Int64Type>()
                .write_batch(&[1_795_341_600_000, 0], None, None)
                .unwrap();
            col.close().unwrap();
            let mut col = rg.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>()
                .write_batch(
                    &[
                        ByteArray::from(vec![0xffu8, 0x00]),
                        ByteArray::from("plain"),
                    ],
                    Some(&[1, 1]),
                    None,
                )
                .unwrap();
            col.close().unwrap();
            rg.close().unwrap();
        }
        writer.close().unwrap();
    }

    #[test]
    fn reads_rows_across_row_groups_and_codecs() {
        use parquet::basic::{Compression, GzipLevel, ZstdLevel};
        let dir = tempfile::tempdir().unwrap();
        for (i, compression) in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::GZIP(GzipLevel::default()),
            Compression::ZSTD(ZstdLevel::default()),
            Compression::LZ4_RAW,
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("f{i}.parquet"));
            write_fixture(&path, compression);
            let reader = ParquetReader::open(&path).unwrap();
            assert_eq!(reader.total_rows(), 4);
            let rows: Vec<Value> = reader.map(|r| Value::Object(r.unwrap())).collect();
            assert_eq!(rows.len(), 4, "{compression:?}");
            assert_eq!(
                rows[0],
                json!({"id":1,"name":"Ann","score":0.5,"day":"2026-11-22",
                       "at":"2026-11-22T10:00:00Z","blob":"/wA="}),
                "{compression:?}"
            );
            assert_eq!(
                rows[1],
                json!({"id":2,"name":null,"score":null,"day":"1970-01-01",
                       "at":"1970-01-01T00:00:00Z","blob":"plain"})
            );
            assert_eq!(rows[3]["id"], json!(4));
        }
    }

    #[test]
    fn nested_groups_lists_and_maps() {
        let value = field_to_json(&Field::TimeMicros(3_723_000_042));
        assert_eq!(value, json!("01:02:03.000042"));
        assert_eq!(field_to_json(&Field::TimeMillis(-5)), json!(-5000));
        assert_eq!(field_to_json(&Field::Float(f32::INFINITY)), Value::Null);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested.parquet");
        let schema = Arc::new(
            parse_message_type(
                "message m {
                    required group user { required binary email (UTF8); }
                    optional group tags (LIST) { repeated group list { optional binary element (UTF8); } }
                }",
            )
            .unwrap(),
        );
        let mut writer = SerializedFileWriter::new(
            File::create(&path).unwrap(),
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        let mut rg = writer.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&[ByteArray::from("a@b.c")], None, None)
            .unwrap();
        col.close().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(
                &[ByteArray::from("x"), ByteArray::from("y")],
                Some(&[3, 3]),
                Some(&[0, 1]),
            )
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        writer.close().unwrap();

        let rows: Vec<Value> = ParquetReader::open(&path)
            .unwrap()
            .map(|r| Value::Object(r.unwrap()))
            .collect();
        assert_eq!(
            rows,
            vec![json!({"user":{"email":"a@b.c"},"tags":["x","y"]})]
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.parquet");
        std::fs::write(&garbage, b"this is not parquet at all, just text").unwrap();
        let err = ParquetReader::open(&garbage).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Parquet { .. } | DataError::ParquetMalformed { .. }
            ),
            "{err:?}"
        );

        // A real file cut short loses its footer.
        let good = dir.path().join("good.parquet");
        write_fixture(&good, parquet::basic::Compression::SNAPPY);
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.parquet");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(ParquetReader::open(&cut).is_err());

        // Corrupt the data pages but keep the footer: reading must error or yield, never panic.
        let mut flipped = bytes.clone();
        for b in flipped.iter_mut().skip(4).take(bytes.len() / 2) {
            *b ^= 0x5a;
        }
        let bad = dir.path().join("flipped.parquet");
        std::fs::write(&bad, &flipped).unwrap();
        if let Ok(reader) = ParquetReader::open(&bad) {
            let results: Vec<_> = reader.collect();
            assert!(
                results.iter().any(Result::is_err),
                "corruption must surface"
            );
        }
    }
}
