//! `citadel bench_engine` (being built).

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct BenchEngineArgs {}

pub fn run(_args: BenchEngineArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
