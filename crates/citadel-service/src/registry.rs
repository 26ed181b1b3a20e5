//! The model registry's workflow: approval and rejection with separation of duties, aliases with
//! protection for `champion`, tags, listings, and the stored model card and ML-BOM.

use citadel_core::{FullName, Privilege, SecurableKind};
use citadel_registry::card::{self, CardApproval, ModelCard};
use citadel_registry::status::VersionStatus;
use citadel_store::{ApprovalRecord, ModelVersionRecord, Securable, TagRecord};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::datasets::json_error;
use crate::models::{is_alias_name, parse_model_spec, ModelSelector};
use crate::{Citadel, Context, Error, ModelVersionInfo, Result, SecurableRef};

/// The alias that names the version serving in a catalog.
pub const CHAMPION: &str = "champion";
/// The alias a pipeline gives the version it registers.
pub const CHALLENGER: &str = "challenger";
/// Catalogs where `champion` moves only to approved, gated, verified versions.
pub const PROTECTED_CATALOGS: [&str; 2] = ["staging", "prod"];

/// An approval or rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    fn status(self) -> VersionStatus {
        match self {
            Self::Approve => VersionStatus::Approved,
            Self::Reject => VersionStatus::Rejected,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Approve => "model.approve",
            Self::Reject => "model.reject",
        }
    }
}

/// A model and its versions at a glance.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModelSummary {
    pub name: String,
    pub versions: u32,
    pub latest: Option<u32>,
    /// `alias → version`.
    pub aliases: Vec<(String, u32)>,
    /// Versions by status.
    pub statuses: Vec<(String, u32)>,
}

/// A tag on a version.
#[derive(Debug, Clone, Serialize)]
pub struct TagInfo {
    pub version: u32,
    pub key: String,
    pub value: String,
}

impl Citadel {
    /// Approves or rejects a pending version (`APPROVE` on the model). Whoever created the
    /// version cannot decide on it (separation of duties), a version whose gates failed cannot
    /// be approved, and the model card is re-rendered with the decision. Audited either way.
    pub async fn decide_model_version(
        &self,
        ctx: &Context,
        spec: &str,
        decision: Decision,
        comment: &str,
    ) -> Result<ModelVersionInfo> {
        let action = decision.action();
        let comment = comment.trim();
        if comment.is_empty() || comment.len() > 2000 {
            return Err(Error::InvalidInput(
                "a decision needs a comment (1 to 2000 characters): pass --comment".into(),
            ));
        }
        let (target, selector) = parse_model_spec(spec)?;
        let params = json!({ "spec": spec, "comment": comment });
        let mut tx = self
            .begin_authorized(ctx, action, Privilege::Approve, &target, &params)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        let label = format!("{}@{}", model.full_name, record.version);
        let refusal = if record.created_by == Some(ctx.principal.id) {
            Some(format!(
                "separation of duties: {} registered {label} and cannot {} it; ask another \
                 approver",
                ctx.principal.name,
                if decision == Decision::Approve {
                    "approve"
                } else {
                    "reject"
                },
            ))
        } else if decision == Decision::Approve && record.registry.gates_passed == Some(false) {
            Some(format!(
                "{label} failed its quality gates and can never be approved"
            ))
        } else {
            None
        };
        if let Some(reason) = refusal {
            let event = ctx
                .event(action)
                .on(target.audit_label())
                .with_params(params)
                .denied(reason.clone());
            tx.commit(event).await?;
            return Err(Error::Forbidden(reason));
        }
        let current: VersionStatus = record.registry.status.parse()?;
        current.check_transition(decision.status())?;
        let decided_at = OffsetDateTime::now_utc();
        tx.insert_approval(
            model.id,
            &ApprovalRecord {
                version: record.version,
                decision: decision.status().as_str().to_owned(),
                decided_by: ctx.principal.id,
                comment: comment.to_owned(),
                decided_at,
            },
        )
        .await?;
        let reason = (decision == Decision::Reject).then_some(comment);
        tx.set_model_version_status(model.id, record.version, decision.status().as_str(), reason)
            .await?;
        tx.commit(
            ctx.event(action)
                .on(target.audit_label())
                .with_params(json!({ "version": record.version, "comment": comment })),
        )
        .await?;
        self.reloaded_info(&target, record.version).await
    }

    /// Points an alias at a version (`MANAGE` on the model). No alias may name a rejected or
    /// archived version; `champion` in `staging` and `prod` needs an approved version whose gates
    /// passed and whose signature and bytes verify now.
    pub async fn set_model_alias(
        &self,
        ctx: &Context,
        spec: &str,
        alias: &str,
    ) -> Result<ModelVersionInfo> {
        const ACTION: &str = "model.alias.set";
        if !is_alias_name(alias) || alias == "latest" {
            return Err(Error::InvalidInput(format!(
                "{alias:?} cannot be an alias: use a letter then letters, digits, _ or - (not a \
                 version number or `latest`)"
            )));
        }
        let (target, selector) = parse_model_spec(spec)?;
        if matches!(
            selector,
            ModelSelector::Version(citadel_data::VersionSelector::Latest)
        ) && !spec.contains('@')
        {
            return Err(Error::InvalidInput(format!(
                "name the version the alias points at: {spec}@VERSION"
            )));
        }
        let params = json!({ "spec": spec, "alias": alias });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        if let Some(reason) = self.alias_refusal(&model, &record, alias).await? {
            let event = ctx
                .event(ACTION)
                .on(target.audit_label())
                .with_params(params)
                .denied(reason.clone());
            tx.commit(event).await?;
            return Err(Error::Forbidden(reason));
        }
        tx.set_alias(model.id, alias, record.version, ctx.principal.id)
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({ "alias": alias, "version": record.version })),
        )
        .await?;
        self.reloaded_info(&target, record.version).await
    }

    /// Why `alias` may not name `record`, if it may not.
    async fn alias_refusal(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
        alias: &str,
    ) -> Result<Option<String>> {
        let label = format!("{}@{}", model.full_name, record.version);
        let status: VersionStatus = record.registry.status.parse()?;
        if matches!(status, VersionStatus::Rejected | VersionStatus::Archived) {
            return Ok(Some(format!("{label} is {status}; no alias may name it")));
        }
        let catalog = model.full_name.split('.').next().unwrap_or_default();
        if alias != CHAMPION || !PROTECTED_CATALOGS.contains(&catalog) {
            return Ok(None);
        }
        if status != VersionStatus::Approved {
            return Ok(Some(format!(
                "champion in {catalog} needs an approved version; {label} is {status}"
            )));
        }
        if record.registry.gates_passed != Some(true) && record.registry.promoted_from.is_none() {
            return Ok(Some(format!(
                "champion in {catalog} needs a version whose quality gates passed; {label} has \
                 none recorded"
            )));
        }
        if let Some(origin) = &record.registry.promoted_from {
            if !self.origin_gates_passed(origin).await? {
                return Ok(Some(format!(
                    "champion in {catalog} needs a version whose quality gates passed; {label} \
                     comes from {origin}, whose gates did not"
                )));
            }
        }
        let check = self.check_model_version(model, record).await?;
        if !check.ok() {
            return Ok(Some(format!(
                "{label} failed verification: {}",
                check.problems.join("; ")
            )));
        }
        Ok(None)
    }

    /// Whether the version a promoted copy came from (followed to the original) passed its gates.
    pub(crate) async fn origin_gates_passed(&self, origin: &str) -> Result<bool> {
        let mut spec = origin.to_owned();
        for _ in 0..8 {
            let (target, selector) = parse_model_spec(&spec)?;
            let (_, record) = self.load_model_version(&target, &selector).await?;
            match record.registry.promoted_from {
                Some(next) => spec = next,
                None => return Ok(record.registry.gates_passed == Some(true)),
            }
        }
        Ok(false)
    }

    /// Removes an alias (`MANAGE` on the model).
    pub async fn remove_model_alias(
        &self,
        ctx: &Context,
        name: &FullName,
        alias: &str,
    ) -> Result<()> {
        const ACTION: &str = "model.alias.remove";
        let target = SecurableRef::new(SecurableKind::Model, name.clone())?;
        let params = json!({ "alias": alias });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let model = self.securable_named(&target).await?;
        if !tx.delete_alias(model.id, alias).await? {
            return Err(Error::NotFound {
                what: "alias",
                name: format!("{}@{alias}", target.label()),
            });
        }
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        Ok(())
    }

    /// Sets (`value` given) or removes a tag on a version (`MODIFY` on the model).
    pub async fn tag_model_version(
        &self,
        ctx: &Context,
        spec: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<TagInfo>> {
        const ACTION: &str = "model.tag";
        if !is_alias_name(key) {
            return Err(Error::InvalidInput(format!(
                "{key:?} cannot be a tag key: use a letter then letters, digits, _ or -"
            )));
        }
        if value.is_some_and(|v| v.len() > 500 || v.chars().any(char::is_control)) {
            return Err(Error::InvalidInput(
                "a tag value is one line of at most 500 characters".into(),
            ));
        }
        let (target, selector) = parse_model_spec(spec)?;
        let params = json!({ "spec": spec, "key": key, "value": value });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Modify, &target, &params)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        match value {
            Some(value) => {
                tx.set_tag(
                    model.id,
                    &TagRecord {
                        version: record.version,
                        key: key.to_owned(),
                        value: value.to_owned(),
                    },
                )
                .await?
            }
            None => {
                if !tx.delete_tag(model.id, record.version, key).await? {
                    return Err(Error::NotFound {
                        what: "tag",
                        name: format!("{}@{} {key}", model.full_name, record.version),
                    });
                }
            }
        }
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({ "version": record.version, "key": key, "value": value })),
        )
        .await?;
        Ok(self
            .store
            .tags(model.id)
            .await?
            .into_iter()
            .filter(|t| t.version == record.version)
            .map(|t| TagInfo {
                version: t.version,
                key: t.key,
                value: t.value,
            })
            .collect())
    }

    /// The models the caller can see (any of `SELECT`, `MODIFY`, `APPROVE`, `MANAGE`), under
    /// `prefix` (a catalog or schema) when given.
    pub async fn list_models(
        &self,
        ctx: &Context,
        prefix: Option<&FullName>,
    ) -> Result<Vec<ModelSummary>> {
        let visible = [
            Privilege::Select,
            Privilege::Modify,
            Privilege::Approve,
            Privilege::Manage,
        ];
        let mut out = Vec::new();
        for model in self.store.securables_of_kind(SecurableKind::Model).await? {
            if let Some(prefix) = prefix {
                let prefix = prefix.to_string();
                if !model.full_name.starts_with(&format!("{prefix}.")) {
                    continue;
                }
            }
            let target = SecurableRef::parse(SecurableKind::Model, &model.full_name)?;
            if !self.allowed_any(ctx, &visible, &target).await? {
                continue;
            }
            let versions = self.store.model_versions(model.id).await?;
            let mut statuses: Vec<(String, u32)> = Vec::new();
            for status in VersionStatus::ALL {
                let n = versions
                    .iter()
                    .filter(|v| v.registry.status == status.as_str())
                    .count();
                if n > 0 {
                    statuses.push((
                        status.as_str().to_owned(),
                        u32::try_from(n).unwrap_or(u32::MAX),
                    ));
                }
            }
            out.push(ModelSummary {
                name: model.full_name.clone(),
                versions: u32::try_from(versions.len()).unwrap_or(u32::MAX),
                latest: versions.iter().map(|v| v.version).max(),
                aliases: self
                    .store
                    .aliases(model.id)
                    .await?
                    .into_iter()
                    .map(|a| (a.alias, a.version))
                    .collect(),
                statuses,
            });
        }
        Ok(out)
    }

    /// A version's model card in Markdown (`SELECT` on the model): the facts stored at
    /// registration with the version's current status and every approval decision on it.
    pub async fn model_card(&self, ctx: &Context, spec: &str) -> Result<String> {
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &target)
            .await?;
        let (model, record) = self.load_model_version(&target, &selector).await?;
        let facts = record
            .registry
            .card
            .as_deref()
            .ok_or_else(|| Error::NotFound {
                what: "model card",
                name: format!("{spec} (only trained and promoted versions have one)"),
            })?;
        let mut card: ModelCard = serde_json::from_str(facts).map_err(json_error)?;
        card.status = record.registry.status.clone();
        card.approvals = Vec::new();
        for approval in self.store.approvals(model.id).await? {
            if approval.version != record.version {
                continue;
            }
            card.approvals.push(CardApproval {
                principal: self.principal_label(Some(approval.decided_by)).await?,
                decision: approval.decision,
                comment: approval.comment,
                at: approval
                    .decided_at
                    .format(&Rfc3339)
                    .map_err(|_| Error::InvalidInput("cannot format the time".into()))?,
            });
        }
        Ok(card::render_markdown(&card)?)
    }

    /// A version's ML-BOM, as stored (`SELECT` on the model).
    pub async fn model_bom(&self, ctx: &Context, spec: &str) -> Result<Value> {
        let record = self.readable_version(ctx, spec).await?;
        let bom = record.registry.bom.ok_or_else(|| Error::NotFound {
            what: "ML-BOM",
            name: format!("{spec} (only trained and promoted versions have one)"),
        })?;
        serde_json::from_str(&bom).map_err(json_error)
    }

    async fn readable_version(&self, ctx: &Context, spec: &str) -> Result<ModelVersionRecord> {
        let (target, selector) = parse_model_spec(spec)?;
        self.authorize_read(ctx, "model.read", Privilege::Select, &target)
            .await?;
        Ok(self.load_model_version(&target, &selector).await?.1)
    }

    async fn reloaded_info(&self, target: &SecurableRef, version: u32) -> Result<ModelVersionInfo> {
        let selector = ModelSelector::Version(citadel_data::VersionSelector::Number(version));
        let (model, record) = self.load_model_version(target, &selector).await?;
        let files = self.store.model_files(model.id, record.version).await?;
        self.model_version_info(&model, &record, &files).await
    }
}
