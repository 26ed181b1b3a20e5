//! Autoregressive generation with a KV cache: prefill the prompt once, then feed one token at a
//! time, stopping at an EOS id, a stop string, the token budget or the caller's request.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::sampling::{Sampler, SamplingParams};
use crate::tokenizer::Tokenizer;

/// What to generate and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// How each token is chosen.
    pub sampling: SamplingParams,
    /// Generation ends after one of these ids (which is kept in the output).
    pub eos_token_ids: Vec<u32>,
    /// Ids that are never generated.
    pub suppress_tokens: Vec<u32>,
    /// Generation ends when the text contains one of these (text generation only).
    pub stop_strings: Vec<String>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            sampling: SamplingParams::default(),
            eos_token_ids: Vec::new(),
            suppress_tokens: Vec::new(),
            stop_strings: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-sequence token was generated.
    Eos,
    /// `max_new_tokens` were generated.
    Length,
    /// A stop string appeared, or the callback asked to stop.
    Stop,
}

/// Whether generation goes on after a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Generate the next token.
    Continue,
    /// End generation now.
    Stop,
}

/// The generated ids (including a final EOS id) and why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// New token ids.
    pub tokens: Vec<u32>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
}

/// Generates after `prompt`, calling `on_token` with each new id as soon as it is chosen.
pub fn generate(
    model: &Model,
    prompt: &[u32],
    params: &GenerateParams,
    on_token: &mut dyn FnMut(u32) -> Result<Flow>,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(Error::InvalidArgument("the prompt has no tokens".into()));
    }
    let limit = model.config().max_position_embeddings;
    let budget = params
        .max_new_tokens
        .min(limit.saturating_sub(prompt.len()));
    if budget == 0 && params.max_new_tokens > 0 {
        return Err(Error::InvalidArgument(format!(
            "the prompt has {} tokens, the model's context is {limit}",
            prompt.len()
        )));
    }
    let device = model.device();
    let mut cache = KvCache::with_capacity(prompt.len() + budget);
    let mut sampler = Sampler::new(&params.sampling);
    let mut seen = prompt.to_vec();
    let mut tokens = Vec::with_capacity(budget);
    let mut input = Tensor::new(prompt, device)?.unsqueeze(0)?;
    for _ in 0..budget {
        let logits = model.forward_last(&input, Some(&mut cache))?;
        let mut logits = logits.squeeze(0)?.to_vec1::<f32>()?;
        let next = sampler.next(&mut logits, &seen, &params.suppress_tokens);
        tokens.push(next);
        seen.push(next);
        if params.eos_token_ids.contains(&next) {
            on_token(next)?;
            return Ok(Generation {
                tokens,
                finish_reason: FinishReason::Eos,
            });
        }
        if on_token(next)? == Flow::Stop {
            return Ok(Generation {
                tokens,
                finish_reason: FinishReason::Stop,
            });
        }
        input = Tensor::new(&[next], device)?.unsqueeze(0)?;
    }
    Ok(Generation {
        tokens,
        finish_reason: FinishReason::Length,
    })
}

/// Generated text and why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextGeneration {
    /// The continuation, cut before any stop string and without special tokens.
    pub text: String,
    /// New token ids.
    pub tokens: Vec<u32>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
}

/// Generates text after the token ids `prompt`, streaming text pieces to `on_text`.
///
/// Text that could be the start of a stop string is held back until it is known not to be one,
/// so the streamed pieces always add up to the returned text.
pub fn generate_text(
    model: &Model,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    params: &GenerateParams,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<TextGeneration> {
    let mut emitted = 0;
    let mut generated = Vec::new();
    let mut text = String::new();
    let mut stopped = false;
    let generation = generate(model, prompt, params, &mut |id| {
        generated.push(id);
        text = tokenizer.decode(&generated)?;
        if let Some(cut) = params
            .stop_strings
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            text.truncate(cut);
            stopped = true;
        }
        // An incomplete UTF-8 sequence decodes to U+FFFD; wait for the rest of it.
        let ready = if stopped || !text.ends_with('\u{FFFD}') {
            text.len()
        } else {
            emitted
        };
        let safe = if stopped {
            ready
        } else {
            ready - held_back(&text[..ready], &params.stop_strings)
        };
        if safe > emitted {
            on_text(&text[emitted..safe])?;
            emitted = safe;
        }
        Ok(if stopped { Flow::Stop } else { Flow::Continue })
    })?;
    if emitted < text.len() {
        on_text(&text[emitted..])?;
    }
    Ok(TextGeneration {
        text,
        tokens: generation.tokens,
        finish_reason: generation.finish_reason,
    })
}

/// Length of the longest end of `text` that begins some stop string.
fn held_back(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .flat_map(|stop| {
            (1..stop.len())
                .rev()
                .filter(|&n| stop.is_char_boundary(n) && text.ends_with(&stop[..n]))
                .take(1)
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::held_back;

    #[test]
    fn holds_back_a_possible_stop_prefix() {
        let stops = vec!["###".to_string(), "\nUser:".to_string()];
        assert_eq!(held_back("hello ##", &stops), 2);
        assert_eq!(held_back("hello\nUs", &stops), 3);
        assert_eq!(held_back("hello", &stops), 0);
    }
}
