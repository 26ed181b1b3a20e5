//! A model version's AI-BOM: CycloneDX 1.6 with a `machine-learning-model` component.

use serde_json::{json, Map, Value};

use super::cyclonedx::{dedup, serial_number, tool};
use super::{sha256_hex, ModelBomInput};

/// The AI-BOM of a model version, a CycloneDX 1.6 document:
///
/// * `metadata.component` is the model (type `machine-learning-model`, bom-ref
///   `model:<name>@<version>`) with a model card (`modelParameters`: the task when `source`
///   names one under `task` or `pipeline_tag`, `architectureFamily`, and references to the
///   datasets) and properties for the source (`citadel:source.<key>`, one per top-level key of
///   an object, or `citadel:source` for any other value) and the signer (`citadel:signedBy`);
/// * each file is a `file` component (bom-ref `model:<name>@<version>/<path>`) with its SHA-256
///   and a `citadel:size` property; the model has no hash of its own (its identity is the set of
///   file hashes);
/// * each dataset is a `data` component (bom-ref `dataset:<name>@<version>`, type `dataset`)
///   with its SHA-256 when known and its PII handling as `sensitiveData`;
/// * `dependencies` link the model to its files and datasets.
///
/// Files repeated under one path and datasets repeated under one name and version are written
/// once; a SHA-256 that is not 64 hex digits is left out rather than written malformed.
pub fn model_bom(input: &ModelBomInput, serial_uuid: &str, timestamp: &str) -> Value {
    let model_ref = format!("model:{}@{}", input.name, input.version);

    let mut components = Vec::new();
    let mut refs: Vec<String> = Vec::new();
    for (path, sha256, size) in &input.files {
        let bom_ref = format!("{model_ref}/{path}");
        if refs.contains(&bom_ref) {
            continue;
        }
        let mut file = Map::new();
        file.insert("type".into(), json!("file"));
        file.insert("bom-ref".into(), json!(bom_ref));
        file.insert("name".into(), json!(path));
        if let Some(sha256) = sha256_hex(Some(sha256)) {
            file.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": sha256 }]),
            );
        }
        file.insert(
            "properties".into(),
            json!([{ "name": "citadel:size", "value": size.to_string() }]),
        );
        components.push(Value::Object(file));
        refs.push(bom_ref);
    }

    let mut dataset_refs: Vec<String> = Vec::new();
    for dataset in &input.datasets {
        let bom_ref = format!("dataset:{}@{}", dataset.name, dataset.version);
        if dataset_refs.contains(&bom_ref) || refs.contains(&bom_ref) {
            continue;
        }
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
        if let Some(sha256) = sha256_hex(dataset.sha256.as_deref()) {
            component.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": sha256 }]),
            );
        }
        component.insert("data".into(), json!([Value::Object(data)]));
        components.push(Value::Object(component));
        dataset_refs.push(bom_ref);
    }

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
    let mut card = Map::new();
    if !parameters.is_empty() {
        card.insert("modelParameters".into(), Value::Object(parameters));
    }

    let mut model = Map::new();
    model.insert("type".into(), json!("machine-learning-model"));
    model.insert("bom-ref".into(), json!(model_ref));
    model.insert("name".into(), json!(input.name));
    model.insert("version".into(), json!(input.version));
    model.insert("modelCard".into(), Value::Object(card));
    let properties = model_properties(input);
    if !properties.is_empty() {
        model.insert("properties".into(), json!(properties));
    }

    let linked: Vec<&str> = refs
        .iter()
        .chain(&dataset_refs)
        .map(String::as_str)
        .collect();
    let mut dependencies = vec![json!({ "ref": model_ref, "dependsOn": dedup(linked.clone()) })];
    dependencies.extend(linked.iter().map(|r| json!({ "ref": r, "dependsOn": [] })));

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
        "components": components,
        "dependencies": dependencies,
    })
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
