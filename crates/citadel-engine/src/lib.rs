//! Citadel's model engine on candle: GPT-2 and Llama families, tokenizer, LoRA (PEFT format),
//! generation, training and evaluation. It knows nothing of storage or auth: it takes paths or
//! bytes and returns tensors, tokens and metrics.

mod chat;
mod config;
mod error;
mod gpt2;
mod kv_cache;
mod llama;
mod lora;
mod model;
mod ops;
mod peft;
mod tokenizer;
mod weights;

pub use chat::{ChatMessage, ChatTemplate};
pub use config::{Architecture, ModelConfig};
pub use error::{Error, Result};
pub use kv_cache::KvCache;
pub use lora::LoraConfig;
pub use model::Model;
pub use peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS};
pub use tokenizer::Tokenizer;
