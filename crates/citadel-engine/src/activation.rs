//! The MLP activations, SwiGLU (Llama) and tanh-approximated GELU (GPT-2), each one parallel pass
//! forward and one backward on CPU. Composed from candle's ops they cost half a dozen
//! single-threaded passes over the largest activations of a block, each backward term summed
//! into a zero-filled gradient; off CPU they are composed from candle's ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use crate::error::Result;
use crate::ops::contiguous_f32;
use rayon::prelude::*;

use crate::vmath::{map1, map2, map3, sigmoid, tanh, CHUNK};

/// `silu(gate) ⊙ up`.
pub(crate) fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if !fused(gate) || !fused(up) || gate.shape() != up.shape() {
        return Ok((gate.silu()? * up)?);
    }
    let (gate, up) = (gate.contiguous()?, up.contiguous()?);
    Ok(if gate.track_op() || up.track_op() {
        gate.apply_op2(&up, SwiGlu)?
    } else {
        gate.apply_op2_no_bwd(&up, &SwiGlu)?
    })
}

/// GELU with the tanh approximation (`gelu_new`), as candle's `Tensor::gelu`.
pub(crate) fn gelu(x: &Tensor) -> Result<Tensor> {
    if !fused(x) {
        return Ok(x.gelu()?);
    }
    let x = x.contiguous()?;
    Ok(if x.track_op() {
        x.apply_op1(Gelu)?
    } else {
        x.apply_op1_no_bwd(&Gelu)?
    })
}

fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)
const GELU_A: f32 = 0.044_715;

/// GELU and its derivative at `x`.
#[inline(always)]
fn gelu_and_slope(x: f32) -> (f32, f32) {
    let t = tanh(GELU_C * x * (1.0 + GELU_A * x * x));
    let value = 0.5 * x * (1.0 + t);
    let slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x);
    (value, slope)
}

/// `silu(g) · u`.
#[inline(always)]
pub(crate) fn swiglu_value(g: f32, u: f32) -> f32 {
    g * sigmoid(g) * u
}

/// The derivatives of `dy · silu(g) · u` with respect to `g` and `u`
/// (`silu'(g) = s (1 + g (1 − s))`, `s = sigmoid(g)`).
#[inline(always)]
fn swiglu_slopes(g: f32, u: f32, dy: f32) -> (f32, f32) {
    let s = sigmoid(g);
    (dy * u * s * (1.0 + g * (1.0 - s)), dy * g * s)
}

/// Overwrites `gate` and `up` with the gradients of `silu(gate) ⊙ up` for the upstream `grad`
/// (all three of one length), in one parallel pass.
pub(crate) fn swiglu_grads_in_place(gate: &mut [f32], up: &mut [f32], grad: &[f32]) {
    debug_assert!(gate.len() == grad.len() && up.len() == grad.len());
    gate.par_chunks_mut(CHUNK)
        .zip(up.par_chunks_mut(CHUNK))
        .zip(grad.par_chunks(CHUNK))
        .for_each(|((gate, up), grad)| {
            for ((g, u), &dy) in gate.iter_mut().zip(up.iter_mut()).zip(grad) {
                (*g, *u) = swiglu_slopes(*g, *u, dy);
            }
        });
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_layout: &Layout,
        up: &CpuStorage,
        up_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, up) = (
            contiguous_f32(gate, gate_layout)?,
            contiguous_f32(up, up_layout)?,
        );
        let out = map2(gate, up, swiglu_value);
        Ok((CpuStorage::F32(out), gate_layout.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let of = |which| -> candle_core::Result<Tensor> {
            gate.apply_op3_no_bwd(up, &grad, &SwiGluGrad(which))
        };
        let gate_grad = gate.track_op().then(|| of(Operand::Gate)).transpose()?;
        let up_grad = up.track_op().then(|| of(Operand::Up)).transpose()?;
        Ok((gate_grad, up_grad))
    }
}

#[derive(Clone, Copy)]
enum Operand {
    Gate,
    Up,
}

/// The gradient of `silu(gate) ⊙ up` for one operand, from (gate, up, upstream gradient).
struct SwiGluGrad(Operand);

impl CustomOp3 for SwiGluGrad {
    fn name(&self) -> &'static str {
        "swiglu-grad"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_layout: &Layout,
        up: &CpuStorage,
        up_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let gate = contiguous_f32(gate, gate_layout)?;
        let up = contiguous_f32(up, up_layout)?;
        let grad = contiguous_f32(grad, grad_layout)?;
        if gate.len() != grad.len() || up.len() != grad.len() {
            candle_core::bail!("swiglu-grad: operands of different sizes")
        }
        let out: Vec<f32> = match self.0 {
            Operand::Gate => map3(gate, up, grad, |g, u, dy| swiglu_slopes(g, u, dy).0),
            Operand::Up => map3(gate, up, grad, |g, u, dy| swiglu_slopes(g, u, dy).1),
        };
        Ok((CpuStorage::F32(out), gate_layout.shape().clone()))
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-tanh"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = map1(contiguous_f32(x, layout)?, |x| gelu_and_slope(x).0);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?))
    }
}

/// `upstream ⊙ gelu'(x)`.
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "gelu-tanh-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, grad) = (
            contiguous_f32(x, x_layout)?,
            contiguous_f32(grad, grad_layout)?,
        );
        if x.len() != grad.len() {
            candle_core::bail!("gelu-grad: operands of different sizes")
        }
        let out = map2(x, grad, |x, dy| dy * gelu_and_slope(x).1);
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn inputs(n: usize, seed: f32) -> Tensor {
        let v: Vec<f32> = (0..n)
            .map(|i| ((i as f32 * 0.37 + seed).sin()) * 4.0)
            .collect();
        Tensor::from_vec(v, (n / 8, 8), &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn swiglu_and_its_gradients_equal_candles_composition() {
        // Large enough to split across threads.
        let n = 8 * (1 << 14) + 24;
        let (g, u) = (
            Var::from_tensor(&inputs(n, 0.1)).unwrap(),
            Var::from_tensor(&inputs(n, 2.0)).unwrap(),
        );
        let w = inputs(n, 5.0);
        let fused = (swiglu(g.as_tensor(), u.as_tensor()).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let plain = ((g.as_tensor().silu().unwrap() * u.as_tensor()).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let (fg, pg) = (fused.backward().unwrap(), plain.backward().unwrap());
        assert!(max_diff(&fused, &plain) < 1e-1, "sums of {n} terms");
        for var in [&g, &u] {
            let (a, b) = (fg.get(var).unwrap(), pg.get(var).unwrap());
            assert!(max_diff(a, b) < 1e-4, "gradient off by {}", max_diff(a, b));
        }
        // Without tracking, the same values and no graph.
        let detached = swiglu(&g.as_tensor().detach(), &u.as_tensor().detach()).unwrap();
        assert!(!detached.track_op());
        assert!(
            max_diff(
                &detached,
                &(g.as_tensor().silu().unwrap() * u.as_tensor()).unwrap()
            ) < 1e-5
        );
    }

    #[test]
    fn gelu_and_its_gradient_equal_candles_composition() {
        let n = 4 * (1 << 14) + 8;
        let x = Var::from_tensor(&inputs(n, 0.3)).unwrap();
        let w = inputs(n, 1.0);
        let fused = (gelu(x.as_tensor()).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let plain = (x.as_tensor().gelu().unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        assert!(
            max_diff(
                &gelu(x.as_tensor()).unwrap(),
                &x.as_tensor().gelu().unwrap()
            ) < 1e-5
        );
        let (a, b) = (fused.backward().unwrap(), plain.backward().unwrap());
        let diff = max_diff(a.get(&x).unwrap(), b.get(&x).unwrap());
        assert!(diff < 1e-4, "gradient off by {diff}");
    }
}
