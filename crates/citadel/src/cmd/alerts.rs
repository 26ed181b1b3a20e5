//! `citadel alerts …`: list, acknowledge and silence alerts, show the effective rules, and
//! evaluate them on demand (the gateway also does every `alerts_interval_secs`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use citadel_server::ServerConfig;
use citadel_service::alerts::{format_duration, parse_duration};
use citadel_service::{AlertSetup, Citadel};
use time::OffsetDateTime;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Open alerts (firing and acknowledged), newest first; with --all, the most recent 1000 of
    /// every status, pending and resolved included.
    #[command(after_help = "Examples:
  citadel alerts list
  citadel alerts list --all --json")]
    List {
        /// Include resolved and pending alerts.
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge a firing alert: someone is on it. It stays open until its condition clears.
    #[command(after_help = "Example: citadel alerts ack 0193f1c2-…")]
    Ack {
        /// The alert's id (from `citadel alerts list`).
        id: String,
    },
    /// Silence a rule (for one group with --key, e.g. one address) for a while: alerts that fire
    /// meanwhile are recorded but not notified. Audited with its reason.
    #[command(after_help = "Examples:
  citadel alerts silence --rule failed_authentications --key 10.0.0.9 --for 2h \\
      --reason \"pen test until 16:00\"
  citadel alerts silence --rule latency_p99 --for 30m --reason \"load test\"")]
    Silence {
        /// The rule's name (`citadel alerts rules` lists them).
        #[arg(long)]
        rule: String,
        /// Only this group: an address, principal or endpoint, as the alert shows it.
        #[arg(long)]
        key: Option<String>,
        /// How long: 1m to 30d, e.g. 30m, 2h, 1d.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        duration: Duration,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The effective alert rules: the built-in ones with the configured rules file applied.
    #[command(after_help = "Examples:
  citadel alerts rules
  citadel alerts rules --config serve.toml --json

A rules file (`alerts_rules` in the server configuration) holds [[rule]] tables with name,
metric (failed_authentications, denied_accesses, invocation_errors, latency_p99_ms,
drift_score, dangerous_model_scans), group_by, window (30s, 5m, 2h, 1d), comparison (>, >=,
<, <=), threshold, for, severity (info, low, medium, high, critical) and summary. A rule named
like a built-in one replaces it; `enabled = false` switches one off.")]
    Rules {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Evaluate the rules now, record new and resolved alerts and send their notifications.
    #[command(after_help = "Example: citadel alerts evaluate --config serve.toml")]
    Evaluate {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The server configuration that names the rules file and the webhooks.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The server configuration (as for `citadel serve`) with alerts_rules, alert_webhooks,
    /// …; built-in rules and no webhooks otherwise.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn setup(&self, citadel: &Citadel) -> anyhow::Result<AlertSetup> {
        let config = match &self.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        Ok(citadel.alert_setup(
            config.alerts_rules.as_deref(),
            &config.alert_webhooks,
            config.alert_retry(),
        )?)
    }
}

pub async fn run(global: &GlobalArgs, command: AlertsCommand) -> anyhow::Result<()> {
    let json = global.json;
    session::with_context(global, |citadel, ctx| async move {
        match command {
            AlertsCommand::List { all } => {
                let alerts = citadel.list_alerts(&ctx, all).await?;
                if json {
                    return output::json(&alerts);
                }
                output::table(
                    [
                        "ID", "RULE", "SEVERITY", "STATUS", "GROUP", "VALUE", "STARTED", "NOTE",
                    ],
                    alerts.into_iter().map(|a| {
                        let group = match &a.group_label {
                            Some(label) => format!("{label}={}", a.key),
                            None => a.key.clone(),
                        };
                        let note = match (&a.acked_by, a.silenced_until) {
                            (Some(by), _) => format!("acked by {by}"),
                            (None, Some(until)) => {
                                format!("silenced until {}", output::time(until))
                            }
                            (None, None) => a.notification.clone().unwrap_or_default(),
                        };
                        [
                            a.id,
                            a.rule,
                            a.severity,
                            a.status,
                            group,
                            a.value.map(|v| v.to_string()).unwrap_or_default(),
                            output::time(a.started_at),
                            note,
                        ]
                    }),
                );
                Ok(())
            }
            AlertsCommand::Ack { id } => {
                let alert = citadel.acknowledge_alert(&ctx, id.trim()).await?;
                if json {
                    return output::json(&alert);
                }
                println!(
                    "acknowledged alert {} ({} for {})",
                    alert.id, alert.rule, alert.key
                );
                Ok(())
            }
            AlertsCommand::Silence {
                rule,
                key,
                duration,
                reason,
                config,
            } => {
                let setup = config.setup(&citadel)?;
                let silence = citadel
                    .silence_alerts(&ctx, &setup.rules, &rule, key.as_deref(), duration, &reason)
                    .await?;
                if json {
                    return output::json(&silence);
                }
                println!(
                    "silenced {} ({}) until {}",
                    silence.rule,
                    silence.key.as_deref().unwrap_or("every group"),
                    output::time(silence.until)
                );
                Ok(())
            }
            AlertsCommand::Rules { config } => {
                let setup = config.setup(&citadel)?;
                if json {
                    return output::json(&setup.rules);
                }
                output::table(
                    [
                        "RULE",
                        "CONDITION",
                        "GROUP BY",
                        "FOR",
                        "SEVERITY",
                        "SUMMARY",
                    ],
                    setup.rules.rules().iter().map(|r| {
                        [
                            r.name.clone(),
                            r.condition(),
                            r.group_by
                                .map(|l| l.as_str().to_owned())
                                .unwrap_or_default(),
                            format_duration(r.for_duration),
                            r.severity.as_str().to_owned(),
                            r.summary.clone(),
                        ]
                    }),
                );
                Ok(())
            }
            AlertsCommand::Evaluate { config } => {
                let setup = config.setup(&citadel)?;
                let report = citadel
                    .evaluate_alerts(&ctx, &setup, OffsetDateTime::now_utc())
                    .await
                    .context("cannot evaluate the alert rules")?;
                if json {
                    return output::json(&report);
                }
                for alert in &report.fired {
                    println!(
                        "fired: {} for {} (value {:?})",
                        alert.rule, alert.key, alert.value
                    );
                }
                for alert in &report.resolved {
                    println!("resolved: {} for {}", alert.rule, alert.key);
                }
                for delivery in &report.deliveries {
                    println!(
                        "notified {}: {} after {} attempts",
                        delivery.webhook, delivery.detail, delivery.attempts
                    );
                }
                println!(
                    "{} fired, {} resolved, {} pending",
                    report.fired.len(),
                    report.resolved.len(),
                    report.pending
                );
                Ok(())
            }
        }
    })
    .await
}
