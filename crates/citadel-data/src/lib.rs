//! Citadel's dataset logic, as pure data and streaming functions: no database, no authorization,
//! no keys. The service layer decides who may do what, stores rows encrypted and records audit
//! events; this crate turns inputs into rows, rows into a stored form, and applies the rules.
//!
//! # How the service layer uses it
//!
//! **Ingest** a file into a new version, in bounded memory:
//! ```no_run
//! # fn main() -> citadel_data::Result<()> {
//! use citadel_data::{Format, RowReader, RowWriter};
//! let path = std::path::Path::new("people.csv");
//! let format = Format::from_path_extension(path)?; // or `"csv".parse::<Format>()?`
//! let mut writer = RowWriter::new(Vec::new()); // any `Write`: e.g. the encrypting blob writer
//! for row in RowReader::open(path, format)? {
//!     writer.write_row(&row?)?;
//! }
//! let (_blob, summary) = writer.finish()?; // summary: rows, bytes, sha256, schema
//! # Ok(()) }
//! ```
//! **Read** a version: split `NAME@SELECTOR` with [`split_name_selector`], pick the version with
//! [`select`] (implement [`VersionInfo`] for the version row), decrypt its bytes into
//! [`StoredRows`], and pass each row through [`RowPolicy::apply`] for the caller's [`Viewer`];
//! [`RowPolicy::describe`] lists the rules that applied, for the audit event.
//!
//! **Retention**: [`RetentionPolicy::plan`] names the versions a garbage collection deletes
//! (never the latest; protected versions are held). **Erasure**: [`erase_rows`] streams a stored
//! version through an [`EraseCondition`] into a new [`RowWriter`].
//!
//! **PII**: feed every row of a version to a [`PiiScanner`] (built on a shared
//! `citadel_pii::Analyzer`) and store the [`PiiVerdict`] (per-field counts, masked samples,
//! `high_confidence_unredacted` for the training guard). [`AnonymizePolicy::from_toml`] reads a
//! policy file; [`anonymize_rows`] streams a version through it into a new [`RowWriter`] with the
//! dataset's [`AnonymizeKeys`].
//!
//! # Modules
//! - [`format`](mod@format): JSONL, CSV and Parquet readers yielding [`Row`]s, with record-size limits.
//! - [`schema`]: schema inference with type widening.
//! - [`encode`]: canonical JSONL writer (count, SHA-256, schema) and its reader.
//! - [`rules`]: column masks, row filters, viewers.
//! - [`version`]: version selectors and time travel.
//! - [`retention`]: retention policies and durations.
//! - [`erase`]: erasure conditions and the streaming erase.
//! - [`scan`]: PII verdicts over rows.
//! - [`anonymize`]: anonymization policies and the streaming rewrite.
//!
//! Nothing here panics on input: malformed data is an [`DataError`] whose message is one line
//! naming the line, column or rule, never a row value.

pub mod anonymize;
pub mod encode;
pub mod erase;
pub mod error;
pub mod format;
pub mod retention;
pub mod rules;
pub mod scan;
pub mod schema;
pub mod version;

pub use anonymize::{
    anonymize_rows, AnonymizeKeys, AnonymizePolicy, AnonymizeReport, ColumnRule, RowAnonymizer,
};
pub use encode::{encode_row, EncodeSummary, RowWriter, StoredRows};
pub use erase::{erase_rows, EraseCondition, EraseReport};
pub use error::{DataError, Result};
pub use format::{typed_value, Format, Row, RowReader, MAX_RECORD_BYTES};
pub use retention::{format_duration, parse_duration, RetentionPlan, RetentionPolicy};
pub use rules::{
    values_match, ColumnMask, FilterCondition, MaskFunction, RowFilter, RowPolicy, RuleKind,
    RuleOutcome, Viewer,
};
pub use scan::{mask_sample, PiiScanner, PiiVerdict, Sample, DEFAULT_THRESHOLD};
pub use schema::{Column, DataType, Schema, SchemaBuilder};
pub use version::{select, split_name_selector, VersionInfo, VersionMeta, VersionSelector};
