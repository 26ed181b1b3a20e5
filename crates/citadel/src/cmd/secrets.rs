//! `citadel secrets …`: secret scopes and versioned secret values.
//!
//! Values never come from the command line (shell history and process lists would keep them):
//! `put` reads stdin (without echo at a terminal) or `--from-file`, and `get` writes to a pipe or
//! file, refusing a terminal unless `--reveal`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use citadel_core::FullName;
use citadel_service::SecretVersionInfo;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{catalog, output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Create, list and delete secret scopes.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Store a new version of a secret, reading the value from stdin or --from-file:
    /// `citadel secrets put dev.ml.hub HF_TOKEN < token.txt` (needs WRITE_SECRET on the scope).
    Put {
        /// CATALOG.SCHEMA.SCOPE
        scope: FullName,
        /// The secret's name in the scope.
        key: String,
        /// Read the value from this file instead of stdin.
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
    },
    /// Print a secret's value (latest version unless --version) to a pipe or file; refuses a
    /// terminal unless --reveal (needs READ_SECRET on the scope; every read is audited).
    Get {
        /// CATALOG.SCHEMA.SCOPE
        scope: FullName,
        key: String,
        /// Read this version instead of the latest.
        #[arg(long)]
        version: Option<u32>,
        /// Print the value even though stdout is a terminal.
        #[arg(long)]
        reveal: bool,
    },
    /// List the secrets of a scope: names, versions, creators and times, never values.
    List {
        /// CATALOG.SCHEMA.SCOPE
        scope: FullName,
    },
    /// Delete a secret (every version, or just --version) (needs WRITE_SECRET on the scope).
    Delete {
        /// CATALOG.SCHEMA.SCOPE
        scope: FullName,
        key: String,
        /// Delete only this version.
        #[arg(long)]
        version: Option<u32>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ScopeCommand {
    /// Create a scope: `citadel secrets scope create dev.ml.hub` (needs MANAGE on the schema).
    Create {
        /// CATALOG.SCHEMA.SCOPE
        name: FullName,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the scopes of a schema you may read, write or manage.
    List {
        /// CATALOG.SCHEMA
        schema: FullName,
    },
    /// Delete a scope and every secret in it (needs MANAGE on the scope).
    Delete {
        /// CATALOG.SCHEMA.SCOPE
        name: FullName,
    },
}

pub async fn run(global: &GlobalArgs, command: SecretsCommand) -> anyhow::Result<()> {
    // Read the value before opening the home, so a prompt does not hold the database open.
    let value = match &command {
        SecretsCommand::Put { from_file, .. } => Some(read_value(from_file.as_deref())?),
        _ => None,
    };
    session::with_context(global, |citadel, ctx| async move {
        match command {
            SecretsCommand::Scope(ScopeCommand::Create { name, comment }) => {
                let created = citadel
                    .create_secret_scope(&ctx, &name, comment.as_deref())
                    .await?;
                println!("Created secret scope {}", created.full_name);
                Ok(())
            }
            SecretsCommand::Scope(ScopeCommand::List { schema }) => {
                catalog::print(global, citadel.list_secret_scopes(&ctx, &schema).await?)
            }
            SecretsCommand::Scope(ScopeCommand::Delete { name }) => {
                citadel.delete_secret_scope(&ctx, &name).await?;
                println!("Deleted secret scope {name} and every secret in it");
                Ok(())
            }
            SecretsCommand::Put { scope, key, .. } => {
                let value = value.context("internal error: no value was read")?;
                let info = citadel.put_secret(&ctx, &scope, &key, &value).await?;
                if global.json {
                    return output::json(&info);
                }
                println!(
                    "Stored {}/{} version {}",
                    info.scope, info.name, info.version
                );
                Ok(())
            }
            SecretsCommand::Get {
                scope,
                key,
                version,
                reveal,
            } => {
                let stdout = std::io::stdout();
                if stdout.is_terminal() && !reveal {
                    anyhow::bail!(
                        "refusing to print a secret to a terminal; pipe or redirect the output \
                         (`citadel secrets get {scope} {key} > file`), or pass --reveal"
                    );
                }
                let secret = citadel.get_secret(&ctx, &scope, &key, version).await?;
                let mut out = stdout.lock();
                if global.json {
                    let body = Zeroizing::new(serde_json::to_string_pretty(&serde_json::json!({
                        "scope": secret.info.scope,
                        "name": secret.info.name,
                        "version": secret.info.version,
                        "value": secret.value.expose_secret(),
                    }))?);
                    writeln!(out, "{}", body.as_str())?;
                } else {
                    out.write_all(secret.value.expose_secret().as_bytes())?;
                }
                out.flush()?;
                Ok(())
            }
            SecretsCommand::List { scope } => {
                print_versions(global, citadel.list_secrets(&ctx, &scope).await?)
            }
            SecretsCommand::Delete {
                scope,
                key,
                version,
            } => {
                let deleted = citadel.delete_secret(&ctx, &scope, &key, version).await?;
                println!("Deleted {deleted} version(s) of {scope}/{key}");
                Ok(())
            }
        }
    })
    .await
}

/// The value from a file or stdin, without one trailing newline (`echo value |` adds one). At a
/// terminal, asks for it without echo.
fn read_value(from_file: Option<&std::path::Path>) -> anyhow::Result<SecretString> {
    let mut raw = Zeroizing::new(Vec::new());
    match from_file {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut raw))
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        None if std::io::stdin().is_terminal() => {
            let typed = Zeroizing::new(
                rpassword::prompt_password("Secret value (input hidden): ")
                    .context("cannot read the value from the terminal")?,
            );
            raw.extend_from_slice(typed.as_bytes());
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut raw)
                .context("cannot read the value from stdin")?;
        }
    }
    let text = std::str::from_utf8(&raw)
        .context("a secret value must be UTF-8 text; base64-encode binary values")?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    Ok(SecretString::from(text.to_owned()))
}

fn print_versions(global: &GlobalArgs, versions: Vec<SecretVersionInfo>) -> anyhow::Result<()> {
    if global.json {
        return output::json(&versions);
    }
    output::table(
        ["name", "version", "created", "created by"],
        versions.into_iter().map(|v| {
            [
                v.name,
                v.version.to_string(),
                output::time(v.created_at),
                v.created_by,
            ]
        }),
    );
    Ok(())
}
