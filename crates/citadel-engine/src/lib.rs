//! Citadel's model engine on candle: GPT-2 and Llama families, tokenizer, LoRA (PEFT format),
//! generation, training and evaluation. It knows nothing of storage or auth: it takes paths or
//! bytes and returns tensors, tokens and metrics.
