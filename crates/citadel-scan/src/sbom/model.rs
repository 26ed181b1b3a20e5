//! A model version's AI-BOM: CycloneDX 1.6 with a `machine-learning-model` component.

use serde_json::{json, Map, Value};

use super::cyclonedx::{dedup, serial_number, tool};
use super::{sha256_hex, BaseModelRef, BomMetric, DatasetRef, ModelBomInput};

/// The AI-BOM of a model version, a CycloneDX 1.6 document:
///
/// * `metadata.component` is the model (type `machine-learning-model`, bom-ref
///   `model:<name>@<version>`) with a model card and properties for the source
///   (`citadel:source.<key>`, one per top-level key of an object, or `citadel:source` for any
///   other value) and the signer (`citadel:signedBy`). The model card holds `modelParameters`
///   (the task when `source` names one under `task` or `pipeline_tag`, `architectureFamily`,
///   and references to the datasets), `quantitativeAnalysis.performanceMetrics` (one per metric:
///   its name as `type`, its value as a string, its slice) and `considerations` (the intended
///   use as `useCases`, the limitations as `technicalLimitations`). When there is a base model,
///   the model's `pedigree.ancestors` names it;
/// * each file is a `file` component (bom-ref `model:<name>@<version>/<path>`) with its SHA-256
///   and a `citadel:size` property; the model has no hash of its own (its identity is the set of
///   file hashes);
/// * the tokenizer is the file at its path, marked with a `citadel:role` property of
///   `tokenizer`; when no file has that path it is a `file` component of its own (name
///   `tokenizer`, bom-ref `model:<name>@<version>/tokenizer`) with its SHA-256 and its path as
///   `citadel:path`;
/// * each dataset is a `data` component (bom-ref `dataset:<name>@<version>`, type `dataset`)
///   with its SHA-256 when known and its PII handling as `sensitiveData`;
/// * the base model is a `machine-learning-model` component (bom-ref
///   `model:<name>@<version>`) with its source (`citadel:source`) and root digest
///   (`citadel:rootDigest`) as properties;
/// * Citadel itself is an `application` component (bom-ref `citadel@<version>`), also listed in
///   `metadata.tools.components`;
/// * `dependencies` link the model to its files, tokenizer, datasets, base model and Citadel.
///
/// Files repeated under one path and datasets repeated under one name and version are written
/// once; a SHA-256 that is not 64 hex digits is left out rather than written malformed; a base
/// model whose bom-ref is already taken (by the model itself, say) is left out.
pub fn model_bom(input: &ModelBomInput, serial_uuid: &str, timestamp: &str) -> Value {
    let model_ref = format!("model:{}@{}", input.name, input.version);

    let mut bom = Bom::new(model_ref.clone());
    bom.add_files(input);
    bom.add_tokenizer(input);
    let dataset_refs = bom.add_datasets(&input.datasets);
    let base_ref = input
        .base_model
        .as_ref()
        .and_then(|base| bom.add_base_model(base));
    bom.add_citadel(&input.citadel_version);

    let mut model = Map::new();
    model.insert("type".into(), json!("machine-learning-model"));
    model.insert("bom-ref".into(), json!(model_ref));
    model.insert("name".into(), json!(input.name));
    model.insert("version".into(), json!(input.version));
    if let (Some(base), Some(_)) = (&input.base_model, &base_ref) {
        model.insert(
            "pedigree".into(),
            json!({ "ancestors": [{
                "type": "machine-learning-model",
                "name": base.name,
                "version": base.version,
            }] }),
        );
    }
    model.insert(
        "modelCard".into(),
        Value::Object(model_card(input, &dataset_refs)),
    );
    let properties = model_properties(input);
    if !properties.is_empty() {
        model.insert("properties".into(), json!(properties));
    }

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(serial_uuid),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [tool(&input.citadel_version)] },
            "component": Value::Object(model),
        },
        "components": bom.components,
        "dependencies": bom.dependencies(),
    })
}

/// The components written so far and the refs the model depends on, in order.
struct Bom {
    model_ref: String,
    components: Vec<Value>,
    linked: Vec<String>,
}

impl Bom {
    fn new(model_ref: String) -> Self {
        Self {
            model_ref,
            components: Vec::new(),
            linked: Vec::new(),
        }
    }

    /// Whether `bom_ref` names the model or a component already written.
    fn taken(&self, bom_ref: &str) -> bool {
        bom_ref == self.model_ref || self.linked.iter().any(|r| r == bom_ref)
    }

    /// Writes `component` under `bom_ref` and links the model to it.
    fn push(&mut self, bom_ref: String, component: Map<String, Value>) {
        self.components.push(Value::Object(component));
        self.linked.push(bom_ref);
    }

    /// One `file` component per distinct path.
    fn add_files(&mut self, input: &ModelBomInput) {
        for (path, sha256, size) in &input.files {
            let bom_ref = format!("{}/{path}", self.model_ref);
            if self.taken(&bom_ref) {
                continue;
            }
            let mut file = Map::new();
            file.insert("type".into(), json!("file"));
            file.insert("bom-ref".into(), json!(bom_ref));
            file.insert("name".into(), json!(path));
            insert_sha256(&mut file, Some(sha256));
            let mut properties = vec![json!({ "name": "citadel:size", "value": size.to_string() })];
            if input.tokenizer.as_ref().is_some_and(|(t, _)| t == path) {
                properties.push(tokenizer_role());
            }
            file.insert("properties".into(), json!(properties));
            self.push(bom_ref, file);
        }
    }

    /// The tokenizer as a component of its own, unless it is one of the files.
    fn add_tokenizer(&mut self, input: &ModelBomInput) {
        let Some((path, sha256)) = &input.tokenizer else {
            return;
        };
        if input.files.iter().any(|(file, _, _)| file == path) {
            return;
        }
        let bom_ref = [
            format!("{}/tokenizer", self.model_ref),
            format!("{}#tokenizer", self.model_ref),
        ]
        .into_iter()
        .find(|r| !self.taken(r));
        let Some(bom_ref) = bom_ref else {
            return;
        };
        let mut file = Map::new();
        file.insert("type".into(), json!("file"));
        file.insert("bom-ref".into(), json!(bom_ref));
        file.insert("name".into(), json!("tokenizer"));
        insert_sha256(&mut file, Some(sha256));
        file.insert(
            "properties".into(),
            json!([{ "name": "citadel:path", "value": path }, tokenizer_role()]),
        );
        self.push(bom_ref, file);
    }

    /// One `data` component per distinct dataset version; returns their refs.
    fn add_datasets(&mut self, datasets: &[DatasetRef]) -> Vec<String> {
        let mut refs = Vec::new();
        for dataset in datasets {
            let bom_ref = format!("dataset:{}@{}", dataset.name, dataset.version);
            if self.taken(&bom_ref) {
                continue;
            }
            self.push(bom_ref.clone(), dataset_component(&bom_ref, dataset));
            refs.push(bom_ref);
        }
        refs
    }

    /// The base model's component; returns its ref, or `None` when the ref is taken.
    fn add_base_model(&mut self, base: &BaseModelRef) -> Option<String> {
        let bom_ref = format!("model:{}@{}", base.name, base.version);
        if self.taken(&bom_ref) {
            return None;
        }
        let mut properties = Vec::new();
        if !base.source.is_empty() {
            properties.push(json!({ "name": "citadel:source", "value": base.source }));
        }
        if let Some(digest) = sha256_hex(base.root_digest.as_deref()) {
            properties.push(json!({ "name": "citadel:rootDigest", "value": digest }));
        }
        let mut component = Map::new();
        component.insert("type".into(), json!("machine-learning-model"));
        component.insert("bom-ref".into(), json!(bom_ref));
        component.insert("name".into(), json!(base.name));
        component.insert("version".into(), json!(base.version));
        if !properties.is_empty() {
            component.insert("properties".into(), json!(properties));
        }
        self.push(bom_ref.clone(), component);
        Some(bom_ref)
    }

    /// Citadel as an `application` component.
    fn add_citadel(&mut self, version: &str) {
        let bom_ref = if version.is_empty() {
            "citadel".to_owned()
        } else {
            format!("citadel@{version}")
        };
        if self.taken(&bom_ref) {
            return;
        }
        let mut component = Map::new();
        component.insert("type".into(), json!("application"));
        component.insert("bom-ref".into(), json!(bom_ref));
        component.insert("name".into(), json!("citadel"));
        if !version.is_empty() {
            component.insert("version".into(), json!(version));
        }
        self.push(bom_ref, component);
    }

    /// The model depends on every component; the components on nothing.
    fn dependencies(&self) -> Vec<Value> {
        let linked: Vec<&str> = self.linked.iter().map(String::as_str).collect();
        let mut out = vec![json!({ "ref": self.model_ref, "dependsOn": dedup(linked.clone()) })];
        out.extend(linked.iter().map(|r| json!({ "ref": r, "dependsOn": [] })));
        out
    }
}

/// The `citadel:role` property of the tokenizer file.
fn tokenizer_role() -> Value {
    json!({ "name": "citadel:role", "value": "tokenizer" })
}

/// Adds `hashes` with the SHA-256 when it is well formed.
fn insert_sha256(component: &mut Map<String, Value>, sha256: Option<&str>) {
    if let Some(sha256) = sha256_hex(sha256) {
        component.insert(
            "hashes".into(),
            json!([{ "alg": "SHA-256", "content": sha256 }]),
        );
    }
}

/// A dataset version as a `data` component.
fn dataset_component(bom_ref: &str, dataset: &DatasetRef) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("type".into(), json!("dataset"));
    data.insert("name".into(), json!(dataset.name));
    if let Some(pii) = dataset.pii_handling.as_deref().filter(|p| !p.is_empty()) {
        data.insert("sensitiveData".into(), json!([pii]));
    }
    let mut component = Map::new();
    component.insert("type".into(), json!("data"));
    component.insert("bom-ref".into(), json!(bom_ref));
    component.insert("name".into(), json!(dataset.name));
    component.insert("version".into(), json!(dataset.version));
    insert_sha256(&mut component, dataset.sha256.as_deref());
    component.insert("data".into(), json!([Value::Object(data)]));
    component
}

/// The model card: parameters, metrics and considerations, each only when there is something
/// to say.
fn model_card(input: &ModelBomInput, dataset_refs: &[String]) -> Map<String, Value> {
    let mut card = Map::new();
    let parameters = model_parameters(input, dataset_refs);
    if !parameters.is_empty() {
        card.insert("modelParameters".into(), Value::Object(parameters));
    }
    if !input.metrics.is_empty() {
        let metrics: Vec<Value> = input.metrics.iter().map(performance_metric).collect();
        card.insert(
            "quantitativeAnalysis".into(),
            json!({ "performanceMetrics": metrics }),
        );
    }
    let considerations = considerations(input);
    if !considerations.is_empty() {
        card.insert("considerations".into(), Value::Object(considerations));
    }
    card
}

/// `modelParameters`: the task, the architecture family and the datasets.
fn model_parameters(input: &ModelBomInput, dataset_refs: &[String]) -> Map<String, Value> {
    let mut parameters = Map::new();
    let task = ["task", "pipeline_tag"]
        .iter()
        .find_map(|key| input.source.get(key).and_then(Value::as_str))
        .filter(|t| !t.is_empty());
    if let Some(task) = task {
        parameters.insert("task".into(), json!(task));
    }
    if let Some(architecture) = input.architecture.as_deref().filter(|a| !a.is_empty()) {
        parameters.insert("architectureFamily".into(), json!(architecture));
    }
    if !dataset_refs.is_empty() {
        let datasets: Vec<Value> = dataset_refs.iter().map(|r| json!({ "ref": r })).collect();
        parameters.insert("datasets".into(), json!(datasets));
    }
    parameters
}

/// One `performanceMetrics` entry: CycloneDX carries the value as a string.
fn performance_metric(metric: &BomMetric) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(metric.name));
    out.insert("value".into(), json!(metric.value.to_string()));
    if let Some(slice) = metric.slice.as_deref().filter(|s| !s.is_empty()) {
        out.insert("slice".into(), json!(slice));
    }
    Value::Object(out)
}

/// `considerations`: the intended use and the limitations, blank ones left out.
fn considerations(input: &ModelBomInput) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(use_case) = input
        .intended_use
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        out.insert("useCases".into(), json!([use_case]));
    }
    let limitations: Vec<&str> = input
        .limitations
        .iter()
        .map(String::as_str)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if !limitations.is_empty() {
        out.insert("technicalLimitations".into(), json!(limitations));
    }
    out
}

/// The model's properties: its source and its signer.
fn model_properties(input: &ModelBomInput) -> Vec<Value> {
    let mut out = Vec::new();
    match &input.source {
        Value::Null => {}
        Value::Object(fields) => {
            for (key, value) in fields {
                let text = match value {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push(json!({ "name": format!("citadel:source.{key}"), "value": text }));
            }
        }
        Value::String(s) => out.push(json!({ "name": "citadel:source", "value": s })),
        other => out.push(json!({ "name": "citadel:source", "value": other.to_string() })),
    }
    if let Some(signer) = input.signed_by.as_deref().filter(|s| !s.is_empty()) {
        out.push(json!({ "name": "citadel:signedBy", "value": signer }));
    }
    out
}
