//! The Llama family (SmolLM2, TinyLlama, Llama 2/3, Mistral without sliding window): RMSNorm,
//! RoPE, grouped-query attention, SiLU-gated MLP.

use candle_core::{Device, Tensor};

use crate::attention;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::heads::{self, Rotary};
use crate::kv_cache::KvCache;
use crate::lora::{self, Linear, Pass};
use crate::ops;
use crate::positions::Positions;
use crate::weights::WeightMap;

/// Hugging Face names and shapes of every weight, for random initialisation.
pub(crate) fn weight_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let (q, kv) = (
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
    );
    let mut shapes = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    )];
    for l in 0..cfg.num_layers {
        let p = format!("model.layers.{l}");
        let mut linear = |name: &str, out: usize, inp: usize, bias: bool| {
            shapes.push((format!("{p}.{name}.weight"), vec![out, inp]));
            if bias {
                shapes.push((format!("{p}.{name}.bias"), vec![out]));
            }
        };
        linear("self_attn.q_proj", q, h, cfg.attention_bias);
        linear("self_attn.k_proj", kv, h, cfg.attention_bias);
        linear("self_attn.v_proj", kv, h, cfg.attention_bias);
        linear("self_attn.o_proj", h, q, cfg.attention_bias);
        linear("mlp.gate_proj", i, h, cfg.mlp_bias);
        linear("mlp.up_proj", i, h, cfg.mlp_bias);
        linear("mlp.down_proj", h, i, cfg.mlp_bias);
        shapes.push((format!("{p}.input_layernorm.weight"), vec![h]));
        shapes.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
    }
    shapes.push(("model.norm.weight".to_string(), vec![h]));
    if !cfg.tie_word_embeddings {
        shapes.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h]));
    }
    shapes
}

#[derive(Debug, Clone)]
struct Block {
    input_norm: Tensor,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_norm: Tensor,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Block {
    fn linears(&self) -> [&Linear; 7] {
        [
            &self.q_proj,
            &self.k_proj,
            &self.v_proj,
            &self.o_proj,
            &self.gate_proj,
            &self.up_proj,
            &self.down_proj,
        ]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        let Self {
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            gate_proj,
            up_proj,
            down_proj,
            ..
        } = self;
        [
            q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj,
        ]
    }
}

/// Llama decoder body: embedding, blocks, final norm (the `lm_head` lives in the model).
#[derive(Debug, Clone)]
pub(crate) struct Llama {
    pub(crate) embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    pub(crate) lm_head: Option<Tensor>,
    cos: Tensor,
    sin: Tensor,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    eps: f64,
}

fn take_linear(
    w: &mut WeightMap,
    path: String,
    out: usize,
    inp: usize,
    bias: bool,
) -> Result<Linear> {
    let weight = w.take(&format!("{path}.weight"), &[out, inp])?;
    let bias = if bias {
        Some(w.take(&format!("{path}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(path, weight, bias))
}

impl Llama {
    pub(crate) fn from_weights(
        cfg: &ModelConfig,
        w: &mut WeightMap,
        device: &Device,
    ) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (q, kv) = (
            cfg.num_heads * cfg.head_dim,
            cfg.num_kv_heads * cfg.head_dim,
        );
        let embed = w.take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            let (ab, mb) = (cfg.attention_bias, cfg.mlp_bias);
            blocks.push(Block {
                input_norm: w.take(&format!("{p}.input_layernorm.weight"), &[h])?,
                q_proj: take_linear(w, format!("{p}.self_attn.q_proj"), q, h, ab)?,
                k_proj: take_linear(w, format!("{p}.self_attn.k_proj"), kv, h, ab)?,
                v_proj: take_linear(w, format!("{p}.self_attn.v_proj"), kv, h, ab)?,
                o_proj: take_linear(w, format!("{p}.self_attn.o_proj"), h, q, ab)?,
                post_norm: w.take(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                gate_proj: take_linear(w, format!("{p}.mlp.gate_proj"), i, h, mb)?,
                up_proj: take_linear(w, format!("{p}.mlp.up_proj"), i, h, mb)?,
                down_proj: take_linear(w, format!("{p}.mlp.down_proj"), h, i, mb)?,
            });
        }
        let norm = w.take("model.norm.weight", &[h])?;
        let lm_head = if cfg.tie_word_embeddings && !w.contains("lm_head.weight") {
            None
        } else {
            Some(w.take("lm_head.weight", &[cfg.vocab_size, h])?)
        };
        let (cos, sin) = rope_tables(cfg, device)?;
        Ok(Self {
            embed,
            blocks,
            norm,
            lm_head,
            cos,
            sin,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            eps: cfg.norm_eps,
        })
    }

    /// Hidden states after the final norm, `[b, s, hidden]`.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        left_pad: Option<&[usize]>,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let positions = Positions::new((b, s), offset, left_pad, self.cos.dim(0)?, ids.device())?;
        let cos = positions.select(&self.cos, (b, s))?;
        let sin = positions.select(&self.sin, (b, s))?;
        let mask = positions.mask.as_ref();
        let mut x = pass
            .param(&self.embed)
            .embedding(&ids.flatten_all()?)?
            .reshape((b, s, ()))?;
        for (l, block) in self.blocks.iter().enumerate() {
            let h = ops::rms_norm(&x, &pass.param(&block.input_norm), self.eps)?;
            let rotary = Some(Rotary {
                cos: &cos,
                sin: &sin,
            });
            let (heads, kv_heads, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
            let q = heads::split(&block.q_proj.forward(&h, pass)?, heads, d, 0, rotary)?;
            let k = heads::split(&block.k_proj.forward(&h, pass)?, kv_heads, d, 0, rotary)?;
            let v = heads::split(&block.v_proj.forward(&h, pass)?, kv_heads, d, 0, None)?;
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => cache.append(l, &k, &v)?,
                None => (k, v),
            };
            let attn = heads::merge(&attention::attention(&q, &k, &v, mask)?)?;
            x = (x + block.o_proj.forward(&attn, pass)?)?;
            let h = ops::rms_norm(&x, &pass.param(&block.post_norm), self.eps)?;
            let gated = lora::swiglu_mlp(&block.gate_proj, &block.up_proj, &h, pass)?;
            x = (x + block.down_proj.forward(&gated, pass)?)?;
        }
        if let Some(cache) = cache {
            cache.advance(s);
        }
        ops::rms_norm(&x, &pass.param(&self.norm), self.eps)
    }

    pub(crate) fn linears(&self) -> Vec<&Linear> {
        self.blocks.iter().flat_map(Block::linears).collect()
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.blocks
            .iter_mut()
            .flat_map(Block::linears_mut)
            .collect()
    }

    /// Every base tensor with its Hugging Face name.
    pub(crate) fn base_params_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut params = vec![("model.embed_tokens.weight".to_string(), &mut self.embed)];
        for (l, b) in self.blocks.iter_mut().enumerate() {
            let Block {
                input_norm,
                post_norm,
                q_proj,
                k_proj,
                v_proj,
                o_proj,
                gate_proj,
                up_proj,
                down_proj,
            } = b;
            params.push((
                format!("model.layers.{l}.input_layernorm.weight"),
                input_norm,
            ));
            params.push((
                format!("model.layers.{l}.post_attention_layernorm.weight"),
                post_norm,
            ));
            for linear in [
                q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj,
            ] {
                linear.push_params(&mut params);
            }
        }
        params.push(("model.norm.weight".to_string(), &mut self.norm));
        if let Some(head) = self.lm_head.as_mut() {
            params.push(("lm_head.weight".to_string(), head));
        }
        params
    }
}

/// cos/sin tables `[max_positions, head_dim / 2]`, computed in f32 as transformers does.
fn rope_tables(cfg: &ModelConfig, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = cfg.head_dim / 2;
    let theta = cfg.rope_theta as f32;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / theta.powf((2 * i) as f32 / cfg.head_dim as f32))
        .map(|f| match &cfg.rope_scaling {
            Some(scaling) => scaling.apply(f64::from(f)) as f32,
            None => f,
        })
        .collect();
    let positions = cfg.max_position_embeddings;
    let angles: Vec<f32> = (0..positions)
        .flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f))
        .collect();
    let angles = Tensor::from_vec(angles, (positions, half), device)?;
    Ok((angles.cos()?, angles.sin()?))
}
