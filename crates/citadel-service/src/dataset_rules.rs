//! Who sees what of a dataset: column masks and row filters (`MANAGE` on the dataset), the
//! principal attributes filters compare against (`MANAGE` on the metastore), and the training
//! guard with its waivers (requested by one principal, approved by another, until an expiry).

use citadel_core::{FullName, Privilege};
use citadel_data::{ColumnMask, PiiVerdict, RowFilter, RowPolicy};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::datasets::{json_error, parse_spec};
use crate::{Citadel, Context, Error, Result, SecurableRef};

/// Longest justification of a waiver.
const MAX_JUSTIFICATION: usize = 2000;
/// Longest a waiver may last.
const MAX_WAIVER_DAYS: i64 = 365;

/// A change to a dataset's rules.
#[derive(Debug, Clone)]
pub enum RuleChange {
    SetMask(ColumnMask),
    DropMask { column: String },
    SetFilter(RowFilter),
    DropFilter { column: String },
}

/// A waiver as listed.
#[derive(Debug, Clone, Serialize)]
pub struct WaiverInfo {
    pub id: String,
    pub dataset: String,
    pub version: u32,
    pub justification: String,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub approved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
}

/// Why a version may be used for training.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingClearance {
    pub dataset: String,
    pub version: u32,
    /// The approved waiver that allowed it, when the verdict alone did not.
    pub waiver: Option<String>,
}

impl Citadel {
    /// Sets or drops a column mask or row filter (`MANAGE` on the dataset); one rule per column
    /// and kind, a new one replacing the old.
    pub async fn change_dataset_rule(
        &self,
        ctx: &Context,
        name: &FullName,
        change: RuleChange,
    ) -> Result<RowPolicy> {
        const ACTION: &str = "dataset.rules";
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Manage, name)
            .await?;
        let mut policy = loaded.row_policy()?;
        let description = match &change {
            RuleChange::SetMask(mask) => {
                policy.masks.retain(|m| m.column != mask.column);
                policy.masks.push(mask.clone());
                json!({ "set_mask": mask })
            }
            RuleChange::DropMask { column } => {
                let before = policy.masks.len();
                policy.masks.retain(|m| &m.column != column);
                no_rule_unless(before != policy.masks.len(), "mask", column)?;
                json!({ "drop_mask": column })
            }
            RuleChange::SetFilter(filter) => {
                policy.filters.retain(|f| f.column != filter.column);
                policy.filters.push(filter.clone());
                json!({ "set_filter": filter.to_string(), "exempt_groups": filter.exempt_groups })
            }
            RuleChange::DropFilter { column } => {
                let before = policy.filters.len();
                policy.filters.retain(|f| &f.column != column);
                no_rule_unless(before != policy.filters.len(), "row filter", column)?;
                json!({ "drop_filter": column })
            }
        };
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &loaded.target, &description)
            .await?;
        tx.set_row_policy(
            loaded.securable.id,
            &serde_json::to_string(&policy).map_err(json_error)?,
        )
        .await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(description),
        )
        .await?;
        Ok(policy)
    }

    /// Sets the values of one attribute of a principal (`MANAGE` on the metastore); no values
    /// removes it. Row filters such as `region IN viewer.regions` read them.
    pub async fn set_principal_attribute(
        &self,
        ctx: &Context,
        principal: &str,
        attribute: &str,
        values: &[String],
    ) -> Result<()> {
        const ACTION: &str = "principal.set_attribute";
        attribute.parse::<citadel_core::Identifier>()?;
        if values.iter().any(|v| v.is_empty() || v.len() > 256) {
            return Err(Error::InvalidInput(
                "attribute values are 1 to 256 characters".into(),
            ));
        }
        let params = json!({ "principal": principal, "attribute": attribute, "values": values });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let target = self.principal_named(principal).await?;
        tx.set_principal_attribute(target.id, attribute, values)
            .await?;
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok(())
    }

    /// Requests a waiver to train on `spec` despite its PII verdict (`SELECT` on the dataset).
    pub async fn request_waiver(
        &self,
        ctx: &Context,
        spec: &str,
        justification: &str,
        valid_for: time::Duration,
    ) -> Result<WaiverInfo> {
        const ACTION: &str = "dataset.waiver.request";
        let justification = justification.trim();
        if justification.is_empty() || justification.len() > MAX_JUSTIFICATION {
            return Err(Error::InvalidInput(format!(
                "a waiver needs a justification of 1 to {MAX_JUSTIFICATION} characters"
            )));
        }
        if valid_for <= time::Duration::ZERO || valid_for > time::Duration::days(MAX_WAIVER_DAYS) {
            return Err(Error::InvalidInput(format!(
                "a waiver lasts between a second and {MAX_WAIVER_DAYS} days"
            )));
        }
        let (name, selector) = parse_spec(spec)?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Select, &name)
            .await?;
        let version = loaded.pick(&selector)?.version;
        let now = OffsetDateTime::now_utc();
        let record = citadel_store::WaiverRecord {
            id: format!("waiver_{}", uuid::Uuid::now_v7().simple()),
            dataset_id: loaded.securable.id,
            version,
            justification: justification.to_owned(),
            requested_by: ctx.principal.id,
            requested_at: now,
            expires_at: now + valid_for,
            approved_by: None,
            approved_at: None,
        };
        let params = json!({ "waiver_id": record.id, "version": version, "expires_at": record.expires_at.unix_timestamp() });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Select, &loaded.target, &params)
            .await?;
        tx.insert_waiver(&record).await?;
        tx.commit(
            ctx.event(ACTION)
                .on(loaded.target.audit_label())
                .with_params(params),
        )
        .await?;
        self.waiver_info(&loaded.target, &record).await
    }

    /// Approves a waiver (`MANAGE` on the dataset). Separation of duties: the requester cannot
    /// approve their own.
    pub async fn approve_waiver(&self, ctx: &Context, waiver_id: &str) -> Result<WaiverInfo> {
        const ACTION: &str = "dataset.waiver.approve";
        let waiver = self
            .store
            .waiver(waiver_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "waiver",
                name: waiver_id.to_owned(),
            })?;
        let dataset = self
            .store
            .securable(waiver.dataset_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "dataset",
                name: waiver.dataset_id.to_string(),
            })?;
        let target = SecurableRef::parse(citadel_core::SecurableKind::Dataset, &dataset.full_name)?;
        let params = json!({ "waiver_id": waiver_id, "version": waiver.version });
        let mut tx = self
            .begin_authorized(ctx, ACTION, Privilege::Manage, &target, &params)
            .await?;
        if waiver.requested_by == ctx.principal.id {
            let event = ctx
                .event(ACTION)
                .on(target.audit_label())
                .with_params(params)
                .denied("the requester of a waiver cannot approve it");
            tx.commit(event).await?;
            return Err(Error::Forbidden(
                "the requester of a waiver cannot approve it; ask another dataset manager".into(),
            ));
        }
        if waiver.expires_at <= OffsetDateTime::now_utc() {
            return Err(Error::InvalidInput(format!(
                "waiver {waiver_id} has expired; request a new one"
            )));
        }
        if !tx.approve_waiver(waiver_id, ctx.principal.id).await? {
            return Err(Error::InvalidInput(format!(
                "waiver {waiver_id} is already approved"
            )));
        }
        tx.commit(
            ctx.event(ACTION)
                .on(target.audit_label())
                .with_params(params),
        )
        .await?;
        let approved = self
            .store
            .waiver(waiver_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "waiver",
                name: waiver_id.to_owned(),
            })?;
        self.waiver_info(&target, &approved).await
    }

    /// Every waiver of a dataset (`SELECT` on it).
    pub async fn list_waivers(&self, ctx: &Context, name: &FullName) -> Result<Vec<WaiverInfo>> {
        let loaded = self
            .load_dataset(ctx, "dataset.waiver.list", Privilege::Select, name)
            .await?;
        let mut out = Vec::new();
        for waiver in self.store.waivers(loaded.securable.id).await? {
            out.push(self.waiver_info(&loaded.target, &waiver).await?);
        }
        Ok(out)
    }

    /// The training guard (`SELECT` on the dataset): a version may train a model only once
    /// scanned, and, if its verdict shows unredacted high-confidence PII, only under an approved,
    /// unexpired waiver. A refusal is audited.
    pub async fn clear_for_training(&self, ctx: &Context, spec: &str) -> Result<TrainingClearance> {
        const ACTION: &str = "dataset.training_check";
        let (name, selector) = parse_spec(spec)?;
        let loaded = self
            .load_dataset(ctx, ACTION, Privilege::Select, &name)
            .await?;
        let version = loaded.pick(&selector)?;
        let label = loaded.target.audit_label();
        let number = version.version;
        let refuse = |reason: String| async move {
            let event = ctx
                .event(ACTION)
                .on(label)
                .with_params(json!({ "version": number }))
                .denied(reason.clone());
            self.store.audit(event).await?;
            Err::<TrainingClearance, Error>(Error::Forbidden(reason))
        };
        let Some(verdict) = &version.pii_verdict else {
            return refuse(format!(
                "{name}@v{} has no PII verdict; run `citadel data scan {name}@v{}` first",
                version.version, version.version
            ))
            .await;
        };
        let verdict: PiiVerdict = serde_json::from_str(verdict).map_err(json_error)?;
        let mut waiver = None;
        if verdict.high_confidence_unredacted {
            let now = OffsetDateTime::now_utc();
            waiver = self
                .store
                .waivers(loaded.securable.id)
                .await?
                .into_iter()
                .find(|w| {
                    w.version == version.version && w.approved_by.is_some() && w.expires_at > now
                })
                .map(|w| w.id);
            if waiver.is_none() {
                return refuse(format!(
                    "{name}@v{} holds unredacted high-confidence PII; anonymize it (`citadel data \
                     anonymize`) or have a waiver approved (`citadel data waive request`)",
                    version.version
                ))
                .await;
            }
        }
        let clearance = TrainingClearance {
            dataset: name.to_string(),
            version: version.version,
            waiver,
        };
        self.store
            .audit(
                ctx.event(ACTION)
                    .on(loaded.target.audit_label())
                    .with_params(
                        json!({ "version": clearance.version, "waiver_id": clearance.waiver }),
                    ),
            )
            .await?;
        Ok(clearance)
    }

    async fn waiver_info(
        &self,
        target: &SecurableRef,
        w: &citadel_store::WaiverRecord,
    ) -> Result<WaiverInfo> {
        Ok(WaiverInfo {
            id: w.id.clone(),
            dataset: target.to_string(),
            version: w.version,
            justification: w.justification.clone(),
            requested_by: self.principal_label(Some(w.requested_by)).await?,
            requested_at: w.requested_at,
            expires_at: w.expires_at,
            approved_by: match w.approved_by {
                Some(id) => Some(self.principal_label(Some(id)).await?),
                None => None,
            },
            approved_at: w.approved_at,
        })
    }
}

fn no_rule_unless(found: bool, what: &str, column: &str) -> Result<()> {
    if found {
        Ok(())
    } else {
        Err(Error::NotFound {
            what: "rule",
            name: format!("{what} on column {column}"),
        })
    }
}
