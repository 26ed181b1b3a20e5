//! Logits of the fixture models and adapters match transformers/PEFT within 1e-4.

use candle_core::{DType, Device, Tensor};
use citadel_engine::Model;

use crate::fixture;

/// Loads a model, or a base model with the adapter of `adapter` when given.
pub fn load(model: &str, adapter: Option<&str>) -> Model {
    let mut m = Model::load(&fixture(model), &Device::Cpu).unwrap();
    if let Some(adapter) = adapter {
        m.load_adapter(&fixture(adapter)).unwrap();
    }
    m
}

/// The reference input ids and logits of a fixture folder.
pub fn reference(dir: &str) -> (Tensor, Tensor) {
    let tensors =
        candle_core::safetensors::load(fixture(dir).join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let ids = tensors["input_ids"].to_dtype(DType::U32).unwrap();
    (ids, tensors["logits"].clone())
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn check(model: &str, adapter: Option<&str>) {
    let m = load(model, adapter);
    let (ids, expected) = reference(adapter.unwrap_or(model));
    let eval = m.forward_eval(&ids, None).unwrap();
    let diff = max_abs_diff(&eval, &expected);
    assert!(diff < 1e-4, "{model} {adapter:?}: max |Δlogit| = {diff}");
    // The differentiable path (used in training) agrees too.
    let tracked = m.forward(&ids, None).unwrap();
    let diff = max_abs_diff(&tracked, &expected);
    assert!(
        diff < 1e-4,
        "{model} {adapter:?} (tracked): max |Δlogit| = {diff}"
    );
}

#[test]
fn tiny_gpt2_logits_match_transformers() {
    check("tiny-gpt2", None);
}

#[test]
fn tiny_llama_logits_match_transformers() {
    check("tiny-llama", None);
}

#[test]
fn tiny_gpt2_lora_logits_match_peft() {
    check("tiny-gpt2", Some("tiny-gpt2-lora"));
}

#[test]
fn tiny_llama_lora_logits_match_peft() {
    check("tiny-llama", Some("tiny-llama-lora"));
}
