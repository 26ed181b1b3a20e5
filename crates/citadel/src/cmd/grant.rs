//! `citadel grant`, `citadel revoke` and `citadel grants show`.

use citadel_core::{Effect, Privilege, SecurableKind};
use citadel_service::{GrantRequest, SecurableRef};

use super::{output, session, GlobalArgs};

/// `PRIVILEGE ON TYPE NAME TO PRINCIPAL`, e.g. `SELECT ON schema dev.data TO data_scientists`.
#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    /// USE_CATALOG, USE_SCHEMA, CREATE_CATALOG, CREATE_SCHEMA, CREATE_DATASET, CREATE_MODEL,
    /// SELECT, MODIFY, EXECUTE, APPROVE, MANAGE, READ_SECRET or WRITE_SECRET.
    privilege: Privilege,
    #[arg(value_parser = keyword("ON"), hide = true)]
    on: String,
    /// metastore, catalog, schema, dataset, model, endpoint or secret_scope.
    kind: SecurableKind,
    /// `metastore`, `CATALOG`, `CATALOG.SCHEMA` or `CATALOG.SCHEMA.OBJECT`.
    name: String,
    #[arg(value_parser = keyword("TO"), hide = true)]
    to: String,
    /// A user, group or service principal.
    principal: String,
    /// Record an explicit DENY, which beats every allow at any level.
    #[arg(long)]
    deny: bool,
}

/// `PRIVILEGE ON TYPE NAME FROM PRINCIPAL`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    privilege: Privilege,
    #[arg(value_parser = keyword("ON"), hide = true)]
    on: String,
    kind: SecurableKind,
    name: String,
    #[arg(value_parser = keyword("FROM"), hide = true)]
    from: String,
    principal: String,
    /// Remove an explicit DENY instead of an allow.
    #[arg(long)]
    deny: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum GrantsCommand {
    /// Grants on a securable, including those inherited from its parents.
    Show { kind: SecurableKind, name: String },
}

/// A value parser that accepts one keyword, case-insensitively.
fn keyword(word: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |text: &str| {
        if text.eq_ignore_ascii_case(word) {
            Ok(word.to_owned())
        } else {
            Err(format!("expected the keyword {word}, found {text:?}"))
        }
    }
}

/// Builds the service request from the parsed words.
fn request(
    privilege: Privilege,
    kind: SecurableKind,
    name: &str,
    principal: String,
    deny: bool,
) -> anyhow::Result<GrantRequest> {
    Ok(GrantRequest {
        privilege,
        securable: SecurableRef::parse(kind, name)?,
        principal,
        effect: if deny { Effect::Deny } else { Effect::Allow },
    })
}

/// Grants (`add`) or revokes the request and says what was done.
async fn apply(global: &GlobalArgs, request: GrantRequest, add: bool) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        let (done, preposition) = if add {
            citadel.grant(&ctx, &request).await?;
            ("Granted", "to")
        } else {
            citadel.revoke(&ctx, &request).await?;
            ("Revoked", "from")
        };
        println!(
            "{done} {}{} on {} {preposition} {}",
            if request.effect == Effect::Deny {
                "DENY "
            } else {
                ""
            },
            request.privilege,
            request.securable.label(),
            request.principal
        );
        Ok(())
    })
    .await
}

pub async fn run_grant(global: &GlobalArgs, args: GrantArgs) -> anyhow::Result<()> {
    let request = request(
        args.privilege,
        args.kind,
        &args.name,
        args.principal,
        args.deny,
    )?;
    apply(global, request, true).await
}

pub async fn run_revoke(global: &GlobalArgs, args: RevokeArgs) -> anyhow::Result<()> {
    let request = request(
        args.privilege,
        args.kind,
        &args.name,
        args.principal,
        args.deny,
    )?;
    apply(global, request, false).await
}

pub async fn run_grants(global: &GlobalArgs, command: GrantsCommand) -> anyhow::Result<()> {
    let GrantsCommand::Show { kind, name } = command;
    let securable = SecurableRef::parse(kind, &name)?;
    session::with_context(global, |citadel, ctx| async move {
        let grants = citadel.show_grants(&ctx, &securable).await?;
        if global.json {
            return output::json(&grants);
        }
        output::table(
            [
                "principal",
                "privilege",
                "effect",
                "on",
                "granted by",
                "granted",
            ],
            grants.into_iter().map(|g| {
                [
                    g.principal,
                    g.privilege.to_string(),
                    g.effect.to_string(),
                    if g.securable_kind == citadel_core::SecurableKind::Metastore {
                        g.securable
                    } else {
                        format!("{} {}", g.securable_kind, g.securable)
                    },
                    g.granted_by,
                    output::time(g.granted_at),
                ]
            }),
        );
        Ok(())
    })
    .await
}
