//! `citadel finetune`: LoRA (or full) fine-tuning of a local model folder on a JSONL dataset,
//! with a progress bar, a PEFT adapter and a metrics file (one JSON line per step, then a
//! summary) in the output folder, and resumable checkpoints.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use citadel_engine::checkpoint::{load_checkpoint, save_checkpoint};
use citadel_engine::data::{read_jsonl, tokenize, Batcher, TokenizeOptions, TokenizedExample};
use citadel_engine::eval::{evaluate, EvalReport};
use citadel_engine::export::save_full_model;
use citadel_engine::optim::AdamWConfig;
use citadel_engine::schedule::Decay;
use citadel_engine::trainer::{StepReport, TrainConfig, Trainer};
use citadel_engine::{Architecture, Device, LoraConfig, Model, Tokenizer};
use citadel_service::ReadOptions;
use indicatif::{ProgressBar, ProgressStyle};

use super::{session, GlobalArgs};
use std::sync::{Arc, Mutex};

/// Arguments of `citadel finetune`.
#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// Hugging Face model folder (config.json, *.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Training data: JSONL rows {"text": …} or {"prompt": …, "response": …}.
    #[arg(long, value_name = "FILE", required_unless_present = "dataset")]
    pub data: Option<PathBuf>,
    /// Train on a governed dataset version instead (`dev.data.chats@v2`): it must pass the
    /// training guard (scanned; no unredacted PII unless a waiver is approved); its rows are
    /// read with your masks and filters into a private temporary file.
    #[arg(long, value_name = "NAME@VERSION", conflicts_with = "data")]
    pub dataset: Option<String>,
    /// Output folder: the PEFT adapter (or full weights with --full), metrics.jsonl, checkpoint/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// LoRA rank.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub lora_r: u32,
    /// LoRA alpha (the update is scaled by alpha / r).
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
    /// Dropout on the LoRA branch's input during training.
    #[arg(long, default_value_t = 0.0)]
    pub lora_dropout: f64,
    /// Modules to adapt, comma-separated [default: q_proj,v_proj for Llama, c_attn for GPT-2].
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Passes over the data (ignored when --max-steps is given).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "max_steps")]
    pub epochs: u32,
    /// Optimizer steps to run, instead of whole epochs.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: Option<u64>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub grad_accum: u32,
    /// Longest training sequence in tokens; longer rows are cut.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(2..))]
    pub seq_len: u32,
    /// Steps of linear warm-up.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: u64,
    /// Learning-rate decay after warm-up: constant, linear or cosine.
    #[arg(long, default_value = "cosine")]
    pub schedule: Decay,
    /// AdamW weight decay (decoupled).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0 turns clipping off).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Held-out JSONL data: loss and perplexity before and after training.
    #[arg(long, value_name = "FILE")]
    pub eval_data: Option<PathBuf>,
    /// Seed of LoRA initialisation, data order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train every weight instead of a LoRA adapter.
    #[arg(long)]
    pub full: bool,
    /// Save a checkpoint to OUT/checkpoint every N steps (0: never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub checkpoint_every: u64,
    /// Continue from OUT/checkpoint, with the same arguments.
    #[arg(long)]
    pub resume: bool,
}

/// The summary line that ends the metrics file.
#[derive(Debug, serde::Serialize)]
struct Summary {
    steps: u64,
    final_loss: Option<f64>,
    mean_tokens_per_s: f64,
    eval_before: Option<EvalReport>,
    eval_after: Option<EvalReport>,
    output: PathBuf,
}

/// Runs `citadel finetune`: authenticates, stages a governed dataset when one is named, trains.
pub fn run(global: &GlobalArgs, args: FinetuneArgs) -> anyhow::Result<()> {
    let staged = match &args.dataset {
        Some(spec) => Some(stage_dataset(global, spec)?),
        None => {
            session::authenticated_sync(global, |_| Ok(()))?;
            None
        }
    };
    let data = match (&staged, &args.data) {
        (Some((_, path)), _) | (None, Some(path)) => path.clone(),
        (None, None) => anyhow::bail!("pass --data FILE or --dataset NAME@VERSION"),
    };
    train(&args, &data)
}

/// Checks `spec` against the training guard and writes its rows, as the caller may read them,
/// to a JSONL file in a private temporary folder (removed when the returned guard drops).
fn stage_dataset(global: &GlobalArgs, spec: &str) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let path = dir.path().join("train.jsonl");
    let file = Arc::new(Mutex::new(BufWriter::new(
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
    )));
    let sink = file.clone();
    let spec = spec.to_owned();
    session::block_on(session::with_context(global, |citadel, ctx| async move {
        let clearance = citadel.clear_for_training(&ctx, &spec).await?;
        let cleared = format!("{}@v{}", clearance.dataset, clearance.version);
        let report = citadel
            .read_dataset(&ctx, &cleared, ReadOptions::default(), move |row| {
                let mut out = sink
                    .lock()
                    .map_err(|_| citadel_service::Error::InvalidInput("writer poisoned".into()))?;
                serde_json::to_writer(&mut *out, &row)
                    .map_err(|e| citadel_service::Error::InvalidInput(e.to_string()))?;
                writeln!(out).map_err(|e| citadel_service::Error::InvalidInput(e.to_string()))
            })
            .await?;
        eprintln!("Training on {cleared}: {} row(s)", report.rows_returned);
        Ok(())
    }))?;
    file.lock()
        .map_err(|_| anyhow::anyhow!("the staging writer was poisoned"))?
        .flush()
        .context("cannot write the staged dataset")?;
    Ok((dir, path))
}

fn train(args: &FinetuneArgs, data: &Path) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let tokenizer = Tokenizer::from_dir(&args.model)?;
    let mut model = Model::load(&args.model, &device)?;
    let pad_id = tokenizer.eos_token_ids().first().copied().unwrap_or(0);
    let options = TokenizeOptions {
        seq_len: args.seq_len as usize,
        eos_id: tokenizer.eos_token_ids().first().copied(),
    };
    let train = load_examples(data, &tokenizer, options)?;
    let held_out = match &args.eval_data {
        Some(path) => Some(load_examples(path, &tokenizer, options)?),
        None => None,
    };
    if args.full {
        model.set_full_finetune(true)?;
    } else {
        model.attach_lora(&lora_config(args, &model), args.seed)?;
    }
    let batch = args.batch as usize;
    let mut batcher = Batcher::new(train, batch, Some(args.seed), pad_id, &device)?;
    let grad_accum = args.grad_accum as usize;
    let total_steps = args.max_steps.unwrap_or_else(|| {
        let micro_batches = batcher.batches_per_epoch() * args.epochs as usize;
        micro_batches.div_ceil(grad_accum) as u64
    });
    let config = TrainConfig {
        lr: args.lr,
        adamw: AdamWConfig {
            weight_decay: args.weight_decay,
            ..AdamWConfig::default()
        },
        warmup_steps: args.warmup_steps,
        decay: args.schedule,
        total_steps,
        grad_accum,
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        seed: args.seed,
    };
    let eval = |model: &Model| -> anyhow::Result<Option<EvalReport>> {
        Ok(match &held_out {
            Some(examples) => Some(evaluate(model, examples, batch, pad_id)?),
            None => None,
        })
    };
    let eval_before = eval(&model)?;
    let mut trainer = Trainer::new(model, config)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let checkpoint_dir = args.out.join("checkpoint");
    if args.resume {
        load_checkpoint(&checkpoint_dir, &mut trainer, &mut batcher)
            .with_context(|| format!("cannot resume from {}", checkpoint_dir.display()))?;
    }
    let metrics_path = args.out.join("metrics.jsonl");
    let metrics_file = if args.resume {
        File::options()
            .append(true)
            .create(true)
            .open(&metrics_path)
    } else {
        File::create(&metrics_path)
    };
    let mut metrics = BufWriter::new(
        metrics_file.with_context(|| format!("cannot write {}", metrics_path.display()))?,
    );

    let progress = progress_bar(total_steps, trainer.steps_done());
    let mut last: Option<StepReport> = None;
    let (mut tokens, mut seconds) = (0usize, 0f64);
    trainer.train(&mut batcher, |trainer, batcher, report| {
        progress.set_position(report.step);
        progress.set_message(format!(
            "loss {:.4}  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
            report.loss, report.lr, report.grad_norm, report.tokens_per_s
        ));
        let line = serde_json::to_string(report).map_err(io_error)?;
        writeln!(metrics, "{line}").map_err(io_error)?;
        if args.checkpoint_every > 0 && report.step % args.checkpoint_every == 0 {
            metrics.flush().map_err(io_error)?;
            save_checkpoint(&checkpoint_dir, trainer, batcher)?;
        }
        tokens += report.tokens;
        seconds += report.tokens as f64 / report.tokens_per_s;
        last = Some(*report);
        Ok(())
    })?;
    progress.finish();
    let model = trainer.into_model();
    let eval_after = eval(&model)?;
    if args.full {
        save_full_model(&model, &args.model, &args.out)?;
    } else {
        model.save_adapter(&args.out)?;
    }
    let summary = Summary {
        steps: total_steps,
        final_loss: last.map(|r| r.loss),
        mean_tokens_per_s: if seconds > 0.0 {
            tokens as f64 / seconds
        } else {
            0.0
        },
        eval_before,
        eval_after,
        output: args.out.clone(),
    };
    writeln!(metrics, "{}", serde_json::json!({ "summary": summary }))?;
    metrics.flush()?;
    print_summary(&summary);
    Ok(())
}

fn load_examples(
    path: &Path,
    tokenizer: &Tokenizer,
    options: TokenizeOptions,
) -> anyhow::Result<Vec<TokenizedExample>> {
    let rows = read_jsonl(path)?;
    tokenize(&rows, tokenizer, options).with_context(|| path.display().to_string())
}

fn lora_config(args: &FinetuneArgs, model: &Model) -> LoraConfig {
    let defaults: &[&str] = match model.config().architecture {
        Architecture::Llama => &["q_proj", "v_proj"],
        Architecture::Gpt2 => &["c_attn"],
    };
    let targets: Vec<&str> = if args.targets.is_empty() {
        defaults.to_vec()
    } else {
        args.targets.iter().map(String::as_str).collect()
    };
    let mut config = LoraConfig::new(args.lora_r as usize, args.lora_alpha, &targets);
    config.dropout = args.lora_dropout;
    config
}

fn progress_bar(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {elapsed_precise}<{eta_precise}  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(done);
    bar
}

fn io_error(err: impl std::fmt::Display) -> citadel_engine::Error {
    citadel_engine::Error::Training(format!("cannot write metrics: {err}"))
}

fn print_summary(summary: &Summary) {
    if let Some(loss) = summary.final_loss {
        println!(
            "trained {} steps, final loss {loss:.4}, {:.0} tokens/s",
            summary.steps, summary.mean_tokens_per_s
        );
    }
    if let (Some(before), Some(after)) = (summary.eval_before, summary.eval_after) {
        println!(
            "held-out perplexity {:.3} -> {:.3} (loss {:.4} -> {:.4})",
            before.perplexity, after.perplexity, before.loss, after.loss
        );
    }
    println!("wrote {}", summary.output.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: FinetuneArgs,
    }

    #[test]
    fn parses_defaults_and_lists() {
        let cli = Cli::parse_from([
            "x",
            "--model",
            "m",
            "--data",
            "d.jsonl",
            "--out",
            "o",
            "--targets",
            "q_proj,k_proj",
            "--schedule",
            "linear",
        ]);
        assert_eq!(cli.args.targets, ["q_proj", "k_proj"]);
        assert_eq!(cli.args.schedule, Decay::Linear);
        assert_eq!(cli.args.lora_r, 8);
        assert!(Cli::try_parse_from([
            "x",
            "--model",
            "m",
            "--data",
            "d",
            "--out",
            "o",
            "--epochs",
            "2",
            "--max-steps",
            "3"
        ])
        .is_err());
    }
}
