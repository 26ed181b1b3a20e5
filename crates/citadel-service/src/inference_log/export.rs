//! Writing an endpoint's inference log to a file: JSONL (one object per line) or Parquet (typed,
//! nullable columns that DuckDB and pandas read as they are), one page of rows at a time, into a
//! 0600 temporary file beside the destination that takes its name only once complete.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use citadel_core::SecurableId;
use citadel_store::{InferenceCursor, Store, StoredInference};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use serde::Serialize;
use tempfile::NamedTempFile;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::InferenceRecord;
use crate::{Error, Result};

/// Rows read from the database, and written as one Parquet row group, at a time.
const PAGE_ROWS: u32 = 2048;

/// The Parquet schema of an export; columns in the order [`write_row_group`] writes them.
pub(super) const PARQUET_SCHEMA: &str = "message inference_log {
    required int64 time (TIMESTAMP(MILLIS,true));
    required binary endpoint (STRING);
    required binary endpoint_id (STRING);
    optional binary model (STRING);
    optional int64 model_version;
    optional binary principal_id (STRING);
    optional binary principal_name (STRING);
    required binary request_id (STRING);
    required binary route (STRING);
    optional binary prompt (STRING);
    optional binary completion (STRING);
    required int64 tokens_in;
    required int64 tokens_out;
    required int64 latency_ms;
    optional int64 ttft_ms;
    required binary guardrails (STRING);
    required binary status (STRING);
    required int64 http_status;
    optional binary client_addr (STRING);
}";

/// File formats of an inference log export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, as [`InferenceRecord`] serializes.
    Jsonl,
    /// Apache Parquet, Snappy-compressed; `guardrails` holds a JSON array as text.
    Parquet,
}

impl LogFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Parquet => "parquet",
        }
    }

    /// The format a file name's extension implies (`.jsonl`, `.ndjson`, `.json`, `.parquet`,
    /// `.pq`), if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }
}

impl FromStr for LogFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" => Ok(Self::Jsonl),
            "parquet" => Ok(Self::Parquet),
            _ => Err(Error::InvalidInput(format!(
                "unknown log format {s:?}: use jsonl or parquet"
            ))),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub rows: u64,
    pub path: PathBuf,
    pub format: LogFormat,
}

/// RFC 3339 text of a time, for audit parameters.
pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Exports the endpoint's rows in `[since, until)` to `out` (which must not exist yet).
pub(super) async fn export(
    store: &Store,
    endpoint_id: SecurableId,
    format: LogFormat,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    out: &Path,
) -> Result<ExportReport> {
    let write_error = |source: io::Error| Error::Home {
        path: out.to_owned(),
        action: "write",
        source,
    };
    if out.exists() {
        return Err(Error::InvalidInput(format!(
            "{} already exists; choose a new file name",
            out.display()
        )));
    }
    let mut sink = Sink::create(format, &parent_dir(out)).map_err(write_error)?;
    let mut after: Option<InferenceCursor> = None;
    let mut rows = 0u64;
    loop {
        let page = store
            .inference_log_page(endpoint_id, since, until, after, PAGE_ROWS)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        let records = page
            .into_iter()
            .map(|stored: StoredInference| InferenceRecord::from_store(stored.record))
            .collect::<Result<Vec<_>>>()?;
        rows += records.len() as u64;
        sink = tokio::task::spawn_blocking(move || sink.write(&records).map(|()| sink))
            .await
            .map_err(io::Error::other)
            .and_then(|written| written)
            .map_err(write_error)?;
    }
    let file = tokio::task::spawn_blocking(move || sink.finish())
        .await
        .map_err(io::Error::other)
        .and_then(|finished| finished)
        .map_err(write_error)?;
    file.persist_noclobber(out).map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            Error::InvalidInput(format!(
                "{} already exists; choose a new file name",
                out.display()
            ))
        } else {
            write_error(e.error)
        }
    })?;
    Ok(ExportReport {
        rows,
        path: out.to_owned(),
        format,
    })
}

/// The folder a new file at `path` goes in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// An export being written into its temporary file.
enum Sink {
    Jsonl(BufWriter<NamedTempFile>),
    Parquet(Box<SerializedFileWriter<NamedTempFile>>),
}

impl Sink {
    fn create(format: LogFormat, dir: &Path) -> io::Result<Sink> {
        let file = tempfile::Builder::new()
            .prefix(".citadel-export-")
            .tempfile_in(dir)?;
        Ok(match format {
            LogFormat::Jsonl => Sink::Jsonl(BufWriter::new(file)),
            LogFormat::Parquet => {
                let schema =
                    Arc::new(parse_message_type(PARQUET_SCHEMA).map_err(io::Error::other)?);
                let props = Arc::new(
                    WriterProperties::builder()
                        .set_compression(Compression::SNAPPY)
                        .set_created_by(format!("citadel {}", env!("CARGO_PKG_VERSION")))
                        .build(),
                );
                let writer =
                    SerializedFileWriter::new(file, schema, props).map_err(io::Error::other)?;
                Sink::Parquet(Box::new(writer))
            }
        })
    }

    fn write(&mut self, records: &[InferenceRecord]) -> io::Result<()> {
        match self {
            Sink::Jsonl(out) => {
                for record in records {
                    serde_json::to_writer(&mut *out, record)?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
            Sink::Parquet(writer) => write_row_group(writer, records).map_err(io::Error::other),
        }
    }

    /// Completes the file and syncs it to disk.
    fn finish(self) -> io::Result<NamedTempFile> {
        let file = match self {
            Sink::Jsonl(out) => out.into_inner().map_err(io::IntoInnerError::into_error)?,
            Sink::Parquet(writer) => writer.into_inner().map_err(io::Error::other)?,
        };
        File::sync_all(file.as_file())?;
        Ok(file)
    }
}

/// Writes `records` as one row group, in [`PARQUET_SCHEMA`]'s column order.
fn write_row_group(
    writer: &mut SerializedFileWriter<NamedTempFile>,
    records: &[InferenceRecord],
) -> Result<(), ParquetError> {
    if records.is_empty() {
        return Ok(());
    }
    let text = |f: &dyn Fn(&InferenceRecord) -> Option<String>| -> Vec<Option<ByteArray>> {
        records
            .iter()
            .map(|r| f(r).map(|s| ByteArray::from(s.into_bytes())))
            .collect()
    };
    let int = |f: &dyn Fn(&InferenceRecord) -> Option<u64>| -> Vec<Option<i64>> {
        records
            .iter()
            .map(|r| f(r).map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
            .collect()
    };
    let millis: Vec<Option<i64>> = records
        .iter()
        .map(|r| i64::try_from(r.time.unix_timestamp_nanos() / 1_000_000).ok())
        .collect();
    let mut group = writer.next_row_group()?;
    column::<Int64Type>(&mut group, millis, true)?;
    column::<ByteArrayType>(&mut group, text(&|r| Some(r.endpoint.clone())), true)?;
    column::<ByteArrayType>(&mut group, text(&|r| Some(r.endpoint_id.to_string())), true)?;
    column::<ByteArrayType>(&mut group, text(&|r| r.model.clone()), false)?;
    column::<Int64Type>(&mut group, int(&|r| r.model_version.map(u64::from)), false)?;
    column::<ByteArrayType>(
        &mut group,
        text(&|r| r.principal_id.map(|p| p.to_string())),
        false,
    )?;
    column::<ByteArrayType>(&mut group, text(&|r| r.principal_name.clone()), false)?;
    column::<ByteArrayType>(&mut group, text(&|r| Some(r.request_id.clone())), true)?;
    column::<ByteArrayType>(&mut group, text(&|r| Some(r.route.to_string())), true)?;
    column::<ByteArrayType>(&mut group, text(&|r| r.prompt.clone()), false)?;
    column::<ByteArrayType>(&mut group, text(&|r| r.completion.clone()), false)?;
    column::<Int64Type>(&mut group, int(&|r| Some(r.tokens_in)), true)?;
    column::<Int64Type>(&mut group, int(&|r| Some(r.tokens_out)), true)?;
    column::<Int64Type>(&mut group, int(&|r| Some(r.latency_ms)), true)?;
    column::<Int64Type>(&mut group, int(&|r| r.ttft_ms), false)?;
    column::<ByteArrayType>(
        &mut group,
        text(&|r| Some(serde_json::Value::Array(r.guardrails.clone()).to_string())),
        true,
    )?;
    column::<ByteArrayType>(&mut group, text(&|r| Some(r.status.to_string())), true)?;
    column::<Int64Type>(&mut group, int(&|r| Some(u64::from(r.http_status))), true)?;
    column::<ByteArrayType>(&mut group, text(&|r| r.client_addr.clone()), false)?;
    group.close()?;
    Ok(())
}

/// Writes the next column of the row group: `None` is null (in an optional column).
fn column<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, NamedTempFile>,
    values: Vec<Option<T::T>>,
    required: bool,
) -> Result<(), ParquetError> {
    let Some(mut writer) = group.next_column()? else {
        return Err(ParquetError::General(
            "the export schema has fewer columns than written".to_owned(),
        ));
    };
    let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
    let present: Vec<T::T> = values.into_iter().flatten().collect();
    if required && present.len() != levels.len() {
        return Err(ParquetError::General(
            "a required export column has a missing value".to_owned(),
        ));
    }
    writer
        .typed::<T>()
        .write_batch(&present, (!required).then_some(levels.as_slice()), None)?;
    writer.close()
}
