//! Reading model weights from a Hugging Face folder: one `model.safetensors` or several shards
//! listed in `model.safetensors.index.json`, converted to f32 on the target device.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{read_json, Error, Result};

/// Named tensors taken one by one while a model is assembled.
#[derive(Debug)]
pub(crate) struct WeightMap {
    tensors: HashMap<String, Tensor>,
}

impl WeightMap {
    /// Wraps already loaded tensors.
    pub(crate) fn new(tensors: HashMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    /// Loads every safetensors file of a model folder as f32.
    pub(crate) fn from_dir(dir: &Path, device: &Device) -> Result<Self> {
        let mut tensors = HashMap::new();
        for file in safetensors_files(dir)? {
            let data = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
            for (name, tensor) in candle_core::safetensors::load_buffer(&data, device)? {
                let tensor = match tensor.dtype() {
                    DType::F32 => tensor,
                    _ => tensor.to_dtype(DType::F32)?,
                };
                tensors.insert(name, tensor);
            }
        }
        Ok(Self { tensors })
    }

    /// Removes and returns the tensor `name`, checking its shape.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::Weights(format!("tensor {name:?} is missing")))?;
        if tensor.dims() != shape {
            return Err(Error::Weights(format!(
                "tensor {name:?} has shape {:?}, expected {shape:?}",
                tensor.dims()
            )));
        }
        Ok(tensor)
    }

    /// Whether a tensor with this name is present.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// The safetensors files of a model folder, refusing pickle-only folders.
fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::Missing {
            what: "model folder",
            path: dir.to_path_buf(),
        });
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let value: serde_json::Value = read_json(&index, "model.safetensors.index.json")?;
        let shards: BTreeSet<&str> = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Weights(format!("{} has no weight_map", index.display())))?
            .values()
            .filter_map(|v| v.as_str())
            .collect();
        return shards
            .into_iter()
            .map(|shard| {
                let path = dir.join(shard);
                if path.is_file() && !shard.contains('/') && !shard.contains('\\') {
                    Ok(path)
                } else {
                    Err(Error::Missing {
                        what: "weight shard",
                        path,
                    })
                }
            })
            .collect();
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let pickle = ["pytorch_model.bin", "model.pt", "model.pth"]
        .iter()
        .any(|f| dir.join(f).exists());
    if pickle {
        return Err(Error::Weights(format!(
            "{} holds only pickle weights, which are refused; convert them to safetensors",
            dir.display()
        )));
    }
    Err(Error::Missing {
        what: "model.safetensors",
        path: single,
    })
}
