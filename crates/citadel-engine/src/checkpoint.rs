//! Training checkpoints that resume exactly: trainable weights, AdamW moments and step count
//! (which fixes the schedule), the data position and the dropout stream, in one folder:
//! `trainable.safetensors`, `optimizer.safetensors` and `state.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use crate::data::{Batcher, DataPosition};
use crate::error::{read_json, Error, Result};
use crate::optim::Moments;
use crate::trainer::{TrainConfig, Trainer};

const TRAINABLE_FILE: &str = "trainable.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.json";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct State {
    steps_taken: u64,
    data_position: DataPosition,
    dropout_position: u64,
    config: TrainConfig,
}

/// Writes a checkpoint of `trainer` and `batcher` to `dir`, replacing any earlier one whole:
/// it is written beside `dir` first and renamed into place.
pub fn save_checkpoint(dir: &Path, trainer: &Trainer, batcher: &Batcher) -> Result<()> {
    let staging = dir.with_extension("partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let optimizer = trainer.optimizer();
    let mut trainable = HashMap::new();
    let mut moments = HashMap::new();
    for ((name, var), m) in optimizer.params().iter().zip(optimizer.moments()) {
        trainable.insert(name.clone(), var.as_detached_tensor());
        moments.insert(format!("{name}.exp_avg"), m.exp_avg.clone());
        moments.insert(format!("{name}.exp_avg_sq"), m.exp_avg_sq.clone());
    }
    candle_core::safetensors::save(&trainable, staging.join(TRAINABLE_FILE))?;
    candle_core::safetensors::save(&moments, staging.join(OPTIMIZER_FILE))?;
    let state = State {
        steps_taken: optimizer.steps_taken(),
        data_position: batcher.position(),
        dropout_position: trainer.model().dropout_position(),
        config: trainer.config().clone(),
    };
    let state_path = staging.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(&state).map_err(|source| Error::Json {
        path: state_path.clone(),
        source,
    })?;
    std::fs::write(&state_path, json).map_err(|e| Error::io(&state_path, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))
}

/// Restores a checkpoint written by [`save_checkpoint`] into a trainer built with the same
/// model, adapter layout and configuration, and moves `batcher` to the saved position.
pub fn load_checkpoint(dir: &Path, trainer: &mut Trainer, batcher: &mut Batcher) -> Result<()> {
    let state: State = read_json(&dir.join(STATE_FILE), "checkpoint state.json")?;
    if &state.config != trainer.config() {
        return Err(Error::Checkpoint(format!(
            "{} was written with other training settings; resume with the same ones",
            dir.display()
        )));
    }
    let device = trainer.model().device().clone();
    let trainable = load_tensors(&dir.join(TRAINABLE_FILE), &device)?;
    let mut moments_file = load_tensors(&dir.join(OPTIMIZER_FILE), &device)?;
    let mut moments = Vec::new();
    for (name, var) in trainer.optimizer().params() {
        let saved = trainable
            .get(name)
            .ok_or_else(|| Error::Checkpoint(format!("the checkpoint lacks {name}")))?;
        if saved.dims() != var.dims() {
            return Err(Error::Checkpoint(format!(
                "{name} has shape {:?} in the checkpoint, {:?} in the model",
                saved.dims(),
                var.dims()
            )));
        }
        var.set(saved)?;
        let mut take = |suffix: &str| {
            moments_file
                .remove(&format!("{name}.{suffix}"))
                .ok_or_else(|| Error::Checkpoint(format!("the checkpoint lacks {name}.{suffix}")))
        };
        moments.push(Moments {
            exp_avg: take("exp_avg")?,
            exp_avg_sq: take("exp_avg_sq")?,
        });
    }
    trainer
        .optimizer_mut()
        .restore(moments, state.steps_taken)?;
    let seed = trainer.config().seed;
    trainer
        .model_mut()
        .set_dropout_state(seed, state.dropout_position);
    batcher.seek(state.data_position)
}

fn load_tensors(path: &Path, device: &candle_core::Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::Missing {
            what: "checkpoint file",
            path: path.to_path_buf(),
        });
    }
    Ok(candle_core::safetensors::load(path, device)?)
}
