//! Scaled dot-product attention with grouped key/value heads and an additive mask.
//!
//! On CPU, for more than one query position (training, evaluation, prompt prefill), it is one op
//! forward and one backward, parallel over (batch row, key/value head) pairs. Composed from candle
//! ops, a layer's attention is a dozen nodes whose backward passes each fill the scores-sized
//! gradients single-threaded, and the mask's addition alone costs four such passes. The forward
//! keeps the probabilities for the backward when there are at most [`KEEP_PROBS_MAX_KEYS`] keys;
//! for longer sequences, whose probabilities would outweigh every other activation, the backward
//! recomputes them from q and k. Single-token decoding and other devices use the composed form.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::buffer;
use crate::error::Result;
use crate::matmul::{self, Rhs};
use crate::ops::{contiguous_f32, cpu_f32, softmax_last_dim, Kept};
use crate::vmath;

/// Up to this many keys per query, the forward keeps the probabilities for the backward: for a
/// 4 × 128 batch of SmolLM2 they are 2.4 MB a layer, about as much as its queries.
const KEEP_PROBS_MAX_KEYS: usize = 256;

/// Attention over `q` `[b, heads, s, d]`, `k` and `v` `[b, kv_heads, t, d]`, with `mask` `[s, t]`
/// or `[b, 1, 1, s, t]` added to the scores. Returns `[b, heads, s, d]`.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, heads, s, d) = q.dims4()?;
    let (_, kv_heads, t, _) = k.dims4()?;
    if s > 1 && q.device().is_cpu() && q.dtype() == DType::F32 && heads % kv_heads == 0 {
        let mask = match mask {
            Some(mask) if mask.elem_count() == s * t || mask.elem_count() == b * s * t => {
                Some(mask.flatten_all()?.to_vec1::<f32>()?)
            }
            Some(mask) => {
                return Err(crate::Error::InvalidArgument(format!(
                    "attention mask {:?} fits neither [{s}, {t}] nor [{b}, 1, 1, {s}, {t}]",
                    mask.dims()
                )))
            }
            None => None,
        };
        let tracked = q.track_op() || k.track_op() || v.track_op();
        let kept = if tracked && t <= KEEP_PROBS_MAX_KEYS {
            (0..b * kv_heads).map(|_| Kept::empty()).collect()
        } else {
            Vec::new()
        };
        let op = Fused {
            shape: Dims {
                b,
                heads,
                kv_heads,
                s,
                t,
                d,
            },
            mask,
            kept,
        };
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        return Ok(if tracked {
            q.apply_op3(&k, &v, op)?
        } else {
            q.apply_op3_no_bwd(&k, &v, &op)?
        });
    }
    composed(q, k, v, mask)
}

/// The same attention from candle ops. Query heads sharing a key/value head are folded into
/// the sequence axis, and k and v are read where they lie (a decoding step's are views of the
/// KV cache's buffers), so no copy of either is made.
fn composed(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, heads, s, d) = q.dims4()?;
    let (_, kv_heads, t, _) = k.dims4()?;
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    let q = (q.contiguous()? * scale)?.reshape((b, kv_heads, group * s, d))?;
    let scores = q.matmul(&k.t()?)?;
    let scores = match mask {
        Some(mask) => scores
            .reshape((b, kv_heads, group, s, t))?
            .broadcast_add(mask)?
            .reshape((b, kv_heads, group * s, t))?,
        None => scores,
    };
    let probs = softmax_last_dim(&scores)?;
    Ok(probs.matmul(v)?.reshape((b, heads, s, d))?)
}

#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    heads: usize,
    kv_heads: usize,
    s: usize,
    t: usize,
    d: usize,
}

impl Dims {
    /// Query rows of one (batch row, key/value head) pair: its group of heads × positions.
    fn rows(&self) -> usize {
        self.heads / self.kv_heads * self.s
    }

    fn pairs(&self) -> usize {
        self.b * self.kv_heads
    }
}

/// The op; `mask` is the additive mask, flattened, shared by all rows (`s·t`) or per row (`b·s·t`).
struct Fused {
    shape: Dims,
    mask: Option<Vec<f32>>,
    /// Per pair, the probabilities the forward left for the backward (empty: not kept).
    kept: Vec<Kept<Vec<f32>>>,
}

impl Fused {
    /// Softmax probabilities `[rows, t]` of pair `pair` from its queries and keys.
    fn probs(&self, pair: usize, q: &[f32], k: &[f32]) -> candle_core::Result<Vec<f32>> {
        let Dims { s, t, d, .. } = self.shape;
        let rows = self.shape.rows();
        let mut scores = product(q, k, Rhs::Transposed, (rows, t, d))?;
        let scale = 1.0 / (d as f32).sqrt();
        let mask = self.mask.as_deref().map(|mask| {
            let row = pair / self.shape.kv_heads;
            if mask.len() == s * t {
                mask
            } else {
                &mask[row * s * t..(row + 1) * s * t]
            }
        });
        for (r, row) in scores.chunks_mut(t).enumerate() {
            match mask {
                Some(m) => {
                    let mask_row = &m[(r % s) * t..(r % s + 1) * t];
                    for (x, &m) in row.iter_mut().zip(mask_row) {
                        *x = *x * scale + m;
                    }
                }
                None => row.iter_mut().for_each(|x| *x *= scale),
            }
            let max = vmath::max(row);
            row.iter_mut().for_each(|x| *x = vmath::exp(*x - max));
            let sum: f32 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= sum);
        }
        Ok(scores)
    }

    /// Pair `pair`'s slice of a `[b, heads, s, d]` (`width` = query rows) or `[b, kv_heads, t, d]`
    /// (`width` = t) tensor.
    fn slice<'a>(&self, data: &'a [f32], pair: usize, width: usize) -> &'a [f32] {
        let len = width * self.shape.d;
        &data[pair * len..(pair + 1) * len]
    }

    fn check(&self, q: &[f32], k: &[f32], v: &[f32]) -> candle_core::Result<()> {
        let Dims { t, d, .. } = self.shape;
        let pairs = self.shape.pairs();
        if q.len() != pairs * self.shape.rows() * d
            || k.len() != pairs * t * d
            || k.len() != v.len()
        {
            candle_core::bail!("attention: q, k and v do not fit {:?}", self.shape)
        }
        Ok(())
    }
}

/// One (batch row, key/value head) pair's share of the q, k and v gradients.
struct PairGrads {
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

/// `aᵀ · b` for `a` `[k, m]` and `b` `[k, n]`.
fn transposed_product(
    a: &[f32],
    b: &[f32],
    dims: (usize, usize, usize),
) -> candle_core::Result<Vec<f32>> {
    matmul::transposed_product_on_this_thread(a, b, dims).map_err(candle_core::Error::Msg)
}

fn product(
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    dims: (usize, usize, usize),
) -> candle_core::Result<Vec<f32>> {
    matmul::product_on_this_thread(a, b, rhs, dims).map_err(candle_core::Error::Msg)
}

impl CustomOp3 for Fused {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_layout: &Layout,
        k: &CpuStorage,
        k_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let q = contiguous_f32(q, q_layout)?;
        let k = contiguous_f32(k, k_layout)?;
        let v = contiguous_f32(v, v_layout)?;
        self.check(q, k, v)?;
        let Dims { t, d, .. } = self.shape;
        let rows = self.shape.rows();
        let out = buffer::try_filled(q.len(), rows * d, |pair, out| {
            let probs = self.probs(pair, self.slice(q, pair, rows), self.slice(k, pair, t))?;
            let o = product(&probs, self.slice(v, pair, t), Rhs::Plain, (rows, d, t))?;
            out.copy_from_slice(&o);
            if let Some(slot) = self.kept.get(pair) {
                slot.put(probs)?;
            }
            Ok::<_, candle_core::Error>(())
        })?;
        Ok((CpuStorage::F32(out), q_layout.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (qd, kd, vd, gd) = (cpu_f32(q)?, cpu_f32(k)?, cpu_f32(v)?, cpu_f32(&grad)?);
        self.check(&qd, &kd, &vd)?;
        let Dims { t, d, .. } = self.shape;
        let rows = self.shape.rows();
        let scale = 1.0 / (d as f32).sqrt();
        let per_pair = (0..self.shape.pairs())
            .into_par_iter()
            .map(|pair| {
                let (qp, kp, vp) = (
                    self.slice(&qd, pair, rows),
                    self.slice(&kd, pair, t),
                    self.slice(&vd, pair, t),
                );
                let dout = self.slice(&gd, pair, rows);
                // Taken, not cloned: a second backward over the same graph recomputes them.
                let kept = match self.kept.get(pair) {
                    Some(slot) => slot.take()?,
                    None => None,
                };
                let probs = match kept {
                    Some(probs) => probs,
                    None => self.probs(pair, qp, kp)?,
                };
                // dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)), scaled back to the raw scores.
                let mut dscores = product(dout, vp, Rhs::Transposed, (rows, t, d))?;
                for (dp, p) in dscores.chunks_mut(t).zip(probs.chunks(t)) {
                    let dot: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
                    dp.iter_mut()
                        .zip(p)
                        .for_each(|(g, &p)| *g = p * (*g - dot) * scale);
                }
                let dq = product(&dscores, kp, Rhs::Plain, (rows, d, t))?;
                let dk = transposed_product(&dscores, qp, (t, d, rows))?;
                let dv = transposed_product(&probs, dout, (t, d, rows))?;
                Ok::<_, candle_core::Error>(PairGrads { dq, dk, dv })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let gather = |x: &Tensor, pick: fn(&PairGrads) -> &[f32]| {
            if !x.track_op() {
                return Ok(None);
            }
            let per = x.elem_count() / per_pair.len().max(1);
            let data = buffer::filled(x.elem_count(), per, |pair, out| {
                out.copy_from_slice(pick(&per_pair[pair]));
            });
            Tensor::from_vec(data, x.shape(), x.device()).map(Some)
        };
        Ok((
            gather(q, |p| &p.dq)?,
            gather(k, |p| &p.dk)?,
            gather(v, |p| &p.dv)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::testing::{max_diff, wave as values};

    /// Outputs and q/k/v gradients of the fused op against the composed one, with grouped heads,
    /// a causal mask, and a per-row padding mask.
    #[test]
    fn fused_attention_and_gradients_equal_the_composed_form() {
        let (b, heads, kv_heads, s, d) = (2, 6, 2, 5, 4);
        let causal: Vec<f32> = (0..s * s)
            .map(|i| {
                if i % s <= i / s {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let causal = Tensor::from_vec(causal, (s, s), &Device::Cpu).unwrap();
        let padded: Vec<f32> = (0..b * s * s)
            .map(|i| {
                let (row, q, key) = (i / (s * s), i / s % s, i % s);
                let visible = key <= q && (key >= row || key == q);
                if visible {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let padded = Tensor::from_vec(padded, (b, 1, 1, s, s), &Device::Cpu).unwrap();
        for mask in [None, Some(&causal), Some(&padded)] {
            let q = Var::from_tensor(&values((b, heads, s, d), 0.1)).unwrap();
            let k = Var::from_tensor(&values((b, kv_heads, s, d), 1.3)).unwrap();
            let v = Var::from_tensor(&values((b, kv_heads, s, d), 2.9)).unwrap();
            let w = values((b, heads, s, d), 4.0);
            let run = |f: fn(&Tensor, &Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>| {
                let out = f(q.as_tensor(), k.as_tensor(), v.as_tensor(), mask).unwrap();
                let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let g = |x: &Var| grads.get(x).unwrap().clone();
                (out, [g(&q), g(&k), g(&v)])
            };
            let (fused_out, fused_grads) = run(attention);
            let (plain_out, plain_grads) = run(composed);
            assert!(max_diff(&fused_out, &plain_out) < 1e-5);
            for (a, b) in fused_grads.iter().zip(&plain_grads) {
                assert!(max_diff(a, b) < 1e-5, "gradient off by {}", max_diff(a, b));
            }
            // The first backward takes the kept probabilities; a second recomputes them.
            let out = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), mask).unwrap();
            let loss = (&out * &w).unwrap().sum_all().unwrap();
            let (first, second) = (loss.backward().unwrap(), loss.backward().unwrap());
            for x in [&q, &k, &v] {
                let (a, b) = (first.get(x).unwrap(), second.get(x).unwrap());
                assert!(max_diff(a, b) < 1e-6);
            }
        }
    }

    #[test]
    fn a_mask_of_the_wrong_shape_is_refused() {
        let q = values((1, 2, 3, 4), 0.0);
        let mask = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        let err = attention(&q, &q, &q, Some(&mask)).unwrap_err().to_string();
        assert!(err.contains("fits neither"), "{err}");
    }
}
