//! The crate's one error type: each message is one line saying what is wrong and how to fix it.

use time::OffsetDateTime;

/// Shorthand for results in this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, encoding or judging dataset rows.
///
/// Messages never quote row values (they may be personal data); they name lines, columns and rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Reading the input or writing the output failed.
    #[error("I/O failed: {source}")]
    Io {
        /// The underlying error.
        #[from]
        source: std::io::Error,
    },

    /// A JSONL line is not valid JSON.
    #[error("line {line}: invalid JSON ({source}); every line must hold one JSON object")]
    InvalidJson {
        /// 1-based line number in the input.
        line: u64,
        /// The parser's error (its position is within the line).
        source: serde_json::Error,
    },

    /// A JSONL line holds valid JSON that is not an object.
    #[error(
        "line {line}: expected a JSON object, found {found}; every line must hold one JSON object"
    )]
    NotAnObject {
        /// 1-based line number in the input.
        line: u64,
        /// What the line held instead (`an array`, `a string`, ...).
        found: &'static str,
    },

    /// A JSONL line or CSV record is longer than the reader's limit.
    #[error("line {line}: record longer than {limit} bytes; split it or raise the limit")]
    RecordTooLong {
        /// 1-based line number where the record starts.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },

    /// The CSV reader rejected the input (its message names the record and line).
    #[error("CSV input: {source}")]
    Csv {
        /// The CSV parser's error.
        #[from]
        source: csv::Error,
    },

    /// The CSV header row is unusable.
    #[error("CSV header: {reason}")]
    CsvHeader {
        /// What is wrong with it.
        reason: String,
    },

    /// The Parquet reader rejected the file.
    #[error("Parquet input: {source}; check that the file is a complete Parquet file")]
    Parquet {
        /// The Parquet library's error.
        #[from]
        source: parquet::errors::ParquetError,
    },

    /// The Parquet library failed on malformed input instead of returning an error.
    #[error("Parquet input: the file is malformed (the reader failed at row {row}); check that it is a complete Parquet file")]
    ParquetMalformed {
        /// 1-based number of the row being read.
        row: u64,
    },

    /// Parquet was asked for from a stream; it must be read from a file.
    #[error("Parquet input must be a file (its footer is read first); save the stream to a file and pass its path")]
    ParquetNeedsFile,

    /// A row is too large to be stored.
    #[error(
        "row {row} is {bytes} bytes when encoded, over the {limit}-byte limit; split the record"
    )]
    RowTooLarge {
        /// 1-based row number.
        row: u64,
        /// Its encoded size.
        bytes: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The rows have more distinct top-level fields than a schema may hold.
    #[error("more than {limit} distinct top-level fields (at row {row}); nest variable keys inside one object field")]
    TooManyColumns {
        /// 1-based row number where the limit was crossed.
        row: u64,
        /// The limit.
        limit: usize,
    },

    /// A user-written value (format name, mask, filter, selector, duration, condition) does not parse.
    #[error("invalid {what} `{input}`: {reason}")]
    Parse {
        /// What was being parsed (`row filter`, `version selector`, ...).
        what: &'static str,
        /// The text as given.
        input: String,
        /// Why it was refused and what is expected.
        reason: String,
    },

    /// An anonymization policy file is not valid TOML.
    #[error("anonymization policy, line {line}: {message}")]
    PolicySyntax {
        /// 1-based line of the error.
        line: usize,
        /// The TOML parser's message.
        message: String,
        /// The TOML error.
        source: Box<toml::de::Error>,
    },

    /// The PII engine refused (a missing key, an invalid finding span).
    #[error("PII engine: {source}")]
    Pii {
        /// The engine's error.
        #[from]
        source: citadel_pii::PiiError,
    },

    /// A file path has no extension that names a format.
    #[error("cannot tell the format of `{path}` from its extension; pass the format explicitly (jsonl, csv or parquet)")]
    UnknownExtension {
        /// The path as given.
        path: String,
    },

    /// The dataset has no version at all.
    #[error("the dataset has no versions yet; ingest data first")]
    NoVersions,

    /// A version number that does not exist.
    #[error("version v{number} does not exist; the latest is v{latest}")]
    VersionNotFound {
        /// The number asked for.
        number: u32,
        /// The highest existing number.
        latest: u32,
    },

    /// A time before the first version.
    #[error("no version existed at {at}; the first was created at {first}")]
    NoVersionAt {
        /// The time asked for (RFC 3339).
        at: String,
        /// When the first version was created (RFC 3339).
        first: String,
    },

    /// The selected version's bytes were deleted by retention.
    #[error("version v{number} was deleted by retention at {deleted_at}; select a later version")]
    VersionDeleted {
        /// The selected version.
        number: u32,
        /// When it was deleted (RFC 3339).
        deleted_at: String,
    },
}

impl DataError {
    /// A [`DataError::Parse`] for `what` with the offending `input`.
    pub(crate) fn parse(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        DataError::Parse {
            what,
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

/// RFC 3339 text of a time, for error messages (falls back to the debug form if out of range).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{t:?}"))
}
