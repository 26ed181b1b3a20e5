//! The engine benchmark: LoRA training tokens/s on a fixed random batch, greedy generation
//! tokens/s for one prompt and for a batch of prompts, peak resident memory of each (Linux
//! `VmHWM`), and where a training step's time goes.

use std::time::Instant;

use candle_core::Tensor;

use crate::config::Architecture;
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::generate::{generate_batch, Flow, GenerateParams};
use crate::lora::LoraConfig;
use crate::model::Model;
use crate::optim::AdamWConfig;
use crate::rng::SplitMix64;
use crate::schedule::Decay;
use crate::trainer::{StepTimings, TrainConfig, Trainer};

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// Sequences per training batch.
    pub batch: usize,
    /// Tokens per training sequence.
    pub seq: usize,
    /// Timed training steps (after one untimed warm-up step).
    pub steps: usize,
    /// Prompt tokens for generation.
    pub prompt_tokens: usize,
    /// Tokens generated greedily after the prompt.
    pub new_tokens: usize,
    /// Prompts generated for at once in the batched generation figure.
    pub generate_batch: usize,
}

/// Throughput and memory figures.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BenchReport {
    /// Training token positions per second (batch × seq × steps / time).
    pub train_tokens_per_s: f64,
    /// Mean time of each phase of a timed training step.
    pub train_step: StepTimings,
    /// Generated tokens per second (greedy, batch 1, KV cache).
    pub generate_tokens_per_s: f64,
    /// Generated tokens per second over all rows of a batch of `generate_batch` prompts.
    pub generate_batch_tokens_per_s: f64,
    /// Peak resident memory once generation was done.
    pub peak_rss_generate_bytes: Option<u64>,
    /// Peak resident memory of the whole run (training comes after generation).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes of the base weights.
    pub weights_bytes: usize,
}

/// LoRA r=8, α=16 on the modules the peer benchmark adapts: q_proj,v_proj (Llama), c_attn (GPT-2).
pub fn bench_lora_config(model: &Model) -> LoraConfig {
    let targets: &[&str] = match model.config().architecture {
        Architecture::Llama => &["q_proj", "v_proj"],
        Architecture::Gpt2 => &["c_attn"],
    };
    LoraConfig::new(8, 16.0, targets)
}

/// Measures generation first (so its peak memory is seen alone), then LoRA training.
pub fn run(mut model: Model, config: BenchConfig) -> Result<BenchReport> {
    if config.batch == 0 || config.seq < 2 || config.steps == 0 || config.generate_batch == 0 {
        return Err(Error::InvalidArgument(
            "the benchmark needs batch ≥ 1, seq ≥ 2, steps ≥ 1 and a generation batch ≥ 1".into(),
        ));
    }
    let vocab = model.config().vocab_size as u64;
    let weights_bytes = model.num_parameters() * 4;
    let mut rng = SplitMix64::new(0);
    let mut random_ids =
        |n: usize| -> Vec<u32> { (0..n).map(|_| rng.below(vocab) as u32).collect() };
    let prompts: Vec<Vec<u32>> = (0..config.generate_batch)
        .map(|_| random_ids(config.prompt_tokens))
        .collect();
    let train_ids = random_ids(config.batch * config.seq);

    let generate_tokens_per_s = time_generation(&model, &prompts[..1], config.new_tokens)?;
    let generate_batch_tokens_per_s = time_generation(&model, &prompts, config.new_tokens)?;
    let peak_rss_generate_bytes = peak_rss_bytes();

    model.attach_lora(&bench_lora_config(&model), 0)?;
    let device = model.device().clone();
    let train_config = TrainConfig {
        lr: 2e-4,
        adamw: AdamWConfig::default(),
        warmup_steps: 0,
        decay: Decay::Constant,
        total_steps: config.steps as u64 + 1,
        grad_accum: 1,
        max_grad_norm: None,
        seed: 0,
    };
    let mut trainer = Trainer::new(model, train_config)?;
    let batch = Batch::all_targets(Tensor::from_vec(
        train_ids,
        (config.batch, config.seq),
        &device,
    )?)?;
    let batch = std::slice::from_ref(&batch);
    trainer.step(batch)?;
    let started = Instant::now();
    let mut total = StepTimings {
        forward_s: 0.0,
        backward_s: 0.0,
        optimizer_s: 0.0,
    };
    for _ in 0..config.steps {
        let t = trainer.step(batch)?.timings;
        total.forward_s += t.forward_s;
        total.backward_s += t.backward_s;
        total.optimizer_s += t.optimizer_s;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let steps = config.steps as f64;
    Ok(BenchReport {
        train_tokens_per_s: (config.batch * config.seq) as f64 * steps / elapsed,
        train_step: StepTimings {
            forward_s: total.forward_s / steps,
            backward_s: total.backward_s / steps,
            optimizer_s: total.optimizer_s / steps,
        },
        generate_tokens_per_s,
        generate_batch_tokens_per_s,
        peak_rss_generate_bytes,
        peak_rss_bytes: peak_rss_bytes(),
        weights_bytes,
    })
}

/// Greedy tokens per second, over all rows, for `new_tokens` after each of `prompts` generated
/// as one batch, EOS ignored (after an untimed four-token warm-up, as the peer benchmark does).
fn time_generation(model: &Model, prompts: &[Vec<u32>], new_tokens: usize) -> Result<f64> {
    let params = |max_new_tokens| GenerateParams {
        max_new_tokens,
        ..GenerateParams::default()
    };
    let mut keep_going = |_, _| Ok(Flow::Continue);
    generate_batch(model, prompts, &params(4), &mut keep_going)?;
    let started = Instant::now();
    let generated = generate_batch(model, prompts, &params(new_tokens), &mut keep_going)?;
    let tokens: usize = generated.iter().map(|g| g.tokens.len()).sum();
    Ok(tokens as f64 / started.elapsed().as_secs_f64())
}

/// The process's peak resident set size (`VmHWM` of `/proc/self/status`), where there is one.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
