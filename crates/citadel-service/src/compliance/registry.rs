//! The registry and serving for the compliance report: model versions by status, every approval
//! decision checked for separation of duties, and what each production endpoint serves checked
//! against the serving rules (approved, gates passed, signature verifies).

use std::collections::BTreeMap;

use citadel_core::SecurableKind;
use citadel_monitor::compliance::{Evidence, Finding, Section, SectionId};
use citadel_registry::status::VersionStatus;
use citadel_store::{ModelVersionRecord, Securable};

use super::time_text;
use crate::endpoints::parse_config;
use crate::{Citadel, Result};

/// The catalog whose endpoints the report holds to the serving rules.
const PRODUCTION: &str = "prod";

/// A model and its versions.
struct ModelVersions {
    model: Securable,
    versions: Vec<ModelVersionRecord>,
}

impl Citadel {
    async fn all_model_versions(&self) -> Result<Vec<ModelVersions>> {
        let mut out = Vec::new();
        for model in self.store.securables_of_kind(SecurableKind::Model).await? {
            let versions = self.store.model_versions(model.id).await?;
            out.push(ModelVersions { model, versions });
        }
        Ok(out)
    }

    pub(super) async fn models_section(&self) -> Result<Section> {
        let models = self.all_model_versions().await?;
        let mut by_catalog: BTreeMap<String, [u32; 4]> = BTreeMap::new();
        let mut findings = Vec::new();
        let mut total = 0u32;
        for ModelVersions { model, versions } in &models {
            let catalog = model.full_name.split('.').next().unwrap_or_default();
            let counts = by_catalog.entry(catalog.to_owned()).or_default();
            for v in versions {
                total += 1;
                let label = format!("{}@{}", model.full_name, v.version);
                let status = v.registry.status.parse::<VersionStatus>();
                match status {
                    Ok(status) => counts[status as usize] += 1,
                    Err(_) => findings.push(Finding::fail(
                        label.clone(),
                        format!("unknown registry status {:?}", v.registry.status),
                        "restore the version row from a backup",
                    )),
                }
                let approved = matches!(status, Ok(VersionStatus::Approved));
                if approved && v.registry.gates_passed == Some(false) {
                    findings.push(Finding::fail(
                        label.clone(),
                        "approved although its quality gates failed",
                        "archive the version and review how it was approved (`citadel audit \
                         query --action model.approve`)",
                    ));
                }
                if approved && v.scan_verdict != "clean" {
                    findings.push(Finding::attention(
                        label,
                        format!("approved with a {} file scan", v.scan_verdict),
                        "review the scan findings (`citadel model show`) before serving it",
                    ));
                }
            }
        }
        if findings.is_empty() {
            findings.push(Finding::pass(
                "model versions",
                format!(
                    "{total} versions in {} models; none approved against a failed gate or a \
                     suspicious scan",
                    models.len()
                ),
            ));
        }
        let mut evidence = Evidence::new(
            "Versions by catalog and status",
            [
                "catalog",
                "pending review",
                "approved",
                "rejected",
                "archived",
            ],
        );
        for (catalog, counts) in by_catalog {
            evidence.row([
                catalog,
                counts[0].to_string(),
                counts[1].to_string(),
                counts[2].to_string(),
                counts[3].to_string(),
            ]);
        }
        Ok(Section::new(SectionId::Models, findings, vec![evidence]))
    }

    pub(super) async fn approvals_section(&self) -> Result<Section> {
        let mut findings = Vec::new();
        let mut evidence = Evidence::new(
            "Approval decisions",
            ["version", "registered by", "decided by", "decision", "when"],
        );
        let mut decisions = 0usize;
        for ModelVersions { model, versions } in self.all_model_versions().await? {
            for approval in self.store.approvals(model.id).await? {
                decisions += 1;
                let label = format!("{}@{}", model.full_name, approval.version);
                let registered_by = versions
                    .iter()
                    .find(|v| v.version == approval.version)
                    .and_then(|v| v.created_by);
                if registered_by == Some(approval.decided_by) {
                    findings.push(Finding::fail(
                        label.clone(),
                        format!(
                            "separation of duties breached: {} registered this version and also \
                             {} it",
                            self.principal_label(registered_by).await?,
                            approval.decision
                        ),
                        "archive the version, have a second approver review it, and check how \
                         the rule was bypassed (`citadel audit query --action model.*`)",
                    ));
                }
                evidence.row([
                    label,
                    self.principal_label(registered_by).await?,
                    self.principal_label(Some(approval.decided_by)).await?,
                    approval.decision,
                    time_text(approval.decided_at),
                ]);
            }
        }
        if findings.is_empty() {
            findings.push(Finding::pass(
                "separation of duties",
                format!(
                    "{decisions} approval decisions, each by someone other than the version's \
                     registrant"
                ),
            ));
        }
        Ok(Section::new(SectionId::Approvals, findings, vec![evidence]))
    }

    pub(super) async fn endpoints_section(&self) -> Result<Section> {
        let mut findings = Vec::new();
        let mut evidence = Evidence::new(
            "Endpoints and what they serve",
            ["endpoint", "revision", "model", "traffic", "checked"],
        );
        for endpoint in self.store.endpoints().await? {
            let config = parse_config(&endpoint.config)?;
            let traffic: Vec<String> = config
                .traffic
                .iter()
                .map(|r| format!("v{} {}%", r.version, r.weight))
                .collect();
            let production = endpoint.full_name.split('.').next() == Some(PRODUCTION);
            evidence.row([
                endpoint.full_name.clone(),
                endpoint.revision.to_string(),
                config.model.clone(),
                traffic.join(", "),
                if production { "serving rules" } else { "-" }.to_owned(),
            ]);
            if !production {
                continue;
            }
            let refusals = self
                .serving_refusals(&config.model, &config.traffic)
                .await?;
            findings.push(if refusals.is_empty() {
                Finding::pass(
                    endpoint.full_name.clone(),
                    format!(
                        "serves only approved, signed versions whose gates passed ({} of {})",
                        traffic.join(", "),
                        config.model
                    ),
                )
            } else {
                Finding::fail(
                    endpoint.full_name.clone(),
                    refusals.join("; "),
                    format!(
                        "route only approved, signed versions: `citadel endpoint update {} \
                         --model {}@champion` or `citadel endpoint rollback {}`",
                        endpoint.full_name, config.model, endpoint.full_name
                    ),
                )
            });
        }
        if findings.is_empty() {
            findings.push(Finding::pass(
                "production endpoints",
                "no endpoint serves in the prod catalog",
            ));
        }
        Ok(Section::new(SectionId::Endpoints, findings, vec![evidence]))
    }

    /// Why each routed version of `model` may not serve (empty when all may).
    async fn serving_refusals(
        &self,
        model: &str,
        traffic: &[crate::TrafficRoute],
    ) -> Result<Vec<String>> {
        let Some(securable) = self.store.securable_by_name(model).await? else {
            return Ok(vec![format!("its model {model} no longer exists")]);
        };
        let versions = self.store.model_versions(securable.id).await?;
        let mut refusals = Vec::new();
        for route in traffic {
            match versions.iter().find(|v| v.version == route.version) {
                Some(record) => {
                    if let Some(reason) = self.serving_refusal(&securable, record).await? {
                        refusals.push(reason);
                    }
                }
                None => refusals.push(format!("{model}@{} no longer exists", route.version)),
            }
        }
        Ok(refusals)
    }
}
