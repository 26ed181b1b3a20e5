//! `citadel artifact …`: encrypted, content-addressed artifacts (admins; models and datasets
//! reference artifacts through their own commands).

use std::path::PathBuf;

use super::{output, session, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum ArtifactCommand {
    /// Encrypt and store a file; prints its digest.
    Put { file: PathBuf },
    /// Decrypt, verify and write an artifact to a file (nothing is written if verification fails).
    Get {
        /// `sha256:…`
        digest: String,
        /// Destination file (must not exist).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// List stored artifacts.
    List,
}

pub async fn run(global: &GlobalArgs, command: ArtifactCommand) -> anyhow::Result<()> {
    session::with_context(global, |citadel, ctx| async move {
        match command {
            ArtifactCommand::Put { file } => {
                let info = citadel.put_artifact(&ctx, &file).await?;
                if global.json {
                    return output::json(&info);
                }
                println!("{}  {} bytes", info.digest, info.size);
            }
            ArtifactCommand::Get { digest, out } => {
                let info = citadel.get_artifact(&ctx, &digest, &out).await?;
                if !global.json {
                    println!(
                        "Wrote {} ({} bytes, digest verified)",
                        out.display(),
                        info.size
                    );
                } else {
                    output::json(&info)?;
                }
            }
            ArtifactCommand::List => {
                let artifacts = citadel.list_artifacts(&ctx).await?;
                if global.json {
                    return output::json(&artifacts);
                }
                output::table(
                    ["digest", "size", "created", "by"],
                    artifacts.into_iter().map(|a| {
                        [
                            a.digest,
                            a.size.to_string(),
                            output::time(a.created_at),
                            a.created_by,
                        ]
                    }),
                );
            }
        }
        Ok(())
    })
    .await
}
