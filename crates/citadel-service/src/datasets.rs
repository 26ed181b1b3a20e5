//! Datasets: ingest into encrypted, immutable versions; list, show and time-travel reads with the
//! caller's column masks and row filters; PII scans and anonymized derived versions. Every
//! operation is authorized on the dataset (or its schema, to create one) and audited.

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use citadel_blob::{ArtifactRef, DataKey, KeyRing};
use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_data::{
    select, split_name_selector, AnonymizeKeys, AnonymizePolicy, Format, PiiScanner, PiiVerdict,
    Row, RowPolicy, RowReader, RuleOutcome, VersionInfo, VersionSelector, Viewer,
};
use citadel_pii::{Analyzer, AnalyzerConfig};
use citadel_store::{ArtifactRecord, DatasetRecord, DatasetVersionRecord, Securable, WriteTx};
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::keys::ensure_active_key;
use crate::row_io::{open_rows, write_rows};
use crate::securable_ref::create_in_schema;
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Labels of the keys derived from a dataset key.
const SALT_LABEL: &[u8] = b"citadel-data/salt";
const PSEUDONYM_LABEL: &[u8] = b"citadel-data/pseudonym";
const ENCRYPTION_LABEL: &[u8] = b"citadel-data/encryption";

/// A dataset version as shown to people and programs.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetVersionInfo {
    pub dataset: String,
    pub version: u32,
    pub rows: u64,
    pub size: u64,
    /// SHA-256 of the stored rows (absent once retention deleted them).
    pub digest: Option<String>,
    pub schema: Value,
    /// Where the rows came from: the version's lineage.
    pub source: Value,
    pub pii_verdict: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub rewritten_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    pub deleted_reason: Option<String>,
}

/// A dataset with its rules and versions.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    pub name: String,
    pub owner: Option<String>,
    pub row_policy: RowPolicy,
    pub retention: Option<Value>,
    pub versions: Vec<DatasetVersionInfo>,
}

/// What a read returned.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    pub version: u32,
    pub rows_returned: u64,
    pub rows_filtered: u64,
    pub rules: Vec<RuleOutcome>,
}

/// Options of a read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Stop after this many rows.
    pub limit: Option<u64>,
    /// Decrypt values an anonymization encrypted (needs `MANAGE`; audited).
    pub decrypt: bool,
}

/// Reports how many input bytes an ingest has read, for progress bars.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// A dataset's rows and settings as loaded for an operation.
pub(crate) struct Loaded {
    pub(crate) target: SecurableRef,
    pub(crate) securable: Securable,
    pub(crate) record: DatasetRecord,
    pub(crate) versions: Vec<DatasetVersionRecord>,
}

/// Lets `citadel-data` pick and age versions straight from database rows.
pub(crate) struct Selectable<'a>(pub(crate) &'a DatasetVersionRecord);

impl VersionInfo for Selectable<'_> {
    fn number(&self) -> u32 {
        self.0.version
    }
    fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }
    fn deleted_at(&self) -> Option<OffsetDateTime> {
        self.0.deleted_at
    }
}

/// Parses `catalog.schema.name[@selector]`.
pub(crate) fn parse_spec(spec: &str) -> Result<(FullName, VersionSelector)> {
    let (name, selector) = split_name_selector(spec)?;
    let name: FullName = name.parse()?;
    SecurableRef::new(SecurableKind::Dataset, name.clone())?;
    Ok((name, selector))
}

impl Loaded {
    /// The version `selector` names.
    pub(crate) fn pick(&self, selector: &VersionSelector) -> Result<&DatasetVersionRecord> {
        let selectable: Vec<Selectable<'_>> = self.versions.iter().map(Selectable).collect();
        Ok(select(&selectable, selector)?.0)
    }

    pub(crate) fn row_policy(&self) -> Result<RowPolicy> {
        serde_json::from_str(&self.record.row_policy)
            .map_err(|e| Error::InvalidInput(format!("dataset row policy is unreadable: {e}")))
    }
}

/// The bytes of a version, to read.
pub(crate) async fn version_ref(
    citadel: &Citadel,
    version: &DatasetVersionRecord,
) -> Result<ArtifactRef> {
    let digest = version.artifact_digest.clone().ok_or_else(|| {
        Error::InvalidInput(format!(
            "version v{} was deleted; choose a later version",
            version.version
        ))
    })?;
    citadel.artifact_reference(&digest).await
}

impl Citadel {
    /// Ingests a JSONL, CSV or Parquet file as the next version of `name`, creating the dataset
    /// when new (`CREATE_DATASET` on the schema; else `MODIFY` on the dataset). Rows stream
    /// through schema inference into an encrypted artifact in bounded memory.
    pub async fn ingest_dataset(
        &self,
        ctx: &Context,
        name: &FullName,
        file: &Path,
        format: Option<Format>,
        progress: Option<Progress>,
    ) -> Result<DatasetVersionInfo> {
        const ACTION: &str = "dataset.ingest";
        let target = SecurableRef::new(SecurableKind::Dataset, name.clone())?;
        let (privilege, on) = self
            .create_or_modify_privilege(&target, Privilege::CreateDataset)
            .await?;
        self.authorize_read(ctx, ACTION, privilege, &on).await?;
        let format = match format {
            Some(format) => format,
            None => Format::from_path_extension(file)?,
        };
        let reader = open_input(file, format, progress)?;
        let (reference, summary, ()) = write_rows(&self.blobs, move |writer| {
            for row in reader {
                writer.write_row(&row?)?;
            }
            Ok(())
        })
        .await?;
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = json!({ "kind": "ingest", "file": file_name, "format": format.as_str() });
        let params = json!({ "file": file_name, "format": format.as_str(), "rows": summary.rows });
        let mut tx = self
            .begin_authorized(ctx, ACTION, privilege, &on, &params)
            .await?;
        let dataset = match tx.securable_by_name(&target.db_name()).await? {
            Some(existing) => existing,
            None => self.create_dataset_in(&mut tx, ctx, &target).await?,
        };
        let version = self
            .insert_version(
                &mut tx,
                ctx,
                &dataset,
                &reference,
                summary.rows,
                serde_json::to_string(&summary.schema).map_err(json_error)?,
                source,
            )
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({
                    "file": file_name,
                    "format": format.as_str(),
                    "version": version.version,
                    "rows": summary.rows,
                    "digest": reference.digest,
                })),
        )
        .await?;
        self.version_info(&target, &version).await
    }

    /// Creates the dataset securable and its settings (a fresh dataset key) in `tx`.
    pub(crate) async fn create_dataset_in(
        &self,
        tx: &mut WriteTx,
        ctx: &Context,
        target: &SecurableRef,
    ) -> Result<Securable> {
        let securable = create_in_schema(tx, ctx, target).await?;
        let data_key = DataKey::generate()?;
        let active = self.keys.active();
        let wrapped = active.wrap(&data_key, &dataset_key_aad(&securable))?;
        ensure_active_key(tx, active.id()).await?;
        tx.insert_dataset(&DatasetRecord {
            securable_id: securable.id,
            wrapped_key: wrapped.as_bytes().to_vec(),
            kek_id: active.id().to_owned(),
            row_policy: serde_json::to_string(&RowPolicy::default()).map_err(json_error)?,
            retention: None,
        })
        .await?;
        Ok(securable)
    }

    /// Records a stored artifact and a new version pointing at it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_version(
        &self,
        tx: &mut WriteTx,
        ctx: &Context,
        dataset: &Securable,
        reference: &ArtifactRef,
        rows: u64,
        schema: String,
        source: Value,
    ) -> Result<DatasetVersionRecord> {
        self.record_artifact(tx, ctx, reference).await?;
        let version = DatasetVersionRecord {
            dataset_id: dataset.id,
            version: tx.next_dataset_version(dataset.id).await?,
            artifact_digest: Some(reference.digest.clone()),
            row_count: rows,
            size: reference.size,
            schema,
            source: source.to_string(),
            pii_verdict: None,
            created_at: OffsetDateTime::now_utc(),
            created_by: Some(ctx.principal.id),
            rewritten_at: None,
            deleted_at: None,
            deleted_reason: None,
        };
        tx.insert_dataset_version(&version).await?;
        Ok(version)
    }

    /// Inserts the artifact row of freshly stored bytes; `false` when that digest was already
    /// stored (content addressing makes it idempotent).
    pub(crate) async fn record_artifact(
        &self,
        tx: &mut WriteTx,
        ctx: &Context,
        reference: &ArtifactRef,
    ) -> Result<bool> {
        ensure_active_key(tx, &reference.kek_id).await?;
        Ok(tx
            .insert_artifact(&ArtifactRecord {
                digest: reference.digest.clone(),
                size: reference.size,
                artifact_id: reference.artifact_id.clone(),
                wrapped_key: reference.wrapped_key.as_bytes().to_vec(),
                kek_id: reference.kek_id.clone(),
                location: reference.location.clone(),
                chunk_size: u64::from(reference.chunk_size),
                format_version: u32::from(reference.format_version),
                created_at: OffsetDateTime::now_utc(),
                created_by: Some(ctx.principal.id),
            })
            .await?)
    }

    /// Loads a dataset after authorizing `privilege` on it.
    pub(crate) async fn load_dataset(
        &self,
        ctx: &Context,
        action: &'static str,
        privilege: Privilege,
        name: &FullName,
    ) -> Result<Loaded> {
        let target = SecurableRef::new(SecurableKind::Dataset, name.clone())?;
        self.authorize_read(ctx, action, privilege, &target).await?;
        let securable = self.securable_named(&target).await?;
        let record = self
            .store
            .dataset(securable.id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "dataset",
                name: name.to_string(),
            })?;
        let versions = self.store.dataset_versions(securable.id).await?;
        Ok(Loaded {
            target,
            securable,
            record,
            versions,
        })
    }

    /// The dataset's key, unwrapped.
    pub(crate) fn dataset_key(&self, loaded: &Loaded) -> Result<DataKey> {
        dataset_key(&self.keys, &loaded.securable, &loaded.record)
    }

    /// A dataset's rules and every version, tombstones included (`SELECT` on it).
    pub async fn show_dataset(&self, ctx: &Context, name: &FullName) -> Result<DatasetInfo> {
        let loaded = self
            .load_dataset(ctx, "dataset.show", Privilege::Select, name)
            .await?;
        let mut versions = Vec::new();
        for version in &loaded.versions {
            versions.push(self.version_info(&loaded.target, version).await?);
        }
        Ok(DatasetInfo {
            name: name.to_string(),
            owner: match loaded.securable.owner_id {
                Some(id) => Some(self.principal_label(Some(id)).await?),
                None => None,
            },
            row_policy: loaded.row_policy()?,
            retention: loaded
                .record
                .retention
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(json_error)?,
            versions,
        })
    }

    /// Streams the rows of `spec` (`NAME`, `NAME@vN` or `NAME@TIMESTAMP`) to `sink`, after the
    /// caller's row filters and column masks (`SELECT` on the dataset; `MANAGE` to decrypt).
    /// The read is audited with the version, the row counts and the rules that applied.
    pub async fn read_dataset<F>(
        &self,
        ctx: &Context,
        spec: &str,
        options: ReadOptions,
        mut sink: F,
    ) -> Result<ReadReport>
    where
        F: FnMut(Row) -> Result<()> + Send + 'static,
    {
        const ACTION: &str = "dataset.read";
        let (name, selector) = parse_spec(spec)?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Select, &name)
            .await?;
        let decryption_key = if options.decrypt {
            self.authorize_read(ctx, "dataset.decrypt", Privilege::Manage, &loaded.target)
                .await?;
            Some(self.dataset_key(&loaded)?.derive(ENCRYPTION_LABEL)?)
        } else {
            None
        };
        let version = loaded.pick(&selector)?.clone();
        let policy = loaded.row_policy()?;
        let viewer = self.viewer(ctx).await?;
        let rules = policy.describe(&viewer);
        let salt = self.dataset_key(&loaded)?.derive(SALT_LABEL)?;
        let rows = open_rows(&self.blobs, &version_ref(self, &version).await?).await?;
        let limit = options.limit.unwrap_or(u64::MAX);
        let outcome = tokio::task::spawn_blocking(move || -> Result<(u64, u64)> {
            let (mut returned, mut filtered) = (0u64, 0u64);
            for row in rows {
                if returned >= limit {
                    break;
                }
                let row = match &decryption_key {
                    Some(key) => decrypt_row(row?, key.as_ref())?,
                    None => row?,
                };
                match policy.apply(row, &viewer, salt.as_ref()) {
                    Some(row) => {
                        sink(row)?;
                        returned += 1;
                    }
                    None => filtered += 1,
                }
            }
            Ok((returned, filtered))
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("the read stopped: {e}")))?;
        let event = ctx.event(ACTION).on(loaded.target.audit_label());
        let (event, result) = match outcome {
            Ok((returned, filtered)) => (
                event.with_params(json!({
                    "version": version.version,
                    "rows_returned": returned,
                    "rows_filtered": filtered,
                    "rules": rules,
                    "decrypted": options.decrypt,
                })),
                Ok(ReadReport {
                    version: version.version,
                    rows_returned: returned,
                    rows_filtered: filtered,
                    rules,
                }),
            ),
            Err(err) => (
                event
                    .with_params(json!({ "version": version.version }))
                    .failed(err.to_string()),
                Err(err),
            ),
        };
        self.store.audit(event).await?;
        result
    }

    /// The caller as row rules see it: name, groups and attributes.
    pub(crate) async fn viewer(&self, ctx: &Context) -> Result<Viewer> {
        let mut viewer = Viewer::new(ctx.principal.name.clone());
        viewer.groups = ctx.group_names.iter().cloned().collect();
        viewer.attributes = self.store.principal_attributes(ctx.principal.id).await?;
        Ok(viewer)
    }

    /// Scans a version for PII and records the verdict on it (`MODIFY` on the dataset). Samples
    /// in the verdict are masked; the audit event carries counts only.
    pub async fn scan_dataset(&self, ctx: &Context, spec: &str) -> Result<PiiVerdict> {
        const ACTION: &str = "dataset.scan";
        let (name, selector) = parse_spec(spec)?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Modify, &name)
            .await?;
        let version = loaded.pick(&selector)?.clone();
        let rows = open_rows(&self.blobs, &version_ref(self, &version).await?).await?;
        let verdict = tokio::task::spawn_blocking(move || -> Result<PiiVerdict> {
            let analyzer = Analyzer::new(AnalyzerConfig::default())?;
            let mut scanner = PiiScanner::new(&analyzer);
            for row in rows {
                scanner.observe(&row?);
            }
            Ok(scanner.finish(OffsetDateTime::now_utc()))
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("the scan stopped: {e}")))??;
        let totals: serde_json::Map<String, Value> = citadel_pii::EntityType::ALL
            .iter()
            .filter(|e| verdict.total(**e) > 0)
            .map(|e| (e.as_str().to_owned(), json!(verdict.total(*e))))
            .collect();
        let params = json!({ "version": version.version });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Modify, &loaded.target, &params)
            .await?;
        tx.set_pii_verdict(
            loaded.securable.id,
            version.version,
            &serde_json::to_string(&verdict).map_err(json_error)?,
        )
        .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(json!({
                    "version": version.version,
                    "rows_scanned": verdict.rows_scanned,
                    "findings": totals,
                    "high_confidence_unredacted": verdict.high_confidence_unredacted,
                })),
        )
        .await?;
        Ok(verdict)
    }

    /// Writes a new version: `spec`'s rows through an anonymization policy (TOML), with lineage
    /// to its source (`MODIFY` on the dataset). Hashes, pseudonyms and encryption use keys
    /// derived from the dataset key, so values link within the dataset and never across.
    pub async fn anonymize_dataset(
        &self,
        ctx: &Context,
        spec: &str,
        policy_toml: &str,
    ) -> Result<DatasetVersionInfo> {
        const ACTION: &str = "dataset.anonymize";
        let (name, selector) = parse_spec(spec)?;
        let policy = AnonymizePolicy::from_toml(policy_toml)?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Modify, &name)
            .await?;
        let source_version = loaded.pick(&selector)?.clone();
        let data_key = self.dataset_key(&loaded)?;
        let keys = DerivedKeys {
            salt: data_key.derive(SALT_LABEL)?,
            pseudonym: data_key.derive(PSEUDONYM_LABEL)?,
            encryption: data_key.derive(ENCRYPTION_LABEL)?,
        };
        let rows = open_rows(&self.blobs, &version_ref(self, &source_version).await?).await?;
        let job_policy = policy.clone();
        let (reference, summary, report) = write_rows(&self.blobs, move |writer| {
            let analyzer = Analyzer::new(AnalyzerConfig::default())?;
            let keys = AnonymizeKeys {
                salt: keys.salt.as_ref(),
                pseudonym_key: Some(keys.pseudonym.as_ref()),
                encryption_key: Some(keys.encryption.as_ref()),
            };
            Ok(citadel_data::anonymize_rows(
                rows,
                writer,
                &job_policy,
                &analyzer,
                &keys,
            )?)
        })
        .await?;
        let source = json!({
            "kind": "anonymize",
            "from_version": source_version.version,
            "policy": policy,
        });
        let params = json!({ "from_version": source_version.version });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Modify, &loaded.target, &params)
            .await?;
        let version = self
            .insert_version(
                &mut tx,
                ctx,
                &loaded.securable,
                &reference,
                summary.rows,
                serde_json::to_string(&summary.schema).map_err(json_error)?,
                source,
            )
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(json!({
                    "from_version": source_version.version,
                    "version": version.version,
                    "rows": report.rows,
                    "replaced_per_entity": report.replaced_per_entity,
                    "whole_values": report.whole_values,
                })),
        )
        .await?;
        self.version_info(&loaded.target, &version).await
    }

    pub(crate) async fn version_info(
        &self,
        target: &SecurableRef,
        v: &DatasetVersionRecord,
    ) -> Result<DatasetVersionInfo> {
        let parse = |text: &str| serde_json::from_str::<Value>(text).map_err(json_error);
        Ok(DatasetVersionInfo {
            dataset: target.to_string(),
            version: v.version,
            rows: v.row_count,
            size: v.size,
            digest: v.artifact_digest.clone(),
            schema: parse(&v.schema)?,
            source: parse(&v.source)?,
            pii_verdict: v.pii_verdict.as_deref().map(parse).transpose()?,
            created_at: v.created_at,
            created_by: self.principal_label(v.created_by).await?,
            rewritten_at: v.rewritten_at,
            deleted_at: v.deleted_at,
            deleted_reason: v.deleted_reason.clone(),
        })
    }
}

/// The keys an anonymization needs, zeroized when the job ends.
struct DerivedKeys {
    salt: Zeroizing<[u8; 32]>,
    pseudonym: Zeroizing<[u8; 32]>,
    encryption: Zeroizing<[u8; 32]>,
}

/// Associated data binding a dataset key to its dataset.
fn dataset_key_aad(dataset: &Securable) -> Vec<u8> {
    [
        b"citadel-data/dataset-key/v1/".as_slice(),
        dataset.id.to_string().as_bytes(),
    ]
    .concat()
}

/// Unwraps a dataset's key with whichever held key wrapped it.
pub(crate) fn dataset_key(
    keys: &KeyRing,
    securable: &Securable,
    record: &DatasetRecord,
) -> Result<DataKey> {
    let wrapped = citadel_blob::WrappedKey::from_bytes(&record.wrapped_key)?;
    Ok(keys.unwrap(&record.kek_id, &wrapped, &dataset_key_aad(securable))?)
}

/// Re-wraps a dataset key to `new` (key rotation).
pub(crate) fn rewrap_dataset_key(
    keys: &KeyRing,
    securable: &Securable,
    record: &DatasetRecord,
    new: &citadel_blob::Kek,
) -> Result<citadel_blob::WrappedKey> {
    let data_key = dataset_key(keys, securable, record)?;
    Ok(new.wrap(&data_key, &dataset_key_aad(securable))?)
}

/// A row reader over an input file that reports progress in bytes read.
fn open_input(file: &Path, format: Format, progress: Option<Progress>) -> Result<RowReader> {
    if format == Format::Parquet {
        return Ok(RowReader::open(file, format)?);
    }
    let opened = std::fs::File::open(file).map_err(|source| Error::Home {
        path: file.to_owned(),
        action: "read",
        source,
    })?;
    let counting = Counting {
        inner: opened,
        read: 0,
        progress,
    };
    Ok(RowReader::from_buf_read(
        BufReader::with_capacity(256 * 1024, counting),
        format,
    )?)
}

/// Counts bytes read for a progress callback.
struct Counting<R> {
    inner: R,
    read: u64,
    progress: Option<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(progress) = &self.progress {
            progress(self.read);
        }
        Ok(n)
    }
}

/// Decrypts every `ENC[…]` token in a row's string values.
fn decrypt_row(row: Row, key: &[u8]) -> Result<Row> {
    row.into_iter()
        .map(|(column, value)| match value {
            Value::String(text) if text.contains("ENC[") => {
                Ok((column, Value::String(citadel_pii::decrypt_all(&text, key)?)))
            }
            other => Ok((column, other)),
        })
        .collect()
}

pub(crate) fn json_error(err: serde_json::Error) -> Error {
    Error::InvalidInput(format!("unreadable stored JSON: {err}"))
}
