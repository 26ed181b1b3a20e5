//! `citadel token …`: personal access tokens.

use citadel_core::{TokenId, TokenScope};
use citadel_service::TokenRequest;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token (for yourself, or with --principal for another principal: admins only).
    /// The token is printed once and never stored in clear.
    Create {
        /// Whose token it is [default: yours].
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
        /// Lifetime: `90d`, `12h`, `30m`, `45s` [default: the config's tokens.default_ttl_days].
        #[arg(long, value_parser = parse_ttl, value_name = "DURATION")]
        ttl: Option<time::Duration>,
        /// `control` (manage Citadel) or `invoke` (call endpoints only).
        #[arg(long, default_value = "control")]
        scope: TokenScope,
        /// A label to recognize the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Print only the token on stdout (for scripts).
        #[arg(long, short)]
        quiet: bool,
    },
    /// List tokens (never their secrets).
    List {
        /// Whose tokens [default: yours]; admins may name anyone.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// Revoke a token by id.
    Revoke { id: TokenId },
}

/// Parses `90d`, `12h`, `30m`, `45s` or a bare number of days.
pub(crate) fn parse_ttl(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "d"),
    };
    let value: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90d, 12h or 30m"))?;
    let duration = match unit {
        "d" => time::Duration::days(value),
        "h" => time::Duration::hours(value),
        "m" => time::Duration::minutes(value),
        "s" => time::Duration::seconds(value),
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: use d, h, m or s (e.g. 90d)"
            ))
        }
    };
    if value <= 0 {
        return Err("a token's lifetime must be positive".to_owned());
    }
    Ok(duration)
}

pub async fn run(global: &GlobalArgs, command: TokenCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            TokenCommand::Create {
                principal,
                ttl,
                scope,
                name,
                quiet,
            } => {
                let request = TokenRequest {
                    principal,
                    ttl,
                    scope,
                    name,
                };
                let (info, secret) = citadel.create_token(&ctx, request).await?;
                if quiet {
                    println!("{}", secret.expose_secret());
                } else if global.json {
                    output::json(&json!({ "token": secret.expose_secret(), "info": info }))?;
                } else {
                    println!(
                        "Token {} for {} (scope {}, expires {}). Shown once:\n\n{}",
                        info.id,
                        info.principal,
                        info.scope,
                        output::time(info.expires_at),
                        secret.expose_secret()
                    );
                }
            }
            TokenCommand::List { principal } => {
                let tokens = citadel.list_tokens(&ctx, principal.as_deref()).await?;
                if global.json {
                    return output::json(&tokens);
                }
                output::table(
                    [
                        "id",
                        "principal",
                        "name",
                        "scope",
                        "created",
                        "expires",
                        "last used",
                        "revoked",
                    ],
                    tokens.into_iter().map(|t| {
                        [
                            t.id.to_string(),
                            t.principal,
                            t.name,
                            t.scope.to_string(),
                            output::time(t.created_at),
                            output::time(t.expires_at),
                            output::opt_time(t.last_used_at),
                            output::opt_time(t.revoked_at),
                        ]
                    }),
                );
            }
            TokenCommand::Revoke { id } => {
                citadel.revoke_token(&ctx, id).await?;
                println!("Revoked token {id}");
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("90d"), Ok(time::Duration::days(90)));
        assert_eq!(parse_ttl("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_ttl("30m"), Ok(time::Duration::minutes(30)));
        assert_eq!(parse_ttl("7"), Ok(time::Duration::days(7)));
        assert!(parse_ttl("0d").is_err());
        assert_eq!(parse_ttl("45s"), Ok(time::Duration::seconds(45)));
        assert!(parse_ttl("5y").is_err());
        assert!(parse_ttl("d").is_err());
        assert!(parse_ttl("-1d").is_err());
    }
}
