//! Writing a fully fine-tuned model back out as a Hugging Face folder: its weights under their
//! original names and layouts, beside the base model's config and tokenizer files.

use std::collections::HashMap;
use std::path::Path;

use crate::config::Architecture;
use crate::error::{Error, Result};
use crate::model::Model;

/// Files of the base folder copied beside the new weights when present.
const COPIED_FILES: [&str; 4] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
];

/// GPT-2 modules stored as Conv1D (`[in, out]`) in Hugging Face checkpoints.
const GPT2_CONV1D: [&str; 4] = [
    ".attn.c_attn.weight",
    ".attn.c_proj.weight",
    ".mlp.c_fc.weight",
    ".mlp.c_proj.weight",
];

/// Writes `out_dir/model.safetensors` from a model under full fine-tuning, and copies the
/// config and tokenizer files of `base_dir`.
pub fn save_full_model(model: &Model, base_dir: &Path, out_dir: &Path) -> Result<()> {
    if model.lora_config().is_some() {
        return Err(Error::InvalidArgument(
            "the model has a LoRA adapter: save the adapter, or merge it first".into(),
        ));
    }
    let vars = model.trainable_vars()?;
    if vars.is_empty() {
        return Err(Error::InvalidArgument(
            "full fine-tuning is not enabled on this model".into(),
        ));
    }
    let gpt2 = model.config().architecture == Architecture::Gpt2;
    let mut tensors = HashMap::with_capacity(vars.len());
    for (name, var) in vars {
        let tensor = var.as_detached_tensor();
        let tensor = if gpt2 && GPT2_CONV1D.iter().any(|suffix| name.ends_with(suffix)) {
            tensor.t()?.contiguous()?
        } else {
            tensor
        };
        tensors.insert(name, tensor);
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    candle_core::safetensors::save(&tensors, out_dir.join("model.safetensors"))?;
    for file in COPIED_FILES {
        let from = base_dir.join(file);
        if from.is_file() {
            let to = out_dir.join(file);
            std::fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(())
}
