//! The generation side of a batch: prompts taken from rows, run through the engine a few rows at
//! a time (one batched decode reads the weights once per step for all of them), and the rows
//! written back with their predictions. Runs on a blocking thread; knows nothing of storage or
//! authorization.

use std::collections::BTreeMap;
use std::path::Path;

use citadel_data::{Row, RowWriter};
use citadel_engine::{
    generate, generate_batch, Device, FinishReason, Flow, GenerateParams, Generation, Model,
    SamplingParams, Tokenizer,
};
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{Error, Result};

/// Rows decoded together in one batch.
const BATCH_ROWS: usize = 8;

/// The columns a batch adds to every row.
pub const OUTPUT_COLUMNS: [&str; 7] = [
    "prediction",
    "model",
    "model_version",
    "predicted_at",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
];

/// How each row is generated.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The column holding the prompt.
    pub(crate) column: String,
    pub(crate) max_tokens: u32,
    pub(crate) temperature: f64,
    pub(crate) seed: u64,
    /// The model's full name and version, written into every row.
    pub(crate) model: String,
    pub(crate) model_version: u32,
}

/// What the generation did, summed over rows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationTotals {
    pub rows: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Rows per finish reason: `stop` (end of sequence) or `length` (`max_tokens` reached).
    pub finish_reasons: BTreeMap<String, u64>,
}

/// A loaded model with the batch's settings, predicting rows.
pub(crate) struct Predictor {
    model: Model,
    tokenizer: Tokenizer,
    params: GenerateParams,
    context: usize,
    settings: Settings,
    pending: Vec<Row>,
    prompts: Vec<Vec<u32>>,
    seen: u64,
    pub(crate) totals: GenerationTotals,
}

impl Predictor {
    /// Loads the model and tokenizer from a verified folder.
    pub(crate) fn load(dir: &Path, settings: Settings) -> Result<Self> {
        let model = Model::load(dir, &Device::Cpu)?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        let params = GenerateParams {
            max_new_tokens: settings.max_tokens as usize,
            sampling: SamplingParams {
                temperature: settings.temperature,
                seed: settings.seed,
                ..SamplingParams::default()
            },
            eos_token_ids: tokenizer.eos_token_ids().to_vec(),
            ..GenerateParams::default()
        };
        let context = model.config().max_position_embeddings;
        Ok(Self {
            model,
            tokenizer,
            params,
            context,
            settings,
            pending: Vec::with_capacity(BATCH_ROWS),
            prompts: Vec::with_capacity(BATCH_ROWS),
            seen: 0,
            totals: GenerationTotals::default(),
        })
    }

    /// Takes one row; predicts and writes a batch once enough rows are waiting. Returns whether
    /// rows were written.
    pub(crate) fn push<W: std::io::Write>(
        &mut self,
        row: Row,
        writer: &mut RowWriter<W>,
    ) -> Result<bool> {
        self.seen += 1;
        let prompt = self.encode(&row)?;
        self.pending.push(row);
        self.prompts.push(prompt);
        if self.pending.len() < BATCH_ROWS {
            return Ok(false);
        }
        self.flush(writer)?;
        Ok(true)
    }

    /// Predicts and writes the rows still waiting.
    pub(crate) fn flush<W: std::io::Write>(&mut self, writer: &mut RowWriter<W>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let generations = self.generate()?;
        let predicted_at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|_| Error::InvalidInput("cannot format the time".into()))?;
        let rows = self.pending.drain(..).zip(self.prompts.drain(..));
        for ((mut row, prompt), generation) in rows.zip(generations) {
            let text = self.tokenizer.decode(&generation.tokens)?;
            let finish = finish_reason(generation.finish_reason);
            let output = [
                Value::String(text),
                json!(self.settings.model),
                json!(self.settings.model_version),
                json!(predicted_at),
                json!(finish),
                json!(prompt.len()),
                json!(generation.tokens.len()),
            ];
            for (column, value) in OUTPUT_COLUMNS.iter().zip(output) {
                row.insert((*column).to_owned(), value);
            }
            writer.write_row(&row)?;
            self.totals.rows += 1;
            self.totals.prompt_tokens += prompt.len() as u64;
            self.totals.completion_tokens += generation.tokens.len() as u64;
            *self
                .totals
                .finish_reasons
                .entry(finish.to_owned())
                .or_default() += 1;
        }
        Ok(())
    }

    /// The waiting rows' generations: in one batch when every prompt leaves room for
    /// `max_tokens`, else one by one, so each row gets the budget it would get alone.
    fn generate(&self) -> Result<Vec<Generation>> {
        let longest = self.prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut quiet = |_: usize, _: u32| Ok(Flow::Continue);
        if longest + self.params.max_new_tokens <= self.context {
            return Ok(generate_batch(
                &self.model,
                &self.prompts,
                &self.params,
                &mut quiet,
            )?);
        }
        self.prompts
            .iter()
            .map(|prompt| {
                Ok(generate(&self.model, prompt, &self.params, &mut |_| {
                    Ok(Flow::Continue)
                })?)
            })
            .collect()
    }

    /// The token ids of a row's prompt, or why the row cannot be predicted.
    fn encode(&self, row: &Row) -> Result<Vec<u32>> {
        let (number, column) = (self.seen, &self.settings.column);
        let text = match row.get(column) {
            Some(Value::String(text)) => text,
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "row {number}: column `{column}` holds {} where a text prompt is needed; \
                     fix the row or choose another column with --column",
                    kind_of(other)
                )))
            }
            None => {
                return Err(Error::InvalidInput(format!(
                    "row {number} has no `{column}` value; every row needs a text prompt"
                )))
            }
        };
        let prompt = self.tokenizer.encode_prompt(text)?;
        if prompt.is_empty() {
            return Err(Error::InvalidInput(format!(
                "row {number}: the prompt in `{column}` is empty"
            )));
        }
        if prompt.len() >= self.context {
            return Err(Error::InvalidInput(format!(
                "row {number}: the prompt in `{column}` has {} tokens, and {} reads at most {}; \
                 shorten it",
                prompt.len(),
                self.settings.model,
                self.context
            )));
        }
        Ok(prompt)
    }
}

/// The OpenAI name of a finish reason.
fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Eos | FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// What kind of JSON value a cell holds, for errors (never the value itself).
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_use_the_openai_names() {
        assert_eq!(finish_reason(FinishReason::Eos), "stop");
        assert_eq!(finish_reason(FinishReason::Stop), "stop");
        assert_eq!(finish_reason(FinishReason::Length), "length");
    }

    #[test]
    fn kinds_name_the_type_never_the_value() {
        assert_eq!(kind_of(&json!(null)), "null");
        assert_eq!(kind_of(&json!(42)), "a number");
        assert_eq!(kind_of(&json!({"secret": "x"})), "an object");
    }
}
