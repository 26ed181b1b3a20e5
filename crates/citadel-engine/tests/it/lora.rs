//! PEFT adapters: save/load round trip, merging, and gradients reaching every trainable tensor.

use candle_core::{Device, Tensor};
use citadel_engine::{LoraConfig, Model};

use crate::exactness::{load, max_abs_diff, reference};
use crate::fixture;

fn logits(m: &Model, dir: &str) -> Tensor {
    m.forward_eval(&reference(dir).0, None).unwrap()
}

#[test]
fn saved_adapters_reload_identically() {
    for (model, adapter) in [
        ("tiny-llama", "tiny-llama-lora"),
        ("tiny-gpt2", "tiny-gpt2-lora"),
    ] {
        let m = load(model, Some(adapter));
        let out = tempfile::tempdir().unwrap();
        m.save_adapter(out.path()).unwrap();
        let reloaded = load(model, None);
        let mut reloaded = reloaded;
        reloaded.load_adapter(out.path()).unwrap();
        assert_eq!(
            max_abs_diff(&logits(&m, adapter), &logits(&reloaded, adapter)),
            0.0
        );
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["peft_type"], "LORA");
        assert_eq!(config["r"], 4);
        assert_eq!(config["fan_in_fan_out"], model == "tiny-gpt2");
        let original = candle_core::safetensors::load(
            fixture(adapter).join("adapter_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let saved = candle_core::safetensors::load(
            out.path().join("adapter_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let mut keys: Vec<_> = saved.keys().collect();
        keys.sort();
        let mut expected: Vec<_> = original.keys().collect();
        expected.sort();
        assert_eq!(keys, expected);
    }
}

#[test]
fn merged_adapter_gives_the_same_logits() {
    for (model, adapter) in [
        ("tiny-llama", "tiny-llama-lora"),
        ("tiny-gpt2", "tiny-gpt2-lora"),
    ] {
        let mut m = load(model, Some(adapter));
        let before = logits(&m, adapter);
        m.merge_adapter().unwrap();
        assert!(m.lora_config().is_none());
        assert!(m.trainable_vars().unwrap().is_empty());
        let diff = max_abs_diff(&before, &logits(&m, adapter));
        assert!(diff < 1e-5, "{model}: merged differs by {diff}");
    }
}

#[test]
fn fresh_lora_starts_as_the_base_model_with_peft_init() {
    let mut m = load("tiny-llama", None);
    let base = logits(&m, "tiny-llama");
    m.attach_lora(&LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]), 7)
        .unwrap();
    assert_eq!(max_abs_diff(&base, &logits(&m, "tiny-llama")), 0.0);
    let vars = m.trainable_vars().unwrap();
    assert_eq!(vars.len(), 2 * 2 * 2);
    let (name, a) = &vars[0];
    assert_eq!(
        name,
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    );
    assert_eq!(a.dims(), [8, 64]);
    let bound = a
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        bound > 0.0 && bound <= 1.0 / 8.0,
        "kaiming-uniform bound 1/sqrt(64), got {bound}"
    );
    let err = m
        .attach_lora(&LoraConfig::new(8, 16.0, &["q_proj"]), 7)
        .unwrap_err();
    assert!(err.to_string().contains("already has an adapter"));
    let mut g = load("tiny-gpt2", None);
    assert!(g
        .attach_lora(&LoraConfig::new(8, 16.0, &["q_proj"]), 7)
        .is_err());
}

/// Mean next-token cross-entropy over all positions.
fn loss(m: &Model, ids: &Tensor) -> Tensor {
    let logits = m.forward(ids, None).unwrap();
    let (b, s, v) = logits.dims3().unwrap();
    let inputs = logits
        .narrow(1, 0, s - 1)
        .unwrap()
        .reshape((b * (s - 1), v))
        .unwrap();
    let targets = ids.narrow(1, 1, s - 1).unwrap().flatten_all().unwrap();
    candle_nn::loss::cross_entropy(&inputs, &targets).unwrap()
}

fn grads_of(m: &Model, ids: &Tensor) -> Vec<(String, Tensor)> {
    let grads = loss(m, ids).backward().unwrap();
    m.trainable_vars()
        .unwrap()
        .into_iter()
        .map(|(name, var)| {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name} got no gradient"))
                .clone();
            (name, g)
        })
        .collect()
}

fn assert_finite_nonzero(grads: &[(String, Tensor)]) {
    for (name, g) in grads {
        let values = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{name}: non-finite gradient"
        );
        assert!(values.iter().any(|v| *v != 0.0), "{name}: zero gradient");
    }
}

#[test]
fn every_trainable_tensor_gets_a_finite_nonzero_gradient() {
    for (model, adapter) in [
        ("tiny-llama", "tiny-llama-lora"),
        ("tiny-gpt2", "tiny-gpt2-lora"),
    ] {
        let (ids, _) = reference(adapter);
        let mut m = load(model, Some(adapter));
        let lora_grads = grads_of(&m, &ids);
        assert_eq!(lora_grads.len(), m.adapter_tensors().len());
        assert_finite_nonzero(&lora_grads);

        // Full fine-tuning: every weight trains, and the LoRA gradients (through the frozen-weight
        // path before, through ordinary matmuls now) agree.
        m.set_full_finetune(true).unwrap();
        let all = grads_of(&m, &ids);
        assert!(all.len() > lora_grads.len());
        assert_finite_nonzero(&all);
        for ((name, frozen), (_, full)) in lora_grads.iter().zip(&all) {
            let diff = max_abs_diff(frozen, full);
            assert!(diff < 1e-5, "{model} {name}: gradients differ by {diff}");
        }
    }
}

#[test]
fn lora_gradients_match_finite_differences() {
    let (ids, _) = reference("tiny-llama-lora");
    let m = load("tiny-llama", Some("tiny-llama-lora"));
    let grads = grads_of(&m, &ids);
    let vars = m.trainable_vars().unwrap();
    for ((name, var), (_, grad)) in vars.iter().zip(&grads).take(4) {
        let original = var.as_tensor().copy().unwrap();
        let eps = 1e-2f32;
        let mut bump = original.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let index = bump.len() / 3;
        bump[index] += eps;
        var.set(&Tensor::from_vec(bump.clone(), original.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let up = loss(&m, &ids).to_scalar::<f32>().unwrap();
        bump[index] -= 2.0 * eps;
        var.set(&Tensor::from_vec(bump, original.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let down = loss(&m, &ids).to_scalar::<f32>().unwrap();
        var.set(&original).unwrap();
        let numeric = (up - down) / (2.0 * eps);
        let analytic = grad.flatten_all().unwrap().to_vec1::<f32>().unwrap()[index];
        assert!(
            (numeric - analytic).abs() < 2e-3 + 0.05 * analytic.abs(),
            "{name}: {numeric} vs {analytic}"
        );
    }
}

#[test]
fn dropout_is_seeded_and_only_active_in_training() {
    let mut m = load("tiny-llama", None);
    let mut cfg = LoraConfig::new(4, 8.0, &["q_proj", "v_proj"]);
    cfg.dropout = 0.5;
    m.attach_lora(&cfg, 1).unwrap();
    // Give B non-zero values so the LoRA branch (and its dropout) matters.
    for (name, var) in m.trainable_vars().unwrap() {
        if name.contains("lora_B") {
            var.set(&var.ones_like().unwrap().affine(0.1, 0.0).unwrap())
                .unwrap();
        }
    }
    let (ids, _) = reference("tiny-llama");
    let eval = m.forward(&ids, None).unwrap();
    assert_eq!(max_abs_diff(&eval, &m.forward(&ids, None).unwrap()), 0.0);
    m.set_training(true);
    m.set_dropout_state(5, 0);
    let first = m.forward(&ids, None).unwrap();
    let second = m.forward(&ids, None).unwrap();
    assert!(max_abs_diff(&first, &eval) > 1e-4 && max_abs_diff(&first, &second) > 1e-4);
    assert_eq!(m.dropout_position(), 8);
    m.set_dropout_state(5, 0);
    assert_eq!(max_abs_diff(&first, &m.forward(&ids, None).unwrap()), 0.0);
}
