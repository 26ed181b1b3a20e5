//! `citadel init`: create a new home.

use citadel_service::{Citadel, Home, InitOptions};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{output, GlobalArgs};

/// Create a new Citadel home. Refuses, changing nothing, if the home already exists.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Name of the first administrator.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    pub admin: String,
}

pub async fn run(global: &GlobalArgs, args: InitArgs) -> anyhow::Result<()> {
    let home = Home::resolve(global.home.clone());
    let report = Citadel::init(
        &home,
        InitOptions {
            admin_name: args.admin,
        },
    )
    .await?;
    if global.json {
        return output::json(&json!({
            "home": report.home,
            "admin": report.admin.name,
            "admin_token": report.admin_token.expose_secret(),
            "token_expires_at": report.token_expires_at.to_string(),
            "credentials_file": home.credentials_path(),
            "database": report.database,
        }));
    }
    println!("Initialized a Citadel home in {}", report.home.display());
    output::table(
        ["item", "where"],
        [
            [
                "config".to_owned(),
                home.config_path().display().to_string(),
            ],
            [
                "key-encryption key (0600)".to_owned(),
                home.kek_path().display().to_string(),
            ],
            [
                "audit signing key (0600)".to_owned(),
                home.signing_key_path().display().to_string(),
            ],
            ["database".to_owned(), report.database.clone()],
            [
                "catalogs".to_owned(),
                "dev, staging, prod (schemas data, models, endpoints)".to_owned(),
            ],
            [
                "groups".to_owned(),
                citadel_service::BOOTSTRAP_GROUPS.join(", "),
            ],
        ],
    );
    println!(
        "\nAdmin user {:?}. Its token is shown once; it is also saved to {} (0600) and used by \
         default, expires {}:\n",
        report.admin.name,
        home.credentials_path().display(),
        output::time(report.token_expires_at)
    );
    println!("{}", report.admin_token.expose_secret());
    Ok(())
}
