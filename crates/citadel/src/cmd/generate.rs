//! `citadel generate` (being built).

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}

pub fn run(_args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
