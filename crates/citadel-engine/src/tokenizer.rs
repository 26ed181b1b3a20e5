//! The tokenizer of a model folder: `tokenizer.json` through the `tokenizers` crate (no network),
//! special tokens and chat template from `tokenizer_config.json`, and end-of-sequence ids from
//! `generation_config.json` or `config.json`.

use std::path::Path;

use serde_json::Value;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::config::token_ids;
use crate::error::{read_json, read_text, Error, Result};

/// Text ⇄ token ids for one model.
#[derive(Debug)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    eos_token_ids: Vec<u32>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    chat_template: Option<ChatTemplate>,
}

impl Tokenizer {
    /// Loads the tokenizer of a Hugging Face model folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut tokenizer = Self::from_file(&dir.join("tokenizer.json"))?;
        let config: Option<Value> = optional_json(&dir.join("tokenizer_config.json"))?;
        let special = |key: &str| {
            let v = config.as_ref()?.get(key)?;
            v.as_str()
                .or_else(|| v.get("content")?.as_str())
                .map(str::to_string)
        };
        tokenizer.bos_token = special("bos_token");
        tokenizer.eos_token = special("eos_token");
        let template_file = dir.join("chat_template.jinja");
        let template = if template_file.is_file() {
            Some(read_text(&template_file, "chat_template.jinja")?)
        } else {
            config
                .as_ref()
                .and_then(|c| template_source(c.get("chat_template")?))
        };
        tokenizer.chat_template = template.as_deref().map(ChatTemplate::new).transpose()?;
        let mut eos = Vec::new();
        for file in ["generation_config.json", "config.json"] {
            if let Some(v) = optional_json(&dir.join(file))? {
                eos = token_ids(v.get("eos_token_id"));
                if !eos.is_empty() {
                    break;
                }
            }
        }
        if eos.is_empty() {
            eos = tokenizer
                .eos_token
                .as_deref()
                .and_then(|t| tokenizer.inner.token_to_id(t))
                .into_iter()
                .collect();
        }
        tokenizer.eos_token_ids = eos;
        Ok(tokenizer)
    }

    /// Loads a bare `tokenizer.json` (no special-token or template information).
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Missing {
                what: "tokenizer.json",
                path: path.to_path_buf(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(Self {
            inner,
            eos_token_ids: Vec::new(),
            bos_token: None,
            eos_token: None,
            chat_template: None,
        })
    }

    /// Token ids of `text` without any special tokens (for concatenating pieces).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_with(text, false)
    }

    /// Token ids of a prompt with the special tokens the model's post-processor adds (e.g. BOS),
    /// as `tokenizer(text)` does in transformers.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_with(text, true)
    }

    fn encode_with(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, special)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, skipping special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// End-of-sequence ids (from `generation_config.json`, `config.json` or the EOS token).
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_token_ids
    }

    /// The id of the BOS token declared in `tokenizer_config.json`, if any.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.inner.token_to_id(self.bos_token.as_deref()?)
    }

    /// The id of a token string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Number of tokens, including added ones.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether the folder declared a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Renders a conversation with the model's chat template, opening the assistant's turn.
    pub fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self
            .chat_template
            .as_ref()
            .ok_or_else(|| Error::Template("the model folder declares no chat_template".into()))?;
        let bos = self.bos_token.as_deref().unwrap_or_default();
        let eos = self.eos_token.as_deref().unwrap_or_default();
        template.render(messages, true, bos, eos)
    }
}

/// The default template of a `chat_template` field: a string, or a list of named templates.
fn template_source(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .or_else(|| named.first())
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        _ => None,
    }
}

fn optional_json(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path, "JSON file").map(Some)
    } else {
        Ok(None)
    }
}
