//! `citadel audit …`: query, verify and export the hash-chained audit log.

use std::io::Write;
use std::time::Duration;

use citadel_service::monitoring::AuditStart;
use citadel_service::{AuditFilter, ExportFormat};
use time::OffsetDateTime;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Search events (newest last).
    Query {
        /// Principal name.
        #[arg(long)]
        actor: Option<String>,
        /// Action, e.g. `grant.create`; a trailing `*` matches a prefix (`token.*`).
        #[arg(long)]
        action: Option<String>,
        /// Securable, e.g. `catalog:dev`.
        #[arg(long)]
        securable: Option<String>,
        /// success, denied or failed.
        #[arg(long)]
        outcome: Option<String>,
        /// RFC 3339 time or an age such as `1h`, `7d`.
        #[arg(long, value_parser = parse_when)]
        since: Option<OffsetDateTime>,
        /// RFC 3339 time or an age such as `1h`, `7d`.
        #[arg(long, value_parser = parse_when)]
        until: Option<OffsetDateTime>,
        /// At most this many events (the most recent).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Check the whole chain and its signed checkpoints. Exit 0 when intact, 5 otherwise.
    Verify,
    /// Print the public key that verifies checkpoints: keep it somewhere an attacker of this
    /// machine cannot change, to check exports against (docs/AUDIT-VERIFY.md).
    PublicKey,
    /// Export events: Citadel's verifiable JSONL (chain hashes and signed checkpoints), or OCSF
    /// 1.3 for a SIEM, one event per line, optionally followed as new events are appended.
    #[command(after_help = "Examples:
  citadel audit export > audit.jsonl
  citadel audit export --format ocsf --since 1d
  citadel audit export --format ocsf --follow --interval 5s | siem-forwarder
  citadel audit export --format ocsf --follow --after 41234

OCSF classes: Authentication (3002) for auth.*, Account Change (3001) for principals, groups,
tokens, grants and OAuth clients, Entity Management (3004) for changes of catalogs, schemas,
datasets, models, endpoints and secrets, API Activity (6003) for the rest. `metadata.sequence`
is the event's seq: pass the last one received to --after to resume a stream.")]
    Export {
        /// jsonl (Citadel's own, verifiable) or ocsf.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        /// Only events at or after this time: RFC 3339 or an age such as 1h, 7d.
        #[arg(long, value_parser = parse_when, conflicts_with = "after")]
        since: Option<OffsetDateTime>,
        /// OCSF only: start after this sequence number (the last `metadata.sequence` received).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// OCSF only: keep running and write new events as they are appended, until Ctrl-C,
        /// SIGTERM or the reader closing the output.
        #[arg(long)]
        follow: bool,
        /// With --follow, how often to look for new events (e.g. 500ms, 2s, 1m).
        #[arg(long, value_name = "INTERVAL", default_value = "2s", value_parser = parse_interval, requires = "follow")]
        interval: Duration,
    },
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed at once, so a signal that comes
/// before the export first waits still ends it cleanly.
#[cfg(unix)]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves at Ctrl-C.
#[cfg(not(unix))]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// Parses a polling interval: a number and a unit ms, s or m, from 100ms to 1h.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let help = || format!("{text:?} is not an interval such as 500ms, 2s or 1m");
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(help)?);
    let value: u64 = digits.parse().map_err(|_| help())?;
    let interval = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(help()),
    };
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&interval) {
        return Err(format!("the interval must be from 100ms to 1h, not {text}"));
    }
    Ok(interval)
}

/// Parses an RFC 3339 time, or an age (`30m`, `12h`, `7d`) before now.
fn parse_when(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let value: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor an age like 7d"))?;
    let age = match unit {
        "s" => time::Duration::seconds(value),
        "m" => time::Duration::minutes(value),
        "h" => time::Duration::hours(value),
        "d" => time::Duration::days(value),
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    Ok(OffsetDateTime::now_utc() - age)
}

pub async fn run(global: &GlobalArgs, command: AuditCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            AuditCommand::Query {
                actor,
                action,
                securable,
                outcome,
                since,
                until,
                limit,
            } => {
                let filter = AuditFilter {
                    actor,
                    action,
                    securable,
                    outcome,
                    since,
                    until,
                    limit,
                };
                let events = citadel.audit_query(&ctx, &filter).await?;
                if global.json {
                    return output::json(&events);
                }
                output::table(
                    [
                        "seq",
                        "time",
                        "actor",
                        "action",
                        "securable",
                        "outcome",
                        "reason",
                    ],
                    events.into_iter().map(|e| {
                        [
                            e.seq.to_string(),
                            e.time,
                            e.actor_name,
                            e.action,
                            e.securable.unwrap_or_default(),
                            e.outcome.to_string(),
                            e.reason.unwrap_or_default(),
                        ]
                    }),
                );
                Ok(())
            }
            AuditCommand::Verify => {
                let report = citadel.audit_verify(&ctx).await?;
                if global.json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                report.into_result().map_err(anyhow::Error::from)
            }
            AuditCommand::PublicKey => {
                let key = citadel.audit_public_key();
                if global.json {
                    output::json(&serde_json::json!({
                        "algorithm": "ed25519",
                        "public_key": key.to_hex(),
                        "key_id": key.key_id(),
                    }))
                } else {
                    println!("ed25519 {} (key id {})", key.to_hex(), key.key_id());
                    Ok(())
                }
            }
            AuditCommand::Export {
                format,
                since,
                after,
                follow,
                interval,
            } => {
                if format == ExportFormat::Jsonl && (follow || after.is_some()) {
                    return Err(citadel_service::Error::InvalidInput(
                        "--follow and --after stream OCSF events: add --format ocsf (the \
                         verifiable JSONL export is written whole)"
                            .to_owned(),
                    )
                    .into());
                }
                let mut stdout = std::io::stdout().lock();
                if format == ExportFormat::Jsonl {
                    citadel
                        .audit_export(&ctx, format, since, &mut stdout)
                        .await?;
                    stdout.flush()?;
                    return Ok(());
                }
                let start = match (after, since) {
                    (Some(seq), _) => AuditStart::AfterSeq(seq),
                    (None, Some(t)) => AuditStart::Since(t),
                    (None, None) => AuditStart::Beginning,
                };
                citadel
                    .audit_export_ocsf(
                        &ctx,
                        start,
                        follow.then_some(interval),
                        interrupted()?,
                        &mut stdout,
                    )
                    .await?;
                Ok(())
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        audit: AuditCommand,
    }

    #[test]
    fn intervals_parse_within_bounds() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("10ms").is_err());
        assert!(parse_interval("2h").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("5").is_err());
    }

    #[test]
    fn follow_options_need_follow_and_exclude_each_other() {
        let cli = Cli::try_parse_from([
            "audit",
            "export",
            "--format",
            "ocsf",
            "--follow",
            "--interval",
            "250ms",
            "--after",
            "40",
        ])
        .unwrap();
        let AuditCommand::Export {
            follow,
            interval,
            after,
            ..
        } = cli.audit
        else {
            panic!("not an export")
        };
        assert!(follow);
        assert_eq!(interval, Duration::from_millis(250));
        assert_eq!(after, Some(40));
        assert!(Cli::try_parse_from(["audit", "export", "--interval", "1s"]).is_err());
        assert!(Cli::try_parse_from(["audit", "export", "--since", "1h", "--after", "3"]).is_err());
    }
}
