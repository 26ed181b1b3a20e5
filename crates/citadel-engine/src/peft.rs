//! The PEFT adapter format on disk: `adapter_config.json` and `adapter_model.safetensors` with
//! keys like `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use crate::error::{read_json, Error, Result};
use crate::lora::LoraConfig;

/// File holding the adapter's hyper-parameters.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File holding the adapter's tensors.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// The PEFT key of a LoRA factor (`which` is `A` or `B`) for the module at `path`.
pub(crate) fn lora_key(path: &str, which: char) -> String {
    format!("base_model.model.{path}.lora_{which}.weight")
}

/// Reads and checks `adapter_config.json`, refusing PEFT features the engine does not implement.
pub(crate) fn read_config(dir: &Path) -> Result<LoraConfig> {
    if !dir.is_dir() {
        return Err(Error::Missing {
            what: "adapter folder",
            path: dir.to_path_buf(),
        });
    }
    let v: Value = read_json(&dir.join(ADAPTER_CONFIG), ADAPTER_CONFIG)?;
    let peft_type = v.get("peft_type").and_then(Value::as_str).unwrap_or("LORA");
    if peft_type != "LORA" {
        return Err(Error::Adapter(format!(
            "peft_type {peft_type:?} (only LORA)"
        )));
    }
    let refuse_if = |cond: bool, what: &str| {
        if cond {
            Err(Error::Adapter(format!("{what} is not supported")))
        } else {
            Ok(())
        }
    };
    let is_set = |key: &str| match v.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    refuse_if(is_set("use_dora"), "DoRA (use_dora)")?;
    refuse_if(
        is_set("rank_pattern") || is_set("alpha_pattern"),
        "rank_pattern / alpha_pattern",
    )?;
    refuse_if(is_set("modules_to_save"), "modules_to_save")?;
    refuse_if(is_set("layers_to_transform"), "layers_to_transform")?;
    refuse_if(
        v.get("bias")
            .and_then(Value::as_str)
            .is_some_and(|b| b != "none"),
        "bias training",
    )?;
    let target_modules = match v.get("target_modules") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if s == "all-linear" => vec![s.clone()],
        Some(Value::String(s)) => {
            return Err(Error::Adapter(format!(
                "regular-expression target_modules {s:?} are not supported"
            )))
        }
        _ => Vec::new(),
    };
    let r = v.get("r").and_then(Value::as_u64).unwrap_or(8);
    let cfg = LoraConfig {
        r: usize::try_from(r).map_err(|_| Error::Adapter(format!("rank {r} is too large")))?,
        alpha: v.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0),
        dropout: v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
        target_modules,
        fan_in_fan_out: v
            .get("fan_in_fan_out")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        use_rslora: v
            .get("use_rslora")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// Reads `adapter_model.safetensors` as f32, with PEFT's optional adapter name (`.default`) removed.
pub(crate) fn read_tensors(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let path = dir.join(ADAPTER_WEIGHTS);
    if !path.is_file() {
        return Err(Error::Missing {
            what: ADAPTER_WEIGHTS,
            path,
        });
    }
    let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    candle_core::safetensors::load_buffer(&data, device)?
        .into_iter()
        .map(|(key, t)| {
            Ok((
                key.replace(".default.weight", ".weight"),
                t.to_dtype(DType::F32)?,
            ))
        })
        .collect()
}

/// Writes an adapter folder that Python PEFT loads with `PeftModel.from_pretrained`.
pub(crate) fn write(dir: &Path, cfg: &LoraConfig, tensors: &HashMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": cfg.r,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": cfg.target_modules,
        "fan_in_fan_out": cfg.fan_in_fan_out,
        "use_rslora": cfg.use_rslora,
        "use_dora": false,
        "bias": "none",
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "base_model_name_or_path": null,
        "revision": null,
    });
    let text = serde_json::to_string_pretty(&config).map_err(|source| Error::Json {
        path: dir.join(ADAPTER_CONFIG),
        source,
    })?;
    write_atomically(&dir.join(ADAPTER_CONFIG), |tmp| {
        std::fs::write(tmp, text.as_bytes()).map_err(|e| Error::io(tmp, e))
    })?;
    write_atomically(&dir.join(ADAPTER_WEIGHTS), |tmp| {
        Ok(candle_core::safetensors::save(tensors, tmp)?)
    })
}

/// Writes `path` through a temporary sibling renamed into place, so a crash leaves no half file.
fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("partial");
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
