//! Alerts: the rules evaluated over the audit and inference logs, alerts and silences persisted
//! (every change with its audit event in the same transaction, which is also the alert's
//! notification to the audit log), webhook notifications delivered after the commit with their
//! result recorded, and acknowledging and silencing. Evaluating, listing, acknowledging and
//! silencing need `MANAGE` on the metastore, as reading the audit log the alerts come from does;
//! `citadel serve` evaluates on a schedule as the system.

mod sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use citadel_audit::{Actor, EventDraft};
use citadel_core::{Privilege, RequestId};
use citadel_monitor::alerts::{evaluate, OpenAlert, Phase, Transition};
use citadel_monitor::webhook::{Delivery, Notice, Notifier, Webhook};
use citadel_store::{AlertRecord, SilenceRecord, StoreError};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Citadel, Context, Error, Result, SecurableRef};

pub use citadel_monitor::alerts::rules::{format_duration, parse_duration};
pub use citadel_monitor::alerts::{Rule, RuleSet};
pub use citadel_monitor::webhook::RetryPolicy;

/// Longest silence: a longer one should be a rule change.
const MAX_SILENCE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most alerts `list_alerts` returns with resolved ones included.
const LIST_LIMIT: u32 = 1000;

/// What an evaluation runs with: the effective rules and where notifications go (from
/// [`Citadel::alert_setup`]).
#[derive(Debug, Clone)]
pub struct AlertSetup {
    pub rules: RuleSet,
    webhooks: Vec<Webhook>,
    notifier: Notifier,
}

/// A webhook as configured: where to post, and the file (0600, relative to the home) holding
/// the shared secret that signs its notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    pub secret_file: PathBuf,
}

impl Citadel {
    /// The effective rules (the built-in ones overridden by `rules_file`), the webhooks with
    /// their secrets read from their files (which must not be readable by group or others), and
    /// the retry policy.
    pub fn alert_setup(
        &self,
        rules_file: Option<&Path>,
        webhooks: &[WebhookSettings],
        retry: RetryPolicy,
    ) -> Result<AlertSetup> {
        let invalid = |e: &dyn std::fmt::Display| Error::InvalidInput(e.to_string());
        let rules = match rules_file {
            None => RuleSet::defaults(),
            Some(path) => {
                let path = self.home.resolve_path(path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::InvalidInput(format!(
                        "cannot read the alert rules {}: {e}",
                        path.display()
                    ))
                })?;
                RuleSet::with_overrides(&text, &path.display().to_string())
            }
        }
        .map_err(|e| invalid(&e))?;
        let mut hooks = Vec::with_capacity(webhooks.len());
        for settings in webhooks {
            let bytes = self
                .home
                .read_private(&self.home.resolve_path(&settings.secret_file))?;
            let secret = String::from_utf8(bytes)
                .map_err(|_| {
                    Error::InvalidInput(format!(
                        "the webhook secret file {} is not text",
                        settings.secret_file.display()
                    ))
                })?
                .trim()
                .to_owned();
            citadel_redact::register_secret(&secret);
            hooks.push(
                Webhook::new(&settings.url, SecretString::from(secret)).map_err(|e| invalid(&e))?,
            );
        }
        let notifier = Notifier::new(retry).map_err(|e| invalid(&e))?;
        Ok(AlertSetup {
            rules,
            webhooks: hooks,
            notifier,
        })
    }
}

/// An alert as listed and returned.
#[derive(Debug, Clone, Serialize)]
pub struct AlertInfo {
    pub id: String,
    pub rule: String,
    pub severity: String,
    /// `pending`, `firing`, `acknowledged` or `resolved`.
    pub status: String,
    /// The label the rule groups by, e.g. `address`.
    pub group_label: Option<String>,
    /// The group's value, e.g. the address (`all` for a rule that does not group).
    pub key: String,
    pub value: Option<f64>,
    pub summary: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub fired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub acked_at: Option<OffsetDateTime>,
    pub acked_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub silenced_until: Option<OffsetDateTime>,
    /// The last notification's result.
    pub notification: Option<String>,
}

impl From<AlertRecord> for AlertInfo {
    fn from(r: AlertRecord) -> Self {
        Self {
            id: r.id,
            rule: r.rule,
            severity: r.severity,
            status: r.status,
            group_label: r.group_label,
            key: r.group_key,
            value: r.value,
            summary: r.summary,
            started_at: r.started_at,
            fired_at: r.fired_at,
            resolved_at: r.resolved_at,
            acked_at: r.acked_at,
            acked_by: r.acked_by,
            silenced_until: r.silenced_until,
            notification: r.notification,
        }
    }
}

/// A silence as created.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceInfo {
    pub id: String,
    pub rule: String,
    pub key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub created_by: String,
    pub reason: String,
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvaluationReport {
    pub fired: Vec<AlertInfo>,
    pub resolved: Vec<AlertInfo>,
    /// Alerts waiting for their rule's `for` duration.
    pub pending: usize,
    pub deliveries: Vec<Delivery>,
}

/// Who an evaluation runs as.
struct Evaluator {
    actor: Actor,
    request_id: RequestId,
}

impl Evaluator {
    fn event(&self, action: &str, alert: &AlertRecord) -> EventDraft {
        EventDraft::new(&self.actor, self.request_id, action).with_params(json!({
            "alert_id": alert.id,
            "rule": alert.rule,
            "severity": alert.severity,
            "group_label": alert.group_label,
            "group": alert.group_key,
            "value": alert.value,
            "silenced_until": alert.silenced_until.map(|t| t.unix_timestamp()),
        }))
    }
}

impl Citadel {
    /// Evaluates the rules now, as `ctx` (`citadel alerts evaluate`).
    pub async fn evaluate_alerts(
        &self,
        ctx: &Context,
        setup: &AlertSetup,
        now: OffsetDateTime,
    ) -> Result<EvaluationReport> {
        self.authorize_read(
            ctx,
            "alert.evaluate",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let evaluator = Evaluator {
            actor: ctx.actor(),
            request_id: ctx.request_id,
        };
        self.run_evaluation(&evaluator, setup, now).await
    }

    /// Evaluates the rules as the system (the gateway's schedule, which no principal runs).
    pub async fn evaluate_alerts_as_system(
        &self,
        setup: &AlertSetup,
        now: OffsetDateTime,
    ) -> Result<EvaluationReport> {
        let evaluator = Evaluator {
            actor: Actor::system(),
            request_id: RequestId::new(),
        };
        self.run_evaluation(&evaluator, setup, now).await
    }

    async fn run_evaluation(
        &self,
        evaluator: &Evaluator,
        setup: &AlertSetup,
        now: OffsetDateTime,
    ) -> Result<EvaluationReport> {
        let observations = self.alert_observations(&setup.rules, now).await?;
        let open_records = self.store.open_alerts().await?;
        let open: Vec<OpenAlert> = open_records
            .iter()
            .map(|r| OpenAlert {
                rule: r.rule.clone(),
                key: r.group_key.clone(),
                phase: if r.status == "pending" {
                    Phase::Pending
                } else {
                    Phase::Firing
                },
                since: r.started_at,
            })
            .collect();
        let silences = self.store.active_silences(now).await?;
        let mut report = EvaluationReport::default();
        let mut to_notify = Vec::new();
        for transition in evaluate(&setup.rules, &observations, &open, now) {
            let applied = self
                .apply_transition(
                    evaluator,
                    &setup.rules,
                    &open_records,
                    &silences,
                    transition,
                    now,
                )
                .await;
            let alert = match applied {
                Ok(Some(alert)) => alert,
                Ok(None) => continue,
                // Another evaluator (the gateway's schedule and a CLI run) got there first.
                Err(Error::Store(StoreError::Conflict { .. })) => continue,
                Err(err) => return Err(err),
            };
            match alert.status.as_str() {
                "pending" => report.pending += 1,
                "resolved" => report.resolved.push(AlertInfo::from(alert.clone())),
                _ => report.fired.push(AlertInfo::from(alert.clone())),
            }
            if alert.status != "pending" && alert.silenced_until.is_none() {
                to_notify.push(alert);
            }
        }
        for alert in to_notify {
            report
                .deliveries
                .extend(self.notify(evaluator, setup, alert).await?);
        }
        Ok(report)
    }

    /// Writes one transition with its audit event; the alert as it now stands, `None` when a
    /// pending alert was cleared.
    async fn apply_transition(
        &self,
        evaluator: &Evaluator,
        rules: &RuleSet,
        open: &[AlertRecord],
        silences: &[SilenceRecord],
        transition: Transition,
        now: OffsetDateTime,
    ) -> Result<Option<AlertRecord>> {
        let existing = |rule: &str, key: &str| {
            open.iter()
                .find(|a| a.rule == rule && a.group_key == key)
                .cloned()
        };
        let silence_end = |rule: &str, key: &str| {
            silences
                .iter()
                .filter(|s| s.covers(rule, key, now))
                .map(|s| s.ends_at)
                .max()
        };
        let mut tx = self.store.begin_write().await?;
        let (alert, action) = match transition {
            Transition::Pending { rule, key, value } => {
                let Some(rule) = rules.get(&rule) else {
                    return Ok(None);
                };
                let alert = new_alert(rule, key, value, "pending", now);
                tx.insert_alert(&alert).await?;
                (alert, "alert.pending")
            }
            Transition::Fired {
                rule,
                key,
                value,
                started_at,
            } => {
                let Some(rule) = rules.get(&rule) else {
                    return Ok(None);
                };
                let silenced_until = silence_end(&rule.name, &key);
                let mut alert = match existing(&rule.name, &key) {
                    Some(mut pending) => {
                        pending.status = "firing".to_owned();
                        pending.value = Some(value);
                        pending
                    }
                    None => new_alert(rule, key, value, "firing", started_at),
                };
                alert.fired_at = Some(now);
                alert.silenced_until = silenced_until;
                if open.iter().any(|a| a.id == alert.id) {
                    tx.update_alert(&alert).await?;
                } else {
                    tx.insert_alert(&alert).await?;
                }
                (alert, "alert.fire")
            }
            Transition::Resolved { rule, key } => {
                let Some(mut alert) = existing(&rule, &key) else {
                    return Ok(None);
                };
                alert.status = "resolved".to_owned();
                alert.resolved_at = Some(now);
                tx.update_alert(&alert).await?;
                (alert, "alert.resolve")
            }
            Transition::Cleared { rule, key } => {
                let Some(alert) = existing(&rule, &key) else {
                    return Ok(None);
                };
                if !tx.delete_pending_alert(&alert.id).await? {
                    return Ok(None);
                }
                tx.commit(evaluator.event("alert.clear", &alert)).await?;
                return Ok(None);
            }
        };
        tx.commit(evaluator.event(action, &alert)).await?;
        Ok(Some(alert))
    }

    /// Posts an alert to every webhook, then records the result on the alert (audited).
    async fn notify(
        &self,
        evaluator: &Evaluator,
        setup: &AlertSetup,
        mut alert: AlertRecord,
    ) -> Result<Vec<Delivery>> {
        if setup.webhooks.is_empty() {
            return Ok(Vec::new());
        }
        let notice = notice(&alert);
        let mut deliveries = Vec::with_capacity(setup.webhooks.len());
        for webhook in &setup.webhooks {
            deliveries.push(setup.notifier.deliver(webhook, &notice).await);
        }
        let delivered = deliveries.iter().filter(|d| d.delivered).count();
        alert.notification = Some(format!(
            "{} {delivered}/{} webhooks: {}",
            notice.status,
            deliveries.len(),
            deliveries
                .iter()
                .map(|d| format!("{} {} after {} attempts", d.webhook, d.detail, d.attempts))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let mut tx = self.store.begin_write().await?;
        // The alert may have moved on meanwhile (acknowledged): record on what is stored now.
        let Some(mut stored) = tx.alert(&alert.id).await? else {
            return Ok(deliveries);
        };
        stored.notification = alert.notification.clone();
        tx.update_alert(&stored).await?;
        let event = evaluator.event("alert.notify", &stored).with_params(json!({
            "alert_id": stored.id,
            "rule": stored.rule,
            "status": notice.status,
            "deliveries": deliveries,
        }));
        let event = if delivered == deliveries.len() {
            event
        } else {
            event.failed(format!(
                "{} of {} webhooks did not accept the notification",
                deliveries.len() - delivered,
                deliveries.len()
            ))
        };
        tx.commit(event).await?;
        Ok(deliveries)
    }

    /// Open alerts (pending ones excluded), or the most recent 1000 of every status with
    /// `include_resolved`.
    pub async fn list_alerts(
        &self,
        ctx: &Context,
        include_resolved: bool,
    ) -> Result<Vec<AlertInfo>> {
        self.authorize_read(
            ctx,
            "alert.list",
            Privilege::Manage,
            &SecurableRef::metastore(),
        )
        .await?;
        let records = if include_resolved {
            self.store.recent_alerts(LIST_LIMIT).await?
        } else {
            let mut open = self.store.open_alerts().await?;
            open.retain(|a| a.status != "pending");
            open.reverse();
            open
        };
        Ok(records.into_iter().map(AlertInfo::from).collect())
    }

    /// Acknowledges a firing alert: someone is on it. It stays open until its condition clears.
    pub async fn acknowledge_alert(&self, ctx: &Context, id: &str) -> Result<AlertInfo> {
        const ACTION: &str = "alert.acknowledge";
        let params = json!({ "alert_id": id });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        let Some(mut alert) = tx.alert(id).await? else {
            return Err(Error::NotFound {
                what: "alert",
                name: format!("{id} (see `citadel alerts list --all`)"),
            });
        };
        if alert.status != "firing" {
            return Err(Error::InvalidInput(format!(
                "alert {id} is {}; only a firing alert can be acknowledged",
                alert.status
            )));
        }
        alert.status = "acknowledged".to_owned();
        alert.acked_at = Some(OffsetDateTime::now_utc());
        alert.acked_by = Some(ctx.principal.name.clone());
        tx.update_alert(&alert).await?;
        tx.commit(ctx.event(ACTION).with_params(json!({
            "alert_id": alert.id,
            "rule": alert.rule,
            "group": alert.group_key,
        })))
        .await?;
        Ok(alert.into())
    }

    /// Silences `rule` (for one group `key`, or all) for `duration`: alerts that fire meanwhile
    /// are recorded but not notified.
    pub async fn silence_alerts(
        &self,
        ctx: &Context,
        rules: &RuleSet,
        rule: &str,
        key: Option<&str>,
        duration: Duration,
        reason: &str,
    ) -> Result<SilenceInfo> {
        const ACTION: &str = "alert.silence";
        if rules.get(rule).is_none() {
            return Err(Error::InvalidInput(format!(
                "no alert rule is named {rule:?}; `citadel alerts rules` lists them"
            )));
        }
        if duration < Duration::from_secs(60) || duration > MAX_SILENCE {
            return Err(Error::InvalidInput(
                "a silence lasts from 1m to 30d; change the rule for anything longer".to_owned(),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Error::InvalidInput(
                "give a reason of 1 to 500 characters (--reason): it is kept in the audit log"
                    .to_owned(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let silence = SilenceRecord {
            id: uuid::Uuid::now_v7().to_string(),
            rule: rule.to_owned(),
            group_key: key.map(str::to_owned),
            ends_at: now + duration,
            created_by: ctx.principal.name.clone(),
            created_at: now,
            reason: reason.to_owned(),
        };
        let params = json!({
            "silence_id": silence.id,
            "rule": rule,
            "group": key,
            "until": silence.ends_at.unix_timestamp(),
            "reason": reason,
        });
        let mut tx = self
            .begin_authorized(
                ctx,
                ACTION,
                Privilege::Manage,
                &SecurableRef::metastore(),
                &params,
            )
            .await?;
        tx.insert_silence(&silence).await?;
        tx.commit(ctx.event(ACTION).with_params(params)).await?;
        Ok(SilenceInfo {
            id: silence.id,
            rule: silence.rule,
            key: silence.group_key,
            until: silence.ends_at,
            created_by: silence.created_by,
            reason: silence.reason,
        })
    }
}

fn new_alert(
    rule: &Rule,
    key: String,
    value: f64,
    status: &str,
    started_at: OffsetDateTime,
) -> AlertRecord {
    AlertRecord {
        id: uuid::Uuid::now_v7().to_string(),
        rule: rule.name.clone(),
        severity: rule.severity.as_str().to_owned(),
        group_label: rule.group_by.map(|l| l.as_str().to_owned()),
        group_key: key,
        status: status.to_owned(),
        value: Some(value),
        summary: rule.summary.clone(),
        started_at,
        fired_at: None,
        resolved_at: None,
        acked_at: None,
        acked_by: None,
        silenced_until: None,
        notification: None,
    }
}

/// The webhook payload of an alert that fired or resolved.
fn notice(alert: &AlertRecord) -> Notice {
    let labels: BTreeMap<String, String> = alert
        .group_label
        .iter()
        .map(|label| (label.clone(), alert.group_key.clone()))
        .collect();
    Notice {
        alert_id: alert.id.clone(),
        rule: alert.rule.clone(),
        severity: alert.severity.clone(),
        status: if alert.status == "resolved" {
            "resolved"
        } else {
            "firing"
        }
        .to_owned(),
        labels,
        value: alert.value,
        started_at: alert.started_at,
        resolved_at: alert.resolved_at,
        summary: alert.summary.clone(),
    }
}
