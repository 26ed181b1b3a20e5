//! The trainer against the PEFT + PyTorch AdamW trace, determinism, and exact resumption from a
//! checkpoint.

use candle_core::Device;
use citadel_engine::checkpoint::{load_checkpoint, save_checkpoint};
use citadel_engine::data::{Batch, Batcher, TokenizedExample};
use citadel_engine::optim::AdamWConfig;
use citadel_engine::schedule::Decay;
use citadel_engine::trainer::{TrainConfig, Trainer};
use citadel_engine::{LoraConfig, Model};

use crate::exactness::max_abs_diff;
use crate::fixture;

#[derive(serde::Deserialize)]
struct Trace {
    hyperparameters: Hyper,
    loss_per_step: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct Hyper {
    lr: f64,
    betas: [f64; 2],
    eps: f64,
    weight_decay: f64,
    steps: u64,
}

#[test]
fn reproduces_the_peft_training_trace() {
    let device = Device::Cpu;
    let dir = fixture("tiny-llama-train");
    let trace: Trace =
        serde_json::from_str(&std::fs::read_to_string(dir.join("trace.json")).unwrap()).unwrap();
    let hp = &trace.hyperparameters;
    let mut model = Model::load(&fixture("tiny-llama"), &device).unwrap();
    model.load_adapter(&dir.join("initial")).unwrap();
    let config = TrainConfig {
        lr: hp.lr,
        adamw: AdamWConfig {
            beta1: hp.betas[0],
            beta2: hp.betas[1],
            eps: hp.eps,
            weight_decay: hp.weight_decay,
        },
        warmup_steps: 0,
        decay: Decay::Constant,
        total_steps: hp.steps,
        grad_accum: 1,
        max_grad_norm: None,
        seed: 0,
    };
    let mut trainer = Trainer::new(model, config).unwrap();
    let ids = candle_core::safetensors::load(dir.join("batch.safetensors"), &device).unwrap();
    let ids = ids["input_ids"].to_dtype(candle_core::DType::U32).unwrap();
    let batch = Batch::all_targets(ids).unwrap();
    for (step, want) in trace.loss_per_step.iter().enumerate() {
        let report = trainer.step(std::slice::from_ref(&batch)).unwrap();
        let rel = (report.loss - want).abs() / want.abs();
        assert!(
            rel < 1e-4,
            "step {step}: loss {} vs {want} (rel {rel:e})",
            report.loss
        );
    }
    let model = trainer.into_model();
    let expected =
        candle_core::safetensors::load(dir.join("final/adapter_model.safetensors"), &device)
            .unwrap();
    let got = model.adapter_tensors();
    assert_eq!(got.len(), expected.len());
    for (name, want) in &expected {
        let have = got.get(name).unwrap_or_else(|| panic!("{name} missing"));
        let diff = max_abs_diff(have, want);
        assert!(diff < 1e-4, "{name}: max abs diff {diff:e}");
    }
}

fn config(total_steps: u64) -> TrainConfig {
    TrainConfig {
        lr: 5e-3,
        adamw: AdamWConfig::default(),
        warmup_steps: 2,
        decay: Decay::Cosine,
        total_steps,
        grad_accum: 2,
        max_grad_norm: Some(1.0),
        seed: 11,
    }
}

/// Twenty sequences of 5 to 14 tokens; odd ones have a 3-token prompt that is not trained on.
fn examples() -> Vec<TokenizedExample> {
    (0..20u32)
        .map(|i| {
            let len = 5 + (i as usize * 7) % 10;
            let ids: Vec<u32> = (0..len as u32).map(|j| (i * 31 + j * 17) % 437).collect();
            let is_target = (0..len).map(|j| i % 2 == 0 || j >= 3).collect();
            TokenizedExample { ids, is_target }
        })
        .collect()
}

/// tiny-llama with fresh LoRA on q/v (with dropout, to exercise its seeded stream) and a batcher.
fn lora_trainer(total_steps: u64) -> (Trainer, Batcher) {
    let device = Device::Cpu;
    let mut model = Model::load(&fixture("tiny-llama"), &device).unwrap();
    let mut lora = LoraConfig::new(4, 8.0, &["q_proj", "v_proj"]);
    lora.dropout = 0.1;
    model.attach_lora(&lora, 3).unwrap();
    let batcher = Batcher::new(examples(), 3, Some(5), 0, &device).unwrap();
    (Trainer::new(model, config(total_steps)).unwrap(), batcher)
}

fn run(trainer: &mut Trainer, batcher: &mut Batcher) -> Vec<f64> {
    let mut losses = Vec::new();
    trainer
        .train(batcher, |_, _, report| {
            losses.push(report.loss);
            Ok(())
        })
        .unwrap();
    losses
}

#[test]
fn same_seed_gives_identical_losses() {
    let (mut a, mut data_a) = lora_trainer(4);
    let (mut b, mut data_b) = lora_trainer(4);
    let losses = run(&mut a, &mut data_a);
    assert_eq!(losses, run(&mut b, &mut data_b));
    assert_eq!(losses.len(), 4);
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0));
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical() {
    let (mut straight, mut data) = lora_trainer(6);
    let uninterrupted = run(&mut straight, &mut data);

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let (mut first, mut data) = lora_trainer(6);
    let mut before = Vec::new();
    first
        .train(&mut data, |trainer, batcher, report| {
            before.push(report.loss);
            if report.step == 3 {
                save_checkpoint(&checkpoint, trainer, batcher)?;
            }
            Ok(())
        })
        .unwrap();

    // A new process: a fresh model with another LoRA seed, restored from the checkpoint.
    let device = Device::Cpu;
    let mut model = Model::load(&fixture("tiny-llama"), &device).unwrap();
    let mut lora = LoraConfig::new(4, 8.0, &["q_proj", "v_proj"]);
    lora.dropout = 0.1;
    model.attach_lora(&lora, 99).unwrap();
    let mut resumed = Trainer::new(model, config(6)).unwrap();
    let mut data = Batcher::new(examples(), 3, Some(5), 0, &device).unwrap();
    load_checkpoint(&checkpoint, &mut resumed, &mut data).unwrap();
    assert_eq!(resumed.steps_done(), 3);
    let after = run(&mut resumed, &mut data);

    assert_eq!(before[..3], uninterrupted[..3]);
    assert_eq!(after, uninterrupted[3..]);
    let want = straight.model().adapter_tensors();
    for (name, tensor) in resumed.model().adapter_tensors() {
        assert_eq!(max_abs_diff(&tensor, &want[&name]), 0.0, "{name}");
    }

    let (mut other_settings, mut data) = lora_trainer(7);
    assert!(load_checkpoint(&checkpoint, &mut other_settings, &mut data).is_err());
    let frozen = Model::load(&fixture("tiny-llama"), &device).unwrap();
    assert!(
        Trainer::new(frozen, config(6)).is_err(),
        "nothing trainable is refused"
    );
}
