//! Linear layers with an optional LoRA branch (`y = x Wᵀ + b + (dropout(x) Aᵀ Bᵀ) · α/r`),
//! the LoRA hyper-parameters, PEFT initialisation, merging, and the per-pass context that
//! decides whether gradients are tracked and whether dropout is active.

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use crate::activation;
use crate::dense::{self, LowRank};
use crate::error::{Error, Result};

/// LoRA hyper-parameters, named as in PEFT's `LoraConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    /// Scaling numerator: the update is multiplied by `alpha / r` (or `alpha / sqrt(r)` with rsLoRA).
    pub alpha: f64,
    /// Dropout probability on the LoRA branch's input, applied in training mode only.
    pub dropout: f64,
    /// Module names to adapt (`q_proj`, `v_proj`, `c_attn`, ...; `all-linear` for every projection).
    pub target_modules: Vec<String>,
    /// Whether the base weights are stored `[in, out]` (GPT-2's Conv1D). Set from the model.
    pub fan_in_fan_out: bool,
    /// rsLoRA scaling `alpha / sqrt(r)`.
    pub use_rslora: bool,
}

impl LoraConfig {
    /// A configuration with rank `r`, scaling `alpha`, no dropout, adapting `targets`.
    pub fn new(r: usize, alpha: f64, targets: &[&str]) -> Self {
        Self {
            r,
            alpha,
            dropout: 0.0,
            target_modules: targets.iter().map(|t| (*t).to_string()).collect(),
            fan_in_fan_out: false,
            use_rslora: false,
        }
    }

    /// The factor applied to the LoRA product.
    pub fn scale(&self) -> f64 {
        let r = self.r as f64;
        if self.use_rslora {
            self.alpha / r.sqrt()
        } else {
            self.alpha / r
        }
    }

    /// Whether the module at `path` (e.g. `model.layers.0.self_attn.q_proj`) is adapted.
    pub fn targets(&self, path: &str) -> bool {
        self.target_modules.iter().any(|t| {
            t == "all-linear"
                || path == t
                || path
                    .strip_suffix(t.as_str())
                    .is_some_and(|p| p.ends_with('.'))
        })
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            return Err(Error::Adapter("LoRA rank r must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Adapter(format!(
                "lora_dropout {} is not in [0, 1)",
                self.dropout
            )));
        }
        if self.target_modules.is_empty() {
            return Err(Error::Adapter("target_modules is empty".into()));
        }
        Ok(())
    }
}

/// The low-rank factors of one adapted layer: `a` is `[r, in]`, `b` is `[out, r]`, both variables.
#[derive(Debug, Clone)]
pub(crate) struct LoraFactors {
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
    scale: f64,
    dropout: f64,
}

/// A linear layer stored as `[out, in]`, with an optional LoRA branch.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    /// Module path in Hugging Face naming, e.g. `model.layers.0.self_attn.q_proj`.
    pub(crate) path: String,
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraFactors>,
}

impl Linear {
    /// A layer without LoRA.
    pub(crate) fn new(path: String, weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            path,
            weight,
            bias,
            lora: None,
        }
    }

    /// Appends the base weight and bias under their Hugging Face names.
    pub(crate) fn push_params<'a>(&'a mut self, out: &mut Vec<(String, &'a mut Tensor)>) {
        out.push((format!("{}.weight", self.path), &mut self.weight));
        if let Some(bias) = self.bias.as_mut() {
            out.push((format!("{}.bias", self.path), bias));
        }
    }

    /// `[out, in]`.
    fn dims(&self) -> Result<(usize, usize)> {
        Ok(self.weight.dims2()?)
    }

    /// Applies the layer.
    pub(crate) fn forward(&self, x: &Tensor, pass: &Pass) -> Result<Tensor> {
        let weight = pass.param(&self.weight);
        let bias = self.bias.as_ref().map(|b| pass.param(b));
        let Some(lora) = &self.lora else {
            return dense::linear(x, &weight, bias.as_ref());
        };
        let dropped = pass.dropout(x, lora.dropout)?;
        let (a, b) = (pass.param(&lora.a), pass.param(&lora.b));
        let branch = LowRank {
            input: dropped.as_ref(),
            a: &a,
            b: &b,
            scale: lora.scale,
        };
        dense::lora_linear(x, &weight, bias.as_ref(), &branch)
    }

    /// Attaches freshly initialised factors as PEFT does: A kaiming-uniform (a = √5), B zeros.
    pub(crate) fn init_lora(
        &mut self,
        cfg: &LoraConfig,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<()> {
        let (out, inp) = self.dims()?;
        let bound = 1.0 / (inp as f32).sqrt();
        let a: Vec<f32> = (0..cfg.r * inp)
            .map(|_| rng.gen_range(-bound..bound))
            .collect();
        let device = self.weight.device();
        let a = Tensor::from_vec(a, (cfg.r, inp), device)?;
        let b = Tensor::zeros((out, cfg.r), candle_core::DType::F32, device)?;
        self.set_lora(cfg, a, b)
    }

    /// Attaches given factors (copied into new variables), checking their shapes.
    pub(crate) fn set_lora(&mut self, cfg: &LoraConfig, a: Tensor, b: Tensor) -> Result<()> {
        let (out, inp) = self.dims()?;
        if a.dims() != [cfg.r, inp] || b.dims() != [out, cfg.r] {
            return Err(Error::Adapter(format!(
                "{}: lora_A {:?} / lora_B {:?} do not fit a [{out}, {inp}] layer with r={}",
                self.path,
                a.dims(),
                b.dims(),
                cfg.r
            )));
        }
        let device = self.weight.device();
        self.lora = Some(LoraFactors {
            a: new_var(&a, device)?,
            b: new_var(&b, device)?,
            scale: cfg.scale(),
            dropout: cfg.dropout,
        });
        Ok(())
    }

    /// Folds the LoRA update into the weight (`W += scale · B A`) and drops the branch.
    pub(crate) fn merge(&mut self) -> Result<()> {
        if let Some(lora) = self.lora.take() {
            let delta = (lora.b.detach().matmul(&lora.a.detach())? * lora.scale)?;
            let merged = (self.weight.detach() + delta)?;
            self.weight = if self.weight.is_variable() {
                new_var(&merged, merged.device())?
            } else {
                merged
            };
        }
        Ok(())
    }
}

/// A Llama MLP's `silu(gate(x)) ⊙ up(x)`: one fused op when neither layer has a LoRA branch.
pub(crate) fn swiglu_mlp(gate: &Linear, up: &Linear, x: &Tensor, pass: &Pass) -> Result<Tensor> {
    if gate.lora.is_some() || up.lora.is_some() {
        return activation::swiglu(&gate.forward(x, pass)?, &up.forward(x, pass)?);
    }
    let params = |layer: &Linear| {
        (
            pass.param(&layer.weight),
            layer.bias.as_ref().map(|b| pass.param(b)),
        )
    };
    let ((gw, gb), (uw, ub)) = (params(gate), params(up));
    dense::swiglu_pair(x, (&gw, gb.as_ref()), (&uw, ub.as_ref()))
}

/// A new variable holding a copy of `t`, returned as its (variable) tensor.
pub(crate) fn new_var(t: &Tensor, device: &Device) -> Result<Tensor> {
    let copy = t.detach().to_device(device)?.contiguous()?.copy()?;
    Ok(Var::from_tensor(&copy)?.as_tensor().clone())
}

/// Seeded dropout masks: each call draws from a generator keyed by (seed, call number), so the
/// stream can be saved as one counter and resumed exactly.
#[derive(Debug)]
pub(crate) struct DropoutStream {
    seed: u64,
    calls: AtomicU64,
}

impl DropoutStream {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            calls: AtomicU64::new(0),
        }
    }

    /// Number of masks drawn so far.
    pub(crate) fn position(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Restarts the stream from `seed` at `position`.
    pub(crate) fn reset(&mut self, seed: u64, position: u64) {
        self.seed = seed;
        self.calls = AtomicU64::new(position);
    }

    fn apply(&self, x: &Tensor, p: f64) -> Result<Tensor> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(self.seed ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.gen::<f64>() < keep { scale } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
        Ok((x * mask)?)
    }
}

/// How one forward pass runs: whether gradients are tracked, and the dropout stream when training.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    pub(crate) track_grad: bool,
    pub(crate) dropout: Option<&'a DropoutStream>,
}

impl Pass<'_> {
    /// No gradients, no dropout: evaluation and generation.
    pub(crate) const EVAL: Pass<'static> = Pass {
        track_grad: false,
        dropout: None,
    };

    /// The parameter as used in this pass: detached when gradients are not tracked.
    pub(crate) fn param(&self, t: &Tensor) -> Tensor {
        if self.track_grad {
            t.clone()
        } else {
            t.detach()
        }
    }

    /// `x` under dropout with probability `p`, when dropout is active in this pass.
    fn dropout(&self, x: &Tensor, p: f64) -> Result<Option<Tensor>> {
        match self.dropout {
            Some(stream) if p > 0.0 => stream.apply(x, p).map(Some),
            _ => Ok(None),
        }
    }
}
