//! What answers a prompt: the candle engine on a verified model folder, or, for the gateway
//! benchmark, a stub that answers at once. Calls are blocking; the gateway runs them on the
//! blocking pool.

use std::path::Path;

use citadel_engine::{
    generate_text, ChatMessage, Device, FinishReason, GenerateParams, Model, SamplingParams,
    Tokenizer,
};

/// One generation request, already checked by the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    pub prompt: String,
    pub max_tokens: usize,
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub stop: Vec<String>,
}

/// Why a generation ended, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
}

impl Finish {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// The text generated and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOutput {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish: Finish,
}

/// A loaded model the gateway can call.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Tokens in `text` as the model counts them (for limits and usage).
    fn count_tokens(&self, text: &str) -> Result<usize, String>;
    /// A conversation rendered as the model expects it, opening the assistant's turn.
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, String>;
    /// Generates after `request.prompt`, passing each piece of text to `on_text`, which returns
    /// false to stop early (the client went away).
    fn generate(
        &self,
        request: &GenRequest,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenOutput, String>;
}

/// A model folder loaded into the candle engine.
#[derive(Debug)]
pub struct EngineBackend {
    model: Model,
    tokenizer: Tokenizer,
}

impl EngineBackend {
    /// Loads a verified Hugging Face folder (merged weights, tokenizer).
    pub fn load(dir: &Path) -> Result<Self, citadel_engine::Error> {
        Ok(Self {
            model: Model::load(dir, &Device::Cpu)?,
            tokenizer: Tokenizer::from_dir(dir)?,
        })
    }
}

impl Backend for EngineBackend {
    fn count_tokens(&self, text: &str) -> Result<usize, String> {
        self.tokenizer
            .encode_prompt(text)
            .map(|ids| ids.len())
            .map_err(|e| e.to_string())
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, String> {
        if self.tokenizer.has_chat_template() {
            return self
                .tokenizer
                .apply_chat_template(messages)
                .map_err(|e| e.to_string());
        }
        Ok(plain_transcript(messages))
    }

    fn generate(
        &self,
        request: &GenRequest,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenOutput, String> {
        let prompt = self
            .tokenizer
            .encode_prompt(&request.prompt)
            .map_err(|e| e.to_string())?;
        let params = GenerateParams {
            max_new_tokens: request.max_tokens,
            sampling: SamplingParams {
                temperature: request.temperature,
                top_p: request.top_p,
                seed: request.seed,
                ..SamplingParams::default()
            },
            eos_token_ids: self.tokenizer.eos_token_ids().to_vec(),
            stop_strings: request.stop.clone(),
            ..GenerateParams::default()
        };
        let generation = generate_text(
            &self.model,
            &self.tokenizer,
            &prompt,
            &params,
            &mut |piece| {
                if on_text(piece) {
                    Ok(())
                } else {
                    Err(citadel_engine::Error::InvalidArgument(
                        "the client went away".into(),
                    ))
                }
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(GenOutput {
            text: generation.text,
            prompt_tokens: prompt.len(),
            completion_tokens: generation.tokens.len(),
            finish: match generation.finish_reason {
                FinishReason::Length => Finish::Length,
                FinishReason::Eos | FinishReason::Stop => Finish::Stop,
            },
        })
    }
}

/// The conversation as plain `role: content` lines, for models without a chat template (the
/// quickstart's tiny base has none).
fn plain_transcript(messages: &[ChatMessage]) -> String {
    let mut text = String::new();
    for message in messages {
        text.push_str(&message.role);
        text.push_str(": ");
        text.push_str(&message.content);
        text.push('\n');
    }
    text.push_str("assistant:");
    text
}

/// A backend that answers at once with a fixed reply, so the gateway benchmark measures the
/// gateway alone. Tokens are counted as whitespace-separated words.
#[derive(Debug, Clone)]
pub struct StubBackend {
    pub reply: String,
}

impl Backend for StubBackend {
    fn count_tokens(&self, text: &str) -> Result<usize, String> {
        Ok(text.split_whitespace().count().max(1))
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, String> {
        Ok(plain_transcript(messages))
    }

    fn generate(
        &self,
        request: &GenRequest,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<GenOutput, String> {
        let words: Vec<&str> = self
            .reply
            .split_inclusive(' ')
            .take(request.max_tokens)
            .collect();
        for word in &words {
            if !on_text(word) {
                break;
            }
        }
        Ok(GenOutput {
            text: words.concat(),
            prompt_tokens: self.count_tokens(&request.prompt)?,
            completion_tokens: words.len(),
            finish: if words.len() == request.max_tokens {
                Finish::Length
            } else {
                Finish::Stop
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_opens_the_assistant_turn() {
        let text = plain_transcript(&[
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi"),
        ]);
        assert_eq!(text, "system: Be brief.\nuser: Hi\nassistant:");
    }

    #[test]
    fn stub_streams_what_it_returns_and_honours_max_tokens() {
        let stub = StubBackend {
            reply: "one two three four".into(),
        };
        let request = GenRequest {
            prompt: "a b".into(),
            max_tokens: 3,
            temperature: 0.0,
            top_p: None,
            seed: 0,
            stop: vec![],
        };
        let mut streamed = String::new();
        let out = stub
            .generate(&request, &mut |piece| {
                streamed.push_str(piece);
                true
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(out.text, "one two three ");
        assert_eq!(streamed, out.text);
        assert_eq!(out.finish, Finish::Length);
        assert_eq!(out.prompt_tokens, 2);
    }
}
