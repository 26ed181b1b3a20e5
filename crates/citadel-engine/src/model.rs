//! [`Model`]: a loaded Llama or GPT-2 with its `lm_head`, LoRA adapters, training switches and the
//! forward passes used by generation, training and evaluation.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use crate::config::{Architecture, ModelConfig};
use crate::dense;
use crate::error::{Error, Result};
use crate::gpt2::{self, Gpt2};
use crate::kv_cache::KvCache;
use crate::llama::{self, Llama};
use crate::lora::{new_var, DropoutStream, Linear, LoraConfig, Pass};
use crate::loss;
use crate::peft;
use crate::threads;
use crate::weights::WeightMap;

#[derive(Debug)]
enum Body {
    Llama(Llama),
    Gpt2(Gpt2),
}

/// A causal language model ready for inference and fine-tuning.
#[derive(Debug)]
pub struct Model {
    config: ModelConfig,
    body: Body,
    lora: Option<LoraConfig>,
    full_finetune: bool,
    full_vars: Vec<(String, Var)>,
    training: bool,
    dropout: DropoutStream,
    device: Device,
}

impl Model {
    /// Loads a Hugging Face model folder (`config.json` and safetensors weights) in f32.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        threads::ensure_configured();
        if !dir.is_dir() {
            return Err(Error::Missing {
                what: "model folder",
                path: dir.to_path_buf(),
            });
        }
        let config = ModelConfig::from_dir(dir)?;
        let mut weights = WeightMap::from_dir(dir, device)?;
        Self::from_weights(config, &mut weights, device)
    }

    /// A model of the given shape with seeded random weights (uniform, std 0.02; norms at one,
    /// biases at zero), for benchmarks and tests.
    pub fn random(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        threads::ensure_configured();
        config.validate()?;
        let shapes = match config.architecture {
            Architecture::Llama => llama::weight_shapes(config),
            Architecture::Gpt2 => gpt2::weight_shapes(config),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 0.02 * 3f32.sqrt();
        let mut tensors = HashMap::with_capacity(shapes.len());
        for (name, shape) in shapes {
            let n: usize = shape.iter().product();
            let tensor = if name.ends_with(".bias") {
                Tensor::zeros(shape, candle_core::DType::F32, device)?
            } else if shape.len() == 1 {
                Tensor::ones(shape, candle_core::DType::F32, device)?
            } else {
                let data: Vec<f32> = (0..n).map(|_| rng.gen_range(-bound..bound)).collect();
                Tensor::from_vec(data, shape, device)?
            };
            tensors.insert(name, tensor);
        }
        Self::from_weights(config.clone(), &mut WeightMap::new(tensors), device)
    }

    fn from_weights(config: ModelConfig, weights: &mut WeightMap, device: &Device) -> Result<Self> {
        let body = match config.architecture {
            Architecture::Llama => Body::Llama(Llama::from_weights(&config, weights, device)?),
            Architecture::Gpt2 => Body::Gpt2(Gpt2::from_weights(&config, weights, device)?),
        };
        Ok(Self {
            config,
            body,
            lora: None,
            full_finetune: false,
            full_vars: Vec::new(),
            training: false,
            dropout: DropoutStream::new(0),
            device: device.clone(),
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits `[b, s, vocab]` for token ids `[b, s]` (u32), appending to `cache` when given.
    ///
    /// Gradients flow to every trainable variable (LoRA factors, or all weights under full
    /// fine-tuning); LoRA dropout is active in training mode only.
    pub fn forward(&self, input_ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let pass = self.tracked_pass();
        let hidden = self.hidden(input_ids, cache, None, &pass)?;
        dense::linear(&hidden, &pass.param(self.lm_head()), None)
    }

    /// Logits `[b, s, vocab]` without gradient tracking or dropout (evaluation).
    pub fn forward_eval(&self, input_ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let pass = Pass::EVAL;
        let hidden = self.hidden(input_ids, cache, None, &pass)?;
        dense::linear(&hidden, &pass.param(self.lm_head()), None)
    }

    /// The summed next-token loss of `input_ids` over the positions `target_mask` selects (as
    /// [`crate::loss::masked_nll_sum`] of [`Model::forward`]'s logits), with the same gradients
    /// and dropout. The logits never enter the autograd graph (see [`loss::head_nll_sum`]).
    pub fn nll_sum(&self, input_ids: &Tensor, target_mask: &Tensor) -> Result<Tensor> {
        let pass = self.tracked_pass();
        let hidden = self.hidden(input_ids, None, None, &pass)?;
        loss::head_nll_sum(&hidden, &pass.param(self.lm_head()), input_ids, target_mask)
    }

    /// [`Model::nll_sum`] without gradient tracking or dropout (evaluation).
    pub fn nll_sum_eval(&self, input_ids: &Tensor, target_mask: &Tensor) -> Result<Tensor> {
        let pass = Pass::EVAL;
        let hidden = self.hidden(input_ids, None, None, &pass)?;
        loss::head_nll_sum(&hidden, &pass.param(self.lm_head()), input_ids, target_mask)
    }

    /// Logits of the last position only, `[b, vocab]`, without gradients (generation).
    pub fn forward_last(&self, input_ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        self.forward_last_padded(input_ids, cache, None)
    }

    /// [`Model::forward_last`] for rows of different lengths, left-padded: `left_pad[r]` pad
    /// tokens open row `r`. Pads get no attention and do not shift positions; pass the same
    /// counts on every call that shares `cache`.
    pub fn forward_last_padded(
        &self,
        input_ids: &Tensor,
        cache: Option<&mut KvCache>,
        left_pad: Option<&[usize]>,
    ) -> Result<Tensor> {
        let pass = Pass::EVAL;
        let hidden = self.hidden(input_ids, cache, left_pad, &pass)?;
        let last = hidden.narrow(1, hidden.dim(1)? - 1, 1)?.squeeze(1)?;
        dense::linear(&last, &pass.param(self.lm_head()), None)
    }

    /// Gradients to every trainable variable; LoRA dropout in training mode only.
    fn tracked_pass(&self) -> Pass<'_> {
        Pass {
            track_grad: self.lora.is_some() || self.full_finetune,
            dropout: self.training.then_some(&self.dropout),
        }
    }

    fn hidden(
        &self,
        input_ids: &Tensor,
        cache: Option<&mut KvCache>,
        left_pad: Option<&[usize]>,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (_, s) = input_ids.dims2()?;
        if s == 0 {
            return Err(Error::InvalidArgument("input_ids has no positions".into()));
        }
        let ids = input_ids.to_dtype(candle_core::DType::U32)?;
        match &self.body {
            Body::Llama(m) => m.forward(&ids, cache, left_pad, pass),
            Body::Gpt2(m) => m.forward(&ids, cache, left_pad, pass),
        }
    }

    fn lm_head(&self) -> &Tensor {
        match &self.body {
            Body::Llama(m) => m.lm_head.as_ref().unwrap_or(&m.embed),
            Body::Gpt2(m) => &m.wte,
        }
    }

    /// Training mode turns LoRA dropout on.
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// Whether the model is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Restarts the dropout stream from `seed`, `position` masks in (see [`Model::dropout_position`]).
    pub fn set_dropout_state(&mut self, seed: u64, position: u64) {
        self.dropout.reset(seed, position);
    }

    /// Number of dropout masks drawn so far, for exact resumption from a checkpoint.
    pub fn dropout_position(&self) -> u64 {
        self.dropout.position()
    }

    fn linears(&self) -> Vec<&Linear> {
        match &self.body {
            Body::Llama(m) => m.linears(),
            Body::Gpt2(m) => m.linears(),
        }
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match &mut self.body {
            Body::Llama(m) => m.linears_mut(),
            Body::Gpt2(m) => m.linears_mut(),
        }
    }

    fn base_params_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        match &mut self.body {
            Body::Llama(m) => m.base_params_mut(),
            Body::Gpt2(m) => m.base_params_mut(),
        }
    }

    /// Adds freshly initialised LoRA factors (PEFT init, seeded) to every targeted layer.
    pub fn attach_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<()> {
        let cfg = self.fit_lora_config(cfg)?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut adapted = 0;
        for linear in self.linears_mut() {
            if cfg.targets(&linear.path) {
                linear.init_lora(&cfg, &mut rng)?;
                adapted += 1;
            }
        }
        self.finish_lora(cfg, adapted)
    }

    /// Loads a PEFT adapter folder onto this model.
    pub fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        let cfg = self.fit_lora_config(&peft::read_config(dir)?)?;
        let mut tensors = peft::read_tensors(dir, &self.device)?;
        let mut adapted = 0;
        for linear in self.linears_mut() {
            if !cfg.targets(&linear.path) {
                continue;
            }
            let mut take = |which| {
                let key = peft::lora_key(&linear.path, which);
                tensors
                    .remove(&key)
                    .ok_or_else(|| Error::Adapter(format!("tensor {key} is missing")))
            };
            let (a, b) = (take('A')?, take('B')?);
            linear.set_lora(&cfg, a, b)?;
            adapted += 1;
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(Error::Adapter(format!(
                "tensor {extra} matches no adapted layer of this model"
            )));
        }
        self.finish_lora(cfg, adapted)
    }

    fn fit_lora_config(&self, cfg: &LoraConfig) -> Result<LoraConfig> {
        cfg.validate()?;
        if self.lora.is_some() {
            return Err(Error::Adapter(
                "the model already has an adapter; merge it first".into(),
            ));
        }
        let mut cfg = cfg.clone();
        cfg.fan_in_fan_out = self.config.architecture == Architecture::Gpt2;
        Ok(cfg)
    }

    fn finish_lora(&mut self, cfg: LoraConfig, adapted: usize) -> Result<()> {
        if adapted == 0 {
            return Err(Error::Adapter(format!(
                "target_modules {:?} match no layer of this {:?} model",
                cfg.target_modules, self.config.architecture
            )));
        }
        self.lora = Some(cfg);
        Ok(())
    }

    /// The attached adapter's configuration.
    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }

    /// The adapter's tensors under their PEFT keys.
    pub fn adapter_tensors(&self) -> HashMap<String, Tensor> {
        let mut tensors = HashMap::new();
        for linear in self.linears() {
            if let Some(lora) = &linear.lora {
                tensors.insert(peft::lora_key(&linear.path, 'A'), lora.a.detach());
                tensors.insert(peft::lora_key(&linear.path, 'B'), lora.b.detach());
            }
        }
        tensors
    }

    /// Saves the attached adapter as a PEFT folder.
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        let cfg = self
            .lora
            .as_ref()
            .ok_or_else(|| Error::Adapter("no adapter is attached".into()))?;
        peft::write(dir, cfg, &self.adapter_tensors())
    }

    /// Folds the adapter into the base weights and removes it (for serving).
    pub fn merge_adapter(&mut self) -> Result<()> {
        for linear in self.linears_mut() {
            linear.merge()?;
        }
        self.lora = None;
        if self.full_finetune {
            self.full_vars = self.collect_full_vars()?;
        }
        Ok(())
    }

    /// Makes every base weight trainable (full fine-tuning) or frozen again.
    pub fn set_full_finetune(&mut self, on: bool) -> Result<()> {
        let device = self.device.clone();
        for (_, t) in self.base_params_mut() {
            *t = if on { new_var(t, &device)? } else { t.detach() };
        }
        self.full_finetune = on;
        self.full_vars = if on {
            self.collect_full_vars()?
        } else {
            Vec::new()
        };
        Ok(())
    }

    fn collect_full_vars(&mut self) -> Result<Vec<(String, Var)>> {
        self.base_params_mut()
            .into_iter()
            .map(|(name, t)| Ok((name, Var::from_tensor(t)?)))
            .collect()
    }

    /// The variables an optimizer updates, with their names: LoRA factors under their PEFT keys,
    /// then, under full fine-tuning, every base weight under its Hugging Face name (GPT-2's Conv1D
    /// weights are held transposed, `[out, in]`).
    pub fn trainable_vars(&self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        for linear in self.linears() {
            if let Some(lora) = &linear.lora {
                vars.push((
                    peft::lora_key(&linear.path, 'A'),
                    Var::from_tensor(&lora.a)?,
                ));
                vars.push((
                    peft::lora_key(&linear.path, 'B'),
                    Var::from_tensor(&lora.b)?,
                ));
            }
        }
        vars.extend(self.full_vars.iter().cloned());
        Ok(vars)
    }

    /// Number of base-model parameters.
    pub fn num_parameters(&mut self) -> usize {
        self.base_params_mut()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }
}
