//! `citadel pipeline run`: the base model version (verified) → the datasets (cleared for
//! training) → a tracked LoRA run with checkpoints → evaluation of the candidate, the base and the
//! champion → gates → registration of the merged weights and the adapter (signed, with a model
//! card and an ML-BOM) → the `challenger` alias. A re-run with unchanged inputs skips what is
//! done; a run whose process died resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_engine::export::save_full_model;
use citadel_engine::trainer::StepReport;
use citadel_engine::{Device, Model};
use citadel_hub::manifest::Source;
use citadel_hub::scan::scan_file;
use citadel_registry::gates::{self, EvalMetrics, GateInput, GatePolicy, GateReport};
use citadel_registry::spec::PipelineSpec;
use citadel_registry::status::VersionStatus;
use citadel_store::{ModelVersionRecord, Securable, VersionRegistry};
use serde::Serialize;
use serde_json::json;

use crate::datasets::json_error;
use crate::documents::{self, DocumentFacts};
use crate::models::{parse_model_spec, ModelSelector, Registration, StoredFile};
use crate::registry::{CHALLENGER, CHAMPION};
use crate::runs::{RunPlan, TrainedRun};
use crate::training::{examples_from_rows, tokenize_for, Tokenized};
use crate::{Citadel, Context, Error, ModelVersionInfo, ReadOptions, Result, SecurableRef};

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Base,
    Data,
    Train,
    Evaluate,
    Gates,
    Register,
    Alias,
}

impl Stage {
    /// The stage's name as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base model",
            Self::Data => "datasets",
            Self::Train => "train",
            Self::Evaluate => "evaluate",
            Self::Gates => "gates",
            Self::Register => "register",
            Self::Alias => "alias",
        }
    }
}

/// What a pipeline reports as it goes.
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    /// A stage began.
    Started(Stage),
    /// A stage ended.
    Finished(StageReport),
    /// Training is about to run `total` steps from `from`.
    Training { from: u64, total: u64 },
    /// One optimizer step.
    Step(StepReport),
}

/// How a stage ended.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: Stage,
    /// `done`, `skipped` (already done by an earlier run) or `resumed`.
    pub outcome: &'static str,
    pub detail: String,
    pub seconds: f64,
}

/// One evaluated model.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EvalRow {
    /// `candidate`, `base` or `champion`.
    pub subject: String,
    pub model: String,
    pub loss: f64,
    pub perplexity: f64,
}

/// What a pipeline run did.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub pipeline: String,
    pub run_id: String,
    pub stages: Vec<StageReport>,
    pub evaluation: Vec<EvalRow>,
    pub gates: GateReport,
    pub version: ModelVersionInfo,
}

/// Receives pipeline events (progress bars, logs).
pub type PipelineObserver = dyn Fn(PipelineEvent) + Send + Sync;

/// A dataset version cleared for training, with its rows.
pub(crate) struct ClearedData {
    pub(crate) name: String,
    pub(crate) rows: Vec<citadel_data::Row>,
    pub(crate) digest: Option<String>,
    pub(crate) pii_handling: String,
}

/// The stages' shared state.
struct Work {
    dir: tempfile::TempDir,
    stages: Vec<StageReport>,
}

impl Work {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Citadel {
    /// Runs a pipeline as `ctx`. Every stage is authorized and audited by the operations it uses.
    pub async fn run_pipeline(
        &self,
        ctx: &Context,
        spec: &PipelineSpec,
        observe: &PipelineObserver,
    ) -> Result<PipelineReport> {
        spec.validate()?;
        let target = SecurableRef::parse(SecurableKind::Model, &spec.register.model)?;
        let mut work = Work {
            dir: tempfile::Builder::new()
                .prefix("citadel-pipeline-")
                .tempdir()
                .map_err(|source| Error::Home {
                    path: std::env::temp_dir(),
                    action: "create a folder in",
                    source,
                })?,
            stages: Vec::new(),
        };

        let started = stage_start(observe, Stage::Base);
        let base_dir = work.path("base");
        let (base_model, base_record) = self.checked_base(ctx, &spec.base.model, &base_dir).await?;
        let base_name = format!("{}@{}", base_model.full_name, base_record.version);
        finish(
            &mut work,
            observe,
            Stage::Base,
            "done",
            format!("{base_name} verified ({} files)", base_record.file_count),
            started,
        );

        let started = stage_start(observe, Stage::Data);
        let train = self.cleared_rows(ctx, &spec.data.train).await?;
        let eval = self.cleared_rows(ctx, &spec.data.eval).await?;
        finish(
            &mut work,
            observe,
            Stage::Data,
            "done",
            format!(
                "{} ({} rows), {} ({} rows) cleared for training",
                train.name,
                train.rows.len(),
                eval.name,
                eval.rows.len()
            ),
            started,
        );

        let plan = RunPlan {
            spec,
            target: &target,
            base_name: &base_name,
            base_root_digest: &base_record.root_digest,
            train: &train,
            eval: &eval,
        };
        let started = stage_start(observe, Stage::Train);
        let trained = self
            .train_tracked(ctx, &plan, &base_dir, &work.path("run"), observe)
            .await?;
        finish(
            &mut work,
            observe,
            Stage::Train,
            trained.outcome,
            trained.detail.clone(),
            started,
        );

        if let Some((model, record)) = self.version_of_run(&target, &trained.run_id).await? {
            for stage in [Stage::Evaluate, Stage::Gates, Stage::Register] {
                let started = stage_start(observe, stage);
                finish(
                    &mut work,
                    observe,
                    stage,
                    "skipped",
                    format!(
                        "{}@{} already registered by this run",
                        model.full_name, record.version
                    ),
                    started,
                );
            }
            let gates: GateReport = match &record.registry.gates {
                Some(text) => serde_json::from_str(text).map_err(json_error)?,
                None => gates::evaluate(
                    &GatePolicy::default(),
                    &GateInput {
                        candidate: EvalMetrics {
                            loss: f64::NAN,
                            perplexity: f64::NAN,
                            tokens: 0,
                        },
                        champion: None,
                    },
                ),
            };
            let evaluation = trained.evaluation.clone().unwrap_or_default();
            return self
                .alias_and_report(
                    ctx, spec, &model, &record, work, observe, trained, evaluation, gates,
                )
                .await;
        }

        let started = stage_start(observe, Stage::Evaluate);
        let held_out = tokenize_for(
            &base_dir,
            &examples_from_rows(&eval.rows, &eval.name)?,
            spec.train.seq_len,
        )?;
        let adapter_dir = work.path("adapter");
        self.materialize_run_outputs(&trained.run_id, &adapter_dir)
            .await?;
        let evaluation = self
            .evaluate_all(
                ctx,
                &target,
                &base_dir,
                &adapter_dir,
                &base_name,
                &held_out,
                &work,
            )
            .await?;
        self.record_evaluation(ctx, &trained.run_id, &evaluation)
            .await?;
        finish(
            &mut work,
            observe,
            Stage::Evaluate,
            "done",
            evaluation
                .iter()
                .map(|row| format!("{} loss {:.4}", row.subject, row.loss))
                .collect::<Vec<_>>()
                .join(", "),
            started,
        );

        let started = stage_start(observe, Stage::Gates);
        let policy = self.gate_policy(&target, spec);
        let metrics = |subject: &str| {
            evaluation
                .iter()
                .find(|r| r.subject == subject)
                .map(|r| EvalMetrics {
                    loss: r.loss,
                    perplexity: r.perplexity,
                    tokens: 0,
                })
        };
        let candidate = metrics("candidate")
            .ok_or_else(|| Error::InvalidInput("the candidate was not evaluated".into()))?;
        let report = gates::evaluate(
            &policy,
            &GateInput {
                candidate,
                champion: metrics("champion"),
            },
        );
        finish(
            &mut work,
            observe,
            Stage::Gates,
            "done",
            if report.passed() {
                "every gate passed".to_owned()
            } else {
                format!("failed: {}", report.reasons().join("; "))
            },
            started,
        );

        let started = stage_start(observe, Stage::Register);
        let out_dir = work.path("out");
        merge_for_serving(&base_dir, &adapter_dir, &out_dir)?;
        let facts = DocumentFacts {
            spec,
            run_id: &trained.run_id,
            base_name: &base_name,
            base_source: &base_record.source,
            base_root_digest: &base_record.root_digest,
            datasets: vec![(&train, "train"), (&eval, "eval")],
            evaluation: &evaluation,
            gates: &report,
            trained: &trained,
            author: &ctx.principal.name,
        };
        let (model, record) = self
            .register_trained(
                ctx, &target, &out_dir, &trained, &report, &facts, &base_name,
            )
            .await?;
        finish(
            &mut work,
            observe,
            Stage::Register,
            "done",
            format!(
                "{}@{} {}",
                model.full_name, record.version, record.registry.status
            ),
            started,
        );
        self.alias_and_report(
            ctx, spec, &model, &record, work, observe, trained, evaluation, report,
        )
        .await
    }

    /// Sets the pipeline's alias (unless the version was rejected) and builds the report.
    #[allow(clippy::too_many_arguments)]
    async fn alias_and_report(
        &self,
        ctx: &Context,
        spec: &PipelineSpec,
        model: &Securable,
        record: &ModelVersionRecord,
        mut work: Work,
        observe: &PipelineObserver,
        trained: TrainedRun,
        evaluation: Vec<EvalRow>,
        gates: GateReport,
    ) -> Result<PipelineReport> {
        let started = stage_start(observe, Stage::Alias);
        let label = format!("{}@{}", model.full_name, record.version);
        let alias = if spec.register.alias.is_empty() {
            CHALLENGER
        } else {
            spec.register.alias.as_str()
        };
        let detail = if record.registry.status == VersionStatus::Rejected.as_str() {
            format!("none: {label} was rejected by its gates and can never be deployed")
        } else {
            let current = self
                .store
                .aliases(model.id)
                .await?
                .into_iter()
                .find(|a| a.alias == alias)
                .map(|a| a.version);
            if current != Some(record.version) {
                self.set_model_alias(ctx, &label, alias).await?;
            }
            for (key, value) in &spec.register.tags {
                self.tag_model_version(ctx, &label, key, Some(value))
                    .await?;
            }
            format!("{alias} → {label}")
        };
        finish(&mut work, observe, Stage::Alias, "done", detail, started);
        let files = self.store.model_files(model.id, record.version).await?;
        let version = self.model_version_info(model, record, &files).await?;
        Ok(PipelineReport {
            pipeline: spec.name.clone(),
            run_id: trained.run_id,
            stages: work.stages,
            evaluation,
            gates,
            version,
        })
    }

    /// Loads and verifies the base version (`SELECT` on it), writing its files to `dir`.
    async fn checked_base(
        &self,
        ctx: &Context,
        spec: &str,
        dir: &Path,
    ) -> Result<(Securable, ModelVersionRecord)> {
        let (base_ref, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &base_ref)
            .await?;
        let (model, record) = self.load_model_version(&base_ref, &selector).await?;
        let status: VersionStatus = record.registry.status.parse()?;
        if matches!(status, VersionStatus::Rejected | VersionStatus::Archived) {
            return Err(Error::InvalidInput(format!(
                "{}@{} is {status} and cannot be a base model",
                model.full_name, record.version
            )));
        }
        self.materialize_version(&model, &record, dir).await?;
        Ok((model, record))
    }

    /// Verifies a version (signature, manifest, every byte) and writes its files to `dir`.
    pub(crate) async fn materialize_version(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
        dir: &Path,
    ) -> Result<()> {
        let check = self.check_model_version(model, record).await?;
        if !check.ok() {
            return Err(Error::ModelTampered {
                model: format!("{}@{}", model.full_name, record.version),
                problems: check.problems.join("; "),
            });
        }
        for file in self.store.model_files(model.id, record.version).await? {
            citadel_hub::files::check_path(&file.path)?;
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                create_dir(parent)?;
            }
            let reference = self.artifact_reference(&file.digest).await?;
            self.blobs.read_to_path(&reference, &path).await?;
        }
        Ok(())
    }

    /// Clears a dataset version for training (`SELECT`; the PII verdict or a waiver) and reads
    /// its rows as the caller may see them.
    async fn cleared_rows(&self, ctx: &Context, spec: &str) -> Result<ClearedData> {
        let clearance = self.clear_for_training(ctx, spec).await?;
        let name = format!("{}@v{}", clearance.dataset, clearance.version);
        let rows = Arc::new(Mutex::new(Vec::new()));
        let sink = rows.clone();
        self.read_dataset(ctx, &name, ReadOptions::default(), move |row| {
            sink.lock()
                .map_err(|_| Error::InvalidInput("the row collector failed".into()))?
                .push(row);
            Ok(())
        })
        .await?;
        let rows = std::mem::take(
            &mut *rows
                .lock()
                .map_err(|_| Error::InvalidInput("the row collector failed".into()))?,
        );
        let dataset: FullName = clearance.dataset.parse()?;
        let info = self.show_dataset(ctx, &dataset).await?;
        let version = info
            .versions
            .iter()
            .find(|v| v.version == clearance.version);
        let pii_handling = match (&clearance.waiver, version) {
            (Some(waiver), _) => format!("PII waiver {waiver} approved"),
            (None, Some(v)) if v.source.get("anonymized_from").is_some() => {
                "anonymized; scanned with no unredacted PII".to_owned()
            }
            _ => "scanned with no unredacted PII".to_owned(),
        };
        Ok(ClearedData {
            name,
            rows,
            digest: version.and_then(|v| v.digest.clone()),
            pii_handling,
        })
    }

    /// Evaluates the candidate (base + adapter), the base and the current champion.
    #[allow(clippy::too_many_arguments)]
    async fn evaluate_all(
        &self,
        ctx: &Context,
        target: &SecurableRef,
        base_dir: &Path,
        adapter_dir: &Path,
        base_name: &str,
        held_out: &Tokenized,
        work: &Work,
    ) -> Result<Vec<EvalRow>> {
        let mut rows = Vec::new();
        let row = |subject: &str, model: &str, m: EvalMetrics| EvalRow {
            subject: subject.to_owned(),
            model: model.to_owned(),
            loss: m.loss,
            perplexity: m.perplexity,
        };
        let candidate =
            blocking(|| crate::training::evaluate_folder(base_dir, Some(adapter_dir), held_out))?;
        rows.push(row(
            "candidate",
            &format!("{} (new)", target.db_name()),
            candidate,
        ));
        let base = blocking(|| crate::training::evaluate_folder(base_dir, None, held_out))?;
        rows.push(row("base", base_name, base));
        let champion = match self.securable_named(target).await {
            Ok(model) => self
                .store
                .aliases(model.id)
                .await?
                .into_iter()
                .find(|a| a.alias == CHAMPION)
                .map(|a| (model, a.version)),
            Err(Error::NotFound { .. }) => None,
            Err(err) => return Err(err),
        };
        if let Some((model, version)) = champion {
            self.authorize_read(ctx, "model.read", Privilege::Select, target)
                .await?;
            let selector = ModelSelector::Version(citadel_data::VersionSelector::Number(version));
            let (_, record) = self.load_model_version(target, &selector).await?;
            let dir = work.path("champion");
            self.materialize_version(&model, &record, &dir).await?;
            let metrics = blocking(|| crate::training::evaluate_folder(&dir, None, held_out))?;
            rows.push(row(
                "champion",
                &format!("{}@{version}", model.full_name),
                metrics,
            ));
        }
        Ok(rows)
    }

    /// The gate policy for the target's catalog, tightened by the pipeline's own gates.
    fn gate_policy(&self, target: &SecurableRef, spec: &PipelineSpec) -> GatePolicy {
        let catalog = target.db_name();
        let catalog = catalog.split('.').next().unwrap_or_default();
        let policy = self.config.gates.for_catalog(catalog);
        match &spec.gates {
            Some(own) => policy.tightened_by(own),
            None => policy,
        }
    }

    /// The version a run registered, if it did.
    async fn version_of_run(
        &self,
        target: &SecurableRef,
        run_id: &str,
    ) -> Result<Option<(Securable, ModelVersionRecord)>> {
        let model = match self.securable_named(target).await {
            Ok(model) => model,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let found = self
            .store
            .model_versions(model.id)
            .await?
            .into_iter()
            .find(|v| v.registry.run_id.as_deref() == Some(run_id));
        Ok(found.map(|record| (model, record)))
    }

    /// Stores the merged weights and the adapter and registers them as the next version, with
    /// its status from the gates, its lineage, model card and ML-BOM.
    #[allow(clippy::too_many_arguments)]
    async fn register_trained(
        &self,
        ctx: &Context,
        target: &SecurableRef,
        out_dir: &Path,
        trained: &TrainedRun,
        report: &GateReport,
        facts: &DocumentFacts<'_>,
        base_name: &str,
    ) -> Result<(Securable, ModelVersionRecord)> {
        let mut stored = Vec::new();
        for file in citadel_hub::local::list_files(out_dir)? {
            let scan = scan_file(&file.path, &file.relative)?;
            let reference = self.blobs.put_file(&file.path).await?;
            stored.push(StoredFile {
                path: file.relative,
                reference,
                scan,
            });
        }
        let (status, reason) = if report.passed() {
            (VersionStatus::PendingReview, None)
        } else {
            (
                VersionStatus::Rejected,
                Some(format!(
                    "quality gates failed: {}",
                    report.reasons().join("; ")
                )),
            )
        };
        let lineage = json!({
            "base": base_name,
            "datasets": facts.datasets.iter().map(|(d, role)| json!({
                "name": d.name, "role": role, "sha256": d.digest, "pii_handling": d.pii_handling,
            })).collect::<Vec<_>>(),
            "run": trained.run_id,
        });
        let writer = |version: u32, manifest: &citadel_hub::manifest::Manifest| {
            documents::write(
                facts,
                &target.db_name(),
                version,
                manifest,
                &self.model_key.verifying_key().key_id(),
            )
        };
        let registration = Registration {
            registry: VersionRegistry {
                status: status.as_str().to_owned(),
                status_reason: reason,
                run_id: Some(trained.run_id.clone()),
                gates: Some(serde_json::to_string(report).map_err(json_error)?),
                gates_passed: Some(report.passed()),
                lineage: Some(lineage.to_string()),
                ..VersionRegistry::default()
            },
            documents: Some(&writer),
        };
        let info = self
            .register_model_version(
                ctx,
                "model.register",
                target,
                Source::Training {
                    run: trained.run_id.clone(),
                    base: base_name.to_owned(),
                    base_root_digest: facts.base_root_digest.to_owned(),
                },
                stored,
                json!({ "run": trained.run_id, "gates_passed": report.passed() }),
                registration,
            )
            .await?;
        let selector = ModelSelector::Version(citadel_data::VersionSelector::Number(info.version));
        self.load_model_version(target, &selector).await
    }
}

/// Loads the base with the adapter, merges it, and writes the serving weights to `out_dir` with
/// the adapter itself under `out_dir/adapter/`.
fn merge_for_serving(base_dir: &Path, adapter_dir: &Path, out_dir: &Path) -> Result<()> {
    blocking(|| {
        let mut model = Model::load(base_dir, &Device::Cpu)?;
        model.load_adapter(adapter_dir)?;
        model.merge_adapter()?;
        // The export writes the weights an optimizer would hold: make them all trainable.
        model.set_full_finetune(true)?;
        save_full_model(&model, base_dir, out_dir)?;
        let adapter_out = out_dir.join("adapter");
        create_dir(&adapter_out)?;
        for name in [
            citadel_engine::ADAPTER_CONFIG,
            citadel_engine::ADAPTER_WEIGHTS,
        ] {
            std::fs::copy(adapter_dir.join(name), adapter_out.join(name)).map_err(|source| {
                Error::Home {
                    path: adapter_out.join(name),
                    action: "write",
                    source,
                }
            })?;
        }
        Ok(())
    })
}

/// Runs CPU-heavy work without stalling the async runtime's other tasks.
pub(crate) fn blocking<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    tokio::task::block_in_place(work)
}

pub(crate) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Home {
        path: path.to_owned(),
        action: "create",
        source,
    })
}

fn stage_start(observe: &PipelineObserver, stage: Stage) -> std::time::Instant {
    observe(PipelineEvent::Started(stage));
    std::time::Instant::now()
}

fn finish(
    work: &mut Work,
    observe: &PipelineObserver,
    stage: Stage,
    outcome: &'static str,
    detail: String,
    started: std::time::Instant,
) {
    let report = StageReport {
        stage,
        outcome,
        detail,
        seconds: started.elapsed().as_secs_f64(),
    };
    observe(PipelineEvent::Finished(report.clone()));
    work.stages.push(report);
}
