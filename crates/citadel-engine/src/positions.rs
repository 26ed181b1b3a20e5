//! Where the tokens of a forward pass sit: their position ids and the attention mask, for one
//! sequence (or equal-length rows) and for left-padded batches of prompts.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Positions and mask of `s` new tokens per row after `offset` cached ones.
#[derive(Debug)]
pub(crate) struct Positions {
    /// Index of the first new position (the cache length).
    pub(crate) offset: usize,
    /// Per-token position ids `[b * s]` when rows are left-padded; `offset..offset + s` otherwise.
    pub(crate) ids: Option<Tensor>,
    /// Additive mask, `[s, t]` or `[b, 1, 1, s, t]` with padding; none for one unpadded token.
    pub(crate) mask: Option<Tensor>,
}

impl Positions {
    /// Positions for `[b, s]` tokens after `offset` cached ones; `left_pad[r]` pad tokens open row `r`.
    pub(crate) fn new(
        (b, s): (usize, usize),
        offset: usize,
        left_pad: Option<&[usize]>,
        max_positions: usize,
        device: &Device,
    ) -> Result<Self> {
        let total = offset + s;
        if total > max_positions {
            return Err(Error::InvalidArgument(format!(
                "sequence of {total} tokens exceeds the model's {max_positions} positions"
            )));
        }
        let Some(pad) = left_pad.filter(|p| p.iter().any(|&n| n > 0)) else {
            let mask = if s > 1 {
                Some(causal_mask(s, offset, device)?)
            } else {
                None
            };
            return Ok(Self {
                offset,
                ids: None,
                mask,
            });
        };
        if pad.len() != b {
            return Err(Error::InvalidArgument(format!(
                "{} padding counts for {b} rows",
                pad.len()
            )));
        }
        let mut ids = Vec::with_capacity(b * s);
        let mut mask = Vec::with_capacity(b * s * total);
        for &p in pad {
            for i in offset..total {
                ids.push(i.saturating_sub(p) as u32);
                // A pad query sees only itself, so its row stays finite; real tokens skip pads.
                mask.extend((0..total).map(|j| {
                    let visible = j <= i && (j >= p || j == i);
                    if visible {
                        0.0f32
                    } else {
                        f32::NEG_INFINITY
                    }
                }));
            }
        }
        Ok(Self {
            offset,
            ids: Some(Tensor::from_vec(ids, b * s, device)?.to_dtype(DType::U32)?),
            mask: Some(Tensor::from_vec(mask, (b, 1, 1, s, total), device)?),
        })
    }

    /// Rows of `table` (`[max_positions, d]`) for the new tokens: `[s, d]`, or `[b, s, d]` padded.
    pub(crate) fn select(&self, table: &Tensor, (b, s): (usize, usize)) -> Result<Tensor> {
        match &self.ids {
            None => Ok(table.narrow(0, self.offset, s)?),
            Some(ids) => Ok(table.index_select(ids, 0)?.reshape((b, s, ()))?),
        }
    }
}

/// Additive causal mask `[seq, offset + seq]`: 0 where a query may attend, -inf elsewhere.
fn causal_mask(seq: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let total = offset + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > offset + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total), device)?)
}
