//! Driving the engine for a tracked run: the model, data, optimizer and schedule a pipeline's
//! `[train]` table describes, steps under the run's limits, checkpoints handed to the caller, and
//! held-out evaluation. Local folders only: storage and auth are the pipeline's business.

use std::path::Path;
use std::time::Instant;

use citadel_data::Row;
use citadel_engine::checkpoint::{load_checkpoint, save_checkpoint};
use citadel_engine::data::{tokenize, Batcher, Example, TokenizeOptions, TokenizedExample};
use citadel_engine::eval::evaluate;
use citadel_engine::optim::AdamWConfig;
use citadel_engine::schedule::Decay;
use citadel_engine::trainer::{StepReport, TrainConfig, Trainer};
use citadel_engine::{Architecture, Device, LoraConfig, Model, Tokenizer};
use citadel_registry::gates::EvalMetrics;
use citadel_registry::spec::{LimitsSpec, Schedule, TrainSpec};

use crate::{Error, Result};

/// Batches of this many sequences evaluate held-out data.
const EVAL_BATCH: usize = 8;

/// A model folder's tokenizer and its examples, tokenized.
pub(crate) struct Tokenized {
    pub(crate) examples: Vec<TokenizedExample>,
    pub(crate) pad_id: u32,
}

/// Turns dataset rows into examples: a `text` column, or `prompt` and `response` columns (only
/// the response is trained on). Other columns are ignored.
pub(crate) fn examples_from_rows(rows: &[Row], dataset: &str) -> Result<Vec<Example>> {
    let column = |row: &Row, name: &str| row.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            match (
                column(row, "prompt"),
                column(row, "response"),
                column(row, "text"),
            ) {
                (Some(prompt), Some(response), _) => {
                    Ok(Example::PromptResponse { prompt, response })
                }
                (_, _, Some(text)) => Ok(Example::Text(text)),
                _ => Err(Error::InvalidInput(format!(
                "{dataset} row {}: training needs a text column, or prompt and response columns",
                i + 1
            ))),
            }
        })
        .collect()
}

/// Tokenizes examples with the model folder's tokenizer.
pub(crate) fn tokenize_for(
    model_dir: &Path,
    examples: &[Example],
    seq_len: u32,
) -> Result<Tokenized> {
    let tokenizer = Tokenizer::from_dir(model_dir)?;
    let eos = tokenizer.eos_token_ids().first().copied();
    let options = TokenizeOptions {
        seq_len: seq_len as usize,
        eos_id: eos,
    };
    let examples = tokenize(examples, &tokenizer, options)?;
    if examples.is_empty() {
        return Err(Error::InvalidInput(
            "no example has anything to train on after tokenization".into(),
        ));
    }
    Ok(Tokenized {
        examples,
        pad_id: eos.unwrap_or(0),
    })
}

/// Loss and perplexity of the model in `model_dir` (with an adapter folder, if given).
pub(crate) fn evaluate_folder(
    model_dir: &Path,
    adapter_dir: Option<&Path>,
    held_out: &Tokenized,
) -> Result<EvalMetrics> {
    let mut model = Model::load(model_dir, &Device::Cpu)?;
    if let Some(adapter) = adapter_dir {
        model.load_adapter(adapter)?;
    }
    let report = evaluate(&model, &held_out.examples, EVAL_BATCH, held_out.pad_id)?;
    Ok(EvalMetrics {
        loss: report.loss,
        perplexity: report.perplexity,
        tokens: report.target_tokens as u64,
    })
}

/// What a caller does as training goes.
pub(crate) trait TrainingHooks {
    /// After each optimizer step.
    fn on_step(&mut self, report: &StepReport) -> Result<()>;
    /// After a checkpoint was written to `dir` at `step`.
    fn on_checkpoint(&mut self, step: u64, dir: &Path) -> Result<()>;
}

/// How training ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainingOutcome {
    pub(crate) steps: u64,
    pub(crate) final_loss: Option<f64>,
    pub(crate) tokens: u64,
    pub(crate) seconds: f64,
}

/// A prepared training job.
pub(crate) struct TrainingJob {
    trainer: Trainer,
    batcher: Batcher,
    checkpoint_every: u64,
    limits: LimitsSpec,
}

impl TrainingJob {
    /// Loads the base model, attaches LoRA and lays out the optimization.
    pub(crate) fn prepare(
        base_dir: &Path,
        train: Tokenized,
        spec: &TrainSpec,
        limits: &LimitsSpec,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let mut model = Model::load(base_dir, &device)?;
        model.attach_lora(&lora_config(spec, &model), spec.seed)?;
        let batcher = Batcher::new(
            train.examples,
            spec.batch as usize,
            Some(spec.seed),
            train.pad_id,
            &device,
        )?;
        let total_steps = total_steps(spec, limits, batcher.batches_per_epoch());
        let config = TrainConfig {
            lr: spec.lr,
            adamw: AdamWConfig {
                weight_decay: spec.weight_decay,
                ..AdamWConfig::default()
            },
            warmup_steps: spec.warmup_steps,
            decay: match spec.schedule {
                Schedule::Constant => Decay::Constant,
                Schedule::Linear => Decay::Linear,
                Schedule::Cosine => Decay::Cosine,
            },
            total_steps,
            grad_accum: spec.grad_accum as usize,
            max_grad_norm: (spec.max_grad_norm > 0.0).then_some(spec.max_grad_norm),
            seed: spec.seed,
        };
        Ok(Self {
            trainer: Trainer::new(model, config)?,
            batcher,
            checkpoint_every: spec.checkpoint_every,
            limits: *limits,
        })
    }

    /// Optimizer steps the whole run takes.
    pub(crate) fn total_steps(&self) -> u64 {
        self.trainer.config().total_steps
    }

    /// Continues from a checkpoint folder: weights, optimizer, schedule, data position, RNG.
    pub(crate) fn resume(&mut self, checkpoint: &Path) -> Result<u64> {
        load_checkpoint(checkpoint, &mut self.trainer, &mut self.batcher)?;
        Ok(self.trainer.steps_done())
    }

    /// Trains to the end or to a limit, checkpointing into `scratch` every `checkpoint_every`
    /// steps. A limit crossed ends training with an error naming it.
    pub(crate) fn run(
        &mut self,
        scratch: &Path,
        hooks: &mut dyn TrainingHooks,
    ) -> Result<TrainingOutcome> {
        let started = Instant::now();
        let mut outcome = TrainingOutcome {
            steps: self.trainer.steps_done(),
            final_loss: None,
            tokens: 0,
            seconds: 0.0,
        };
        let every = self.checkpoint_every;
        let limits = self.limits;
        let mut failure: Option<Error> = None;
        let result = self
            .trainer
            .train(&mut self.batcher, |trainer, batcher, report| {
                let step = (|| {
                    outcome.steps = report.step;
                    outcome.final_loss = Some(report.loss);
                    outcome.tokens += report.tokens as u64;
                    hooks.on_step(report)?;
                    check_limits(&limits, outcome.tokens, started)?;
                    if every > 0
                        && report.step % every == 0
                        && report.step < trainer.config().total_steps
                    {
                        let dir = scratch.join(format!("checkpoint-{}", report.step));
                        save_checkpoint(&dir, trainer, batcher)?;
                        hooks.on_checkpoint(report.step, &dir)?;
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    Ok::<(), Error>(())
                })();
                step.map_err(|err| {
                    let message = err.to_string();
                    failure = Some(err);
                    citadel_engine::Error::Training(message)
                })
            });
        if let Some(err) = failure {
            return Err(err);
        }
        result?;
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// The trained model.
    pub(crate) fn into_model(self) -> Model {
        self.trainer.into_model()
    }
}

/// Steps in the run: whole epochs, or `max_steps`, capped by the run's step limit.
fn total_steps(spec: &TrainSpec, limits: &LimitsSpec, batches_per_epoch: usize) -> u64 {
    let planned = spec.max_steps.unwrap_or_else(|| {
        let micro_batches = batches_per_epoch * spec.epochs as usize;
        micro_batches.div_ceil(spec.grad_accum as usize) as u64
    });
    limits
        .max_steps
        .map_or(planned, |cap| planned.min(cap))
        .max(1)
}

/// Fails when the run crossed its token, wall-time or memory limit.
fn check_limits(limits: &LimitsSpec, tokens: u64, started: Instant) -> Result<()> {
    if let Some(max) = limits.max_tokens {
        if tokens > max {
            return Err(Error::InvalidInput(format!(
                "the run processed {tokens} tokens, over its limit of {max} (limits.max_tokens)"
            )));
        }
    }
    if let Some(max) = limits.max_wall_seconds {
        let elapsed = started.elapsed().as_secs();
        if elapsed > max {
            return Err(Error::InvalidInput(format!(
                "the run took {elapsed} s, over its limit of {max} s (limits.max_wall_seconds)"
            )));
        }
    }
    if let (Some(max), Some(peak)) = (limits.max_memory_mib, crate::system::peak_rss_mib()) {
        if peak > max {
            return Err(Error::InvalidInput(format!(
                "the run's peak memory is {peak} MiB, over its limit of {max} MiB \
                 (limits.max_memory_mib)"
            )));
        }
    }
    Ok(())
}

/// LoRA on the pipeline's targets, or the architecture's attention projections by default.
fn lora_config(spec: &TrainSpec, model: &Model) -> LoraConfig {
    let defaults: &[&str] = match model.config().architecture {
        Architecture::Llama => &["q_proj", "v_proj"],
        Architecture::Gpt2 => &["c_attn"],
    };
    let targets: Vec<&str> = if spec.targets.is_empty() {
        defaults.to_vec()
    } else {
        spec.targets.iter().map(String::as_str).collect()
    };
    let mut config = LoraConfig::new(spec.lora_r as usize, spec.lora_alpha, &targets);
    config.dropout = spec.lora_dropout;
    config
}
