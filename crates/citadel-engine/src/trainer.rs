//! The training loop: forward, masked next-token loss, backward, gradient accumulation,
//! global-norm clipping, AdamW with a warm-up/decay schedule, and a report per step.

use std::time::Instant;

use candle_core::{Tensor, Var};

use crate::data::{Batch, Batcher};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::optim::{clip_grad_norm, global_grad_norm, AdamW, AdamWConfig};
use crate::schedule::{Decay, Schedule};

/// Everything that shapes the optimisation, apart from the data and the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW's betas, epsilon and weight decay.
    pub adamw: AdamWConfig,
    /// Optimizer steps of linear warm-up from zero.
    pub warmup_steps: u64,
    /// Decay after warm-up.
    pub decay: Decay,
    /// Optimizer steps in the whole run (the schedule reaches zero there).
    pub total_steps: u64,
    /// Micro-batches whose gradients are summed into one optimizer step.
    pub grad_accum: usize,
    /// Clip the global gradient norm to this value, if set.
    pub max_grad_norm: Option<f64>,
    /// Seed of data shuffling and dropout.
    pub seed: u64,
}

impl TrainConfig {
    /// The learning-rate schedule this configuration describes.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            base_lr: self.lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.total_steps,
            decay: self.decay,
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.grad_accum == 0 {
            return Err(Error::InvalidArgument(
                "gradient accumulation must be 1 or more".into(),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "learning rate {} must be positive",
                self.lr
            )));
        }
        if self
            .max_grad_norm
            .is_some_and(|n| !(n.is_finite() && n > 0.0))
        {
            return Err(Error::InvalidArgument(
                "the gradient-norm limit must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// Optimizer steps done, this one included (1-based).
    pub step: u64,
    /// Mean loss per target token before the update.
    pub loss: f64,
    /// Learning rate of the update.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Token positions processed (padding included) per second of this step.
    pub tokens_per_s: f64,
    /// Token positions processed in this step.
    pub tokens: usize,
    /// Where the step's time went.
    pub timings: StepTimings,
}

/// Seconds spent in each phase of a step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StepTimings {
    /// Forward passes and loss.
    pub forward_s: f64,
    /// Backward passes and gradient accumulation.
    pub backward_s: f64,
    /// Clipping and the AdamW update.
    pub optimizer_s: f64,
}

/// A loss and its gradients, from [`Trainer::gradients`].
#[derive(Debug, Clone)]
pub struct Gradients {
    /// Mean loss per target token.
    pub loss: f64,
    /// One gradient per trainable variable.
    pub grads: Vec<Tensor>,
    /// Seconds of forward passes.
    pub forward_s: f64,
    /// Seconds of backward passes.
    pub backward_s: f64,
}

/// A model being trained, with its optimizer and schedule.
#[derive(Debug)]
pub struct Trainer {
    model: Model,
    optimizer: AdamW,
    config: TrainConfig,
}

impl Trainer {
    /// Starts training the model's trainable variables (attach LoRA first, or enable full
    /// fine-tuning). Switches the model to training mode.
    pub fn new(mut model: Model, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let params = model.trainable_vars()?;
        if params.is_empty() {
            return Err(Error::InvalidArgument(
                "the model has no trainable tensors: attach LoRA or enable full fine-tuning".into(),
            ));
        }
        model.set_training(true);
        model.set_dropout_state(config.seed, 0);
        let optimizer = AdamW::new(params, config.adamw)?;
        Ok(Self {
            model,
            optimizer,
            config,
        })
    }

    /// The model as trained so far.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Ends training and hands the model back, in inference mode.
    pub fn into_model(mut self) -> Model {
        self.model.set_training(false);
        self.model
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Optimizer steps done.
    pub fn steps_done(&self) -> u64 {
        self.optimizer.steps_taken()
    }

    /// The trainable variables with their names (PEFT keys for LoRA factors).
    pub fn trainable(&self) -> &[(String, Var)] {
        self.optimizer.params()
    }

    pub(crate) fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    pub(crate) fn optimizer_mut(&mut self) -> &mut AdamW {
        &mut self.optimizer
    }

    pub(crate) fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The mean loss over every target token of `micro_batches` and its gradient for each
    /// trainable variable (in the order of [`Trainer::trainable`]), summed over the micro-batches.
    pub fn gradients(&self, micro_batches: &[Batch]) -> Result<Gradients> {
        let targets: usize = micro_batches.iter().map(|b| b.target_count).sum();
        let per_target = 1.0 / targets.max(1) as f64;
        let mut out = Gradients {
            loss: 0.0,
            grads: Vec::new(),
            forward_s: 0.0,
            backward_s: 0.0,
        };
        for batch in micro_batches {
            let started = Instant::now();
            let loss = (self.model.nll_sum(&batch.input_ids, &batch.target_mask)? * per_target)?;
            out.loss += f64::from(loss.to_scalar::<f32>()?);
            let backward_started = Instant::now();
            out.forward_s += (backward_started - started).as_secs_f64();
            let store = loss.backward()?;
            let grads = self
                .optimizer
                .params()
                .iter()
                .map(|(_, var)| match store.get(var.as_tensor()) {
                    Some(grad) => Ok(grad.clone()),
                    None => Ok(var.as_tensor().zeros_like()?),
                })
                .collect::<Result<Vec<_>>>()?;
            out.grads = if out.grads.is_empty() {
                grads
            } else {
                out.grads
                    .iter()
                    .zip(&grads)
                    .map(|(a, b)| Ok((a + b)?))
                    .collect::<Result<_>>()?
            };
            out.backward_s += backward_started.elapsed().as_secs_f64();
        }
        if out.grads.is_empty() {
            return Err(Error::InvalidArgument("a step needs a batch".into()));
        }
        Ok(out)
    }

    /// One optimizer step on `micro_batches`, whose gradients are accumulated; the loss is the
    /// mean over every target token of all of them.
    pub fn step(&mut self, micro_batches: &[Batch]) -> Result<StepReport> {
        let started = Instant::now();
        let Gradients {
            loss,
            mut grads,
            forward_s,
            backward_s,
        } = self.gradients(micro_batches)?;
        let optimizer_started = Instant::now();
        let grad_norm = match self.config.max_grad_norm {
            Some(max_norm) => clip_grad_norm(&mut grads, max_norm)?,
            None => global_grad_norm(&grads)?,
        };
        if !loss.is_finite() || !grad_norm.is_finite() {
            return Err(Error::Training(format!(
                "step {}: loss {loss} / gradient norm {grad_norm} is not finite (lower the learning rate?)",
                self.steps_done() + 1
            )));
        }
        let lr = self.config.schedule().lr_at(self.steps_done());
        self.optimizer.step(&grads, lr)?;
        let tokens: usize = micro_batches.iter().map(Batch::token_count).sum();
        Ok(StepReport {
            step: self.steps_done(),
            loss,
            lr,
            grad_norm,
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
            tokens,
            timings: StepTimings {
                forward_s,
                backward_s,
                optimizer_s: optimizer_started.elapsed().as_secs_f64(),
            },
        })
    }

    /// Trains until `total_steps`, taking `grad_accum` batches per step from `batcher` and
    /// calling `on_step` (with the trainer and the batcher, e.g. to save a checkpoint) after each.
    pub fn train(
        &mut self,
        batcher: &mut Batcher,
        mut on_step: impl FnMut(&Self, &Batcher, &StepReport) -> Result<()>,
    ) -> Result<()> {
        while self.steps_done() < self.config.total_steps {
            let micro_batches = (0..self.config.grad_accum)
                .map(|_| batcher.next_batch())
                .collect::<Result<Vec<_>>>()?;
            let report = self.step(&micro_batches)?;
            on_step(self, batcher, &report)?;
        }
        Ok(())
    }
}
