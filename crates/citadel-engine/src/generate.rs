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
    let mut generations =
        generate_batch(model, &[prompt.to_vec()], params, &mut |_, id| on_token(id))?;
    generations
        .pop()
        .ok_or_else(|| Error::InvalidArgument("no prompt given".into()))
}

/// Generates after each prompt at once (left-padded into one batch, which reads the weights once
/// per step for all rows), calling `on_token(row, id)` as tokens are chosen. Each row gives the
/// same tokens as [`generate`] would alone.
pub fn generate_batch(
    model: &Model,
    prompts: &[Vec<u32>],
    params: &GenerateParams,
    on_token: &mut dyn FnMut(usize, u32) -> Result<Flow>,
) -> Result<Vec<Generation>> {
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(Error::InvalidArgument(
            "every prompt needs at least one token".into(),
        ));
    }
    let limit = model.config().max_position_embeddings;
    let budget = params.max_new_tokens.min(limit.saturating_sub(longest));
    if budget == 0 && params.max_new_tokens > 0 {
        return Err(Error::InvalidArgument(format!(
            "a prompt has {longest} tokens, the model's context is {limit}"
        )));
    }
    let device = model.device();
    let rows = prompts.len();
    let left_pad: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let padded: Vec<u32> = prompts
        .iter()
        .zip(&left_pad)
        .flat_map(|(p, &pad)| std::iter::repeat_n(p[0], pad).chain(p.iter().copied()))
        .collect();
    let mut input = Tensor::from_vec(padded, (rows, longest), device)?;
    let mut cache = KvCache::with_capacity(longest + budget);
    let mut samplers: Vec<Sampler> = prompts
        .iter()
        .map(|_| Sampler::new(&params.sampling))
        .collect();
    let mut seen: Vec<Vec<u32>> = prompts.to_vec();
    let mut outputs: Vec<Generation> = prompts
        .iter()
        .map(|_| Generation {
            tokens: Vec::with_capacity(budget),
            finish_reason: FinishReason::Length,
        })
        .collect();
    let mut running = vec![true; rows];
    for _ in 0..budget {
        let logits = model.forward_last_padded(&input, Some(&mut cache), Some(&left_pad))?;
        let mut logits = logits.to_vec2::<f32>()?;
        let mut next = Vec::with_capacity(rows);
        for r in 0..rows {
            let last = seen[r].last().copied().unwrap_or_default();
            if !running[r] {
                next.push(last);
                continue;
            }
            let id = samplers[r].next(&mut logits[r], &seen[r], &params.suppress_tokens);
            seen[r].push(id);
            outputs[r].tokens.push(id);
            let flow = on_token(r, id)?;
            if params.eos_token_ids.contains(&id) {
                outputs[r].finish_reason = FinishReason::Eos;
                running[r] = false;
            } else if flow == Flow::Stop {
                outputs[r].finish_reason = FinishReason::Stop;
                running[r] = false;
            }
            next.push(id);
        }
        if !running.iter().any(|&r| r) {
            break;
        }
        input = Tensor::from_vec(next, (rows, 1), device)?;
    }
    Ok(outputs)
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
