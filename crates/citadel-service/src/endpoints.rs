//! Serving endpoints: a securable (`catalog.schema.name`, kind `endpoint`) whose configuration
//! pins the model versions it serves, their traffic weights, guardrails, limits and log policy.
//! Every change is a new revision, authorized and audited in the same transaction; a rollback
//! copies the previous revision's configuration into a new one, so history is append-only (and
//! rolling back twice returns to the newer configuration). What may serve is decided here, when a
//! configuration is written and again when the gateway loads weights: versions of a model in the
//! endpoint's own catalog, never rejected or archived ones, and in catalogs that require approval
//! (`staging`, `prod`) only approved versions whose gates passed and whose signed manifest
//! verifies; loading re-checks every byte.

mod config;
#[cfg(test)]
mod tests;

pub use config::{
    format_traffic, parse_traffic, validate_traffic, EndpointConfig, EndpointSettings, LogPolicy,
    Payloads, RateLimits, TrafficRoute, MAX_QUEUE, MAX_ROUTES,
};

use std::path::Path;

use citadel_audit::{Actor, EventDraft};
use citadel_core::{decide, Decision, FullName, Privilege, RequestId, SecurableId, SecurableKind};
use citadel_data::VersionSelector;
use citadel_hub::manifest::Envelope;
use citadel_registry::status::VersionStatus;
use citadel_store::{
    EndpointChange, EndpointRecord, EndpointRevisionRecord, ModelVersionRecord, Securable, WriteTx,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::datasets::json_error;
use crate::models::{parse_model_spec, ModelSelector};
use crate::registry::PROTECTED_CATALOGS;
use crate::securable_ref::create_in_schema;
use crate::{Citadel, Context, Error, ModelVersionInfo, Result, SecurableRef};

/// Privileges that let a caller see an endpoint (list and show it).
const ENDPOINT_VIEW: [Privilege; 2] = [Privilege::Execute, Privilege::Manage];

/// An endpoint as shown to people and programs.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EndpointInfo {
    pub name: String,
    pub id: SecurableId,
    pub owner: Option<String>,
    /// The revision serving now.
    pub revision: u32,
    pub config: EndpointConfig,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
    /// When the current revision was made.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub updated_at: OffsetDateTime,
    /// Every revision, oldest first (filled by `show`; left out of listings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<EndpointRevisionInfo>,
}

/// One revision of an endpoint's configuration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EndpointRevisionInfo {
    pub revision: u32,
    /// `create`, `update` or `rollback`.
    pub change: &'static str,
    /// The revision a rollback copied.
    pub restored: Option<u32>,
    pub config: EndpointConfig,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

/// What an update changes; what is left out stays as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// `catalog.schema.model@ALIAS` or `@VERSION`: the version it names takes all the traffic,
    /// unless `traffic` splits it (then the name alone is enough).
    pub model: Option<String>,
    /// A new split over versions of the (new or current) model.
    pub traffic: Option<Vec<TrafficRoute>>,
    /// Other settings, as a `--config` file gives them.
    pub settings: EndpointSettings,
}

/// An endpoint as the gateway serves it: its current revision's configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingEndpoint {
    pub id: SecurableId,
    /// `catalog.schema.name`.
    pub name: String,
    pub revision: u32,
    pub config: EndpointConfig,
}

/// An endpoint the caller may invoke, as `/v1/models` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvocableEndpoint {
    /// `catalog.schema.name`: the model id OpenAI clients send.
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The owning principal's name (`citadel` when none).
    pub owner: String,
}

/// Which versions of which model a configuration should route to, before they are resolved.
#[derive(Debug, Clone)]
struct RoutePlan {
    model: SecurableRef,
    /// The version or alias the spec named, if it named one.
    selector: Option<ModelSelector>,
    /// An explicit split, if one was given.
    traffic: Option<Vec<TrafficRoute>>,
}

impl RoutePlan {
    /// `prod.x.y@champion` or `prod.x.y@3`, or `prod.x.y` with an explicit split.
    fn parse(spec: &str, traffic: Option<Vec<TrafficRoute>>) -> Result<Self> {
        if let Some(routes) = &traffic {
            validate_traffic(routes)?;
        }
        let (model, selector) = if spec.contains('@') {
            let (model, selector) = parse_model_spec(spec)?;
            (model, Some(selector))
        } else {
            (
                SecurableRef::new(SecurableKind::Model, spec.parse::<FullName>()?)?,
                None,
            )
        };
        if selector.is_none() && traffic.is_none() {
            return Err(Error::InvalidInput(format!(
                "name the version to serve: {spec}@champion or {spec}@3, or split traffic with \
                 --traffic 3=90,4=10"
            )));
        }
        Ok(Self {
            model,
            selector,
            traffic,
        })
    }

    /// The plan that keeps `config`'s model and routes (a rollback, or new settings only).
    fn pinned(config: &EndpointConfig) -> Result<Self> {
        Ok(Self {
            model: SecurableRef::parse(SecurableKind::Model, &config.model)?,
            selector: None,
            traffic: Some(config.traffic.clone()),
        })
    }
}

/// Why a write was refused, to be committed as its denial event.
struct Refusal {
    /// The securable the event is about.
    on: String,
    reason: String,
    error: Error,
}

impl Refusal {
    /// Commits the denial as the transaction's only effect and returns the error to report.
    async fn commit(self, tx: WriteTx, ctx: &Context, action: &str, params: &Value) -> Error {
        let event = ctx
            .event(action)
            .on(self.on)
            .with_params(params.clone())
            .denied(self.reason);
        match tx.commit(event).await {
            Ok(_) => self.error,
            Err(err) => err.into(),
        }
    }
}

/// The outcome of checking a plan: the pinned routes, or why they may not serve.
enum Routing {
    Allowed(Vec<TrafficRoute>),
    Refused(Refusal),
}

impl Citadel {
    /// Creates endpoint `name` serving `model_spec` (`catalog.schema.model@champion` or `@3`,
    /// pinned now to the version it names), or the split `traffic` over versions of that model.
    /// Needs `MANAGE` on the endpoint's schema and `EXECUTE` on the model; the creator owns the
    /// endpoint. Every routed version must exist and be allowed to serve (see the module docs);
    /// a refusal names the version and why, and is audited.
    pub async fn create_endpoint(
        &self,
        ctx: &Context,
        name: &FullName,
        model_spec: &str,
        traffic: Option<Vec<TrafficRoute>>,
        settings: &EndpointSettings,
    ) -> Result<EndpointInfo> {
        const ACTION: &str = "endpoint.create";
        let target = SecurableRef::new(SecurableKind::Endpoint, name.clone())?;
        let schema = SecurableRef::new(
            SecurableKind::Schema,
            name.parent().ok_or_else(|| {
                Error::InvalidInput("an endpoint is named CATALOG.SCHEMA.NAME".into())
            })?,
        )?;
        let plan = RoutePlan::parse(model_spec, traffic)?;
        check_settings(&plan, settings)?;
        let params = json!({
            "model": model_spec,
            "traffic": plan.traffic.as_deref().map(format_traffic),
            "settings": settings,
        });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &schema, &params)
            .await?;
        if let Some(existing) = tx.securable_by_name(&target.db_name()).await? {
            return Err(Error::AlreadyExists {
                what: existing.kind.as_str(),
                name: existing.full_name,
            });
        }
        let traffic = match self.route(ctx, ACTION, &target, &plan, true).await? {
            Routing::Allowed(traffic) => traffic,
            Routing::Refused(refusal) => {
                return Err(refusal.commit(tx, ctx, ACTION, &params).await)
            }
        };
        let config = settings.apply(EndpointConfig::new(plan.model.to_string(), traffic));
        config.validate()?;
        let created = create_in_schema(&mut tx, ctx, &target).await?;
        let document = serde_json::to_string(&config).map_err(json_error)?;
        let revision = tx
            .insert_endpoint(created.id, &document, Some(ctx.principal.id))
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(revision_params(&config, &revision, settings)),
        )
        .await?;
        self.endpoint_info(self.endpoint_record(&target).await?, false)
            .await
    }

    /// Writes a new revision of an endpoint (`MANAGE` on it): a new model or split (which needs
    /// `EXECUTE` on the model and versions allowed to serve) and/or new settings. An update that
    /// changes nothing is refused.
    pub async fn update_endpoint(
        &self,
        ctx: &Context,
        name: &FullName,
        changes: &EndpointChanges,
    ) -> Result<EndpointInfo> {
        const ACTION: &str = "endpoint.update";
        let target = SecurableRef::new(SecurableKind::Endpoint, name.clone())?;
        if changes.model.is_none() && changes.traffic.is_none() && changes.settings.is_empty() {
            return Err(Error::InvalidInput(
                "nothing to change: pass --model, --traffic or --config".into(),
            ));
        }
        let new_plan = match &changes.model {
            Some(spec) => Some(RoutePlan::parse(spec, changes.traffic.clone())?),
            None => {
                if let Some(routes) = &changes.traffic {
                    validate_traffic(routes)?;
                }
                None
            }
        };
        let params = json!({
            "model": changes.model,
            "traffic": changes.traffic.as_deref().map(format_traffic),
            "settings": changes.settings,
        });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let record = self.endpoint_record(&target).await?;
        let current = parse_config(&record.config)?;
        let plan = match (new_plan, &changes.traffic) {
            (Some(plan), _) => Some(plan),
            (None, Some(traffic)) => Some(RoutePlan {
                traffic: Some(traffic.clone()),
                ..RoutePlan::pinned(&current)?
            }),
            (None, None) => None,
        };
        let mut config = current.clone();
        if let Some(plan) = plan {
            match self.route(ctx, ACTION, &target, &plan, true).await? {
                Routing::Allowed(traffic) => {
                    config.model = plan.model.to_string();
                    config.traffic = traffic;
                }
                Routing::Refused(refusal) => {
                    return Err(refusal.commit(tx, ctx, ACTION, &params).await)
                }
            }
        }
        let config = changes.settings.apply(config);
        config.validate()?;
        if config == current {
            return Err(Error::InvalidInput(format!(
                "{name} already has this configuration (revision {}); nothing changed",
                record.revision
            )));
        }
        let document = serde_json::to_string(&config).map_err(json_error)?;
        let revision = tx
            .append_endpoint_revision(
                record.id,
                EndpointChange::Update,
                &document,
                Some(ctx.principal.id),
            )
            .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(revision_params(&config, &revision, &changes.settings)),
        )
        .await?;
        self.endpoint_info(self.endpoint_record(&target).await?, false)
            .await
    }

    /// Makes the previous revision's configuration current again, at once, as a new revision
    /// (`MANAGE` on the endpoint). History stays append-only, so a second rollback returns to
    /// the configuration the first one replaced. The restored versions must still be allowed to
    /// serve (a version archived or rejected since is refused).
    pub async fn rollback_endpoint(&self, ctx: &Context, name: &FullName) -> Result<EndpointInfo> {
        const ACTION: &str = "endpoint.rollback";
        let target = SecurableRef::new(SecurableKind::Endpoint, name.clone())?;
        let params = json!({});
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let record = self.endpoint_record(&target).await?;
        let revisions = tx.endpoint_revisions(record.id).await?;
        let previous = match revisions.len().checked_sub(2).map(|i| &revisions[i]) {
            Some(previous) => previous,
            None => {
                return Err(Error::InvalidInput(format!(
                    "{name} has a single revision; there is nothing to roll back to"
                )))
            }
        };
        let config = parse_config(&previous.config)?;
        let params = json!({ "restored": previous.revision });
        match self
            .route(ctx, ACTION, &target, &RoutePlan::pinned(&config)?, false)
            .await?
        {
            Routing::Allowed(_) => {}
            Routing::Refused(refusal) => {
                return Err(refusal.commit(tx, ctx, ACTION, &params).await)
            }
        }
        let revision = tx
            .append_endpoint_revision(
                record.id,
                EndpointChange::Rollback(previous.revision),
                &previous.config,
                Some(ctx.principal.id),
            )
            .await?;
        let mut event_params = revision_params(&config, &revision, &EndpointSettings::default());
        if let Value::Object(map) = &mut event_params {
            map.insert("restored".into(), json!(previous.revision));
            map.insert("replaced".into(), json!(record.revision));
        }
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(event_params),
        )
        .await?;
        self.endpoint_info(self.endpoint_record(&target).await?, false)
            .await
    }

    /// The endpoints the caller may see (`EXECUTE` or `MANAGE` on them), by name.
    pub async fn list_endpoints(&self, ctx: &Context) -> Result<Vec<EndpointInfo>> {
        let mut out = Vec::new();
        for record in self.store.endpoints().await? {
            let target = SecurableRef::parse(SecurableKind::Endpoint, &record.full_name)?;
            if self.allowed_any(ctx, &ENDPOINT_VIEW, &target).await? {
                out.push(self.endpoint_info(record, false).await?);
            }
        }
        Ok(out)
    }

    /// An endpoint with its revision history (`EXECUTE` or `MANAGE` on it).
    pub async fn show_endpoint(&self, ctx: &Context, name: &FullName) -> Result<EndpointInfo> {
        let target = SecurableRef::new(SecurableKind::Endpoint, name.clone())?;
        if !self.allowed_any(ctx, &ENDPOINT_VIEW, &target).await? {
            // Audits the denial with the reason of the privilege that serving needs.
            self.authorize_read(ctx, "endpoint.read", Privilege::Execute, &target)
                .await?;
        }
        self.endpoint_info(self.endpoint_record(&target).await?, true)
            .await
    }

    /// Deletes an endpoint with its history and grants (`MANAGE` on it); the gateway stops
    /// serving it at its next refresh.
    pub async fn delete_endpoint(&self, ctx: &Context, name: &FullName) -> Result<()> {
        const ACTION: &str = "endpoint.delete";
        let target = SecurableRef::new(SecurableKind::Endpoint, name.clone())?;
        let params = json!({});
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        let record = self.endpoint_record(&target).await?;
        tx.delete_endpoint(record.id).await?;
        tx.delete_securable(record.id).await?;
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(json!({ "revision": record.revision })),
        )
        .await?;
        Ok(())
    }

    /// The gateway's per-request check: `EXECUTE` on endpoint `name` (an `invoke` or `control`
    /// token), then its current configuration. Success writes no audit event (the inference
    /// log records each call); a denial is audited. An unknown endpoint is denied like one the
    /// caller may not use, so names cannot be probed.
    pub async fn endpoint_for_invocation(
        &self,
        ctx: &Context,
        name: &str,
    ) -> Result<ServingEndpoint> {
        let target = SecurableRef::parse(SecurableKind::Endpoint, name)?;
        self.authorize_read(ctx, "endpoint.invoke", Privilege::Execute, &target)
            .await?;
        serving(self.endpoint_record(&target).await?)
    }

    /// The endpoints the caller holds `EXECUTE` on (an `invoke` or `control` token), by name;
    /// nothing is audited (a listing, like `GET /v1/models`).
    pub async fn invocable_endpoints(&self, ctx: &Context) -> Result<Vec<InvocableEndpoint>> {
        let mut out = Vec::new();
        for record in self.store.endpoints().await? {
            let target = SecurableRef::parse(SecurableKind::Endpoint, &record.full_name)?;
            if !self
                .allowed_any(ctx, &[Privilege::Execute], &target)
                .await?
            {
                continue;
            }
            let owner = self
                .store
                .securable(record.id)
                .await?
                .and_then(|s| s.owner_id);
            out.push(InvocableEndpoint {
                name: record.full_name,
                created_at: record.created_at,
                owner: self.principal_label(owner).await?,
            });
        }
        Ok(out)
    }

    /// Every endpoint's current configuration, for the gateway's start and refresh (a system
    /// read: requests are authorized one by one with [`Citadel::endpoint_for_invocation`]).
    pub async fn serving_endpoints(&self) -> Result<Vec<ServingEndpoint>> {
        self.store
            .endpoints()
            .await?
            .into_iter()
            .map(serving)
            .collect()
    }

    /// A number that grows with every endpoint change, deletions included: one cheap row to
    /// poll; reload with [`Citadel::serving_endpoints`] when it moves.
    pub async fn endpoints_generation(&self) -> Result<u64> {
        Ok(self.store.endpoint_generation().await?)
    }

    /// Writes `version` of `endpoint`'s model into `dest` (a new or empty private folder) for
    /// serving, after checking that the endpoint routes to it, that it may serve (see the
    /// module docs), and that its signed manifest and every stored byte verify. Audited as
    /// `endpoint.load` by the system, with the outcome.
    pub async fn stage_serving_model(
        &self,
        endpoint: &ServingEndpoint,
        version: u32,
        dest: &Path,
    ) -> Result<ModelVersionInfo> {
        const ACTION: &str = "endpoint.load";
        let target = SecurableRef::parse(SecurableKind::Endpoint, &endpoint.name)?;
        let event = EventDraft::new(&Actor::system(), RequestId::new(), ACTION)
            .on(target.audit_label())
            .with_params(json!({
                "model": endpoint.config.model,
                "version": version,
                "revision": endpoint.revision,
            }));
        let outcome = self.stage_checked(endpoint, &target, version, dest).await;
        let event = match &outcome {
            Ok(_) => event,
            Err(Error::Forbidden(reason)) => event.denied(reason.clone()),
            Err(err) => event.failed(err.to_string()),
        };
        self.store.audit(event).await?;
        outcome
    }

    async fn stage_checked(
        &self,
        endpoint: &ServingEndpoint,
        target: &SecurableRef,
        version: u32,
        dest: &Path,
    ) -> Result<ModelVersionInfo> {
        if !endpoint.config.traffic.iter().any(|r| r.version == version) {
            return Err(Error::InvalidInput(format!(
                "{} revision {} does not route to version {version} (it routes {})",
                endpoint.name,
                endpoint.revision,
                endpoint.config.traffic_text()
            )));
        }
        let model_ref = SecurableRef::parse(SecurableKind::Model, &endpoint.config.model)?;
        if let Some(reason) = catalog_refusal(target, &model_ref) {
            return Err(Error::Forbidden(reason));
        }
        let selector = ModelSelector::Version(VersionSelector::Number(version));
        let (model, record) = self.load_model_version(&model_ref, &selector).await?;
        if let Some(reason) = self.serving_refusal(&model, &record).await? {
            return Err(Error::Forbidden(reason));
        }
        self.export_version(&model, &record, dest).await
    }

    /// Checks a plan: same catalog, `EXECUTE` on the model (when asked), every version exists
    /// and may serve. Returns the pinned routes.
    async fn route(
        &self,
        ctx: &Context,
        action: &str,
        endpoint: &SecurableRef,
        plan: &RoutePlan,
        check_execute: bool,
    ) -> Result<Routing> {
        if let Some(reason) = catalog_refusal(endpoint, &plan.model) {
            return Ok(Routing::Refused(Refusal {
                on: endpoint.audit_label(),
                error: Error::Forbidden(reason.clone()),
                reason,
            }));
        }
        if check_execute {
            let chain = self
                .store
                .policy_chain(&plan.model.db_name(), &ctx.principal_ids())
                .await?;
            if let Decision::Deny(reason) =
                decide(&ctx.subject(), Privilege::Execute, chain.as_deref())
            {
                let reason = format!("EXECUTE on model {}: {reason}", plan.model);
                return Ok(Routing::Refused(Refusal {
                    on: plan.model.audit_label(),
                    error: Error::Forbidden(format!("{action}: {reason}")),
                    reason,
                }));
            }
        }
        let model = self.securable_named(&plan.model).await?;
        let versions = self.store.model_versions(model.id).await?;
        let traffic = match (&plan.selector, &plan.traffic) {
            (Some(selector), traffic) => {
                let (_, named) = self.load_model_version(&plan.model, selector).await?;
                match traffic {
                    None => vec![TrafficRoute {
                        version: named.version,
                        weight: 100,
                    }],
                    Some(traffic) if traffic.iter().any(|r| r.version == named.version) => {
                        traffic.clone()
                    }
                    Some(traffic) => {
                        return Err(Error::InvalidInput(format!(
                            "the model spec names version {} of {}, which --traffic {} does not \
                             route: name the model without @ or route that version",
                            named.version,
                            plan.model,
                            format_traffic(traffic)
                        )))
                    }
                }
            }
            (None, Some(traffic)) => traffic.clone(),
            (None, None) => {
                return Err(Error::InvalidInput(format!(
                    "name the version of {} to serve, or split traffic with --traffic",
                    plan.model
                )))
            }
        };
        for route in &traffic {
            let record = versions
                .iter()
                .find(|v| v.version == route.version)
                .ok_or_else(|| Error::NotFound {
                    what: "model version",
                    name: format!("{}@{}", model.full_name, route.version),
                })?;
            if let Some(reason) = self.serving_refusal(&model, record).await? {
                return Ok(Routing::Refused(Refusal {
                    on: endpoint.audit_label(),
                    error: Error::Forbidden(reason.clone()),
                    reason,
                }));
            }
        }
        Ok(Routing::Allowed(traffic))
    }

    /// Why `record` may not serve from `endpoint`, if it may not: a rejected or archived version
    /// never serves; in a catalog that requires approval only an approved version whose gates
    /// passed (its own, or its origin's for a promoted copy) serves; everywhere its signed
    /// manifest must verify and name it. (Loading also re-hashes every byte.)
    pub(crate) async fn serving_refusal(
        &self,
        model: &Securable,
        record: &ModelVersionRecord,
    ) -> Result<Option<String>> {
        let label = format!("{}@{}", model.full_name, record.version);
        let status: VersionStatus = record.registry.status.parse()?;
        if matches!(status, VersionStatus::Rejected | VersionStatus::Archived) {
            return Ok(Some(format!(
                "{label} is {status} and can never serve; route an approved version"
            )));
        }
        let catalog = catalog_of(&model.full_name);
        if PROTECTED_CATALOGS.contains(&catalog) {
            if !status.deployable() {
                return Ok(Some(format!(
                    "{label} is {status}: an endpoint in {catalog} serves only approved \
                     versions; ask an approver (`citadel model approve {label} --comment …`)"
                )));
            }
            let gates_passed = match &record.registry.promoted_from {
                Some(origin) => self.origin_gates_passed(origin).await?,
                None => record.registry.gates_passed == Some(true),
            };
            if !gates_passed {
                return Ok(Some(format!(
                    "{label} has no passed quality gates on record: an endpoint in {catalog} \
                     serves only versions whose gates passed"
                )));
            }
        }
        let signed = serde_json::from_str::<Envelope>(&record.envelope)
            .map_err(|e| citadel_hub::HubError::Signature(format!("the envelope: {e}")))
            .and_then(|envelope| self.model_key.verifying_key().verify(&envelope));
        match signed {
            Ok(manifest) if manifest.model == label => Ok(None),
            Ok(manifest) => Ok(Some(format!(
                "the signed manifest of {label} is for {}; the version was tampered with",
                manifest.model
            ))),
            Err(err) => Ok(Some(format!(
                "the signed manifest of {label} does not verify ({err}); the version was \
                 tampered with"
            ))),
        }
    }

    /// The endpoint's row and current configuration.
    async fn endpoint_record(&self, target: &SecurableRef) -> Result<EndpointRecord> {
        self.store
            .endpoint_by_name(&target.db_name())
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "endpoint",
                name: target.to_string(),
            })
    }

    async fn endpoint_info(
        &self,
        record: EndpointRecord,
        with_history: bool,
    ) -> Result<EndpointInfo> {
        let owner = match self
            .store
            .securable(record.id)
            .await?
            .and_then(|s| s.owner_id)
        {
            Some(id) => Some(self.principal_label(Some(id)).await?),
            None => None,
        };
        let mut history = Vec::new();
        if with_history {
            for revision in self.store.endpoint_revisions(record.id).await? {
                history.push(self.revision_info(revision).await?);
            }
        }
        Ok(EndpointInfo {
            config: parse_config(&record.config)?,
            name: record.full_name,
            id: record.id,
            owner,
            revision: record.revision,
            created_at: record.created_at,
            updated_at: record.updated_at,
            history,
        })
    }

    async fn revision_info(
        &self,
        revision: EndpointRevisionRecord,
    ) -> Result<EndpointRevisionInfo> {
        Ok(EndpointRevisionInfo {
            revision: revision.revision,
            change: revision.change.as_str(),
            restored: revision.change.restored(),
            config: parse_config(&revision.config)?,
            created_at: revision.created_at,
            created_by: self.principal_label(revision.created_by).await?,
        })
    }
}

/// Checks `settings` on their own, before anything is read (with the plan's split, or a
/// placeholder one while the version is still to be resolved).
fn check_settings(plan: &RoutePlan, settings: &EndpointSettings) -> Result<()> {
    let traffic = plan.traffic.clone().unwrap_or_else(|| {
        vec![TrafficRoute {
            version: 1,
            weight: 100,
        }]
    });
    settings
        .apply(EndpointConfig::new(plan.model.to_string(), traffic))
        .validate()
}

/// Why an endpoint may not serve a model of another catalog, if it may not.
fn catalog_refusal(endpoint: &SecurableRef, model: &SecurableRef) -> Option<String> {
    let endpoint_name = endpoint.to_string();
    let model_name = model.to_string();
    let (ours, theirs) = (catalog_of(&endpoint_name), catalog_of(&model_name));
    (ours != theirs).then(|| {
        format!(
            "an endpoint in {ours} serves only models from {ours}, and {model_name} is in \
             {theirs}; promote it first (`citadel model promote {model_name}@VERSION --to \
             {ours}.SCHEMA.MODEL`)"
        )
    })
}

fn catalog_of(full_name: &str) -> &str {
    full_name.split('.').next().unwrap_or_default()
}

pub(crate) fn parse_config(document: &str) -> Result<EndpointConfig> {
    serde_json::from_str(document).map_err(json_error)
}

fn serving(record: EndpointRecord) -> Result<ServingEndpoint> {
    Ok(ServingEndpoint {
        config: parse_config(&record.config)?,
        id: record.id,
        name: record.full_name,
        revision: record.revision,
    })
}

/// The audit parameters of a written revision: what serves now, never a secret (the
/// configuration holds none).
fn revision_params(
    config: &EndpointConfig,
    revision: &EndpointRevisionRecord,
    settings: &EndpointSettings,
) -> Value {
    json!({
        "revision": revision.revision,
        "model": config.model,
        "traffic": config.traffic_text(),
        "settings": settings,
    })
}
