//! `citadel principal …` and `citadel group …`: identities and membership.

use citadel_core::PrincipalKind;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum PrincipalCommand {
    /// Create a user, group or service principal (admins).
    Create {
        /// user, group or service-principal
        kind: PrincipalKind,
        /// Letters, digits, '.', '_', '@' and '-'; e-mail addresses work.
        name: String,
    },
    /// List principals and their groups.
    List,
    /// Set an attribute row filters compare against, e.g. `citadel principal set-attribute
    /// alice regions eu us` (admins); no values removes it.
    SetAttribute {
        name: String,
        attribute: String,
        values: Vec<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Add a user, service principal or group to a group (admins).
    AddMember { group: String, member: String },
    /// Remove a member from a group (admins).
    RemoveMember { group: String, member: String },
}

pub async fn run(global: &GlobalArgs, command: PrincipalCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            PrincipalCommand::Create { kind, name } => {
                let principal = citadel.create_principal(&ctx, kind, &name).await?;
                if global.json {
                    return output::json(&principal);
                }
                println!(
                    "Created {} {} ({})",
                    principal.kind, principal.name, principal.id
                );
            }
            PrincipalCommand::SetAttribute {
                name,
                attribute,
                values,
            } => {
                citadel
                    .set_principal_attribute(&ctx, &name, &attribute, &values)
                    .await?;
                println!("Set {attribute} of {name} to [{}]", values.join(", "));
            }
            PrincipalCommand::List => {
                let principals = citadel.list_principals(&ctx).await?;
                if global.json {
                    return output::json(&principals);
                }
                output::table(
                    ["name", "kind", "groups", "created", "id"],
                    principals.into_iter().map(|p| {
                        [
                            p.principal.name,
                            p.principal.kind.to_string(),
                            p.groups.join(", "),
                            output::time(p.principal.created_at),
                            p.principal.id.to_string(),
                        ]
                    }),
                );
            }
        }
        Ok(())
    })
    .await
}

pub async fn run_group(global: &GlobalArgs, command: GroupCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            GroupCommand::AddMember { group, member } => {
                citadel.add_member(&ctx, &group, &member).await?;
                println!("Added {member} to {group}");
            }
            GroupCommand::RemoveMember { group, member } => {
                citadel.remove_member(&ctx, &group, &member).await?;
                println!("Removed {member} from {group}");
            }
        }
        Ok(())
    })
    .await
}
