//! `citadel finetune` (being built).

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {}

pub fn run(_args: FinetuneArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
