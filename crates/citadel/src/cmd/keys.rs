//! `citadel keys …`: the key-encryption key: status, rotation, and making a key for
//! `CITADEL_MASTER_KEY`.

use std::io::{IsTerminal, Write};

use citadel_blob::Kek;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Show the active key-encryption key (its id, never the key), its provider and age, and
    /// every key used before (needs MANAGE on the metastore).
    Status,
    /// Make a new key-encryption key, re-wrap every data key (artifacts and secrets) to it in one
    /// audited transaction, and destroy the old key. No artifact is rewritten. With
    /// CITADEL_MASTER_KEY, set the new key there and the old one in CITADEL_MASTER_KEY_PREVIOUS
    /// first (needs MANAGE on the metastore).
    Rotate,
    /// Print a new random key (base64) for CITADEL_MASTER_KEY to a pipe or file; refuses a
    /// terminal unless --reveal. Needs no home and no token.
    Generate {
        /// Print the key even though stdout is a terminal.
        #[arg(long)]
        reveal: bool,
    },
}

pub async fn run(global: &GlobalArgs, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { reveal } => generate(reveal),
        KeysCommand::Status => {
            session::with_context(global, |citadel, ctx| async move {
                let status = citadel.key_status(&ctx).await?;
                if global.json {
                    return output::json(&status);
                }
                println!("Active key {} from {}", status.kek_id, status.provider);
                if let Some(days) = status.age_days {
                    println!("Activated {days} day(s) ago");
                }
                output::table(
                    ["key id", "provider", "activated", "by", "retired"],
                    status.history.into_iter().map(|k| {
                        [
                            k.kek_id,
                            k.provider,
                            output::time(k.activated_at),
                            k.activated_by,
                            k.retired_at.map_or_else(|| "-".to_owned(), output::time),
                        ]
                    }),
                );
                Ok(())
            })
            .await
        }
        KeysCommand::Rotate => {
            session::with_context(global, |mut citadel, ctx| async move {
                let report = citadel.rotate_keys(&ctx).await?;
                if global.json {
                    return output::json(&report);
                }
                println!(
                    "Rotated the key-encryption key {} -> {} ({}): re-wrapped {} artifact key(s) \
                     and {} secret key(s); the old key is retired",
                    report.previous_kek_id,
                    report.kek_id,
                    report.provider,
                    report.artifacts_rewrapped,
                    report.secrets_rewrapped
                );
                Ok(())
            })
            .await
        }
    }
}

fn generate(reveal: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    if stdout.is_terminal() && !reveal {
        anyhow::bail!(
            "refusing to print a key to a terminal; redirect it (`citadel keys generate > \
             master.key`) or pass --reveal"
        );
    }
    let kek = Kek::generate()?;
    let mut out = stdout.lock();
    writeln!(out, "{}", citadel_vault::encode_key(&kek).as_str())?;
    out.flush()?;
    Ok(())
}
