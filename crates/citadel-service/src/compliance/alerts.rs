//! Alerts for the compliance report: every alert that was open in the period or started in it,
//! and how it was handled (acknowledged by whom, resolved, silenced, notified).

use citadel_monitor::compliance::{Evidence, Finding, Period, Section, SectionId};

use super::{count, time_text};
use crate::{AlertInfo, Citadel, Context, Result};

/// Severities whose unhandled alerts fail the report (others need attention).
const FAILING_SEVERITIES: [&str; 2] = ["high", "critical"];

/// How an alert was handled, for the evidence table.
fn handling(alert: &AlertInfo) -> String {
    let mut parts = Vec::new();
    if let (Some(at), Some(by)) = (alert.acked_at, &alert.acked_by) {
        parts.push(format!("acknowledged by {by} at {}", time_text(at)));
    }
    if let Some(at) = alert.resolved_at {
        parts.push(format!("resolved at {}", time_text(at)));
    }
    if let Some(until) = alert.silenced_until {
        parts.push(format!("silenced until {}", time_text(until)));
    }
    if let Some(notification) = &alert.notification {
        parts.push(format!("notified: {notification}"));
    }
    if parts.is_empty() {
        "not handled".to_owned()
    } else {
        parts.join("; ")
    }
}

impl Citadel {
    pub(super) async fn alerts_section(&self, ctx: &Context, period: Period) -> Result<Section> {
        let alerts: Vec<AlertInfo> = self
            .list_alerts(ctx, true)
            .await?
            .into_iter()
            .filter(|a| a.status != "pending")
            // Open at some point of the period: started in it, or resolved in it or not yet.
            .filter(|a| a.resolved_at.is_none_or(|t| t >= period.since))
            .collect();
        let mut findings = Vec::new();
        for alert in alerts.iter().filter(|a| a.status == "firing") {
            let subject = format!("{} ({})", alert.rule, alert.key);
            let finding = format!(
                "{} alert firing since {} and not acknowledged: {}",
                alert.severity,
                time_text(alert.fired_at.unwrap_or(alert.started_at)),
                alert.summary
            );
            let fix = format!(
                "investigate, then `citadel alerts ack {}`; silence it only with a reason",
                alert.id
            );
            findings.push(if FAILING_SEVERITIES.contains(&alert.severity.as_str()) {
                Finding::fail(subject, finding, fix)
            } else {
                Finding::attention(subject, finding, fix)
            });
        }
        if findings.is_empty() {
            findings.push(Finding::pass(
                "alert handling",
                if alerts.is_empty() {
                    "no alert fired in the period (rules run in `citadel serve` and `citadel \
                     alerts evaluate`)"
                        .to_owned()
                } else {
                    format!(
                        "{} in the period, each acknowledged or resolved",
                        count(alerts.len() as u64, "alert", "alerts")
                    )
                },
            ));
        }
        let mut evidence = Evidence::new(
            "Alerts in the period",
            ["rule", "severity", "key", "status", "started", "handling"],
        );
        for alert in &alerts {
            evidence.row([
                alert.rule.clone(),
                alert.severity.clone(),
                alert.key.clone(),
                alert.status.clone(),
                time_text(alert.started_at),
                handling(alert),
            ]);
        }
        Ok(Section::new(SectionId::Alerts, findings, vec![evidence]))
    }
}
