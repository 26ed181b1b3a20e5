//! Tracked training runs: starting, resuming and finishing them under authorization, budgets and
//! audit; checkpoints and outputs as encrypted artifacts (the last K checkpoints kept); and
//! `run list|show|compare`.

use std::collections::BTreeMap;
use std::path::Path;

use citadel_blob::ArtifactRef;
use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_engine::trainer::StepReport;
use citadel_registry::budget::{budget_for, BudgetVerdict};
use citadel_store::{MetricPoint, RunArtifactRecord, RunRecord};
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::datasets::json_error;
use crate::pipeline::{
    blocking, create_dir, ClearedData, EvalRow, PipelineEvent, PipelineObserver,
};
use crate::system::{cpu_seconds, host_name, peak_rss_mib, process_alive};
use crate::training::{examples_from_rows, tokenize_for, TrainingHooks, TrainingJob};
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Citadel's version and, when built from a git checkout, the commit.
pub fn code_version() -> String {
    match option_env!("CITADEL_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            format!("citadel {} ({commit})", env!("CARGO_PKG_VERSION"))
        }
        _ => format!("citadel {}", env!("CARGO_PKG_VERSION")),
    }
}

/// Everything a tracked run is made from.
pub(crate) struct RunPlan<'a> {
    pub(crate) spec: &'a citadel_registry::spec::PipelineSpec,
    pub(crate) target: &'a SecurableRef,
    pub(crate) base_name: &'a str,
    pub(crate) base_root_digest: &'a str,
    pub(crate) train: &'a ClearedData,
    pub(crate) eval: &'a ClearedData,
}

impl RunPlan<'_> {
    /// SHA-256 over the training parameters and the exact inputs: the base version's root
    /// digest and the dataset versions' digests.
    fn fingerprint(&self) -> String {
        let text = json!({
            "spec": self.spec.run_fingerprint(),
            "target": self.target.db_name(),
            "base": self.base_root_digest,
            "train": [self.train.name, self.train.digest],
            "eval": [self.eval.name, self.eval.digest],
        })
        .to_string();
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    }

    fn lineage(&self) -> Value {
        json!({
            "base": { "name": self.base_name, "root_digest": self.base_root_digest },
            "datasets": [
                { "role": "train", "name": self.train.name, "sha256": self.train.digest },
                { "role": "eval", "name": self.eval.name, "sha256": self.eval.digest },
            ],
        })
    }
}

/// A run that finished training.
#[derive(Debug, Clone)]
pub(crate) struct TrainedRun {
    pub(crate) run_id: String,
    /// `done`, `resumed` or `skipped`.
    pub(crate) outcome: &'static str,
    pub(crate) detail: String,
    pub(crate) summary: Value,
    pub(crate) params: Value,
    /// Evaluation recorded by an earlier pipeline run, if any.
    pub(crate) evaluation: Option<Vec<EvalRow>>,
}

/// A run as shown.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub pipeline: String,
    pub model: String,
    pub status: String,
    pub steps_done: u64,
    pub total_steps: u64,
    pub attempts: u32,
    pub params: Value,
    pub lineage: Value,
    pub code_version: String,
    pub seed: u64,
    pub summary: Option<Value>,
    pub error: Option<String>,
    pub cpu_seconds: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub created_by: String,
}

/// A run with its metrics and files.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    pub run: RunInfo,
    /// `key → [(step, value)]`.
    pub metrics: BTreeMap<String, Vec<(u64, f64)>>,
    pub checkpoints: Vec<u64>,
    pub outputs: Vec<String>,
}

/// The `run_artifacts` kinds.
const CHECKPOINT: &str = "checkpoint";
const OUTPUT: &str = "output";

impl Citadel {
    /// Trains for a plan as a tracked run: reuses a run that already succeeded with the same
    /// fingerprint, resumes one whose process died from its last checkpoint, or starts a new
    /// one within the budget.
    pub(crate) async fn train_tracked(
        &self,
        ctx: &Context,
        plan: &RunPlan<'_>,
        base_dir: &Path,
        scratch: &Path,
        observe: &PipelineObserver,
    ) -> Result<TrainedRun> {
        let fingerprint = plan.fingerprint();
        let runs = self.store.runs_by_fingerprint(&fingerprint).await?;
        if let Some(done) = runs.iter().find(|r| r.status == "succeeded") {
            let summary: Value = parse_json(done.summary.as_deref())?;
            return Ok(TrainedRun {
                run_id: done.id.clone(),
                outcome: "skipped",
                detail: format!("run {} already trained these inputs", done.id),
                evaluation: summary
                    .get("evaluation")
                    .and_then(|v| serde_json::from_value(v.clone()).ok()),
                params: parse_json(Some(&done.params))?,
                summary,
            });
        }
        create_dir(scratch)?;
        let train = tokenize_for(
            base_dir,
            &examples_from_rows(&plan.train.rows, &plan.train.name)?,
            plan.spec.train.seq_len,
        )?;
        let mut job = blocking(|| {
            TrainingJob::prepare(base_dir, train, &plan.spec.train, &plan.spec.limits)
        })?;
        let (run, resumed_from) = match runs.first() {
            Some(run) => {
                self.check_not_running(run)?;
                let step = self.resume_run(ctx, plan, run, &mut job, scratch).await?;
                (run.clone(), Some(step))
            }
            None => (
                self.start_run(ctx, plan, &fingerprint, job.total_steps())
                    .await?,
                None,
            ),
        };
        observe(PipelineEvent::Training {
            from: resumed_from.unwrap_or(0),
            total: job.total_steps(),
        });
        let cpu_before = cpu_seconds();
        let mut hooks = RunHooks {
            citadel: self,
            ctx,
            run: &run,
            observe,
            pending: Vec::new(),
            keep: plan.spec.train.keep_checkpoints.max(1) as usize,
            cpu_base: run.cpu_seconds,
            cpu_before,
        };
        let outcome = blocking(|| job.run(scratch, &mut hooks));
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(err) => {
                let pending = std::mem::take(&mut hooks.pending);
                self.fail_run(ctx, &run, &pending, &err.to_string()).await?;
                return Err(err);
            }
        };
        let pending = std::mem::take(&mut hooks.pending);
        let adapter_dir = scratch.join("adapter");
        let model = job.into_model();
        blocking(|| Ok(model.save_adapter(&adapter_dir)?))?;
        let cpu = run.cpu_seconds + (cpu_seconds() - cpu_before);
        let summary = json!({
            "steps": outcome.steps,
            "final_loss": outcome.final_loss,
            "tokens": outcome.tokens,
            "train_seconds": outcome.seconds,
            "tokens_per_s": if outcome.seconds > 0.0 { outcome.tokens as f64 / outcome.seconds } else { 0.0 },
            "cpu_seconds": cpu,
            "peak_rss_mib": peak_rss_mib(),
            "attempts": run.attempts,
            "resumed_from_step": resumed_from,
        });
        self.succeed_run(ctx, &run, &pending, &adapter_dir, &summary, cpu)
            .await?;
        let detail = match resumed_from {
            Some(step) => format!(
                "run {} resumed from step {step}, {} steps, final loss {:.4}",
                run.id,
                outcome.steps,
                outcome.final_loss.unwrap_or(f64::NAN)
            ),
            None => format!(
                "run {}: {} steps, final loss {:.4}",
                run.id,
                outcome.steps,
                outcome.final_loss.unwrap_or(f64::NAN)
            ),
        };
        Ok(TrainedRun {
            run_id: run.id.clone(),
            outcome: if resumed_from.is_some() {
                "resumed"
            } else {
                "done"
            },
            detail,
            summary,
            params: parse_json(Some(&run.params))?,
            evaluation: None,
        })
    }

    /// Refuses to take over a run another live process is training.
    fn check_not_running(&self, run: &RunRecord) -> Result<()> {
        if run.status != "running" {
            return Ok(());
        }
        if let (Some(pid), Some(host)) = (run.owner_pid, &run.owner_host) {
            if *host == host_name() && pid != std::process::id() && process_alive(pid) {
                return Err(Error::InvalidInput(format!(
                    "run {} is being trained by process {pid}; wait for it to finish or stop it",
                    run.id
                )));
            }
        }
        Ok(())
    }

    /// Checks the budget and records a new run (`CREATE_MODEL` on the schema or `MODIFY` on
    /// the model).
    async fn start_run(
        &self,
        ctx: &Context,
        plan: &RunPlan<'_>,
        fingerprint: &str,
        total_steps: u64,
    ) -> Result<RunRecord> {
        const ACTION: &str = "run.start";
        let (privilege, on) = self
            .create_or_modify_privilege(plan.target, Privilege::CreateModel)
            .await?;
        let schema_name = plan
            .target
            .name
            .as_ref()
            .and_then(FullName::parent)
            .map(|n| n.to_string())
            .ok_or_else(|| Error::InvalidInput("a model name has a catalog and a schema".into()))?;
        let schema = self
            .securable_named(&SecurableRef::parse(SecurableKind::Schema, &schema_name)?)
            .await?;
        let params = serde_json::to_value(&plan.spec.train).map_err(json_error)?;
        let audit_params = json!({
            "pipeline": plan.spec.name,
            "model": plan.target.db_name(),
            "fingerprint": fingerprint,
        });
        let budget = self.budget_check(plan, &schema_name).await?;
        let mut tx = self
            .begin_authorized(ctx, ACTION, privilege, &on, &audit_params)
            .await?;
        if let Some(check) = &budget {
            if check.verdict == BudgetVerdict::Exceeded {
                let reason = check.message();
                tx.commit(
                    ctx.event(ACTION)
                        .on(plan.target.audit_label())
                        .with_params(audit_params)
                        .denied(reason.clone()),
                )
                .await?;
                return Err(Error::Forbidden(reason));
            }
        }
        let run = RunRecord {
            id: uuid::Uuid::now_v7().to_string(),
            schema_id: schema.id,
            model_name: plan.target.db_name(),
            pipeline: plan.spec.name.clone(),
            fingerprint: fingerprint.to_owned(),
            status: "running".to_owned(),
            params: params.to_string(),
            lineage: plan.lineage().to_string(),
            code_version: code_version(),
            seed: plan.spec.train.seed,
            total_steps,
            steps_done: 0,
            attempts: 1,
            owner_pid: Some(std::process::id()),
            owner_host: Some(host_name()),
            summary: None,
            error: None,
            cpu_seconds: 0.0,
            started_at: OffsetDateTime::now_utc(),
            finished_at: None,
            created_by: Some(ctx.principal.id),
        };
        tx.insert_run(&run).await?;
        let mut event_params = audit_params;
        event_params["run"] = json!(run.id);
        event_params["total_steps"] = json!(total_steps);
        tx.commit(
            ctx.event(ACTION)
                .on(plan.target.audit_label())
                .with_params(event_params.clone()),
        )
        .await?;
        if let Some(check) = budget.filter(|c| c.verdict == BudgetVerdict::Warning) {
            event_params["budget"] = json!(check);
            self.store
                .audit(
                    ctx.event("budget.warning")
                        .on(plan.target.audit_label())
                        .with_params(event_params),
                )
                .await?;
        }
        Ok(run)
    }

    /// The budget that applies to the target's schema, checked against what this run may use:
    /// its wall-time limit on every core (or one hour on every core when it sets none).
    async fn budget_check(
        &self,
        plan: &RunPlan<'_>,
        schema_name: &str,
    ) -> Result<Option<citadel_registry::budget::BudgetCheck>> {
        let (catalog, schema) = schema_name.split_once('.').unwrap_or((schema_name, ""));
        let Some((scope, budget)) = budget_for(&self.config.budgets, catalog, schema) else {
            return Ok(None);
        };
        let mut schema_ids = Vec::new();
        for securable in self.store.securables_of_kind(SecurableKind::Schema).await? {
            if securable.full_name == scope || securable.full_name.starts_with(&format!("{scope}."))
            {
                schema_ids.push(securable.id);
            }
        }
        let used = self.store.run_cpu_seconds(&schema_ids).await? / 3600.0;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = plan.spec.limits.max_wall_seconds.unwrap_or(3600) as f64;
        Ok(Some(budget.check(scope, used, wall * cores / 3600.0)))
    }

    /// Takes over an interrupted run and loads its last checkpoint into `job`; the step it
    /// resumes from (0 when it had none).
    async fn resume_run(
        &self,
        ctx: &Context,
        plan: &RunPlan<'_>,
        run: &RunRecord,
        job: &mut TrainingJob,
        scratch: &Path,
    ) -> Result<u64> {
        const ACTION: &str = "run.resume";
        let (privilege, on) = self
            .create_or_modify_privilege(plan.target, Privilege::CreateModel)
            .await?;
        let files = self.store.run_artifacts(&run.id).await?;
        let step = files
            .iter()
            .filter(|f| f.kind == CHECKPOINT)
            .map(|f| f.step)
            .max();
        let params =
            json!({ "run": run.id, "from_step": step.unwrap_or(0), "previous_status": run.status });
        let mut tx = self
            .begin_authorized(ctx, ACTION, privilege, &on, &params)
            .await?;
        tx.resume_run(&run.id, std::process::id(), &host_name())
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(plan.target.audit_label())
                .with_params(params),
        )
        .await?;
        let Some(step) = step else {
            return Ok(0);
        };
        let dir = scratch.join(format!("resume-{step}"));
        for file in files
            .iter()
            .filter(|f| f.kind == CHECKPOINT && f.step == step)
        {
            self.read_run_file(file, &dir).await?;
        }
        blocking(|| job.resume(&dir))
    }

    /// Stores a checkpoint folder and the metrics since the last one, and forgets checkpoints
    /// beyond the newest `keep`, in one audited transaction.
    async fn save_run_checkpoint(
        &self,
        ctx: &Context,
        run: &RunRecord,
        checkpoint: Checkpoint<'_>,
    ) -> Result<()> {
        let Checkpoint {
            step,
            dir,
            metrics,
            keep,
            cpu,
        } = checkpoint;
        let stored = self.store_folder(dir).await?;
        let earlier: Vec<u64> = {
            let mut steps: Vec<u64> = self
                .store
                .run_artifacts(&run.id)
                .await?
                .into_iter()
                .filter(|f| f.kind == CHECKPOINT && f.step != step)
                .map(|f| f.step)
                .collect();
            steps.sort_unstable();
            steps.dedup();
            steps
        };
        let drop_count = (earlier.len() + 1).saturating_sub(keep);
        let mut tx = self.store.begin_write().await?;
        self.record_run_progress(&mut tx, ctx, run, CHECKPOINT, step, &stored, metrics, cpu)
            .await?;
        let mut unused: Vec<ArtifactRef> = Vec::new();
        for old in earlier.iter().take(drop_count) {
            for digest in tx.delete_run_checkpoint(&run.id, *old).await? {
                if !tx.artifact_in_use(&digest).await? {
                    unused.push(self.artifact_reference(&digest).await?);
                    tx.delete_artifact_row(&digest).await?;
                }
            }
        }
        tx.commit(
            ctx.event("run.checkpoint")
                .on(run_label(run))
                .with_params(json!({
                    "run": run.id,
                    "step": step,
                    "files": stored.len(),
                    "dropped_checkpoints": &earlier[..drop_count],
                })),
        )
        .await?;
        for reference in unused {
            if let Err(err) = self.blobs.delete(&reference).await {
                tracing::warn!(digest = %reference.digest, error = %err, "cannot delete an old checkpoint's bytes");
            }
        }
        Ok(())
    }

    /// Records files a run stored (as `kind` at `step`), its new metrics and its progress.
    #[allow(clippy::too_many_arguments)]
    async fn record_run_progress(
        &self,
        tx: &mut citadel_store::WriteTx,
        ctx: &Context,
        run: &RunRecord,
        kind: &str,
        step: u64,
        stored: &[(String, ArtifactRef)],
        metrics: &[MetricPoint],
        cpu: f64,
    ) -> Result<()> {
        for (path, reference) in stored {
            self.record_artifact(tx, ctx, reference).await?;
            tx.insert_run_artifact(
                &run.id,
                &RunArtifactRecord {
                    kind: kind.to_owned(),
                    step,
                    path: path.clone(),
                    digest: reference.digest.clone(),
                    size: reference.size,
                },
            )
            .await?;
        }
        tx.put_run_metrics(&run.id, metrics).await?;
        tx.set_run_progress(&run.id, step, cpu).await?;
        Ok(())
    }

    /// Encrypts every file of a folder into the artifact store: `(relative path, reference)`.
    async fn store_folder(&self, dir: &Path) -> Result<Vec<(String, ArtifactRef)>> {
        let mut stored = Vec::new();
        for file in citadel_hub::local::list_files(dir)? {
            stored.push((file.relative, self.blobs.put_file(&file.path).await?));
        }
        Ok(stored)
    }

    /// Ends a run that trained: its adapter stored as outputs, remaining metrics, summary.
    async fn succeed_run(
        &self,
        ctx: &Context,
        run: &RunRecord,
        metrics: &[MetricPoint],
        adapter_dir: &Path,
        summary: &Value,
        cpu: f64,
    ) -> Result<()> {
        let stored = self.store_folder(adapter_dir).await?;
        let steps = summary.get("steps").and_then(Value::as_u64).unwrap_or(0);
        let mut tx = self.store.begin_write().await?;
        self.record_run_progress(&mut tx, ctx, run, OUTPUT, steps, &stored, metrics, cpu)
            .await?;
        tx.finish_run(&run.id, "succeeded", Some(&summary.to_string()), None)
            .await?;
        tx.commit(
            ctx.event("run.finish")
                .on(run_label(run))
                .with_params(json!({ "run": run.id, "status": "succeeded", "summary": summary })),
        )
        .await?;
        Ok(())
    }

    /// Ends a run that failed (a limit, bad data, an engine error), keeping its checkpoints so
    /// a later pipeline run can resume it.
    async fn fail_run(
        &self,
        ctx: &Context,
        run: &RunRecord,
        metrics: &[MetricPoint],
        error: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        tx.put_run_metrics(&run.id, metrics).await?;
        tx.finish_run(&run.id, "failed", None, Some(error)).await?;
        tx.commit(
            ctx.event("run.finish")
                .on(run_label(run))
                .with_params(json!({ "run": run.id, "status": "failed" }))
                .failed(error.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// Writes a finished run's outputs (the adapter) to `dir`.
    pub(crate) async fn materialize_run_outputs(&self, run_id: &str, dir: &Path) -> Result<()> {
        for file in self.store.run_artifacts(run_id).await? {
            if file.kind == OUTPUT {
                self.read_run_file(&file, dir).await?;
            }
        }
        Ok(())
    }

    /// Decrypts one of a run's files (digest verified) to its path under `dir`.
    async fn read_run_file(&self, file: &RunArtifactRecord, dir: &Path) -> Result<()> {
        citadel_hub::files::check_path(&file.path)?;
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        let reference = self.artifact_reference(&file.digest).await?;
        Ok(self.blobs.read_to_path(&reference, &path).await?)
    }

    /// Records held-out evaluation with the run: metrics at its last step and in its summary.
    pub(crate) async fn record_evaluation(
        &self,
        ctx: &Context,
        run_id: &str,
        evaluation: &[EvalRow],
    ) -> Result<()> {
        let run = self
            .store
            .run(run_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "run",
                name: run_id.to_owned(),
            })?;
        let mut points = Vec::new();
        for row in evaluation {
            let prefix = if row.subject == "candidate" {
                String::new()
            } else {
                format!("{}_", row.subject)
            };
            points.push(MetricPoint {
                key: format!("{prefix}eval_loss"),
                step: run.total_steps,
                value: row.loss,
            });
            points.push(MetricPoint {
                key: format!("{prefix}eval_perplexity"),
                step: run.total_steps,
                value: row.perplexity,
            });
        }
        let mut summary: Value = parse_json(run.summary.as_deref())?;
        summary["evaluation"] = serde_json::to_value(evaluation).map_err(json_error)?;
        let mut tx = self.store.begin_write().await?;
        tx.put_run_metrics(run_id, &points).await?;
        tx.finish_run(
            run_id,
            &run.status,
            Some(&summary.to_string()),
            run.error.as_deref(),
        )
        .await?;
        tx.commit(
            ctx.event("run.evaluate")
                .on(run_label(&run))
                .with_params(json!({ "run": run_id, "evaluation": evaluation })),
        )
        .await?;
        Ok(())
    }

    /// Runs the caller may see (`SELECT`, `MODIFY` or `MANAGE` on the model, or their own),
    /// newest first; only those of `model` when given.
    pub async fn list_runs(&self, ctx: &Context, model: Option<&FullName>) -> Result<Vec<RunInfo>> {
        let name = model.map(ToString::to_string);
        let mut out = Vec::new();
        for run in self.store.runs(name.as_deref()).await? {
            if self.may_see_run(ctx, &run).await? {
                out.push(self.run_info(&run).await?);
            }
        }
        Ok(out)
    }

    /// A run with its metrics and files.
    pub async fn show_run(&self, ctx: &Context, id: &str) -> Result<RunDetail> {
        let run = self.store.run(id).await?.ok_or_else(|| Error::NotFound {
            what: "run",
            name: id.to_owned(),
        })?;
        if !self.may_see_run(ctx, &run).await? {
            let target = SecurableRef::parse(SecurableKind::Model, &run.model_name)?;
            self.authorize_read(ctx, "run.read", Privilege::Select, &target)
                .await?;
        }
        let mut metrics: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
        for point in self.store.run_metrics(id).await? {
            metrics
                .entry(point.key)
                .or_default()
                .push((point.step, point.value));
        }
        let files = self.store.run_artifacts(id).await?;
        let mut checkpoints: Vec<u64> = files
            .iter()
            .filter(|f| f.kind == CHECKPOINT)
            .map(|f| f.step)
            .collect();
        checkpoints.dedup();
        Ok(RunDetail {
            run: self.run_info(&run).await?,
            metrics,
            checkpoints,
            outputs: files
                .iter()
                .filter(|f| f.kind == OUTPUT)
                .map(|f| f.path.clone())
                .collect(),
        })
    }

    async fn may_see_run(&self, ctx: &Context, run: &RunRecord) -> Result<bool> {
        if run.created_by == Some(ctx.principal.id) {
            return Ok(true);
        }
        let target = SecurableRef::parse(SecurableKind::Model, &run.model_name)?;
        if self
            .store
            .securable_by_name(&target.db_name())
            .await?
            .is_none()
        {
            return Ok(false);
        }
        self.allowed_any(
            ctx,
            &[Privilege::Select, Privilege::Modify, Privilege::Manage],
            &target,
        )
        .await
    }

    async fn run_info(&self, run: &RunRecord) -> Result<RunInfo> {
        Ok(RunInfo {
            id: run.id.clone(),
            pipeline: run.pipeline.clone(),
            model: run.model_name.clone(),
            status: run.status.clone(),
            steps_done: run.steps_done,
            total_steps: run.total_steps,
            attempts: run.attempts,
            params: parse_json(Some(&run.params))?,
            lineage: parse_json(Some(&run.lineage))?,
            code_version: run.code_version.clone(),
            seed: run.seed,
            summary: run
                .summary
                .as_deref()
                .map(|s| serde_json::from_str(s).map_err(json_error))
                .transpose()?,
            error: run.error.clone(),
            cpu_seconds: run.cpu_seconds,
            started_at: run.started_at,
            finished_at: run.finished_at,
            created_by: self.principal_label(run.created_by).await?,
        })
    }
}

/// A checkpoint to store: its step and folder, the metrics since the last one, how many
/// checkpoints to keep, and the run's CPU seconds so far.
struct Checkpoint<'a> {
    step: u64,
    dir: &'a Path,
    metrics: &'a [MetricPoint],
    keep: usize,
    cpu: f64,
}

/// Records steps and checkpoints of a run as training goes.
struct RunHooks<'a> {
    citadel: &'a Citadel,
    ctx: &'a Context,
    run: &'a RunRecord,
    observe: &'a PipelineObserver,
    pending: Vec<MetricPoint>,
    keep: usize,
    cpu_base: f64,
    cpu_before: f64,
}

impl TrainingHooks for RunHooks<'_> {
    fn on_step(&mut self, report: &StepReport) -> Result<()> {
        for (key, value) in [
            ("loss", report.loss),
            ("lr", report.lr),
            ("grad_norm", report.grad_norm),
            ("tokens_per_s", report.tokens_per_s),
        ] {
            self.pending.push(MetricPoint {
                key: key.to_owned(),
                step: report.step,
                value,
            });
        }
        (self.observe)(PipelineEvent::Step(*report));
        Ok(())
    }

    fn on_checkpoint(&mut self, step: u64, dir: &Path) -> Result<()> {
        let metrics = std::mem::take(&mut self.pending);
        let cpu = self.cpu_base + (cpu_seconds() - self.cpu_before);
        let checkpoint = Checkpoint {
            step,
            dir,
            metrics: &metrics,
            keep: self.keep,
            cpu,
        };
        tokio::runtime::Handle::current().block_on(
            self.citadel
                .save_run_checkpoint(self.ctx, self.run, checkpoint),
        )
    }
}

/// How audit events name a run's model.
fn run_label(run: &RunRecord) -> String {
    SecurableRef::parse(SecurableKind::Model, &run.model_name)
        .map_or_else(|_| run.model_name.clone(), |target| target.audit_label())
}

fn parse_json(text: Option<&str>) -> Result<Value> {
    match text {
        Some(text) => serde_json::from_str(text).map_err(json_error),
        None => Ok(json!({})),
    }
}
