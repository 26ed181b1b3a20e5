//! Model configuration: what a Hugging Face `config.json` says about a Llama- or GPT-2-family
//! model, normalised into one [`ModelConfig`], plus the reference shapes used by benchmarks.

use std::path::Path;

use serde_json::Value;

use crate::error::{read_json, Error, Result};

/// The model families the engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama family: GQA, RoPE, RMSNorm, SiLU-gated MLP (also SmolLM2, TinyLlama, Mistral-style).
    Llama,
    /// GPT-2: learned positions, LayerNorm, GELU MLP, Conv1D weights stored transposed.
    Gpt2,
}

/// How RoPE frequencies are rescaled for contexts longer than pre-training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "rope_type")]
pub enum RopeScaling {
    /// Positions divided by `factor` (every frequency divided by it).
    Linear {
        /// Scaling factor.
        factor: f64,
    },
    /// Llama 3.1's band-wise scaling: low frequencies divided by `factor`, high ones kept,
    /// a smooth blend between.
    Llama3 {
        /// Scaling factor of the low frequencies.
        factor: f64,
        /// Wavelength band edges, as fractions of the original context.
        low_freq_factor: f64,
        /// See `low_freq_factor`.
        high_freq_factor: f64,
        /// Context length of pre-training.
        original_max_position_embeddings: f64,
    },
}

impl RopeScaling {
    /// Reads `rope_parameters` / `rope_scaling`; `None` for default RoPE.
    fn from_json(v: Option<&Value>) -> Result<Option<Self>> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let kind = v
            .get("rope_type")
            .or_else(|| v.get("type"))
            .and_then(Value::as_str);
        let num = |key: &str| {
            v.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| Error::Config(format!("RoPE scaling lacks {key:?}")))
        };
        match kind {
            None | Some("default") => Ok(None),
            Some("linear") => Ok(Some(Self::Linear {
                factor: num("factor")?,
            })),
            Some("llama3") => Ok(Some(Self::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            })),
            Some(other) => Err(Error::Config(format!(
                "rope_type {other:?} (supported: default, linear, llama3)"
            ))),
        }
    }

    /// Rescales one inverse frequency, as transformers' `_compute_*_parameters` do.
    pub(crate) fn apply(&self, inv_freq: f64) -> f64 {
        match *self {
            Self::Linear { factor } => inv_freq / factor,
            Self::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let low_freq_wavelen = original_max_position_embeddings / low_freq_factor;
                let high_freq_wavelen = original_max_position_embeddings / high_freq_factor;
                let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
                if wavelen < high_freq_wavelen {
                    inv_freq
                } else if wavelen > low_freq_wavelen {
                    inv_freq / factor
                } else {
                    let smooth = (original_max_position_embeddings / wavelen - low_freq_factor)
                        / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
                }
            }
        }
    }
}

/// Normalised model hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Number of query heads.
    pub num_heads: usize,
    /// Number of key/value heads (GQA); equals `num_heads` for GPT-2.
    pub num_kv_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// Longest sequence the model supports (GPT-2's learned positions end there).
    pub max_position_embeddings: usize,
    /// RoPE base frequency (Llama only).
    pub rope_theta: f64,
    /// RoPE frequency scaling for long contexts (Llama only).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Epsilon of RMSNorm / LayerNorm.
    pub norm_eps: f64,
    /// Whether `lm_head` shares the token embedding.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v/o projections carry a bias (Llama family).
    pub attention_bias: bool,
    /// Whether MLP projections carry a bias (Llama family).
    pub mlp_bias: bool,
    /// End-of-sequence token ids declared by the config.
    pub eos_token_ids: Vec<u32>,
}

impl ModelConfig {
    /// Reads `config.json` from a Hugging Face model folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let value: Value = read_json(&dir.join("config.json"), "config.json")?;
        Self::from_hf_json(&value)
    }

    /// Parses the JSON of a Hugging Face `config.json`.
    pub fn from_hf_json(v: &Value) -> Result<Self> {
        let model_type = v
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let config = match model_type {
            "gpt2" => Self::gpt2_from_json(v)?,
            "llama" | "mistral" => Self::llama_from_json(v)?,
            other => {
                return Err(Error::Config(format!(
                    "model_type {other:?} (supported: llama, mistral, gpt2)"
                )))
            }
        };
        config.validate()?;
        Ok(config)
    }

    fn llama_from_json(v: &Value) -> Result<Self> {
        if let Some(window) = v.get("sliding_window").and_then(Value::as_u64) {
            let max = v
                .get("max_position_embeddings")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if window < max {
                return Err(Error::Config(format!(
                    "sliding window attention ({window})"
                )));
            }
        }
        let rope_scaling = match v.get("rope_scaling").filter(|r| !r.is_null()) {
            Some(scaling) => RopeScaling::from_json(Some(scaling))?,
            None => RopeScaling::from_json(v.get("rope_parameters"))?,
        };
        let hidden_size = usize_field(v, "hidden_size")?;
        let num_heads = usize_field(v, "num_attention_heads")?;
        let rope_theta = v
            .get("rope_theta")
            .or_else(|| v.get("rope_parameters").and_then(|r| r.get("rope_theta")))
            .and_then(Value::as_f64)
            .unwrap_or(10_000.0);
        Ok(Self {
            architecture: Architecture::Llama,
            vocab_size: usize_field(v, "vocab_size")?,
            hidden_size,
            intermediate_size: usize_field(v, "intermediate_size")?,
            num_layers: usize_field(v, "num_hidden_layers")?,
            num_heads,
            num_kv_heads: opt_usize(v, "num_key_value_heads").unwrap_or(num_heads),
            head_dim: opt_usize(v, "head_dim").unwrap_or(hidden_size / num_heads.max(1)),
            max_position_embeddings: opt_usize(v, "max_position_embeddings").unwrap_or(2048),
            rope_theta,
            rope_scaling,
            norm_eps: v
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            tie_word_embeddings: bool_field(v, "tie_word_embeddings", false),
            attention_bias: bool_field(v, "attention_bias", false),
            mlp_bias: bool_field(v, "mlp_bias", false),
            eos_token_ids: token_ids(v.get("eos_token_id")),
        })
    }

    fn gpt2_from_json(v: &Value) -> Result<Self> {
        let activation = v
            .get("activation_function")
            .and_then(Value::as_str)
            .unwrap_or("gelu_new");
        if !matches!(activation, "gelu_new" | "gelu_pytorch_tanh") {
            return Err(Error::Config(format!(
                "GPT-2 activation {activation:?} (only gelu_new)"
            )));
        }
        if bool_field(v, "scale_attn_by_inverse_layer_idx", false) {
            return Err(Error::Config("scale_attn_by_inverse_layer_idx".into()));
        }
        let hidden_size = usize_field(v, "n_embd")?;
        let num_heads = usize_field(v, "n_head")?;
        Ok(Self {
            architecture: Architecture::Gpt2,
            vocab_size: usize_field(v, "vocab_size")?,
            hidden_size,
            intermediate_size: opt_usize(v, "n_inner").unwrap_or(4 * hidden_size),
            num_layers: usize_field(v, "n_layer")?,
            num_heads,
            num_kv_heads: num_heads,
            head_dim: hidden_size / num_heads.max(1),
            max_position_embeddings: usize_field(v, "n_positions")?,
            rope_theta: 0.0,
            rope_scaling: None,
            norm_eps: v
                .get("layer_norm_epsilon")
                .and_then(Value::as_f64)
                .unwrap_or(1e-5),
            tie_word_embeddings: bool_field(v, "tie_word_embeddings", true),
            attention_bias: true,
            mlp_bias: true,
            eos_token_ids: token_ids(v.get("eos_token_id")),
        })
    }

    /// Checks that the dimensions fit together.
    pub fn validate(&self) -> Result<()> {
        let dims = [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_layers,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
        ];
        if dims.contains(&0) {
            return Err(Error::Config("a dimension is zero".into()));
        }
        if self.num_heads % self.num_kv_heads != 0 {
            return Err(Error::Config(format!(
                "{} attention heads is not a multiple of {} key/value heads",
                self.num_heads, self.num_kv_heads
            )));
        }
        if self.architecture == Architecture::Llama && self.head_dim % 2 != 0 {
            return Err(Error::Config("RoPE needs an even head_dim".into()));
        }
        if self.architecture == Architecture::Gpt2
            && self.num_heads * self.head_dim != self.hidden_size
        {
            return Err(Error::Config("n_embd is not a multiple of n_head".into()));
        }
        Ok(())
    }

    /// The shape of SmolLM2-135M (random weights for benchmarks).
    pub fn smollm2_135m() -> Self {
        Self {
            architecture: Architecture::Llama,
            vocab_size: 49_152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_layers: 30,
            num_heads: 9,
            num_kv_heads: 3,
            head_dim: 64,
            max_position_embeddings: 8192,
            rope_theta: 100_000.0,
            rope_scaling: None,
            norm_eps: 1e-5,
            tie_word_embeddings: true,
            attention_bias: false,
            mlp_bias: false,
            eos_token_ids: vec![0],
        }
    }

    /// The shape of GPT-2 small, 124M parameters (random weights for benchmarks).
    pub fn gpt2_small() -> Self {
        Self {
            architecture: Architecture::Gpt2,
            vocab_size: 50_257,
            hidden_size: 768,
            intermediate_size: 3072,
            num_layers: 12,
            num_heads: 12,
            num_kv_heads: 12,
            head_dim: 64,
            max_position_embeddings: 1024,
            rope_theta: 0.0,
            rope_scaling: None,
            norm_eps: 1e-5,
            tie_word_embeddings: true,
            attention_bias: true,
            mlp_bias: true,
            eos_token_ids: vec![50_256],
        }
    }
}

fn opt_usize(v: &Value, key: &str) -> Option<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn usize_field(v: &Value, key: &str) -> Result<usize> {
    opt_usize(v, key)
        .ok_or_else(|| Error::Config(format!("config.json lacks integer field {key:?}")))
}

fn bool_field(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// Reads a token id field that may be a number, a list of numbers or null.
pub(crate) fn token_ids(v: Option<&Value>) -> Vec<u32> {
    let as_id = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok());
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(as_id).collect(),
        Some(x) => as_id(x).into_iter().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_theta_is_read_at_top_level_and_under_rope_parameters() {
        let base = serde_json::json!({"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2});
        let mut top = base.clone();
        top["rope_theta"] = 500.0.into();
        assert_eq!(ModelConfig::from_hf_json(&top).unwrap().rope_theta, 500.0);
        let mut nested = base;
        nested["rope_parameters"] = serde_json::json!({"rope_theta": 7.0, "rope_type": "default"});
        let cfg = ModelConfig::from_hf_json(&nested).unwrap();
        assert_eq!(cfg.rope_theta, 7.0);
        assert_eq!(cfg.head_dim, 4);
        assert_eq!(cfg.num_kv_heads, 2);
    }

    #[test]
    fn llama3_rope_scaling_is_parsed_and_applied_by_band() {
        let v = serde_json::json!({"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}});
        let scaling = ModelConfig::from_hf_json(&v).unwrap().rope_scaling.unwrap();
        assert_eq!(scaling.apply(1.0), 1.0);
        assert_eq!(scaling.apply(1e-5), 1e-5 / 8.0);
        let mid = scaling.apply(2.0 * std::f64::consts::PI / 4096.0);
        assert!(
            mid < 2.0 * std::f64::consts::PI / 4096.0
                && mid > 2.0 * std::f64::consts::PI / 4096.0 / 8.0
        );
        let mut yarn = v.clone();
        yarn["rope_scaling"] = serde_json::json!({"rope_type": "yarn", "factor": 4.0});
        assert!(ModelConfig::from_hf_json(&yarn).is_err());
    }

    #[test]
    fn unknown_model_type_is_refused() {
        let err =
            ModelConfig::from_hf_json(&serde_json::json!({"model_type": "bert"})).unwrap_err();
        assert!(err.to_string().contains("bert"));
    }
}
