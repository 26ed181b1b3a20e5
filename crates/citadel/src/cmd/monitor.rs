//! `citadel monitor …`: the monitors over an endpoint's traffic.

use super::GlobalArgs;

#[derive(Debug, clap::Subcommand)]
pub enum MonitorCommand {
    /// Compare an endpoint's recent traffic with its baseline: prompt and completion lengths,
    /// tokens, latency, block and refusal rates (MANAGE on the endpoint).
    Drift(super::monitor_drift::DriftArgs),
}

pub async fn run(global: &GlobalArgs, command: MonitorCommand) -> anyhow::Result<()> {
    match command {
        MonitorCommand::Drift(args) => super::monitor_drift::run(global, args).await,
    }
}
