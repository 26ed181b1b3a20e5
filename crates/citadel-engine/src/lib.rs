//! Citadel's model engine on candle: GPT-2 and Llama families, tokenizer, LoRA (PEFT format),
//! generation, training and evaluation. It knows nothing of storage or auth: it takes paths or
//! bytes and returns tensors, tokens and metrics.

mod activation;
mod attention;
pub mod bench;
mod buffer;
mod chat;
pub mod checkpoint;
mod config;
pub mod data;
mod dense;
mod error;
pub mod eval;
pub mod export;
mod gemv;
mod generate;
mod gpt2;
mod heads;
mod kv_cache;
mod llama;
mod lora;
pub mod loss;
mod matmul;
mod model;
mod ops;
pub mod optim;
mod peft;
mod positions;
mod rng;
mod sampling;
pub mod schedule;
#[cfg(test)]
mod testing;
mod threads;
mod tokenizer;
pub mod trainer;
mod vmath;
mod weights;

pub use candle_core::Device;
pub use chat::{ChatMessage, ChatTemplate};
pub use config::{Architecture, ModelConfig, RopeScaling};
pub use error::{Error, Result};
pub use generate::{
    generate, generate_batch, generate_text, FinishReason, Flow, GenerateParams, Generation,
    TextGeneration,
};
pub use kv_cache::KvCache;
pub use lora::LoraConfig;
pub use matmul::BACKEND as MATMUL_BACKEND;
pub use model::Model;
pub use peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS};
pub use sampling::SamplingParams;
pub use threads::set_num_threads;
pub use tokenizer::Tokenizer;
