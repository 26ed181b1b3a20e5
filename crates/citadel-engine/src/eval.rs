//! Held-out evaluation: mean next-token loss over the target tokens of a dataset, and its
//! perplexity.

use crate::data::{Batch, TokenizedExample};
use crate::error::{Error, Result};
use crate::model::Model;

/// Loss and perplexity on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EvalReport {
    /// Mean negative log-likelihood per target token.
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Target tokens counted.
    pub target_tokens: usize,
}

/// Evaluates `model` on `examples` in batches of `batch_size`, without dropout or gradients.
pub fn evaluate(
    model: &Model,
    examples: &[TokenizedExample],
    batch_size: usize,
    pad_id: u32,
) -> Result<EvalReport> {
    if examples.is_empty() || batch_size == 0 {
        return Err(Error::InvalidArgument(
            "evaluation needs examples and a batch size".into(),
        ));
    }
    let mut nll = 0f64;
    let mut target_tokens = 0usize;
    for chunk in examples.chunks(batch_size) {
        let refs: Vec<&TokenizedExample> = chunk.iter().collect();
        let batch = Batch::collate(&refs, pad_id, model.device())?;
        let sum = model.nll_sum_eval(&batch.input_ids, &batch.target_mask)?;
        nll += f64::from(sum.to_scalar::<f32>()?);
        target_tokens += batch.target_count;
    }
    let loss = nll / target_tokens.max(1) as f64;
    Ok(EvalReport {
        loss,
        perplexity: loss.exp(),
        target_tokens,
    })
}
