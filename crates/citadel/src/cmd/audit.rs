//! `citadel audit …`: query, verify and export the hash-chained audit log.

use std::io::Write;

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
    /// Export events with their chain hashes and signed checkpoints.
    Export {
        /// jsonl (Citadel's own, verifiable) or ocsf.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        #[arg(long, value_parser = parse_when)]
        since: Option<OffsetDateTime>,
    },
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
            AuditCommand::Export { format, since } => {
                let mut stdout = std::io::stdout().lock();
                citadel
                    .audit_export(&ctx, format, since, &mut stdout)
                    .await?;
                stdout.flush()?;
                Ok(())
            }
        }
    })
    .await
}
