//! Training data: JSONL rows (`{"text": …}` or `{"prompt": …, "response": …}`) turned into
//! tokenized examples with loss masks, then into padded batches, shuffled by seed each epoch.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::tokenizer::Tokenizer;

/// One row of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Example {
    /// Plain text: every token is trained on.
    Text(String),
    /// A prompt and its response: only the response (and the end-of-text token) is trained on.
    PromptResponse { prompt: String, response: String },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    text: Option<String>,
    prompt: Option<String>,
    response: Option<String>,
}

/// Reads a JSONL dataset file.
pub fn read_jsonl(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jsonl(&text).map_err(|err| Error::Data(format!("{}: {err}", path.display())))
}

/// Parses JSONL text; blank lines are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = index + 1;
        let row: Row = serde_json::from_str(line)
            .map_err(|err| Error::Data(format!("line {line_no}: {err}")))?;
        let example = match row {
            Row {
                text: Some(text),
                prompt: None,
                response: None,
            } => Example::Text(text),
            Row {
                text: None,
                prompt: Some(prompt),
                response: Some(response),
            } => Example::PromptResponse { prompt, response },
            _ => {
                return Err(Error::Data(format!(
                    "line {line_no}: expected {{\"text\": …}} or {{\"prompt\": …, \"response\": …}}"
                )))
            }
        };
        examples.push(example);
    }
    if examples.is_empty() {
        return Err(Error::Data("the dataset has no rows".into()));
    }
    Ok(examples)
}

/// Token ids of one example and, for each token, whether the model is trained to predict it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedExample {
    pub ids: Vec<u32>,
    pub is_target: Vec<bool>,
}

/// How examples become token sequences.
#[derive(Debug, Clone, Copy)]
pub struct TokenizeOptions {
    /// Longest sequence kept; longer ones are cut at the end.
    pub seq_len: usize,
    /// Appended to every example (and trained on) when set.
    pub eos_id: Option<u32>,
}

/// Tokenizes examples (the text or prompt with the special tokens the tokenizer adds to a
/// prompt, the response without); those left with nothing to predict (fewer than two tokens,
/// or no response token within `seq_len`) are dropped.
pub fn tokenize(
    examples: &[Example],
    tokenizer: &Tokenizer,
    options: TokenizeOptions,
) -> Result<Vec<TokenizedExample>> {
    let mut out = Vec::with_capacity(examples.len());
    for example in examples {
        let (mut ids, mut is_target) = match example {
            Example::Text(text) => {
                let ids = tokenizer.encode_prompt(text)?;
                let n = ids.len();
                (ids, vec![true; n])
            }
            Example::PromptResponse { prompt, response } => {
                let mut ids = tokenizer.encode_prompt(prompt)?;
                let prompt_len = ids.len();
                ids.extend(tokenizer.encode(response)?);
                let mut is_target = vec![false; prompt_len];
                is_target.resize(ids.len(), true);
                (ids, is_target)
            }
        };
        if let Some(eos) = options.eos_id {
            ids.push(eos);
            is_target.push(true);
        }
        ids.truncate(options.seq_len);
        is_target.truncate(options.seq_len);
        if ids.len() >= 2 && is_target[1..].iter().any(|&t| t) {
            out.push(TokenizedExample { ids, is_target });
        }
    }
    if out.is_empty() {
        return Err(Error::Data(
            "no example has a token to train on (are the rows empty or is --seq-len too short?)"
                .into(),
        ));
    }
    Ok(out)
}

/// A padded batch: `input_ids` [batch, seq] u32 and `target_mask` [batch, seq - 1] f32, which is
/// 1 where `input_ids[:, 1:]` counts in the loss.
#[derive(Debug, Clone)]
pub struct Batch {
    pub input_ids: Tensor,
    pub target_mask: Tensor,
    /// How many targets count in the loss (the sum of `target_mask`).
    pub target_count: usize,
}

impl Batch {
    /// Pads `examples` on the right with `pad_id` to the longest one; padding is not a target.
    pub fn collate(examples: &[&TokenizedExample], pad_id: u32, device: &Device) -> Result<Self> {
        let seq = examples.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if seq < 2 {
            return Err(Error::Data(
                "a batch needs sequences of two tokens or more".into(),
            ));
        }
        let mut ids = Vec::with_capacity(examples.len() * seq);
        let mut mask = Vec::with_capacity(examples.len() * (seq - 1));
        for example in examples {
            let len = example.ids.len();
            ids.extend(&example.ids);
            ids.extend(std::iter::repeat_n(pad_id, seq - len));
            mask.extend(
                example.is_target[1..]
                    .iter()
                    .map(|&t| f32::from(u8::from(t))),
            );
            mask.extend(std::iter::repeat_n(0f32, seq - len));
        }
        let target_count = mask.iter().filter(|&&m| m > 0.0).count();
        Ok(Self {
            input_ids: Tensor::from_vec(ids, (examples.len(), seq), device)?,
            target_mask: Tensor::from_vec(mask, (examples.len(), seq - 1), device)?,
            target_count,
        })
    }

    /// A batch whose every next-token position counts, padding included (as transformers does
    /// when `labels = input_ids`).
    pub fn all_targets(input_ids: Tensor) -> Result<Self> {
        let (batch, seq) = input_ids.dims2()?;
        if seq < 2 {
            return Err(Error::Data(
                "a batch needs sequences of two tokens or more".into(),
            ));
        }
        let target_mask = Tensor::ones(
            (batch, seq - 1),
            candle_core::DType::F32,
            input_ids.device(),
        )?;
        Ok(Self {
            input_ids,
            target_mask,
            target_count: batch * (seq - 1),
        })
    }

    /// Number of token positions in the batch, padding included.
    pub fn token_count(&self) -> usize {
        self.input_ids.elem_count()
    }
}

/// Where a [`Batcher`] stands: the epoch and the next example of that epoch's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DataPosition {
    pub epoch: u64,
    pub cursor: usize,
}

/// Deals out batches over epochs; each epoch's order is a permutation drawn from the seed and
/// the epoch number alone, so a position is all it takes to resume.
#[derive(Debug)]
pub struct Batcher {
    examples: Vec<TokenizedExample>,
    batch_size: usize,
    shuffle_seed: Option<u64>,
    pad_id: u32,
    device: Device,
    position: DataPosition,
    order: Vec<usize>,
}

impl Batcher {
    /// Batches of `batch_size` examples padded with `pad_id`, shuffled when `shuffle_seed` is set.
    pub fn new(
        examples: Vec<TokenizedExample>,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        if examples.is_empty() || batch_size == 0 {
            return Err(Error::Data(
                "a batcher needs examples and a batch size of one or more".into(),
            ));
        }
        let mut batcher = Self {
            examples,
            batch_size,
            shuffle_seed,
            pad_id,
            device: device.clone(),
            position: DataPosition::default(),
            order: Vec::new(),
        };
        batcher.seek(DataPosition::default())?;
        Ok(batcher)
    }

    /// Batches per epoch; the last one of an epoch may be smaller.
    pub fn batches_per_epoch(&self) -> usize {
        self.examples.len().div_ceil(self.batch_size)
    }

    /// The position of the next batch.
    pub fn position(&self) -> DataPosition {
        self.position
    }

    /// Moves to `position` (saved earlier by [`Batcher::position`]).
    pub fn seek(&mut self, position: DataPosition) -> Result<()> {
        if position.cursor >= self.examples.len() {
            return Err(Error::Checkpoint(format!(
                "data position {} is past the {} examples of the dataset",
                position.cursor,
                self.examples.len()
            )));
        }
        self.order = self.epoch_order(position.epoch);
        self.position = position;
        Ok(())
    }

    fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        if let Some(seed) = self.shuffle_seed {
            let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for i in (1..order.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
        }
        order
    }

    /// The next batch; wraps into the next epoch.
    pub fn next_batch(&mut self) -> Result<Batch> {
        let start = self.position.cursor;
        let end = (start + self.batch_size).min(self.examples.len());
        let picked: Vec<usize> = self.order[start..end].to_vec();
        if end == self.examples.len() {
            self.position = DataPosition {
                epoch: self.position.epoch + 1,
                cursor: 0,
            };
            self.order = self.epoch_order(self.position.epoch);
        } else {
            self.position.cursor = end;
        }
        let examples: Vec<&TokenizedExample> =
            picked.into_iter().map(|i| &self.examples[i]).collect();
        Batch::collate(&examples, self.pad_id, &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(ids: &[u32], first_target: usize) -> TokenizedExample {
        TokenizedExample {
            ids: ids.to_vec(),
            is_target: (0..ids.len()).map(|i| i >= first_target).collect(),
        }
    }

    #[test]
    fn parses_both_row_kinds_and_rejects_others() {
        let rows = "{\"text\": \"a\"}\n\n{\"prompt\": \"p\", \"response\": \"r\"}\n";
        assert_eq!(
            parse_jsonl(rows).unwrap(),
            vec![
                Example::Text("a".into()),
                Example::PromptResponse {
                    prompt: "p".into(),
                    response: "r".into()
                }
            ]
        );
        let err = parse_jsonl("{\"text\": \"a\"}\n{\"prompt\": \"p\"}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse_jsonl("not json").is_err());
        assert!(parse_jsonl("\n").is_err());
    }

    #[test]
    fn collate_pads_and_masks_prompt_and_padding() {
        let a = example(&[5, 6, 7, 8], 2);
        let b = example(&[9, 10], 0);
        let batch = Batch::collate(&[&a, &b], 0, &Device::Cpu).unwrap();
        assert_eq!(
            batch.input_ids.to_vec2::<u32>().unwrap(),
            vec![vec![5, 6, 7, 8], vec![9, 10, 0, 0]]
        );
        assert_eq!(
            batch.target_mask.to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 1.0, 1.0], vec![1.0, 0.0, 0.0]]
        );
        assert_eq!(batch.target_count, 3);
    }

    #[test]
    fn batcher_is_deterministic_covers_each_epoch_and_resumes() {
        let examples: Vec<_> = (0..7).map(|i| example(&[i, i + 1], 0)).collect();
        let device = Device::Cpu;
        let mut first = Batcher::new(examples.clone(), 3, Some(42), 0, &device).unwrap();
        assert_eq!(first.batches_per_epoch(), 3);
        let take = |b: &mut Batcher| -> Vec<u32> {
            let ids = b.next_batch().unwrap().input_ids.to_vec2::<u32>().unwrap();
            ids.iter().map(|row| row[0]).collect()
        };
        let mut epoch0: Vec<u32> = (0..3).flat_map(|_| take(&mut first)).collect();
        assert_eq!(
            first.position(),
            DataPosition {
                epoch: 1,
                cursor: 0
            }
        );
        let saved_at_batch_4 = {
            take(&mut first);
            first.position()
        };
        let rest: Vec<u32> = take(&mut first);
        let mut resumed = Batcher::new(examples.clone(), 3, Some(42), 0, &device).unwrap();
        resumed.seek(saved_at_batch_4).unwrap();
        assert_eq!(take(&mut resumed), rest);
        epoch0.sort_unstable();
        assert_eq!(epoch0, (0..7).collect::<Vec<_>>());
        let mut unshuffled = Batcher::new(examples, 3, None, 0, &device).unwrap();
        assert_eq!(take(&mut unshuffled), vec![0, 1, 2]);
    }
}
