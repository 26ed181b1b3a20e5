//! `citadel model list|approve|reject|alias|tag|card|bom|promote` and `citadel lineage`: the
//! registry's workflow over stored versions.

use std::path::PathBuf;

use citadel_core::FullName;
use citadel_service::{Citadel, Context, Decision, ModelVersionInfo};
use serde_json::json;

use super::output;

/// Registry subcommands of `citadel model`.
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// List the models you can see, with their versions by status and their aliases.
    List {
        /// Only models under this catalog or schema (`dev`, `dev.models`).
        prefix: Option<FullName>,
    },
    /// Approve a pending version (APPROVE; not its creator: separation of duties).
    Approve {
        /// NAME@VERSION
        spec: String,
        /// Why: recorded with the decision and shown on the model card.
        #[arg(long)]
        comment: String,
    },
    /// Reject a pending version (APPROVE; not its creator). A rejected version never deploys.
    Reject {
        /// NAME@VERSION
        spec: String,
        #[arg(long)]
        comment: String,
    },
    /// Point or remove an alias (MANAGE). `champion` in staging and prod moves only to an
    /// approved version whose gates passed and whose signature and bytes verify.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Set a tag on a version, or remove it with --remove (MODIFY).
    Tag {
        /// NAME@VERSION
        spec: String,
        key: String,
        /// The value (omit with --remove).
        #[arg(required_unless_present = "remove")]
        value: Option<String>,
        #[arg(long, conflicts_with = "value")]
        remove: bool,
    },
    /// Print a version's model card: Markdown with YAML front matter (SELECT).
    Card { spec: String },
    /// Print a version's CycloneDX 1.6 ML-BOM (SELECT).
    Bom {
        spec: String,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Copy a version into another catalog after re-verifying its signature and bytes:
    /// `citadel model promote dev.models.x@3 --to staging.models.x`. Into prod, only a version
    /// approved in staging moves.
    Promote {
        spec: String,
        #[arg(long, value_name = "NAME")]
        to: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at NAME@VERSION.
    Set { spec: String, alias: String },
    /// Remove ALIAS from NAME.
    Remove { name: FullName, alias: String },
}

/// Runs a registry subcommand.
pub async fn run(
    citadel: &Citadel,
    ctx: &Context,
    json: bool,
    command: RegistryCommand,
) -> anyhow::Result<()> {
    match command {
        RegistryCommand::List { prefix } => {
            let models = citadel.list_models(ctx, prefix.as_ref()).await?;
            if json {
                return output::json(&models);
            }
            output::table(
                ["model", "versions", "latest", "statuses", "aliases"],
                models.iter().map(|m| {
                    [
                        m.name.clone(),
                        m.versions.to_string(),
                        m.latest.map(|v| v.to_string()).unwrap_or_default(),
                        pairs(&m.statuses),
                        pairs(&m.aliases),
                    ]
                }),
            );
            Ok(())
        }
        RegistryCommand::Approve { spec, comment } => {
            let version = citadel
                .decide_model_version(ctx, &spec, Decision::Approve, &comment)
                .await?;
            print_status(json, &version)
        }
        RegistryCommand::Reject { spec, comment } => {
            let version = citadel
                .decide_model_version(ctx, &spec, Decision::Reject, &comment)
                .await?;
            print_status(json, &version)
        }
        RegistryCommand::Alias(AliasCommand::Set { spec, alias }) => {
            let version = citadel.set_model_alias(ctx, &spec, &alias).await?;
            if json {
                return output::json(&version);
            }
            println!("{}@{alias} → version {}", version.model, version.version);
            Ok(())
        }
        RegistryCommand::Alias(AliasCommand::Remove { name, alias }) => {
            citadel.remove_model_alias(ctx, &name, &alias).await?;
            if json {
                return output::json(&json!({ "removed": alias, "model": name.to_string() }));
            }
            println!("removed {name}@{alias}");
            Ok(())
        }
        RegistryCommand::Tag {
            spec,
            key,
            value,
            remove: _,
        } => {
            let tags = citadel
                .tag_model_version(ctx, &spec, &key, value.as_deref())
                .await?;
            if json {
                return output::json(&tags);
            }
            output::table(
                ["key", "value"],
                tags.iter().map(|t| [t.key.clone(), t.value.clone()]),
            );
            Ok(())
        }
        RegistryCommand::Card { spec } => {
            let card = citadel.model_card(ctx, &spec).await?;
            if json {
                return output::json(&json!({ "spec": spec, "card": card }));
            }
            output::print_text(&card)
        }
        RegistryCommand::Bom { spec, output: path } => {
            let bom = citadel.model_bom(ctx, &spec).await?;
            let text = serde_json::to_string_pretty(&bom)?;
            match path {
                Some(path) => {
                    std::fs::write(&path, text)?;
                    eprintln!("wrote {}", path.display());
                    Ok(())
                }
                None => output::print_text(&text),
            }
        }
        RegistryCommand::Promote { spec, to } => {
            let version = citadel.promote_model(ctx, &spec, &to).await?;
            if json {
                return output::json(&version);
            }
            println!(
                "promoted {spec} to {}@{} ({}, signature and {} files re-verified)",
                version.model,
                version.version,
                version.status,
                version.files.len()
            );
            Ok(())
        }
    }
}

/// `citadel lineage NAME@V`.
pub async fn run_lineage(
    citadel: &Citadel,
    ctx: &Context,
    json: bool,
    spec: &str,
) -> anyhow::Result<()> {
    let lineage = citadel.lineage(ctx, spec).await?;
    if json {
        return output::json(&lineage);
    }
    output::print_text(&lineage.render())
}

fn print_status(json: bool, version: &ModelVersionInfo) -> anyhow::Result<()> {
    if json {
        return output::json(version);
    }
    println!(
        "{}@{} is {}",
        version.model, version.version, version.status
    );
    Ok(())
}

fn pairs<V: std::fmt::Display>(items: &[(String, V)]) -> String {
    items
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
