//! Command definitions and dispatch.

pub mod bench_engine;
pub mod finetune;
pub mod generate;

use clap::{Parser, Subcommand};

/// Citadel: a secure, self-hosted pipeline for fine-tuning and serving large language models.
#[derive(Debug, Parser)]
#[command(name = "citadel", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate text with a local model folder (and optionally a PEFT adapter).
    Generate(generate::GenerateArgs),
    /// Fine-tune a local model folder with LoRA on a JSONL dataset.
    Finetune(finetune::FinetuneArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training and generation throughput of the engine.
    Engine(bench_engine::BenchEngineArgs),
}

pub fn run(cli: Cli) -> std::process::ExitCode {
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Finetune(args) => finetune::run(args),
        Command::Bench(BenchCommand::Engine(args)) => bench_engine::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
