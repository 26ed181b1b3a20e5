//! Linear layers as one autograd node each on CPU: `x·Wᵀ + b` for a frozen weight and bias, and
//! the same plus a LoRA branch `s·(x·Aᵀ)·Bᵀ`.
//!
//! candle's autograd zero-fills a fresh tensor and adds into it for every gradient term of every
//! node, single-threaded. Composed, a LoRA layer is a dozen nodes (reshapes, transposes, three
//! products, a scale, a bias and a sum), and their gradient bookkeeping cost more than the layer's
//! small products. Here the backward computes exactly the gradients that train: the input's
//! `g·W` (never the frozen weight's), and `A`'s and `B`'s. Other devices, and weights that train
//! themselves (full fine-tuning), take the composed path.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::activation;
use crate::error::Result;
use crate::matmul::{self, Rhs};
use crate::ops::{contiguous_f32, cpu_f32, transposed, Kept};
use crate::vmath;

/// `x @ weightᵀ (+ bias)` for `x` of shape `[.., in]` and `weight` of shape `[out, in]`.
pub(crate) fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if !fusable(x, weight, bias) {
        return composed(x, weight, bias);
    }
    let op = Frozen::new(weight, bias)?;
    let x = x.contiguous()?;
    Ok(if x.track_op() {
        x.apply_op1(op)?
    } else {
        x.apply_op1_no_bwd(&op)?
    })
}

/// The LoRA branch of a layer: factors `a` `[r, in]` and `b` `[out, r]`, the update's scale, and
/// the branch's input when it is not the layer's (dropout in training).
pub(crate) struct LowRank<'a> {
    pub(crate) input: Option<&'a Tensor>,
    pub(crate) a: &'a Tensor,
    pub(crate) b: &'a Tensor,
    pub(crate) scale: f64,
}

/// `x @ weightᵀ (+ bias) + scale · (input @ aᵀ) @ bᵀ`, `input` being `x` unless given.
pub(crate) fn lora_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    lora: &LowRank,
) -> Result<Tensor> {
    let factors_fit = [lora.a, lora.b]
        .iter()
        .all(|t| t.dtype() == DType::F32 && t.device().is_cpu());
    if !(fusable(x, weight, bias) && factors_fit) || lora.input.is_some() {
        let down = (linear(lora.input.unwrap_or(x), lora.a, None)? * lora.scale)?;
        return Ok((composed(x, weight, bias)? + linear(&down, lora.b, None)?)?);
    }
    let op = Adapted {
        base: Frozen::new(weight, bias)?,
        scale: lora.scale as f32,
    };
    let (a, b) = (lora.a.contiguous()?, lora.b.contiguous()?);
    Ok(x.contiguous()?.apply_op3(&a, &b, op)?)
}

/// `silu(x·Wgᵀ + bg) ⊙ (x·Wuᵀ + bu)`: a Llama MLP's frozen gate and up projections and their
/// SwiGLU, one autograd node on CPU. Its backward turns the kept pre-activations into their
/// gradients in place and sums both layers' input gradients into one buffer, where the separate
/// ops would have candle zero-fill and add three gradient tensors.
pub(crate) fn swiglu_pair(
    x: &Tensor,
    (gate, gate_bias): (&Tensor, Option<&Tensor>),
    (up, up_bias): (&Tensor, Option<&Tensor>),
) -> Result<Tensor> {
    if !(fusable(x, gate, gate_bias) && fusable(x, up, up_bias)) || gate.dims() != up.dims() {
        let (gate, up) = (linear(x, gate, gate_bias)?, linear(x, up, up_bias)?);
        return activation::swiglu(&gate, &up);
    }
    let op = SwiGluPair {
        gate: Frozen::new(gate, gate_bias)?,
        up: Frozen::new(up, up_bias)?,
        keep_for_backward: x.track_op(),
        saved: Kept::empty(),
    };
    let x = x.contiguous()?;
    Ok(if x.track_op() {
        x.apply_op1(op)?
    } else {
        x.apply_op1_no_bwd(&op)?
    })
}

/// Whether the layer runs as one of this module's ops: f32 on CPU, weight and bias frozen.
fn fusable(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> bool {
    x.device().is_cpu()
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && !weight.track_op()
        && bias.is_none_or(|b| b.dtype() == DType::F32 && !b.track_op())
}

/// The layer from candle's differentiable primitives.
fn composed(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims();
    let in_features = dims.last().copied().unwrap_or(1);
    let rows = x.elem_count() / in_features.max(1);
    let product = x.reshape((rows, in_features))?.matmul(&weight.t()?)?;
    let product = match bias {
        Some(bias) => product.broadcast_add(bias)?,
        None => product,
    };
    let mut out_dims = dims.to_vec();
    if let Some(last) = out_dims.last_mut() {
        *last = weight.dim(0)?;
    }
    Ok(product.reshape(out_dims)?)
}

fn msg(e: String) -> candle_core::Error {
    candle_core::Error::Msg(e)
}

/// `a · op(b)` across the pool.
fn product(
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    dims: (usize, usize, usize),
) -> candle_core::Result<Vec<f32>> {
    matmul::product(a, b, rhs, dims).map_err(msg)
}

/// `c += a · op(b)` across the pool.
fn add_product(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    dims: (usize, usize, usize),
) -> candle_core::Result<()> {
    matmul::add_product(c, a, b, rhs, dims).map_err(msg)
}

/// A frozen `[out, in]` weight and optional `[out]` bias.
struct Frozen {
    weight: Tensor,
    bias: Option<Tensor>,
    out_features: usize,
    in_features: usize,
}

impl Frozen {
    fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (out_features, in_features) = weight.dims2()?;
        if let Some(bias) = bias {
            if bias.dims() != [out_features] {
                return Err(crate::Error::InvalidArgument(format!(
                    "bias {:?} does not fit a [{out_features}, {in_features}] weight",
                    bias.dims()
                )));
            }
        }
        Ok(Self {
            weight: weight.contiguous()?,
            bias: bias.map(Tensor::contiguous).transpose()?,
            out_features,
            in_features,
        })
    }

    /// Rows of an input of `shape` (`[.., in]`), and the output's shape (`[.., out]`).
    fn shapes(&self, shape: &Shape) -> candle_core::Result<(usize, Shape)> {
        let dims = shape.dims();
        if dims.last() != Some(&self.in_features) {
            candle_core::bail!(
                "linear layer [{}, {}] applied to an input of shape {dims:?}",
                self.out_features,
                self.in_features
            );
        }
        let mut out = dims.to_vec();
        if let Some(last) = out.last_mut() {
            *last = self.out_features;
        }
        Ok((shape.elem_count() / self.in_features, Shape::from(out)))
    }

    /// `x · Wᵀ + b` for `rows` rows of `x`.
    fn forward(&self, x: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let dims = (rows, self.out_features, self.in_features);
        let mut y = product(x, &cpu_f32(&self.weight)?, Rhs::Transposed, dims)?;
        if let Some(bias) = &self.bias {
            let bias = cpu_f32(bias)?;
            y.par_chunks_mut(self.out_features)
                .for_each(|row| row.iter_mut().zip(bias.iter()).for_each(|(y, b)| *y += b));
        }
        Ok(y)
    }

    /// `g · W`, the input's gradient, for `rows` rows of the output's gradient `g`.
    fn input_grad(&self, g: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let dims = (rows, self.in_features, self.out_features);
        product(g, &cpu_f32(&self.weight)?, Rhs::Plain, dims)
    }

    /// `dx += g · W`.
    fn add_input_grad(&self, dx: &mut [f32], g: &[f32], rows: usize) -> candle_core::Result<()> {
        let dims = (rows, self.in_features, self.out_features);
        add_product(dx, g, &cpu_f32(&self.weight)?, Rhs::Plain, dims)
    }
}

impl CustomOp1 for Frozen {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, out_shape) = self.shapes(layout.shape())?;
        let y = self.forward(contiguous_f32(x, layout)?, rows)?;
        Ok((CpuStorage::F32(y), out_shape))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (rows, _) = self.shapes(x.shape())?;
        let grad = grad.contiguous()?;
        let dx = self.input_grad(&cpu_f32(&grad)?, rows)?;
        Tensor::from_vec(dx, x.shape(), x.device()).map(Some)
    }
}

/// A frozen layer with a LoRA branch; the op's inputs are `x`, `a` and `b`.
struct Adapted {
    base: Frozen,
    scale: f32,
}

impl Adapted {
    /// Rank of the factors `a` `[r, in]` and `b` `[out, r]`.
    fn rank(&self, a: &Shape, b: &Shape) -> candle_core::Result<usize> {
        let (out, inp) = (self.base.out_features, self.base.in_features);
        match (a.dims(), b.dims()) {
            (&[r, a_in], &[b_out, b_r]) if a_in == inp && b_out == out && b_r == r => Ok(r),
            _ => candle_core::bail!(
                "lora_A {a:?} and lora_B {b:?} do not fit a [{out}, {inp}] layer"
            ),
        }
    }

    /// `scale · x · Aᵀ`, the down-projection `[rows, r]`.
    fn down(&self, x: &[f32], a: &[f32], rows: usize, r: usize) -> candle_core::Result<Vec<f32>> {
        let mut down = product(x, a, Rhs::Transposed, (rows, r, self.base.in_features))?;
        down.iter_mut().for_each(|v| *v *= self.scale);
        Ok(down)
    }
}

impl CustomOp3 for Adapted {
    fn name(&self) -> &'static str {
        "lora-linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        a: &CpuStorage,
        a_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, out_shape) = self.base.shapes(x_layout.shape())?;
        let r = self.rank(a_layout.shape(), b_layout.shape())?;
        let x = contiguous_f32(x, x_layout)?;
        let (a, b) = (contiguous_f32(a, a_layout)?, contiguous_f32(b, b_layout)?);
        let mut y = self.base.forward(x, rows)?;
        let down = self.down(x, a, rows, r)?;
        add_product(
            &mut y,
            &down,
            b,
            Rhs::Transposed,
            (rows, self.base.out_features, r),
        )?;
        Ok((CpuStorage::F32(y), out_shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, _) = self.base.shapes(x.shape())?;
        let r = self.rank(a.shape(), b.shape())?;
        let (out, inp) = (self.base.out_features, self.base.in_features);
        let grad = grad.contiguous()?;
        let (g, xd, ad, bd) = (cpu_f32(&grad)?, cpu_f32(x)?, cpu_f32(a)?, cpu_f32(b)?);
        // y = x·Wᵀ + u·Bᵀ with u = s·x·Aᵀ: dB = gᵀ·u, du = g·B, dA = s·duᵀ·x, dx = g·W + s·du·A.
        let db = if b.track_op() {
            let down_t = transposed(&self.down(&xd, &ad, rows, r)?, rows, r);
            let db_t = product(&down_t, &g, Rhs::Plain, (r, out, rows))?;
            Some(Tensor::from_vec(
                transposed(&db_t, r, out),
                (out, r),
                b.device(),
            )?)
        } else {
            None
        };
        let mut d_down = product(&g, &bd, Rhs::Plain, (rows, r, out))?;
        d_down.iter_mut().for_each(|v| *v *= self.scale);
        let da = if a.track_op() {
            let da = product(
                &transposed(&d_down, rows, r),
                &xd,
                Rhs::Plain,
                (r, inp, rows),
            )?;
            Some(Tensor::from_vec(da, (r, inp), a.device())?)
        } else {
            None
        };
        let dx = if x.track_op() {
            let mut dx = self.base.input_grad(&g, rows)?;
            add_product(&mut dx, &d_down, &ad, Rhs::Plain, (rows, inp, r))?;
            Some(Tensor::from_vec(dx, x.shape(), x.device())?)
        } else {
            None
        };
        Ok((dx, da, db))
    }
}

/// See [`swiglu_pair`].
struct SwiGluPair {
    gate: Frozen,
    up: Frozen,
    /// Whether the forward keeps the pre-activations for a backward (training).
    keep_for_backward: bool,
    /// The gate and up pre-activations, left by the forward for the backward.
    saved: Kept<(Vec<f32>, Vec<f32>)>,
}

impl SwiGluPair {
    fn pre_activations(&self, x: &[f32], rows: usize) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.gate.forward(x, rows)?, self.up.forward(x, rows)?))
    }
}

impl CustomOp1 for SwiGluPair {
    fn name(&self) -> &'static str {
        "swiglu-gate-up"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, out_shape) = self.gate.shapes(layout.shape())?;
        let (gate, up) = self.pre_activations(contiguous_f32(x, layout)?, rows)?;
        let y = vmath::map2(&gate, &up, activation::swiglu_value);
        if self.keep_for_backward {
            self.saved.put((gate, up))?;
        }
        Ok((CpuStorage::F32(y), out_shape))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (rows, _) = self.gate.shapes(x.shape())?;
        let saved = self.saved.take()?;
        // A second backward over the same graph finds them consumed: recompute them.
        let (mut gate, mut up) = match saved {
            Some(saved) => saved,
            None => self.pre_activations(&cpu_f32(&x.contiguous()?)?, rows)?,
        };
        let grad = grad.contiguous()?;
        activation::swiglu_grads_in_place(&mut gate, &mut up, &cpu_f32(&grad)?);
        let mut dx = self.gate.input_grad(&gate, rows)?;
        self.up.add_input_grad(&mut dx, &up, rows)?;
        Tensor::from_vec(dx, x.shape(), x.device()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;
    use crate::testing::{max_diff, wave};

    /// Test values of magnitude ½, so sums over the layers' widths stay near 1.
    fn values(dims: &[usize], seed: f32) -> Tensor {
        (wave(dims, seed) * 0.5).unwrap()
    }

    /// Gradients of `Σ y ⊙ up` with respect to each of `wrt`.
    fn grads(y: &Tensor, wrt: &[&Var]) -> Vec<Tensor> {
        let up = values(y.dims(), 7.0);
        let store = (y * up).unwrap().sum_all().unwrap().backward().unwrap();
        wrt.iter()
            .map(|v| store.get(v.as_tensor()).unwrap().clone())
            .collect()
    }

    #[test]
    fn frozen_linear_with_bias_matches_the_composed_layer() {
        // Small enough to run on one thread, and large enough to split across the pool.
        for (rows, inp, out) in [(3, 24, 40), (64, 96, 80)] {
            let x = Var::from_tensor(&values(&[2, rows, inp], 1.0)).unwrap();
            let (w, b) = (values(&[out, inp], 2.0), values(&[out], 3.0));
            let fused = linear(x.as_tensor(), &w, Some(&b)).unwrap();
            let plain = composed(x.as_tensor(), &w, Some(&b)).unwrap();
            assert_eq!(fused.dims(), [2, rows, out]);
            assert!(max_diff(&fused, &plain) < 1e-5);
            let (gf, gp) = (grads(&fused, &[&x]), grads(&plain, &[&x]));
            assert!(max_diff(&gf[0], &gp[0]) < 1e-5);
        }
    }

    #[test]
    fn lora_layer_and_its_gradients_match_the_composed_branch() {
        let (rows, inp, out, r) = (48, 64, 72, 4);
        let x = Var::from_tensor(&values(&[2, rows, inp], 1.0)).unwrap();
        let a = Var::from_tensor(&values(&[r, inp], 4.0)).unwrap();
        let b = Var::from_tensor(&values(&[out, r], 5.0)).unwrap();
        let (w, bias) = (values(&[out, inp], 2.0), values(&[out], 3.0));
        let branch = |input| LowRank {
            input,
            a: a.as_tensor(),
            b: b.as_tensor(),
            scale: 2.0,
        };
        let fused = lora_linear(x.as_tensor(), &w, Some(&bias), &branch(None)).unwrap();
        // Naming the branch's input sends the layer down the composed path.
        let plain =
            lora_linear(x.as_tensor(), &w, Some(&bias), &branch(Some(x.as_tensor()))).unwrap();
        assert!(max_diff(&fused, &plain) < 1e-5);
        let (gf, gp) = (grads(&fused, &[&x, &a, &b]), grads(&plain, &[&x, &a, &b]));
        for (f, p) in gf.iter().zip(&gp) {
            assert_eq!(f.dims(), p.dims());
            assert!(max_diff(f, p) < 1e-4, "gradient off by {}", max_diff(f, p));
        }
    }

    #[test]
    fn the_fused_gate_and_up_pair_matches_two_layers_and_swiglu() {
        for (rows, inp, out) in [(3, 16, 24), (64, 96, 80)] {
            let x = Var::from_tensor(&values(&[2, rows, inp], 1.0)).unwrap();
            let (gate, up) = (values(&[out, inp], 2.0), values(&[out, inp], 3.0));
            let (gate_bias, up_bias) = (values(&[out], 4.0), values(&[out], 5.0));
            let fused = swiglu_pair(
                x.as_tensor(),
                (&gate, Some(&gate_bias)),
                (&up, Some(&up_bias)),
            )
            .unwrap();
            let plain = crate::activation::swiglu(
                &composed(x.as_tensor(), &gate, Some(&gate_bias)).unwrap(),
                &composed(x.as_tensor(), &up, Some(&up_bias)).unwrap(),
            )
            .unwrap();
            assert_eq!(fused.dims(), [2, rows, out]);
            let scale = plain
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                max_diff(&fused, &plain) < 1e-5 * scale,
                "{} {scale}",
                max_diff(&fused, &plain)
            );
            let (gf, gp) = (grads(&fused, &[&x]), grads(&plain, &[&x]));
            assert!(
                max_diff(&gf[0], &gp[0]) < 1e-4,
                "off by {}",
                max_diff(&gf[0], &gp[0])
            );
            // The first backward consumed the kept pre-activations; a second recomputes them.
            assert!(max_diff(&grads(&fused, &[&x])[0], &gf[0]) < 1e-6);
        }
        let x = values(&[5, 16], 1.0);
        let (gate, up) = (values(&[8, 16], 2.0), values(&[7, 16], 3.0));
        // Layers of different widths are not a pair; they go the separate way and fail there.
        assert!(swiglu_pair(&x, (&gate, None), (&up, None)).is_err());
    }

    #[test]
    fn a_frozen_input_gets_no_gradient_and_the_factors_still_do() {
        let x = values(&[5, 16], 1.0);
        let a = Var::from_tensor(&values(&[2, 16], 4.0)).unwrap();
        let b = Var::from_tensor(&values(&[8, 2], 5.0)).unwrap();
        let branch = LowRank {
            input: None,
            a: a.as_tensor(),
            b: b.as_tensor(),
            scale: 1.0,
        };
        let y = lora_linear(&x, &values(&[8, 16], 2.0), None, &branch).unwrap();
        let store = y.sum_all().unwrap().backward().unwrap();
        assert!(store.get(&x).is_none());
        assert!(store.get(a.as_tensor()).is_some() && store.get(b.as_tensor()).is_some());
    }

    #[test]
    fn factors_or_inputs_that_do_not_fit_are_refused() {
        let w = values(&[8, 16], 2.0);
        let wrong_a = values(&[2, 15], 4.0);
        let b = values(&[8, 2], 5.0);
        let branch = LowRank {
            input: None,
            a: &wrong_a,
            b: &b,
            scale: 1.0,
        };
        assert!(lora_linear(&values(&[5, 16], 1.0), &w, None, &branch).is_err());
        assert!(linear(&values(&[5, 12], 1.0), &w, None).is_err());
        assert!(linear(&values(&[5, 16], 1.0), &w, Some(&values(&[7], 0.0))).is_err());
    }
}
