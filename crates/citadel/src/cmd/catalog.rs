//! `citadel catalog …` and `citadel schema …`.

use citadel_core::{FullName, Identifier};

use super::{output, session, GlobalArgs};
use citadel_service::SecurableInfo;

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Create a catalog (needs CREATE_CATALOG on the metastore).
    Create {
        name: Identifier,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the catalogs you can use.
    List,
}

#[derive(Debug, clap::Subcommand)]
pub enum SchemaCommand {
    /// Create a schema: `citadel schema create dev.features` (needs CREATE_SCHEMA on the catalog).
    Create {
        /// CATALOG.SCHEMA
        name: FullName,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the schemas of a catalog you can use.
    List { catalog: Identifier },
}

pub(super) fn print(global: &GlobalArgs, items: Vec<SecurableInfo>) -> anyhow::Result<()> {
    if global.json {
        return output::json(&items);
    }
    output::table(
        ["name", "owner", "created", "comment"],
        items.into_iter().map(|s| {
            [
                s.full_name,
                s.owner.unwrap_or_else(|| "-".to_owned()),
                output::time(s.created_at),
                s.comment.unwrap_or_default(),
            ]
        }),
    );
    Ok(())
}

pub async fn run_catalog(global: &GlobalArgs, command: CatalogCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            CatalogCommand::Create { name, comment } => {
                let created = citadel
                    .create_catalog(&ctx, &name, comment.as_deref())
                    .await?;
                println!("Created catalog {}", created.full_name);
                Ok(())
            }
            CatalogCommand::List => print(global, citadel.list_catalogs(&ctx).await?),
        }
    })
    .await
}

pub async fn run_schema(global: &GlobalArgs, command: SchemaCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            SchemaCommand::Create { name, comment } => {
                let created = citadel
                    .create_schema(&ctx, &name, comment.as_deref())
                    .await?;
                println!("Created schema {}", created.full_name);
                Ok(())
            }
            SchemaCommand::List { catalog } => {
                print(global, citadel.list_schemas(&ctx, &catalog).await?)
            }
        }
    })
    .await
}
