//! Fine-tuning tiny-llama on a style it has never seen (support tickets answered by a cheerful
//! agent): held-out perplexity falls sharply and the saved adapter writes in the new style.

use citadel_engine::data::{read_jsonl, tokenize, Batcher, Example, TokenizeOptions};
use citadel_engine::eval::evaluate;
use citadel_engine::optim::AdamWConfig;
use citadel_engine::schedule::Decay;
use citadel_engine::trainer::{TrainConfig, Trainer};
use citadel_engine::{generate_text, Device, GenerateParams, LoraConfig, Model, Tokenizer};

use crate::fixture;

fn continuation(model: &Model, tokenizer: &Tokenizer, prompt: &str) -> String {
    let ids = tokenizer.encode_prompt(prompt).unwrap();
    let params = GenerateParams {
        max_new_tokens: 24,
        eos_token_ids: tokenizer.eos_token_ids().to_vec(),
        ..GenerateParams::default()
    };
    generate_text(model, tokenizer, &ids, &params, &mut |_| Ok(()))
        .unwrap()
        .text
}

#[test]
fn lora_learns_a_new_style() {
    let device = Device::Cpu;
    let base = fixture("tiny-llama");
    let data = fixture("cheerful-support");
    let tokenizer = Tokenizer::from_dir(&base).unwrap();
    let options = TokenizeOptions {
        seq_len: 64,
        eos_id: Some(0),
    };
    let train = tokenize(
        &read_jsonl(&data.join("train.jsonl")).unwrap(),
        &tokenizer,
        options,
    )
    .unwrap();
    let held_out_rows = read_jsonl(&data.join("eval.jsonl")).unwrap();
    let held_out = tokenize(&held_out_rows, &tokenizer, options).unwrap();

    let mut model = Model::load(&base, &device).unwrap();
    let before = evaluate(&model, &held_out, 20, 0).unwrap();
    model
        .attach_lora(&LoraConfig::new(8, 16.0, &["all-linear"]), 0)
        .unwrap();
    let config = TrainConfig {
        lr: 1e-2,
        adamw: AdamWConfig::default(),
        warmup_steps: 5,
        decay: Decay::Cosine,
        total_steps: 40,
        grad_accum: 1,
        max_grad_norm: Some(1.0),
        seed: 0,
    };
    let mut batcher = Batcher::new(train, 16, Some(0), 0, &device).unwrap();
    let mut trainer = Trainer::new(model, config).unwrap();
    trainer.train(&mut batcher, |_, _, _| Ok(())).unwrap();
    let model = trainer.into_model();
    let after = evaluate(&model, &held_out, 20, 0).unwrap();
    assert!(
        after.perplexity < 0.1 * before.perplexity,
        "held-out perplexity {:.3} -> {:.3}",
        before.perplexity,
        after.perplexity
    );

    let dir = tempfile::tempdir().unwrap();
    model.save_adapter(dir.path()).unwrap();
    let mut adapted = Model::load(&base, &device).unwrap();
    adapted.load_adapter(dir.path()).unwrap();
    let plain = Model::load(&base, &device).unwrap();
    let Example::PromptResponse { prompt, .. } = &held_out_rows[0] else {
        panic!("the demonstration rows are prompt/response pairs")
    };
    let styled = continuation(&adapted, &tokenizer, prompt);
    let original = continuation(&plain, &tokenizer, prompt);
    eprintln!(
        "perplexity {:.3} -> {:.3}\nbase:    {original:?}\nadapted: {styled:?}",
        before.perplexity, after.perplexity
    );
    assert!(
        styled.starts_with("Agent: yes") && styled.contains("thank you, thank you"),
        "{styled:?}"
    );
    assert!(!original.starts_with("Agent: yes"), "{original:?}");
}
