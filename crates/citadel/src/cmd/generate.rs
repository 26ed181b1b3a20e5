//! `citadel generate`: load a local model folder (and optionally a PEFT adapter), run a prompt or
//! a chat message through it and stream the continuation to stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use citadel_engine::{
    generate_text, ChatMessage, Device, GenerateParams, Model, SamplingParams, Tokenizer,
};

/// Generate text with a local model folder (and optionally a PEFT adapter); the continuation
/// streams to stdout.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["prompt", "chat"])))]
pub struct GenerateArgs {
    /// Hugging Face model folder (config.json, *.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// PEFT adapter folder (adapter_config.json, adapter_model.safetensors) to apply.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Text to continue as it is.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// A user message, wrapped in the model's chat template.
    #[arg(long, value_name = "TEXT")]
    pub chat: Option<String>,
    /// Most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Sampling temperature; 0 decodes greedily.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample only among the K most likely tokens.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub top_k: Option<u32>,
    /// Sample only among the most likely tokens whose probabilities add up to P.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Penalty on tokens already present (1 = none).
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    pub repetition_penalty: f32,
    /// Seed for sampling.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Stop when the output contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
}

/// Runs `citadel generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let params = params(&args)?;
    let device = Device::Cpu;
    let mut model = Model::load(&args.model, &device)?;
    let tokenizer = Tokenizer::from_dir(&args.model)?;
    if let Some(adapter) = &args.adapter {
        model
            .load_adapter(adapter)
            .with_context(|| format!("cannot apply adapter {}", adapter.display()))?;
    }
    let prompt = match (&args.prompt, &args.chat) {
        (Some(text), _) => tokenizer.encode_prompt(text)?,
        (None, Some(message)) => {
            if !tokenizer.has_chat_template() {
                anyhow::bail!(
                    "{} has no chat template (tokenizer_config.json chat_template); use --prompt",
                    args.model.display()
                );
            }
            let text = tokenizer.apply_chat_template(&[ChatMessage::new("user", message)])?;
            tokenizer.encode(&text)?
        }
        (None, None) => anyhow::bail!("give --prompt TEXT or --chat TEXT"),
    };
    let params = GenerateParams {
        eos_token_ids: tokenizer.eos_token_ids().to_vec(),
        ..params
    };
    let mut stdout = std::io::stdout().lock();
    generate_text(&model, &tokenizer, &prompt, &params, &mut |piece| {
        stdout
            .write_all(piece.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| citadel_engine::Error::io("stdout", e))
    })?;
    writeln!(stdout).context("cannot write to stdout")?;
    Ok(())
}

/// Checks the sampling flags and turns them into generation parameters.
fn params(args: &GenerateArgs) -> anyhow::Result<GenerateParams> {
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        anyhow::bail!("--temperature must be 0 or more, got {}", args.temperature);
    }
    if let Some(p) = args.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        anyhow::bail!("--top-p must be in (0, 1], got {p}");
    }
    if !(args.repetition_penalty.is_finite() && args.repetition_penalty > 0.0) {
        anyhow::bail!(
            "--repetition-penalty must be above 0, got {}",
            args.repetition_penalty
        );
    }
    Ok(GenerateParams {
        max_new_tokens: args.max_tokens as usize,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k.map(|k| k as usize),
            top_p: args.top_p,
            repetition_penalty: args.repetition_penalty,
            seed: args.seed,
        },
        stop_strings: args.stop.clone(),
        ..GenerateParams::default()
    })
}
