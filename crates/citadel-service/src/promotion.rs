//! Promotion of a version into another catalog (dev → staging → prod) after re-verifying its
//! signature and every byte, and the lineage graph from datasets to aliases.

use citadel_core::{Privilege, SecurableKind};
use citadel_hub::manifest::{Envelope, Source};
use citadel_registry::card::ModelCard;
use citadel_registry::lineage::{Lineage, LineageNode, NodeKind};
use citadel_registry::status::VersionStatus;
use citadel_store::{ModelVersionRecord, Securable, VersionRegistry};
use serde_json::{json, Value};

use crate::datasets::json_error;
use crate::models::{parse_model_spec, Registration, StoredFile};
use crate::{Citadel, Context, Error, ModelVersionInfo, Result, SecurableRef};

/// Versions promoted into this catalog must come approved from the one before it.
const PROD: &str = "prod";
const STAGING: &str = "staging";

impl Citadel {
    /// Copies a version into `to` (a model name in another catalog) as its next version:
    /// `SELECT` on the source, `CREATE_MODEL` on the target schema (or `MODIFY` on the target
    /// model). The source's signature and bytes are re-verified first; rejected or archived
    /// versions never move; into `prod` only a version approved in `staging` moves. The copy
    /// shares the encrypted artifacts, gets its own signed manifest naming its origin, and starts
    /// pending review.
    pub async fn promote_model(
        &self,
        ctx: &Context,
        spec: &str,
        to: &str,
    ) -> Result<ModelVersionInfo> {
        const ACTION: &str = "model.promote";
        let (source_ref, selector) = parse_model_spec(spec)?;
        let target = SecurableRef::parse(SecurableKind::Model, to)?;
        self.authorize_read(ctx, ACTION, Privilege::Select, &source_ref)
            .await?;
        let (model, record) = self.load_model_version(&source_ref, &selector).await?;
        let origin = format!("{}@{}", model.full_name, record.version);
        let params = json!({ "from": origin, "to": target.db_name() });
        if let Some(reason) = promotion_refusal(&model, &record, &target) {
            self.store
                .audit(
                    ctx.event(ACTION)
                        .on(target.audit_label())
                        .with_params(params)
                        .denied(reason.clone()),
                )
                .await?;
            return Err(Error::Forbidden(reason));
        }
        let check = self.check_model_version(&model, &record).await?;
        if !check.ok() {
            let problems = check.problems.join("; ");
            self.store
                .audit(
                    ctx.event(ACTION)
                        .on(target.audit_label())
                        .with_params(params)
                        .failed(format!("verification failed: {problems}")),
                )
                .await?;
            return Err(Error::ModelTampered {
                model: origin,
                problems,
            });
        }
        let envelope: Envelope = serde_json::from_str(&record.envelope).map_err(json_error)?;
        let manifest = self.model_key.verifying_key().verify(&envelope)?;
        let mut files = Vec::new();
        for (file, scan) in manifest.files.iter().zip(manifest.scans.iter()) {
            files.push(StoredFile {
                path: file.path.clone(),
                reference: self
                    .artifact_reference(&format!("sha256:{}", file.sha256))
                    .await?,
                scan: scan.clone(),
            });
        }
        let target_label = target.db_name();
        let from_ref = origin_bom_ref(&source_ref.db_name(), record.version);
        let source_registry = record.registry.clone();
        let documents = move |version: u32, _: &citadel_hub::manifest::Manifest| {
            retarget_documents(&source_registry, &from_ref, &target_label, version)
        };
        let registration = Registration {
            registry: VersionRegistry {
                status: VersionStatus::PendingReview.as_str().to_owned(),
                status_reason: None,
                run_id: record.registry.run_id.clone(),
                gates: record.registry.gates.clone(),
                gates_passed: record.registry.gates_passed,
                promoted_from: Some(format!("{}@{}", model.full_name, record.version)),
                lineage: record.registry.lineage.clone(),
                card: None,
                bom: None,
            },
            documents: Some(&documents),
        };
        self.register_model_version(
            ctx,
            ACTION,
            &target,
            Source::Promotion {
                from: format!("{}@{}", model.full_name, record.version),
                root_digest: record.root_digest.clone(),
            },
            files,
            params,
            registration,
        )
        .await
    }

    /// The lineage of a version (`SELECT` on it): the datasets and base model its run used, the
    /// run, the version and its promoted copies in order, the aliases naming each, and the
    /// endpoints the caller may see that serve them (revision and traffic share).
    pub async fn lineage(&self, ctx: &Context, spec: &str) -> Result<Lineage> {
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &target)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        // Walk back to the original version, then forward through every copy.
        let mut origin = (model, record);
        for _ in 0..16 {
            let Some(from) = origin.1.registry.promoted_from.clone() else {
                break;
            };
            let (from_ref, from_selector) = parse_model_spec(&from)?;
            origin = self.load_model_version(&from_ref, &from_selector).await?;
        }
        let mut chain = vec![origin];
        let all = self.store.securables_of_kind(SecurableKind::Model).await?;
        for _ in 0..16 {
            let Some((last_model, last_record)) = chain.last() else {
                break;
            };
            let label = format!("{}@{}", last_model.full_name, last_record.version);
            let mut next = None;
            for candidate in &all {
                for version in self.store.model_versions(candidate.id).await? {
                    if version.registry.promoted_from.as_deref() == Some(label.as_str()) {
                        next = Some((candidate.clone(), version));
                    }
                }
            }
            match next {
                Some(found) => chain.push(found),
                None => break,
            }
        }
        self.lineage_graph(ctx, chain).await
    }

    async fn lineage_graph(
        &self,
        ctx: &Context,
        chain: Vec<(Securable, ModelVersionRecord)>,
    ) -> Result<Lineage> {
        let mut lineage = Lineage {
            inputs: Vec::new(),
            run: None,
            versions: Vec::new(),
            aliases: Vec::new(),
            endpoints: Vec::new(),
        };
        if let Some((_, origin)) = chain.first() {
            let inputs: Value = match &origin.registry.lineage {
                Some(text) => serde_json::from_str(text).map_err(json_error)?,
                None => Value::Null,
            };
            if let Some(datasets) = inputs.get("datasets").and_then(Value::as_array) {
                for dataset in datasets {
                    lineage.inputs.push(LineageNode {
                        kind: NodeKind::Dataset,
                        name: text(dataset, "name"),
                        detail: format!(
                            "{}; {}",
                            text(dataset, "role"),
                            text(dataset, "pii_handling")
                        ),
                    });
                }
            }
            if let Some(base) = inputs.get("base").and_then(Value::as_str) {
                lineage.inputs.push(LineageNode {
                    kind: NodeKind::BaseModel,
                    name: base.to_owned(),
                    detail: String::new(),
                });
            }
            if let Some(run_id) = &origin.registry.run_id {
                let detail = match self.store.run(run_id).await? {
                    Some(run) => format!("{}, {} steps", run.status, run.steps_done),
                    None => String::new(),
                };
                lineage.run = Some(LineageNode {
                    kind: NodeKind::Run,
                    name: run_id.clone(),
                    detail,
                });
            }
        }
        for (model, record) in &chain {
            let name = format!("{}@{}", model.full_name, record.version);
            lineage.versions.push(LineageNode {
                kind: NodeKind::ModelVersion,
                name: name.clone(),
                detail: record.registry.status.clone(),
            });
            for alias in self.store.aliases(model.id).await? {
                if alias.version == record.version {
                    lineage.aliases.push((
                        name.clone(),
                        LineageNode {
                            kind: NodeKind::Alias,
                            name: alias.alias,
                            detail: String::new(),
                        },
                    ));
                }
            }
        }
        lineage.endpoints = self.serving_routes(ctx, &lineage.versions).await?;
        Ok(lineage)
    }

    /// The endpoints the caller may see (`EXECUTE` or `MANAGE` on them) whose current revision
    /// routes traffic to one of `versions`, as (version name, endpoint node) pairs.
    async fn serving_routes(
        &self,
        ctx: &Context,
        versions: &[LineageNode],
    ) -> Result<Vec<(String, LineageNode)>> {
        let mut routes = Vec::new();
        for endpoint in self.list_endpoints(ctx).await? {
            for route in &endpoint.config.traffic {
                let version = format!("{}@{}", endpoint.config.model, route.version);
                if versions.iter().any(|v| v.name == version) {
                    routes.push((
                        version,
                        LineageNode {
                            kind: NodeKind::Endpoint,
                            name: endpoint.name.clone(),
                            detail: format!(
                                "revision {}, {}% of traffic",
                                endpoint.revision, route.weight
                            ),
                        },
                    ));
                }
            }
        }
        Ok(routes)
    }
}

/// Why a version may not move into `target`'s catalog, if it may not.
fn promotion_refusal(
    model: &Securable,
    record: &ModelVersionRecord,
    target: &SecurableRef,
) -> Option<String> {
    let label = format!("{}@{}", model.full_name, record.version);
    let target_label = target.db_name();
    let source_catalog = model.full_name.split('.').next().unwrap_or_default();
    let target_catalog = target_label.split('.').next().unwrap_or_default();
    if source_catalog == target_catalog {
        return Some(format!(
            "promotion moves a version to another catalog; {label} is already in {target_catalog}"
        ));
    }
    match record.registry.status.as_str() {
        "rejected" | "archived" => {
            return Some(format!(
                "{label} is {}; it can never be promoted",
                record.registry.status
            ))
        }
        _ => {}
    }
    if target_catalog == PROD
        && !(source_catalog == STAGING
            && record.registry.status == VersionStatus::Approved.as_str())
    {
        return Some(format!(
            "only a version approved in staging may move to prod; {label} is {} in {source_catalog}",
            record.registry.status
        ));
    }
    None
}

fn origin_bom_ref(model: &str, version: u32) -> String {
    format!("model:{model}@{version}")
}

/// The source's card facts and BOM, renamed for the copy.
fn retarget_documents(
    source: &VersionRegistry,
    from_ref: &str,
    target: &str,
    version: u32,
) -> Result<(String, String)> {
    let card = match &source.card {
        Some(text) => {
            let mut card: ModelCard = serde_json::from_str(text).map_err(json_error)?;
            card.model = target.to_owned();
            card.version = version;
            serde_json::to_string(&card).map_err(json_error)?
        }
        None => String::new(),
    };
    let bom = match &source.bom {
        Some(text) => {
            let mut bom: Value = serde_json::from_str(text).map_err(json_error)?;
            let to_ref = origin_bom_ref(target, version);
            rename_refs(&mut bom, from_ref, &to_ref);
            if let Some(component) = bom.pointer_mut("/metadata/component") {
                component["name"] = json!(target);
                component["version"] = json!(version.to_string());
            }
            bom["serialNumber"] = json!(format!("urn:uuid:{}", uuid::Uuid::new_v4()));
            bom.to_string()
        }
        None => String::new(),
    };
    Ok((card, bom))
}

/// Replaces `from` at the start of every string in `value` (bom-refs and their references).
fn rename_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) => {
            if let Some(rest) = text.strip_prefix(from) {
                *text = format!("{to}{rest}");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| rename_refs(v, from, to)),
        _ => {}
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
