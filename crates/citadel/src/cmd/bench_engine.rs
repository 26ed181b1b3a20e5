//! `citadel bench engine`: LoRA training and greedy generation throughput and peak memory of the
//! engine on a model folder, or on random weights of a reference shape.

use std::path::PathBuf;

use citadel_engine::bench::{self, BenchConfig, BenchReport};
use citadel_engine::{Device, Model, ModelConfig};

/// Arguments of `citadel bench engine`.
#[derive(Debug, clap::Args)]
pub struct BenchEngineArgs {
    /// `smollm2-135m`, `gpt2-small` (random weights of that shape) or a model folder.
    #[arg(long, value_name = "SHAPE|DIR")]
    pub shape: String,
    /// Sequences per training batch.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Tokens per training sequence [default: 128 for Llama shapes, 256 for GPT-2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub seq: Option<u32>,
    /// Compute threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Prompts generated for at once in the batched generation figure.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub generate_batch: u32,
    /// Timed training steps, after one warm-up step.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `citadel bench engine`.
pub fn run(args: BenchEngineArgs) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        citadel_engine::set_num_threads(threads as usize);
    }
    let device = Device::Cpu;
    let model = match args.shape.as_str() {
        "smollm2-135m" => Model::random(&ModelConfig::smollm2_135m(), 0, &device)?,
        "gpt2-small" => Model::random(&ModelConfig::gpt2_small(), 0, &device)?,
        dir => Model::load(&PathBuf::from(dir), &device)?,
    };
    let default_seq = match model.config().architecture {
        citadel_engine::Architecture::Llama => 128,
        citadel_engine::Architecture::Gpt2 => 256,
    };
    let config = BenchConfig {
        batch: args.batch as usize,
        seq: args.seq.map_or(default_seq, |s| s as usize),
        steps: args.steps as usize,
        prompt_tokens: 16,
        new_tokens: 32,
        generate_batch: args.generate_batch as usize,
    };
    let report = bench::run(model, config)?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |t| t as usize,
    );
    if args.json {
        let value = serde_json::json!({
            "shape": args.shape,
            "batch": config.batch,
            "seq": config.seq,
            "steps": config.steps,
            "threads": threads,
            "train_tokens_per_s": report.train_tokens_per_s,
            "generate_tokens_per_s": report.generate_tokens_per_s,
            "generate_batch": config.generate_batch,
            "generate_batch_tokens_per_s": report.generate_batch_tokens_per_s,
            "peak_rss_bytes": report.peak_rss_bytes,
            "peak_rss_generate_bytes": report.peak_rss_generate_bytes,
            "weights_bytes": report.weights_bytes,
            "train_step_seconds": report.train_step,
        });
        println!("{value}");
    } else {
        print_table(&args.shape, &config, &report);
    }
    Ok(())
}

fn print_table(shape: &str, config: &BenchConfig, report: &BenchReport) {
    let gib = |bytes: Option<u64>| {
        bytes.map_or("n/a".to_string(), |b| {
            format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
        })
    };
    println!(
        "engine benchmark: {shape}, batch {} x {} tokens",
        config.batch, config.seq
    );
    println!(
        "  train          {:>10.1} tokens/s",
        report.train_tokens_per_s
    );
    println!(
        "    one step     forward {:.3} s, backward {:.3} s, optimizer {:.3} s",
        report.train_step.forward_s, report.train_step.backward_s, report.train_step.optimizer_s
    );
    println!(
        "  generate       {:>10.1} tokens/s (greedy, batch 1)",
        report.generate_tokens_per_s
    );
    println!(
        "  generate       {:>10.1} tokens/s (greedy, batch {}, all rows)",
        report.generate_batch_tokens_per_s, config.generate_batch
    );
    println!(
        "  peak RSS       {} after generation, {} after training",
        gib(report.peak_rss_generate_bytes),
        gib(report.peak_rss_bytes)
    );
    println!(
        "  weights        {}",
        gib(Some(report.weights_bytes as u64))
    );
}
