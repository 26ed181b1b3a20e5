//! Batch inference (`citadel batch predict`): a registered model run over a governed dataset,
//! the predictions written as a new version of an output dataset with lineage to both.
//!
//! The caller needs `EXECUTE` on the model (as serving does), `SELECT` on the input, which is read
//! through [`Citadel::read_dataset`] so the caller's masks and row filters apply as for any read,
//! and what any new version needs on the output (`CREATE_DATASET` on its schema while it does not
//! exist, else `MODIFY` on it). A version in a catalog that demands approval must be deployable
//! (approved, with passed gates); a rejected or archived version never runs. The weights are
//! checked against the signed manifest as they are exported into a private temporary folder, and
//! only then loaded. The version and its `batch.predict` audit event commit in one transaction.

mod predictor;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_data::{DataType, Row, Schema};
use citadel_registry::status::VersionStatus;
use citadel_store::{ModelVersionRecord, Securable};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::datasets::{json_error, parse_spec, version_ref};
use crate::models::parse_model_spec;
use crate::registry::PROTECTED_CATALOGS;
use crate::row_io::write_rows;
use crate::{Citadel, Context, DatasetVersionInfo, Error, ReadOptions, Result, SecurableRef};

pub use predictor::{GenerationTotals, OUTPUT_COLUMNS};
use predictor::{Predictor, Settings};

/// The audited action.
const ACTION: &str = "batch.predict";
/// The prompt column when none is named.
pub const DEFAULT_COLUMN: &str = "prompt";
/// Tokens generated per row when not told.
pub const DEFAULT_MAX_TOKENS: u32 = 64;
/// Rows read ahead of the generation.
const READ_AHEAD: usize = 256;

/// What to predict, with what, and where to write it.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// `CATALOG.SCHEMA.MODEL@ALIAS` or `@VERSION`.
    pub model: String,
    /// `CATALOG.SCHEMA.DATASET[@VERSION]` (latest by default).
    pub input: String,
    /// The dataset that receives a new version (created when missing).
    pub output: FullName,
    /// The input column holding each row's prompt.
    pub column: String,
    /// Most tokens generated per row.
    pub max_tokens: u32,
    /// Sampling temperature; 0 decodes greedily.
    pub temperature: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl BatchRequest {
    /// A greedy request with the default column and token budget.
    pub fn new(model: impl Into<String>, input: impl Into<String>, output: FullName) -> Self {
        Self {
            model: model.into(),
            input: input.into(),
            output,
            column: DEFAULT_COLUMN.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
            temperature: 0.0,
            seed: 0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.column.trim().is_empty() {
            return Err(Error::InvalidInput(
                "name the prompt column with --column".into(),
            ));
        }
        if self.max_tokens == 0 {
            return Err(Error::InvalidInput(
                "--max-tokens must be at least 1".into(),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "--temperature must be 0 or more, got {}",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// Where a batch stands, for progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// The model's files verified against its signed manifest.
    Verified { model: String, version: u32 },
    /// The model is loaded; the input holds `rows` rows before row filters.
    Started { rows: u64 },
    /// `rows` rows predicted so far, `tokens` tokens generated.
    Predicted { rows: u64, tokens: u64 },
}

/// Receives [`BatchEvent`]s (from a blocking thread as well as the runtime).
pub type BatchProgress = Arc<dyn Fn(BatchEvent) + Send + Sync>;

/// What a batch did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// The model's full name and the version that ran.
    pub model: String,
    pub model_version: u32,
    /// The signed manifest's subject digest of that version.
    pub model_root_digest: String,
    pub input: String,
    pub input_version: u32,
    /// Input rows the caller's row filters hid (not predicted).
    pub rows_filtered: u64,
    /// The version written.
    pub output: DatasetVersionInfo,
    pub prompt_column: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub seed: u64,
    /// Rows predicted, tokens in and out, finish reasons.
    pub generation: GenerationTotals,
    pub seconds: f64,
}

/// What flows from the input read to the generation.
enum Feed {
    Row(Row),
    /// The read finished; without it the generation fails and nothing is stored.
    End,
}

impl Citadel {
    /// Runs `request.model` over the rows of `request.input` the caller may see and writes them,
    /// each with its prediction, as the next version of `request.output` (see the module docs
    /// for the privileges and checks). Denials and failures are audited; success commits the
    /// version with its `batch.predict` event.
    pub async fn batch_predict(
        &self,
        ctx: &Context,
        request: &BatchRequest,
        progress: Option<BatchProgress>,
    ) -> Result<BatchReport> {
        let started = Instant::now();
        request.validate()?;
        let (model_ref, selector) = parse_model_spec(&request.model)?;
        let (input_name, input_selector) = parse_spec(&request.input)?;
        let output_ref = SecurableRef::new(SecurableKind::Dataset, request.output.clone())?;

        self.authorize_read(ctx, ACTION, Privilege::Execute, &model_ref)
            .await?;
        let input = self
            .load_dataset(ctx, ACTION, Privilege::Select, &input_name)
            .await?;
        let (write_privilege, write_on) = self
            .create_or_modify_privilege(&output_ref, Privilege::CreateDataset)
            .await?;
        self.authorize_read(ctx, ACTION, write_privilege, &write_on)
            .await?;
        self.check_output_kind(&output_ref).await?;

        let input_version = input.pick(&input_selector)?.clone();
        version_ref(self, &input_version).await?;
        let schema: Schema = serde_json::from_str(&input_version.schema).map_err(json_error)?;
        let input_label = format!("{input_name}@v{}", input_version.version);
        check_columns(&schema, &request.column, &input_label)?;

        let (model, record) = self.load_model_version(&model_ref, &selector).await?;
        let model_label = format!("{}@{}", model.full_name, record.version);
        let params = json!({
            "model": model.full_name,
            "model_version": record.version,
            "input": input_name.to_string(),
            "input_version": input_version.version,
            "output": output_ref.to_string(),
            "column": request.column,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        });
        if let Some(reason) = self.batch_refusal(&model, &record).await? {
            let event = ctx
                .event(ACTION)
                .on(model_ref.audit_label())
                .with_params(params)
                .denied(reason.clone());
            self.store.audit(event).await?;
            return Err(Error::Forbidden(format!("{ACTION}: {reason}")));
        }

        let settings = Settings {
            column: request.column.clone(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            seed: request.seed,
            model: model.full_name.clone(),
            model_version: record.version,
        };
        let input_rows = input_version.row_count;
        let run = self
            .predict_rows(
                ctx,
                (&model, &record),
                (&input_label, input_rows),
                settings,
                progress,
            )
            .await;
        let (reference, summary, totals, rows_filtered) = match run {
            Ok(done) => done,
            Err(err) => {
                let event = ctx
                    .event(ACTION)
                    .on(output_ref.audit_label())
                    .with_params(params)
                    .failed(err.to_string());
                self.store.audit(event).await?;
                return Err(err);
            }
        };

        let source = json!({
            "kind": "batch_predict",
            "model": model.full_name,
            "model_version": record.version,
            "model_root_digest": record.root_digest,
            "input": input_name.to_string(),
            "input_version": input_version.version,
            "input_digest": input_version.artifact_digest,
            "column": request.column,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        });
        let mut tx = self
            .begin_authorized(ctx, ACTION, write_privilege, &write_on, &params)
            .await?;
        let (dataset, created) = match tx.securable_by_name(&output_ref.db_name()).await? {
            Some(existing) if existing.kind == SecurableKind::Dataset => (existing, false),
            Some(_) => return Err(output_taken(&output_ref)),
            None => (
                self.create_dataset_in(&mut tx, ctx, &output_ref).await?,
                true,
            ),
        };
        // A new output keeps the input's masks and row filters: the rows are the input's.
        let rules_copied = created && !input.row_policy()?.is_empty();
        if rules_copied {
            tx.set_row_policy(dataset.id, &input.record.row_policy)
                .await?;
        }
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
        let mut event_params = params;
        if let Value::Object(map) = &mut event_params {
            map.insert("version".into(), json!(version.version));
            map.insert("rows".into(), json!(summary.rows));
            map.insert("rows_filtered".into(), json!(rows_filtered));
            map.insert("digest".into(), json!(reference.digest));
            map.insert("created".into(), json!(created));
            map.insert("rules_copied".into(), json!(rules_copied));
        }
        tx.commit(
            ctx.event(ACTION)
                .on(output_ref.audit_label())
                .with_params(event_params),
        )
        .await?;
        tracing::info!(
            model = %model_label,
            input = %input_label,
            output = %output_ref,
            rows = summary.rows,
            "batch predictions stored"
        );
        Ok(BatchReport {
            model: model.full_name.clone(),
            model_version: record.version,
            model_root_digest: record.root_digest.clone(),
            input: input_name.to_string(),
            input_version: input_version.version,
            rows_filtered,
            output: self.version_info(&output_ref, &version).await?,
            prompt_column: request.column.clone(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            seed: request.seed,
            generation: totals,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Exports and verifies the model into a private folder, then streams the input's rows (as
    /// the caller may read them) through the model into a new encrypted artifact. Nothing is
    /// stored unless every row was read and predicted.
    async fn predict_rows(
        &self,
        ctx: &Context,
        (model, record): (&Securable, &ModelVersionRecord),
        (input_spec, input_rows): (&str, u64),
        settings: Settings,
        progress: Option<BatchProgress>,
    ) -> Result<(
        citadel_blob::ArtifactRef,
        citadel_data::EncodeSummary,
        GenerationTotals,
        u64,
    )> {
        let staging = tempfile::Builder::new()
            .prefix("citadel-batch-")
            .tempdir()
            .map_err(|source| Error::Home {
                path: std::env::temp_dir(),
                action: "create a folder in",
                source,
            })?;
        let dir = staging.path().join("model");
        self.export_version(model, record, &dir).await?;
        let notify = move |event: BatchEvent| {
            if let Some(progress) = &progress {
                progress(event);
            }
        };
        notify(BatchEvent::Verified {
            model: model.full_name.clone(),
            version: record.version,
        });

        let (sender, mut receiver) = mpsc::channel::<Feed>(READ_AHEAD);
        // Set when the read ended without finishing, so its error is the one reported.
        let input_cut = Arc::new(AtomicBool::new(false));
        let cut = input_cut.clone();
        let rows_sender = sender.clone();
        let read = async move {
            let report = self
                .read_dataset(ctx, input_spec, ReadOptions::default(), move |row| {
                    rows_sender.blocking_send(Feed::Row(row)).map_err(|_| {
                        Error::InvalidInput(
                            "the batch prediction reading these rows stopped".into(),
                        )
                    })
                })
                .await;
            if report.is_ok() {
                // The generation may have failed already; its error is the one reported.
                let _ = sender.send(Feed::End).await;
            }
            report
        };
        let write = write_rows(&self.blobs, move |writer| {
            let mut predictor = Predictor::load(&dir, settings)?;
            notify(BatchEvent::Started { rows: input_rows });
            loop {
                match receiver.blocking_recv() {
                    Some(Feed::Row(row)) => {
                        if predictor.push(row, writer)? {
                            notify(BatchEvent::Predicted {
                                rows: predictor.totals.rows,
                                tokens: predictor.totals.completion_tokens,
                            });
                        }
                    }
                    Some(Feed::End) => break,
                    None => {
                        cut.store(true, Ordering::Relaxed);
                        return Err(Error::InvalidInput(
                            "the input could not be read to its end; nothing was stored".into(),
                        ));
                    }
                }
            }
            predictor.flush(writer)?;
            notify(BatchEvent::Predicted {
                rows: predictor.totals.rows,
                tokens: predictor.totals.completion_tokens,
            });
            Ok(predictor.totals)
        });
        let (read, written) = tokio::join!(read, write);
        drop(staging);
        match (read, written) {
            (Err(err), Err(_)) if input_cut.load(Ordering::Relaxed) => Err(err),
            (_, Err(err)) | (Err(err), Ok(_)) => Err(err),
            (Ok(report), Ok((reference, summary, totals))) => {
                Ok((reference, summary, totals, report.rows_filtered))
            }
        }
    }

    /// Refuses an output name held by something other than a dataset.
    async fn check_output_kind(&self, output: &SecurableRef) -> Result<()> {
        match self.store.securable_by_name(&output.db_name()).await? {
            Some(existing) if existing.kind != SecurableKind::Dataset => Err(output_taken(output)),
            _ => Ok(()),
        }
    }

    /// Why `record` may not run a batch, if it may not: a rejected or archived version never
    /// runs; in a catalog that demands approval only an approved version whose gates passed
    /// (its own, or its origin's for a promoted copy) runs. The signature and every byte are
    /// checked when the files are exported.
    async fn batch_refusal(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
    ) -> Result<Option<String>> {
        let label = format!("{}@{}", model.full_name, record.version);
        let status: VersionStatus = record.registry.status.parse()?;
        if matches!(status, VersionStatus::Rejected | VersionStatus::Archived) {
            return Ok(Some(format!(
                "{label} is {status} and never runs; choose an approved version"
            )));
        }
        let catalog = model.full_name.split('.').next().unwrap_or_default();
        if !PROTECTED_CATALOGS.contains(&catalog) {
            return Ok(None);
        }
        if !status.deployable() {
            return Ok(Some(format!(
                "{label} is {status}: in {catalog} only approved versions run; ask an approver \
                 (`citadel model approve {label} --comment …`)"
            )));
        }
        let gates_passed = match &record.registry.promoted_from {
            Some(origin) => self.origin_gates_passed(origin).await?,
            None => record.registry.gates_passed == Some(true),
        };
        if !gates_passed {
            return Ok(Some(format!(
                "{label} has no passed quality gates on record: in {catalog} only versions whose \
                 gates passed run"
            )));
        }
        Ok(None)
    }
}

/// Refuses a prompt column the input lacks or that does not hold text, and an input that already
/// has a column the batch would write.
fn check_columns(schema: &Schema, column: &str, input: &str) -> Result<()> {
    let names = || {
        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let Some(found) = schema.column(column) else {
        return Err(Error::InvalidInput(format!(
            "{input} has no column `{column}`; its columns are: {}. Name the prompt column with \
             --column",
            names()
        )));
    };
    if !matches!(found.data_type, DataType::String) {
        return Err(Error::InvalidInput(format!(
            "column `{column}` of {input} holds {}, not text; name a text column with --column \
             (columns: {})",
            type_name(found.data_type),
            names()
        )));
    }
    if let Some(clash) = OUTPUT_COLUMNS.iter().find(|c| schema.column(c).is_some()) {
        return Err(Error::InvalidInput(format!(
            "{input} already has a column `{clash}`, which batch predictions write \
             ({}); predict from a dataset without these columns",
            OUTPUT_COLUMNS.join(", ")
        )));
    }
    Ok(())
}

/// A schema type in words.
fn type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Null => "only nulls",
        DataType::Boolean => "booleans",
        DataType::Integer => "integers",
        DataType::Float => "numbers",
        DataType::String => "text",
        DataType::Array => "arrays",
        DataType::Object => "objects",
        DataType::Mixed => "values of mixed types",
    }
}

fn output_taken(output: &SecurableRef) -> Error {
    Error::AlreadyExists {
        what: "securable",
        name: output.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citadel_data::Column;

    fn schema(columns: &[(&str, DataType)]) -> Schema {
        Schema {
            columns: columns
                .iter()
                .map(|(name, data_type)| Column {
                    name: (*name).to_owned(),
                    data_type: *data_type,
                    nullable: false,
                })
                .collect(),
        }
    }

    #[test]
    fn a_missing_column_names_the_columns_that_exist() {
        let s = schema(&[("id", DataType::Integer), ("question", DataType::String)]);
        let err = check_columns(&s, "prompt", "dev.x.y@v1").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no column `prompt`"), "{text}");
        assert!(text.contains("id, question"), "{text}");
        assert!(check_columns(&s, "question", "dev.x.y@v1").is_ok());
    }

    #[test]
    fn a_non_text_column_or_a_clashing_one_is_refused() {
        let s = schema(&[("id", DataType::Integer), ("prompt", DataType::String)]);
        let text = check_columns(&s, "id", "d").unwrap_err().to_string();
        assert!(text.contains("holds integers, not text"), "{text}");
        let s = schema(&[
            ("prompt", DataType::String),
            ("prediction", DataType::String),
        ]);
        let text = check_columns(&s, "prompt", "d").unwrap_err().to_string();
        assert!(text.contains("`prediction`"), "{text}");
    }

    #[test]
    fn requests_are_checked_before_anything_runs() {
        let output: FullName = "dev.x.out".parse().unwrap();
        let mut request = BatchRequest::new("dev.x.m@1", "dev.x.in", output);
        assert!(request.validate().is_ok());
        request.max_tokens = 0;
        assert!(request.validate().is_err());
        request.max_tokens = 4;
        request.temperature = f64::NAN;
        assert!(request.validate().is_err());
        request.temperature = 0.5;
        request.column = " ".into();
        assert!(request.validate().is_err());
    }
}
