//! Next-token cross-entropy with a target mask, differentiable with candle's autograd.
//!
//! On CPU it is one fused, multi-threaded op over the `[rows, vocab]` logits whose backward
//! writes `softmax - one_hot` directly: the logits are the largest activation of a step, and
//! the composed version makes a dozen single-threaded passes over them. Other devices take the
//! composed path.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use crate::error::Result;
use crate::ops::contiguous_f32;
use crate::vmath;

/// The summed negative log-likelihood of `input_ids[:, 1:]` under `logits[:, :-1]`, counting
/// only the positions where `target_mask` ([batch, seq - 1], 0 or 1) is 1. A scalar tensor.
pub fn masked_nll_sum(logits: &Tensor, input_ids: &Tensor, target_mask: &Tensor) -> Result<Tensor> {
    if !logits.device().is_cpu() || logits.dtype() != DType::F32 {
        return composed_nll_sum(logits, input_ids, target_mask);
    }
    let (batch, seq, vocab) = logits.dims3()?;
    let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mask = target_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    // One row per position; the last position of each sequence predicts nothing.
    let mut targets = Vec::with_capacity(batch * seq);
    let mut weights = Vec::with_capacity(batch * seq);
    for (row_ids, row_mask) in ids.iter().zip(&mask) {
        targets.extend(&row_ids[1..]);
        targets.push(0);
        weights.extend(row_mask);
        weights.push(0.0);
    }
    let rows = logits.reshape((batch * seq, vocab))?;
    let per_row = rows.apply_op1(MaskedCrossEntropy {
        targets,
        weights,
        log_sum_exps: OnceLock::new(),
    })?;
    Ok(per_row.sum_all()?)
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

impl MaskedCrossEntropy {
    fn check(&self, layout: &Layout) -> candle_core::Result<(usize, usize)> {
        let (rows, vocab) = layout.shape().dims2()?;
        if rows != self.targets.len() {
            candle_core::bail!(
                "cross-entropy: {rows} rows for {} targets",
                self.targets.len()
            )
        }
        if let Some(bad) = self.targets.iter().find(|&&t| t as usize >= vocab) {
            candle_core::bail!(
                "cross-entropy: target id {bad} is outside the vocabulary of {vocab}"
            )
        }
        Ok((rows, vocab))
    }
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
        let mut out = vec![0f32; rows * vocab];
        out.par_chunks_mut(vocab)
            .zip(logits.par_chunks(vocab))
            .enumerate()
            .for_each(|(r, (out_row, row))| {
                let scale = upstream[r] * self.weights[r];
                if scale == 0.0 {
                    return;
                }
                let shift = self.log_sum_exps[r];
                for (o, &x) in out_row.iter_mut().zip(row) {
                    *o = scale * vmath::exp(x - shift);
                }
                out_row[self.targets[r] as usize] -= scale;
            });
        Ok((CpuStorage::F32(out), logits_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
