//! The documents registered with a trained version: the model card's facts (rendered to
//! Markdown on read, with the approvals of the moment) and the CycloneDX ML-BOM.

use citadel_hub::manifest::{Manifest, Source};
use citadel_registry::card::{CardBaseModel, CardDataset, CardEvaluation, CardGate, ModelCard};
use citadel_registry::gates::GateReport;
use citadel_registry::spec::PipelineSpec;
use citadel_scan::sbom::{model_bom, BaseModelRef, BomMetric, DatasetRef, ModelBomInput};
use serde_json::Value;

use crate::datasets::json_error;
use crate::pipeline::{ClearedData, EvalRow};
use crate::runs::TrainedRun;
use crate::Result;

/// What a pipeline knows when it registers a version.
pub(crate) struct DocumentFacts<'a> {
    pub(crate) spec: &'a PipelineSpec,
    pub(crate) run_id: &'a str,
    pub(crate) base_name: &'a str,
    /// The base version's source, as stored (JSON).
    pub(crate) base_source: &'a str,
    pub(crate) base_root_digest: &'a str,
    /// Datasets and their roles (`train`, `eval`).
    pub(crate) datasets: Vec<(&'a ClearedData, &'static str)>,
    pub(crate) evaluation: &'a [EvalRow],
    pub(crate) gates: &'a GateReport,
    pub(crate) trained: &'a TrainedRun,
    pub(crate) author: &'a str,
}

/// The card's facts and the BOM, as JSON text, for `model@version` with `manifest`.
pub(crate) fn write(
    facts: &DocumentFacts<'_>,
    model: &str,
    version: u32,
    manifest: &Manifest,
    key_id: &str,
) -> Result<(String, String)> {
    let card = card(facts, model, version, manifest, key_id);
    let bom = bom(facts, model, version, manifest, key_id);
    let timestamp = manifest.created_at.clone();
    let serial = uuid::Uuid::new_v4().to_string();
    let bom = model_bom(&bom, &serial, &timestamp);
    Ok((
        serde_json::to_string(&card).map_err(json_error)?,
        serde_json::to_string(&bom).map_err(json_error)?,
    ))
}

fn card(
    facts: &DocumentFacts<'_>,
    model: &str,
    version: u32,
    manifest: &Manifest,
    key_id: &str,
) -> ModelCard {
    let mut training: std::collections::BTreeMap<String, Value> = match &facts.trained.params {
        Value::Object(map) => map.clone().into_iter().collect(),
        _ => Default::default(),
    };
    for key in [
        "steps",
        "final_loss",
        "tokens",
        "cpu_seconds",
        "peak_rss_mib",
    ] {
        if let Some(value) = facts.trained.summary.get(key) {
            training.insert(format!("run.{key}"), value.clone());
        }
    }
    ModelCard {
        model: model.to_owned(),
        version,
        status: String::new(),
        base_model: Some(CardBaseModel {
            name: facts.base_name.to_owned(),
            source: describe_source(facts.base_source),
            root_digest: facts.base_root_digest.to_owned(),
        }),
        datasets: facts
            .datasets
            .iter()
            .map(|(data, role)| CardDataset {
                name: data.name.clone(),
                role: (*role).to_owned(),
                rows: data.rows.len() as u64,
                pii_handling: data.pii_handling.clone(),
            })
            .collect(),
        training,
        evaluation: facts
            .evaluation
            .iter()
            .map(|row| CardEvaluation {
                subject: row.subject.clone(),
                model: row.model.clone(),
                loss: row.loss,
                perplexity: row.perplexity,
            })
            .collect(),
        gates: facts
            .gates
            .checks
            .iter()
            .map(|check| CardGate {
                gate: check.gate.clone(),
                limit: check.limit,
                actual: check.actual,
                passed: check.passed,
                message: check.message.clone(),
            })
            .collect(),
        gates_passed: facts.gates.passed(),
        intended_use: facts.spec.register.intended_use.clone().unwrap_or_else(|| {
            "Not stated by the pipeline; ask the model's owner before use.".to_owned()
        }),
        limitations: facts.spec.register.limitations.clone(),
        approvals: Vec::new(),
        run_id: Some(facts.run_id.to_owned()),
        created_by: facts.author.to_owned(),
        created_at: manifest.created_at.clone(),
        signed_by: Some(key_id.to_owned()),
        citadel_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

fn bom(
    facts: &DocumentFacts<'_>,
    model: &str,
    version: u32,
    manifest: &Manifest,
    key_id: &str,
) -> ModelBomInput {
    let tokenizer = manifest
        .files
        .iter()
        .find(|f| f.path == "tokenizer.json")
        .map(|f| (f.path.clone(), f.sha256.clone()));
    let (base_name, base_version) = facts
        .base_name
        .split_once('@')
        .unwrap_or((facts.base_name, ""));
    let mut metrics = Vec::new();
    for row in facts.evaluation {
        metrics.push(BomMetric {
            name: "eval_loss".into(),
            value: row.loss,
            slice: Some(format!("{} ({})", row.subject, row.model)),
        });
        metrics.push(BomMetric {
            name: "perplexity".into(),
            value: row.perplexity,
            slice: Some(format!("{} ({})", row.subject, row.model)),
        });
    }
    ModelBomInput {
        name: model.to_owned(),
        version: version.to_string(),
        files: manifest
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone(), f.size))
            .collect(),
        source: serde_json::to_value(&manifest.source).unwrap_or(Value::Null),
        architecture: None,
        datasets: facts
            .datasets
            .iter()
            .map(|(data, _)| {
                let (name, version) = data.name.split_once('@').unwrap_or((&data.name, ""));
                DatasetRef {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    sha256: data
                        .digest
                        .as_deref()
                        .map(|d| d.trim_start_matches("sha256:").to_owned()),
                    pii_handling: Some(data.pii_handling.clone()),
                }
            })
            .collect(),
        signed_by: Some(key_id.to_owned()),
        citadel_version: env!("CARGO_PKG_VERSION").to_owned(),
        base_model: Some(BaseModelRef {
            name: base_name.to_owned(),
            version: base_version.to_owned(),
            source: describe_source(facts.base_source),
            root_digest: Some(facts.base_root_digest.to_owned()),
        }),
        tokenizer,
        metrics,
        intended_use: facts.spec.register.intended_use.clone(),
        limitations: facts.spec.register.limitations.clone(),
    }
}

/// A stored source (JSON) in one line: `hf://owner/name@commit`, `folder PATH`, `run ID`….
pub(crate) fn describe_source(stored: &str) -> String {
    match serde_json::from_str::<Source>(stored) {
        Ok(Source::Hub { repo, commit, .. }) => format!("hf://{repo}@{commit}"),
        Ok(Source::Local { path }) => format!("folder {path}"),
        Ok(Source::Training { run, base, .. }) => format!("run {run} on {base}"),
        Ok(Source::Promotion { from, .. }) => format!("promoted from {from}"),
        Err(_) => stored.to_owned(),
    }
}
