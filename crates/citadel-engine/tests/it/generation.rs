//! Greedy generation and tokenization reproduce the transformers reference continuations.

use candle_core::Device;
use citadel_engine::{
    generate, generate_text, FinishReason, Flow, GenerateParams, Model, SamplingParams, Tokenizer,
};

use crate::exactness::load;
use crate::fixture;

struct Reference {
    prompt: String,
    input_ids: Vec<u32>,
    greedy_new_ids: Vec<u32>,
    greedy_new_text: String,
    greedy_24: Vec<u32>,
}

fn reference(dir: &str) -> Reference {
    let text = std::fs::read_to_string(fixture(dir).join("reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |key: &str| -> Vec<u32> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    Reference {
        prompt: v["prompt"].as_str().unwrap().to_string(),
        input_ids: ids("input_ids"),
        greedy_new_ids: ids("greedy_new_ids"),
        greedy_new_text: v["greedy_new_text"].as_str().unwrap().to_string(),
        greedy_24: ids("greedy_24_ids_eos_suppressed"),
    }
}

fn check_greedy(model: &str, adapter: Option<&str>) {
    let m = load(model, adapter);
    let tokenizer = Tokenizer::from_dir(&fixture(model)).unwrap();
    let r = reference(adapter.unwrap_or(model));
    assert_eq!(tokenizer.encode_prompt(&r.prompt).unwrap(), r.input_ids);

    let params = GenerateParams {
        max_new_tokens: 24,
        eos_token_ids: tokenizer.eos_token_ids().to_vec(),
        ..Default::default()
    };
    let mut streamed = Vec::new();
    let g = generate(&m, &r.input_ids, &params, &mut |id| {
        streamed.push(id);
        Ok(Flow::Continue)
    })
    .unwrap();
    assert_eq!(
        g.tokens, r.greedy_new_ids,
        "{model} {adapter:?}: EOS-stopping continuation"
    );
    assert_eq!(g.finish_reason, FinishReason::Eos);
    assert_eq!(streamed, g.tokens);
    assert_eq!(tokenizer.decode(&g.tokens).unwrap(), r.greedy_new_text);

    let suppressed = GenerateParams {
        suppress_tokens: tokenizer.eos_token_ids().to_vec(),
        ..params
    };
    let g = generate(&m, &r.input_ids, &suppressed, &mut |_| Ok(Flow::Continue)).unwrap();
    assert_eq!(
        g.tokens, r.greedy_24,
        "{model} {adapter:?}: 24 tokens with EOS suppressed"
    );
    assert_eq!(g.finish_reason, FinishReason::Length);
}

#[test]
fn tiny_gpt2_greedy_matches_transformers() {
    check_greedy("tiny-gpt2", None);
}

#[test]
fn tiny_llama_greedy_matches_transformers() {
    check_greedy("tiny-llama", None);
}

#[test]
fn tiny_gpt2_lora_greedy_matches_peft() {
    check_greedy("tiny-gpt2", Some("tiny-gpt2-lora"));
}

#[test]
fn tiny_llama_lora_greedy_matches_peft() {
    check_greedy("tiny-llama", Some("tiny-llama-lora"));
}

#[test]
fn kv_cache_logits_match_a_full_forward_pass() {
    for model in ["tiny-gpt2", "tiny-llama"] {
        let m = load(model, None);
        let (ids, _) = crate::exactness::reference(model);
        let full = m.forward_eval(&ids, None).unwrap();
        let mut cache = citadel_engine::KvCache::new();
        let first = m
            .forward_eval(&ids.narrow(1, 0, 5).unwrap(), Some(&mut cache))
            .unwrap();
        let rest = m
            .forward_eval(&ids.narrow(1, 5, 4).unwrap(), Some(&mut cache))
            .unwrap();
        let joined = candle_core::Tensor::cat(&[first, rest], 1).unwrap();
        let diff = crate::exactness::max_abs_diff(&joined, &full);
        assert!(diff < 1e-5, "{model}: cached vs full differ by {diff}");
    }
}

#[test]
fn text_generation_streams_and_stops_at_a_stop_string() {
    let m = load("tiny-llama", None);
    let tokenizer = Tokenizer::from_dir(&fixture("tiny-llama")).unwrap();
    let prompt = tokenizer
        .encode_prompt("Hello, my order has not arrived, please")
        .unwrap();
    let params = GenerateParams {
        max_new_tokens: 24,
        suppress_tokens: vec![0],
        stop_strings: vec!["wrong".to_string()],
        ..Default::default()
    };
    let mut pieces = String::new();
    let g = generate_text(&m, &tokenizer, &prompt, &params, &mut |piece| {
        pieces.push_str(piece);
        Ok(())
    })
    .unwrap();
    assert_eq!(g.text, " help. It is ");
    assert_eq!(pieces, g.text);
    assert_eq!(g.finish_reason, FinishReason::Stop);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let m = load("tiny-gpt2", None);
    let params = GenerateParams {
        max_new_tokens: 16,
        sampling: SamplingParams {
            temperature: 1.5,
            top_k: Some(50),
            top_p: Some(0.95),
            repetition_penalty: 1.1,
            seed: 42,
        },
        ..Default::default()
    };
    let run =
        |p: &GenerateParams| generate(&m, &[271, 12, 316], p, &mut |_| Ok(Flow::Continue)).unwrap();
    assert_eq!(run(&params), run(&params));
    let other = GenerateParams {
        sampling: SamplingParams {
            seed: 43,
            ..params.sampling.clone()
        },
        ..params.clone()
    };
    assert_ne!(run(&params).tokens, run(&other).tokens);
}

#[test]
fn tokenizer_round_trips_text() {
    let tokenizer = Tokenizer::from_file(&fixture("tiny-llama").join("tokenizer.json")).unwrap();
    let text = "Refund for order #1234, please!";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    assert_eq!(tokenizer.token_to_id("<|endoftext|>"), Some(0));
}

#[test]
fn missing_model_folder_is_a_clear_error() {
    let err = Model::load(&fixture("no-such-model"), &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("model folder not found"), "{err}");
    let err = Tokenizer::from_dir(&fixture("tiny-llama-lora")).unwrap_err();
    assert!(
        err.to_string().contains("tokenizer.json not found"),
        "{err}"
    );
}

#[test]
fn batched_prompts_generate_what_each_prompt_generates_alone() {
    for model in ["tiny-llama", "tiny-gpt2"] {
        let m = load(model, None);
        let r = reference(model);
        let prompts = vec![
            r.input_ids.clone(),
            vec![271, 12, 316],
            r.input_ids[2..].to_vec(),
        ];
        let params = GenerateParams {
            max_new_tokens: 12,
            eos_token_ids: vec![0],
            ..Default::default()
        };
        let alone: Vec<_> = prompts
            .iter()
            .map(|p| generate(&m, p, &params, &mut |_| Ok(Flow::Continue)).unwrap())
            .collect();
        let mut streamed = vec![Vec::new(); prompts.len()];
        let batched = citadel_engine::generate_batch(&m, &prompts, &params, &mut |row, id| {
            streamed[row].push(id);
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(batched, alone, "{model}");
        assert_eq!(batched[0].tokens, r.greedy_new_ids);
        for (row, g) in batched.iter().enumerate() {
            assert_eq!(streamed[row], g.tokens);
        }
    }
}

#[test]
fn chat_template_comes_from_tokenizer_config_or_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("tiny-llama").join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let config = serde_json::json!({
        "eos_token": "<|endoftext|>",
        "chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content.strip() }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}{{ eos_token }}"
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    let tokenizer = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(tokenizer.eos_token_ids(), [0]);
    let messages = [citadel_engine::ChatMessage::new(
        "user",
        " where is my order? ",
    )];
    assert_eq!(
        tokenizer.apply_chat_template(&messages).unwrap(),
        "user: where is my order?\nassistant:<|endoftext|>"
    );
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "[{{ messages[0].content }}]",
    )
    .unwrap();
    let tokenizer = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(
        tokenizer.apply_chat_template(&messages).unwrap(),
        "[ where is my order? ]"
    );
}
