//! Tracked training runs: their parameters, lineage and status, metrics per step, and the
//! encrypted artifacts they wrote (checkpoints and outputs).

use citadel_core::{PrincipalId, SecurableId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::codec::{
    opt_time_col, parse_col, parse_opt_col, time_col, time_text, to_i64, u32_col, u64_col,
};
use crate::tx::WriteTx;
use crate::{Result, Store};

/// One training run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    /// The schema of the model the run trains for (grants and budgets apply there).
    pub schema_id: SecurableId,
    /// The model it registers into (`catalog.schema.model`).
    pub model_name: String,
    /// The pipeline that started it.
    pub pipeline: String,
    /// SHA-256 over everything that shapes the training.
    pub fingerprint: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// Training parameters, as JSON.
    pub params: String,
    /// Inputs (base model version and datasets), as JSON.
    pub lineage: String,
    /// Citadel's version and, when built from a checkout, its git commit.
    pub code_version: String,
    pub seed: u64,
    pub total_steps: u64,
    pub steps_done: u64,
    /// How many times the run was started (1 + resumes).
    pub attempts: u32,
    /// The process running it, while it runs.
    pub owner_pid: Option<u32>,
    pub owner_host: Option<String>,
    /// Final figures (loss, evaluation, system), as JSON.
    pub summary: Option<String>,
    pub error: Option<String>,
    pub cpu_seconds: f64,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub created_by: Option<PrincipalId>,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub key: String,
    pub step: u64,
    pub value: f64,
}

/// A file a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArtifactRecord {
    /// `checkpoint` or `output`.
    pub kind: String,
    pub step: u64,
    pub path: String,
    /// `sha256:<hex>` of the content (an artifact).
    pub digest: String,
    pub size: u64,
}

const RUN_COLUMNS: &str = "id, schema_id, model_name, pipeline, fingerprint, status, params, \
     lineage, code_version, seed, total_steps, steps_done, attempts, owner_pid, owner_host, \
     summary, error, cpu_seconds, started_at, finished_at, created_by";

impl WriteTx {
    /// Records a new run.
    pub async fn insert_run(&mut self, run: &RunRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ))
        .bind(&run.id)
        .bind(run.schema_id.to_string())
        .bind(&run.model_name)
        .bind(&run.pipeline)
        .bind(&run.fingerprint)
        .bind(&run.status)
        .bind(&run.params)
        .bind(&run.lineage)
        .bind(&run.code_version)
        .bind(run.seed.to_string())
        .bind(to_i64("total_steps", run.total_steps)?)
        .bind(to_i64("steps_done", run.steps_done)?)
        .bind(i64::from(run.attempts))
        .bind(run.owner_pid.map(i64::from))
        .bind(&run.owner_host)
        .bind(&run.summary)
        .bind(&run.error)
        .bind(run.cpu_seconds)
        .bind(time_text(run.started_at)?)
        .bind(run.finished_at.map(time_text).transpose()?)
        .bind(run.created_by.map(|p| p.to_string()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Takes over an interrupted run for this process: status `running`, one more attempt.
    pub async fn resume_run(&mut self, id: &str, pid: u32, host: &str) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, owner_pid = $1, \
             owner_host = $2, error = NULL, finished_at = NULL WHERE id = $3",
        )
        .bind(i64::from(pid))
        .bind(host)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records progress: steps done and CPU time so far.
    pub async fn set_run_progress(
        &mut self,
        id: &str,
        steps_done: u64,
        cpu_seconds: f64,
    ) -> Result<()> {
        sqlx::query("UPDATE runs SET steps_done = $1, cpu_seconds = $2 WHERE id = $3")
            .bind(to_i64("steps_done", steps_done)?)
            .bind(cpu_seconds)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Ends a run: its status, summary or error, and the time; the owner is cleared.
    pub async fn finish_run(
        &mut self,
        id: &str,
        status: &str,
        summary: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET status = $1, summary = COALESCE($2, summary), error = $3, \
             finished_at = $4, owner_pid = NULL, owner_host = NULL WHERE id = $5",
        )
        .bind(status)
        .bind(summary)
        .bind(error)
        .bind(time_text(OffsetDateTime::now_utc())?)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Adds metric values; a value already recorded for a key and step is replaced (a resumed
    /// run replays the steps after its checkpoint).
    pub async fn put_run_metrics(&mut self, id: &str, points: &[MetricPoint]) -> Result<()> {
        for point in points {
            sqlx::query(
                "INSERT INTO run_metrics (run_id, key, step, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value",
            )
            .bind(id)
            .bind(&point.key)
            .bind(to_i64("step", point.step)?)
            .bind(point.value)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// Records a file a run wrote (its artifact row must exist).
    pub async fn insert_run_artifact(&mut self, id: &str, file: &RunArtifactRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO run_artifacts (run_id, kind, step, path, digest, size) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (run_id, kind, step, path) DO UPDATE SET digest = excluded.digest, \
             size = excluded.size",
        )
        .bind(id)
        .bind(&file.kind)
        .bind(to_i64("step", file.step)?)
        .bind(&file.path)
        .bind(&file.digest)
        .bind(to_i64("size", file.size)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Forgets a run's checkpoint at `step`, returning the digests its files used.
    pub async fn delete_run_checkpoint(&mut self, id: &str, step: u64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT digest FROM run_artifacts WHERE run_id = $1 AND kind = 'checkpoint' \
             AND step = $2",
        )
        .bind(id)
        .bind(to_i64("step", step)?)
        .fetch_all(self.conn())
        .await?;
        sqlx::query(
            "DELETE FROM run_artifacts WHERE run_id = $1 AND kind = 'checkpoint' AND step = $2",
        )
        .bind(id)
        .bind(to_i64("step", step)?)
        .execute(self.conn())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("digest")?)).collect()
    }

    /// A run, read inside the transaction (to decide under the write lock).
    pub async fn run_in_tx(&mut self, id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }
}

impl Store {
    /// A run by id.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Runs, newest first; only those trained for `model_name` when given.
    pub async fn runs(&self, model_name: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = match model_name {
            Some(name) => {
                sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE model_name = $1 \
                     ORDER BY started_at DESC, id DESC"
                ))
                .bind(name)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC"
                ))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(run_from_row).collect()
    }

    /// Runs with a fingerprint, newest first.
    pub async fn runs_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE fingerprint = $1 \
             ORDER BY started_at DESC, id DESC"
        ))
        .bind(fingerprint)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// CPU seconds spent by every run in a schema, or in every schema of a catalog.
    pub async fn run_cpu_seconds(&self, schema_ids: &[SecurableId]) -> Result<f64> {
        let mut total = 0.0;
        for schema in schema_ids {
            let row = sqlx::query(
                "SELECT COALESCE(SUM(cpu_seconds), 0.0) AS total FROM runs WHERE schema_id = $1",
            )
            .bind(schema.to_string())
            .fetch_one(self.pool())
            .await?;
            total += row.try_get::<f64, _>("total")?;
        }
        Ok(total)
    }

    /// A run's metrics, by key then step.
    pub async fn run_metrics(&self, id: &str) -> Result<Vec<MetricPoint>> {
        let rows = sqlx::query(
            "SELECT key, step, value FROM run_metrics WHERE run_id = $1 ORDER BY key, step",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MetricPoint {
                    key: row.try_get("key")?,
                    step: u64_col(row, "step")?,
                    value: row.try_get("value")?,
                })
            })
            .collect()
    }

    /// The files a run wrote, by kind, step and path.
    pub async fn run_artifacts(&self, id: &str) -> Result<Vec<RunArtifactRecord>> {
        let rows = sqlx::query(
            "SELECT kind, step, path, digest, size FROM run_artifacts WHERE run_id = $1 \
             ORDER BY kind, step, path",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RunArtifactRecord {
                    kind: row.try_get("kind")?,
                    step: u64_col(row, "step")?,
                    path: row.try_get("path")?,
                    digest: row.try_get("digest")?,
                    size: u64_col(row, "size")?,
                })
            })
            .collect()
    }
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        schema_id: parse_col(row, "schema_id")?,
        model_name: row.try_get("model_name")?,
        pipeline: row.try_get("pipeline")?,
        fingerprint: row.try_get("fingerprint")?,
        status: row.try_get("status")?,
        params: row.try_get("params")?,
        lineage: row.try_get("lineage")?,
        code_version: row.try_get("code_version")?,
        seed: parse_col(row, "seed")?,
        total_steps: u64_col(row, "total_steps")?,
        steps_done: u64_col(row, "steps_done")?,
        attempts: u32_col(row, "attempts")?,
        owner_pid: row
            .try_get::<Option<i64>, _>("owner_pid")?
            .and_then(|p| u32::try_from(p).ok()),
        owner_host: row.try_get("owner_host")?,
        summary: row.try_get("summary")?,
        error: row.try_get("error")?,
        cpu_seconds: row.try_get("cpu_seconds")?,
        started_at: time_col(row, "started_at")?,
        finished_at: opt_time_col(row, "finished_at")?,
        created_by: parse_opt_col(row, "created_by")?,
    })
}
