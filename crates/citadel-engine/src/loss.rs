//! Next-token cross-entropy with a target mask, differentiable with candle's autograd.
//!
//! On CPU it is one fused, multi-threaded op over the `[rows, vocab]` logits whose backward
//! writes `softmax - one_hot` directly: the logits are the largest activation of a step, and
//! the composed version makes a dozen single-threaded passes over them. Training goes one step
//! further and folds the language-model head in ([`head_nll_sum`]). Other devices take the
//! composed path.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use crate::buffer;
use crate::error::Result;
use crate::matmul::{self, Rhs};
use crate::ops::{contiguous_f32, cpu_f32, Kept};
use crate::vmath;

/// The summed negative log-likelihood of `input_ids[:, 1:]` under `logits[:, :-1]`, counting
/// only the positions where `target_mask` ([batch, seq - 1], 0 or 1) is 1. A scalar tensor.
pub fn masked_nll_sum(logits: &Tensor, input_ids: &Tensor, target_mask: &Tensor) -> Result<Tensor> {
    if !logits.device().is_cpu() || logits.dtype() != DType::F32 {
        return composed_nll_sum(logits, input_ids, target_mask);
    }
    let (batch, seq, vocab) = logits.dims3()?;
    let (targets, weights) = shifted_targets(input_ids, target_mask)?;
    let rows = logits.reshape((batch * seq, vocab))?;
    let per_row = rows.apply_op1(MaskedCrossEntropy {
        targets,
        weights,
        log_sum_exps: OnceLock::new(),
    })?;
    Ok(per_row.sum_all()?)
}

/// [`masked_nll_sum`] of the logits `hidden · headᵀ` (`hidden` `[batch, seq, h]`, `head`
/// `[vocab, h]`), the language-model head and its loss as one op on CPU when the head is frozen.
///
/// The logits are the largest tensor of a training step (`batch·seq·vocab` floats). Here only
/// the positions that count get logits, the backward turns them into their own gradient in
/// place, and autograd never sees them: no zero-filled gradient buffer, no accumulation pass,
/// no second copy.
pub(crate) fn head_nll_sum(
    hidden: &Tensor,
    head: &Tensor,
    input_ids: &Tensor,
    target_mask: &Tensor,
) -> Result<Tensor> {
    let fusable = hidden.device().is_cpu()
        && hidden.dtype() == DType::F32
        && head.dtype() == DType::F32
        && !head.track_op();
    if !fusable {
        let logits = crate::dense::linear(hidden, head, None)?;
        return masked_nll_sum(&logits, input_ids, target_mask);
    }
    let (targets, weights) = shifted_targets(input_ids, target_mask)?;
    let scored = (0..weights.len()).filter(|&r| weights[r] != 0.0).collect();
    let op = HeadCrossEntropy {
        head: head.contiguous()?,
        rows: Rows {
            targets,
            weights,
            scored,
        },
        keep_for_backward: hidden.track_op(),
        saved: Kept::empty(),
    };
    let hidden = hidden.contiguous()?;
    let per_row = if hidden.track_op() {
        hidden.apply_op1(op)?
    } else {
        hidden.apply_op1_no_bwd(&op)?
    };
    Ok(per_row.sum_all()?)
}

/// Per position of `input_ids` `[batch, seq]`: the next token (the target) and its weight from
/// `target_mask` `[batch, seq - 1]`. The last position of each sequence predicts nothing.
fn shifted_targets(input_ids: &Tensor, target_mask: &Tensor) -> Result<(Vec<u32>, Vec<f32>)> {
    let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mask = target_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    if mask.len() != ids.len() || ids.iter().zip(&mask).any(|(i, m)| m.len() + 1 != i.len()) {
        return Err(crate::Error::InvalidArgument(format!(
            "target mask {:?} does not fit input ids {:?} (one fewer column expected)",
            target_mask.dims(),
            input_ids.dims()
        )));
    }
    let positions = ids.iter().map(Vec::len).sum();
    let mut targets = Vec::with_capacity(positions);
    let mut weights = Vec::with_capacity(positions);
    for (row_ids, row_mask) in ids.iter().zip(&mask) {
        targets.extend(&row_ids[1..]);
        targets.push(0);
        weights.extend(row_mask);
        weights.push(0.0);
    }
    Ok((targets, weights))
}

/// The same loss from differentiable candle primitives.
fn composed_nll_sum(logits: &Tensor, input_ids: &Tensor, target_mask: &Tensor) -> Result<Tensor> {
    let (batch, seq, vocab) = logits.dims3()?;
    let rows = batch * (seq - 1);
    let logits = logits.narrow(1, 0, seq - 1)?.reshape((rows, vocab))?;
    let targets = input_ids
        .narrow(1, 1, seq - 1)?
        .reshape((rows, 1))?
        .to_dtype(DType::U32)?;
    // The shift by the row maximum does not change the value, so it needs no gradient.
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_sum_exp = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let target_logit = shifted.gather(&targets, D::Minus1)?;
    let nll = (log_sum_exp - target_logit)?.reshape(rows)?;
    Ok((nll * target_mask.reshape(rows)?)?.sum_all()?)
}

/// Per row of `[rows, vocab]` logits: `weight · (logsumexp(row) - row[target])`.
struct MaskedCrossEntropy {
    targets: Vec<u32>,
    weights: Vec<f32>,
    /// Each weighted row's `logsumexp`, kept by the forward pass for the backward's softmax.
    log_sum_exps: OnceLock<Vec<f32>>,
}

/// `ln Σ exp(row)`, shifted by the row's maximum and summed in f64.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = vmath::max(row);
    max + vmath::sum_exp(row, max).ln() as f32
}

/// Turns a row of logits into `scale · (softmax(row) − one_hot(target))`, in place, given the
/// row's `logsumexp`.
fn softmax_minus_one_hot(row: &mut [f32], log_sum_exp: f32, scale: f32, target: u32) {
    for v in row.iter_mut() {
        *v = scale * vmath::exp(*v - log_sum_exp);
    }
    row[target as usize] -= scale;
}

impl MaskedCrossEntropy {
    fn check(&self, layout: &Layout) -> candle_core::Result<(usize, usize)> {
        let (rows, vocab) = layout.shape().dims2()?;
        check_targets(rows, &self.targets, vocab)?;
        Ok((rows, vocab))
    }
}

/// Checks there is one target per row and each is a token of the vocabulary.
fn check_targets(rows: usize, targets: &[u32], vocab: usize) -> candle_core::Result<()> {
    if rows != targets.len() {
        candle_core::bail!("cross-entropy: {rows} rows for {} targets", targets.len())
    }
    if let Some(bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("cross-entropy: target id {bad} is outside the vocabulary of {vocab}")
    }
    Ok(())
}

impl CustomOp1 for MaskedCrossEntropy {
    fn name(&self) -> &'static str {
        "masked-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, vocab) = self.check(layout)?;
        let logits = contiguous_f32(storage, layout)?;
        let log_sum_exps: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(&self.weights)
            .map(|(row, &weight)| if weight == 0.0 { 0.0 } else { log_sum_exp(row) })
            .collect();
        let losses = logits
            .chunks(vocab)
            .zip(self.targets.iter().zip(&self.weights))
            .zip(&log_sum_exps)
            .map(|((row, (&target, &weight)), &lse)| {
                if weight == 0.0 {
                    0.0
                } else {
                    weight * (lse - row[target as usize])
                }
            })
            .collect();
        // A second forward of the same op (never done) would find the same values.
        let _ = self.log_sum_exps.set(log_sum_exps);
        Ok((CpuStorage::F32(losses), Shape::from(rows)))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(log_sum_exps) = self.log_sum_exps.get() else {
            candle_core::bail!("cross-entropy backward before its forward")
        };
        let grad_logits = arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &MaskedCrossEntropyGrad {
                targets: &self.targets,
                weights: &self.weights,
                log_sum_exps,
            },
        )?;
        Ok(Some(grad_logits))
    }
}

/// `d loss / d logits = upstream · weight · (softmax(row) - one_hot(target))`.
struct MaskedCrossEntropyGrad<'a> {
    targets: &'a [u32],
    weights: &'a [f32],
    log_sum_exps: &'a [f32],
}

impl CustomOp2 for MaskedCrossEntropyGrad<'_> {
    fn name(&self) -> &'static str {
        "masked-cross-entropy-grad"
    }

    fn cpu_fwd(
        &self,
        logits: &CpuStorage,
        logits_layout: &Layout,
        upstream: &CpuStorage,
        upstream_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, vocab) = logits_layout.shape().dims2()?;
        let logits = contiguous_f32(logits, logits_layout)?;
        let upstream = contiguous_f32(upstream, upstream_layout)?;
        if upstream.len() != rows || self.targets.len() != rows || self.log_sum_exps.len() != rows {
            candle_core::bail!("cross-entropy backward: shapes do not match")
        }
        let out = buffer::filled(rows * vocab, vocab, |r, out_row| {
            let scale = upstream[r] * self.weights[r];
            if scale != 0.0 {
                out_row.copy_from_slice(&logits[r * vocab..][..vocab]);
                softmax_minus_one_hot(out_row, self.log_sum_exps[r], scale, self.targets[r]);
            }
        });
        Ok((CpuStorage::F32(out), logits_layout.shape().clone()))
    }
}

/// The positions of a head-and-loss op: targets, weights, and the rows that count.
struct Rows {
    targets: Vec<u32>,
    weights: Vec<f32>,
    /// Indices of the rows with a non-zero weight, ascending: only they get logits.
    scored: Vec<usize>,
}

/// `hidden` `[.., h]` → per row `weight · (logsumexp(l) − l[target])` with `l = row · headᵀ`.
struct HeadCrossEntropy {
    head: Tensor,
    rows: Rows,
    /// Whether the forward keeps its logits for a backward (training).
    keep_for_backward: bool,
    /// The scored rows' logits and `logsumexp`s, left by the forward for the backward.
    saved: Kept<(Vec<f32>, Vec<f32>)>,
}

impl HeadCrossEntropy {
    /// The head's `(vocab, h)`, checked against a hidden state of `shape`, and its row count.
    fn dims(&self, shape: &Shape) -> candle_core::Result<(usize, usize, usize)> {
        let (vocab, h) = self.head.dims2()?;
        if vocab == 0 || h == 0 || shape.dims().last() != Some(&h) {
            candle_core::bail!("lm_head [{vocab}, {h}] applied to hidden states {shape:?}")
        }
        let rows = shape.elem_count() / h;
        check_targets(rows, &self.rows.targets, vocab)?;
        Ok((vocab, h, rows))
    }

    /// Logits `[scored, vocab]` of the scored rows of `hidden`, and their `logsumexp`s.
    fn logits(&self, hidden: &[f32], h: usize) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        let (vocab, _) = self.head.dims2()?;
        let scored = &self.rows.scored;
        let gathered;
        let input = if scored.len() * h == hidden.len() {
            hidden
        } else {
            gathered = scored
                .iter()
                .flat_map(|&r| &hidden[r * h..(r + 1) * h])
                .copied()
                .collect::<Vec<_>>();
            &gathered
        };
        let head = cpu_f32(&self.head)?;
        let logits = matmul::product(input, &head, Rhs::Transposed, (scored.len(), vocab, h))
            .map_err(candle_core::Error::Msg)?;
        let log_sum_exps = logits.par_chunks(vocab).map(log_sum_exp).collect();
        Ok((logits, log_sum_exps))
    }
}

impl CustomOp1 for HeadCrossEntropy {
    fn name(&self) -> &'static str {
        "lm-head-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (vocab, h, rows) = self.dims(layout.shape())?;
        let (logits, log_sum_exps) = self.logits(contiguous_f32(storage, layout)?, h)?;
        let Rows {
            targets,
            weights,
            scored,
        } = &self.rows;
        let mut losses = vec![0f32; rows];
        for (i, &r) in scored.iter().enumerate() {
            let target_logit = logits[i * vocab + targets[r] as usize];
            losses[r] = weights[r] * (log_sum_exps[i] - target_logit);
        }
        if self.keep_for_backward {
            self.saved.put((logits, log_sum_exps))?;
        }
        Ok((CpuStorage::F32(losses), Shape::from(rows)))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (vocab, h, rows) = self.dims(hidden.shape())?;
        let saved = self.saved.take()?;
        // A second backward over the same graph finds the logits consumed: recompute them.
        let (mut logits, log_sum_exps) = match saved {
            Some(saved) => saved,
            None => self.logits(&cpu_f32(&hidden.contiguous()?)?, h)?,
        };
        let grad = grad.contiguous()?;
        let upstream = cpu_f32(&grad)?;
        let Rows {
            targets,
            weights,
            scored,
        } = &self.rows;
        logits
            .par_chunks_mut(vocab)
            .zip(scored.par_iter().zip(&log_sum_exps))
            .for_each(|(row, (&r, &lse))| {
                softmax_minus_one_hot(row, lse, upstream[r] * weights[r], targets[r]);
            });
        let head = cpu_f32(&self.head)?;
        let d_scored = matmul::product(&logits, &head, Rhs::Plain, (scored.len(), h, vocab))
            .map_err(candle_core::Error::Msg)?;
        let d_hidden = if scored.len() == rows {
            d_scored
        } else {
            let mut d_hidden = vec![0f32; rows * h];
            for (&r, d) in scored.iter().zip(d_scored.chunks(h)) {
                d_hidden[r * h..(r + 1) * h].copy_from_slice(d);
            }
            d_hidden
        };
        Tensor::from_vec(d_hidden, hidden.shape(), hidden.device()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{max_diff, wave};
    use candle_core::{Device, Var};

    #[test]
    fn matches_hand_computed_value_and_gradient() {
        let device = Device::Cpu;
        // batch 1, seq 3, vocab 2: two predictions, the second masked out.
        let logits =
            Var::from_slice(&[0.0f32, 1.0, 2.0, 0.0, 5.0, 5.0], (1, 3, 2), &device).unwrap();
        let ids = Tensor::new(&[[0u32, 1, 0]], &device).unwrap();
        let mask = Tensor::new(&[[1f32, 0.0]], &device).unwrap();
        let loss = masked_nll_sum(logits.as_tensor(), &ids, &mask).unwrap();
        let p1 = 1.0 / (1.0 + (-1f32).exp()); // softmax([0, 1])[1]
        assert!((loss.to_scalar::<f32>().unwrap() + p1.ln()).abs() < 1e-6);
        let grads = loss.backward().unwrap();
        let grad = grads
            .get(logits.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap();
        let grad = grad.to_vec1::<f32>().unwrap();
        let want = [1.0 - p1, p1 - 1.0, 0.0, 0.0, 0.0, 0.0];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{grad:?}");
        }
    }

    #[test]
    fn fused_and_composed_agree() {
        let device = Device::Cpu;
        let logits =
            Var::from_tensor(&Tensor::randn(0f32, 3.0, (2, 5, 11), &device).unwrap()).unwrap();
        let ids = Tensor::new(&[[1u32, 4, 10, 0, 3], [7, 7, 2, 9, 5]], &device).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]], &device).unwrap();
        let fused = masked_nll_sum(logits.as_tensor(), &ids, &mask).unwrap();
        let composed = composed_nll_sum(logits.as_tensor(), &ids, &mask).unwrap();
        let (f, c) = (
            fused.to_scalar::<f32>().unwrap(),
            composed.to_scalar::<f32>().unwrap(),
        );
        assert!((f - c).abs() < 1e-4, "{f} vs {c}");
        let gf = fused
            .backward()
            .unwrap()
            .get(logits.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap();
        let gc = composed
            .backward()
            .unwrap()
            .get(logits.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap();
        let diff = (gf - gc)
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "gradients differ by {diff}");
    }

    /// `(hidden, head, ids, mask)` for the head-and-loss tests: batch 2, seq 6, h 8, vocab 13.
    fn head_case(mask: &[[f32; 5]; 2]) -> (Var, Tensor, Tensor, Tensor) {
        let device = Device::Cpu;
        let hidden = Var::from_tensor(&wave(&[2, 6, 8], 1.0)).unwrap();
        let head = (wave(&[13, 8], 2.0) * 2.0).unwrap();
        let ids = Tensor::new(&[[1u32, 4, 12, 0, 3, 7], [7, 7, 2, 9, 5, 11]], &device).unwrap();
        let mask = Tensor::new(mask, &device).unwrap();
        (hidden, head, ids, mask)
    }

    #[test]
    fn the_fused_head_and_loss_match_logits_then_loss() {
        let all = [[1.0; 5]; 2];
        let some = [[0.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 1.0]];
        for mask in [all, some] {
            let (hidden, head, ids, mask) = head_case(&mask);
            let fused = head_nll_sum(hidden.as_tensor(), &head, &ids, &mask).unwrap();
            let logits = crate::dense::linear(hidden.as_tensor(), &head, None).unwrap();
            let reference = masked_nll_sum(&logits, &ids, &mask).unwrap();
            let (f, r) = (
                fused.to_scalar::<f32>().unwrap(),
                reference.to_scalar::<f32>().unwrap(),
            );
            assert!((f - r).abs() < 1e-5, "{f} vs {r}");
            let grad = |loss: &Tensor| loss.backward().unwrap().get(&hidden).unwrap().clone();
            let (gf, gr) = (grad(&fused), grad(&reference));
            assert!(
                max_diff(&gf, &gr) < 1e-6,
                "gradients differ by {}",
                max_diff(&gf, &gr)
            );
            // The first backward consumed the kept logits; a second recomputes them.
            assert!(max_diff(&grad(&fused), &gf) < 1e-7);
        }
    }

    #[test]
    fn the_fused_head_refuses_masks_and_targets_that_do_not_fit() {
        let (hidden, head, ids, _) = head_case(&[[1.0; 5]; 2]);
        let wide = Tensor::ones((2, 6), DType::F32, &Device::Cpu).unwrap();
        assert!(head_nll_sum(hidden.as_tensor(), &head, &ids, &wide).is_err());
        let mask = Tensor::ones((2, 5), DType::F32, &Device::Cpu).unwrap();
        let outside = Tensor::new(&[[1u32, 4, 13, 0, 3, 7], [0; 6]], &Device::Cpu).unwrap();
        assert!(head_nll_sum(hidden.as_tensor(), &head, &outside, &mask).is_err());
        let narrow_head = wave(&[13, 7], 2.0);
        assert!(head_nll_sum(hidden.as_tensor(), &narrow_head, &ids, &mask).is_err());
    }
}
