//! GPT-2: learned positions, LayerNorm, GELU (tanh) MLP. Hugging Face stores its Conv1D weights
//! `[in, out]`; they are transposed on load so every linear layer is `[out, in]`.

use candle_core::{Device, Tensor};

use crate::activation;
use crate::attention;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::heads;
use crate::kv_cache::KvCache;
use crate::lora::{Linear, Pass};
use crate::ops;
use crate::positions::Positions;
use crate::weights::WeightMap;

/// Hugging Face names and shapes of every weight, for random initialisation.
pub(crate) fn weight_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let mut shapes = vec![
        (
            "transformer.wte.weight".to_string(),
            vec![cfg.vocab_size, h],
        ),
        (
            "transformer.wpe.weight".to_string(),
            vec![cfg.max_position_embeddings, h],
        ),
    ];
    for l in 0..cfg.num_layers {
        let p = format!("transformer.h.{l}");
        for (name, inp, out) in [
            ("attn.c_attn", h, 3 * h),
            ("attn.c_proj", h, h),
            ("mlp.c_fc", h, i),
            ("mlp.c_proj", i, h),
        ] {
            shapes.push((format!("{p}.{name}.weight"), vec![inp, out]));
            shapes.push((format!("{p}.{name}.bias"), vec![out]));
        }
        for norm in ["ln_1", "ln_2"] {
            shapes.push((format!("{p}.{norm}.weight"), vec![h]));
            shapes.push((format!("{p}.{norm}.bias"), vec![h]));
        }
    }
    shapes.push(("transformer.ln_f.weight".to_string(), vec![h]));
    shapes.push(("transformer.ln_f.bias".to_string(), vec![h]));
    shapes
}

#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn take(w: &mut WeightMap, prefix: &str, path: &str, h: usize) -> Result<Self> {
        Ok(Self {
            weight: w.take(&format!("{prefix}{path}.weight"), &[h])?,
            bias: w.take(&format!("{prefix}{path}.bias"), &[h])?,
        })
    }

    fn forward(&self, x: &Tensor, eps: f64, pass: &Pass) -> Result<Tensor> {
        ops::layer_norm(x, &pass.param(&self.weight), &pass.param(&self.bias), eps)
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// GPT-2 body: token and position embeddings, blocks, final LayerNorm. `lm_head` is `wte`.
#[derive(Debug, Clone)]
pub(crate) struct Gpt2 {
    pub(crate) wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    num_heads: usize,
    head_dim: usize,
    eps: f64,
}

/// Takes a Conv1D layer (`[in, out]` on disk) and stores it as `[out, in]`.
fn take_conv1d(
    w: &mut WeightMap,
    prefix: &str,
    path: &str,
    inp: usize,
    out: usize,
) -> Result<Linear> {
    let weight = w
        .take(&format!("{prefix}{path}.weight"), &[inp, out])?
        .t()?
        .contiguous()?;
    let bias = w.take(&format!("{prefix}{path}.bias"), &[out])?;
    Ok(Linear::new(
        format!("transformer.{path}"),
        weight,
        Some(bias),
    ))
}

impl Gpt2 {
    pub(crate) fn from_weights(
        cfg: &ModelConfig,
        w: &mut WeightMap,
        _device: &Device,
    ) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        // Original OpenAI checkpoints omit the `transformer.` prefix.
        let prefix = if w.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let wte = w.take(&format!("{prefix}wte.weight"), &[cfg.vocab_size, h])?;
        let wpe = w.take(
            &format!("{prefix}wpe.weight"),
            &[cfg.max_position_embeddings, h],
        )?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("h.{l}");
            blocks.push(Block {
                ln_1: LayerNorm::take(w, prefix, &format!("{p}.ln_1"), h)?,
                c_attn: take_conv1d(w, prefix, &format!("{p}.attn.c_attn"), h, 3 * h)?,
                attn_proj: take_conv1d(w, prefix, &format!("{p}.attn.c_proj"), h, h)?,
                ln_2: LayerNorm::take(w, prefix, &format!("{p}.ln_2"), h)?,
                c_fc: take_conv1d(w, prefix, &format!("{p}.mlp.c_fc"), h, i)?,
                mlp_proj: take_conv1d(w, prefix, &format!("{p}.mlp.c_proj"), i, h)?,
            });
        }
        let ln_f = LayerNorm::take(w, prefix, "ln_f", h)?;
        Ok(Self {
            wte,
            wpe,
            blocks,
            ln_f,
            num_heads: cfg.num_heads,
            head_dim: cfg.head_dim,
            eps: cfg.norm_eps,
        })
    }

    /// Hidden states after the final LayerNorm, `[b, s, hidden]`.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        left_pad: Option<&[usize]>,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let positions = Positions::new((b, s), offset, left_pad, self.wpe.dim(0)?, ids.device())?;
        let hidden = self.wte.dim(1)?;
        let tokens = pass
            .param(&self.wte)
            .embedding(&ids.flatten_all()?)?
            .reshape((b, s, hidden))?;
        let mut x = tokens.broadcast_add(&positions.select(&pass.param(&self.wpe), (b, s))?)?;
        let mask = positions.mask.as_ref();
        for (l, block) in self.blocks.iter().enumerate() {
            let h = block.ln_1.forward(&x, self.eps, pass)?;
            let qkv = block.c_attn.forward(&h, pass)?;
            let split =
                |i: usize| heads::split(&qkv, self.num_heads, self.head_dim, i * hidden, None);
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => cache.append(l, &k, &v)?,
                None => (k, v),
            };
            let attn = heads::merge(&attention::attention(&q, &k, &v, mask)?)?;
            x = (x + block.attn_proj.forward(&attn, pass)?)?;
            let h = block.ln_2.forward(&x, self.eps, pass)?;
            let h = activation::gelu(&block.c_fc.forward(&h, pass)?)?;
            x = (x + block.mlp_proj.forward(&h, pass)?)?;
        }
        if let Some(cache) = cache {
            cache.advance(s);
        }
        self.ln_f.forward(&x, self.eps, pass)
    }

    pub(crate) fn linears(&self) -> Vec<&Linear> {
        self.blocks
            .iter()
            .flat_map(|b| [&b.c_attn, &b.attn_proj, &b.c_fc, &b.mlp_proj])
            .collect()
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.blocks
            .iter_mut()
            .flat_map(|b| {
                [
                    &mut b.c_attn,
                    &mut b.attn_proj,
                    &mut b.c_fc,
                    &mut b.mlp_proj,
                ]
            })
            .collect()
    }

    /// Every base tensor with its Hugging Face name (linear weights are held `[out, in]`).
    pub(crate) fn base_params_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut params = vec![
            ("transformer.wte.weight".to_string(), &mut self.wte),
            ("transformer.wpe.weight".to_string(), &mut self.wpe),
        ];
        for (l, b) in self.blocks.iter_mut().enumerate() {
            let Block {
                ln_1,
                c_attn,
                attn_proj,
                ln_2,
                c_fc,
                mlp_proj,
            } = b;
            for (name, norm) in [("ln_1", ln_1), ("ln_2", ln_2)] {
                params.push((format!("transformer.h.{l}.{name}.weight"), &mut norm.weight));
                params.push((format!("transformer.h.{l}.{name}.bias"), &mut norm.bias));
            }
            for linear in [c_attn, attn_proj, c_fc, mlp_proj] {
                linear.push_params(&mut params);
            }
        }
        params.push(("transformer.ln_f.weight".to_string(), &mut self.ln_f.weight));
        params.push(("transformer.ln_f.bias".to_string(), &mut self.ln_f.bias));
        params
    }
}
