//! Tensor operations the models share, differentiable where training needs them.
//!
//! candle 0.11's fused softmax, RMSNorm, LayerNorm and RoPE kernels have no backward pass. Each op
//! here runs the fused kernel, and when its input needs a gradient re-attaches the result to the
//! input through a custom op whose backward is the op's closed-form input gradient. When a norm's
//! own weight trains (full fine-tuning), or off CPU, the ops are composed from differentiable
//! primitives instead. Also: borrowing a tensor's f32 elements for the engine's custom ops.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Storage, StorageRef, Tensor, D,
};

use std::sync::Mutex;

use crate::buffer;
use crate::error::Result;

/// What an op's forward leaves for its backward (activations it would otherwise recompute).
/// The backward takes it, so a second backward over the same graph finds it gone and recomputes.
pub(crate) struct Kept<T>(Mutex<Option<T>>);

impl<T> Kept<T> {
    pub(crate) fn empty() -> Self {
        Self(Mutex::new(None))
    }

    pub(crate) fn put(&self, value: T) -> candle_core::Result<()> {
        *self.0.lock().map_err(|_| Self::poisoned())? = Some(value);
        Ok(())
    }

    pub(crate) fn take(&self) -> candle_core::Result<Option<T>> {
        Ok(self.0.lock().map_err(|_| Self::poisoned())?.take())
    }

    fn poisoned() -> candle_core::Error {
        candle_core::Error::Msg("a thread panicked while holding an op's kept activations".into())
    }
}

/// Softmax over the last dimension.
pub(crate) fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let y = candle_nn::ops::softmax_last_dim(&x.detach())?;
    if !x.track_op() {
        return Ok(y);
    }
    if !x.device().is_cpu() {
        let max = x.max_keepdim(D::Minus1)?.detach();
        let exp = x.broadcast_sub(&max)?.exp()?;
        return Ok(exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)?);
    }
    // dx = y ⊙ g − y · Σ(y ⊙ g)
    let probs = y.clone();
    with_input_grad(x, &y, move |g| {
        let yg = (g * &probs)?;
        let dot = yg.sum_keepdim(D::Minus1)?;
        yg - probs.broadcast_mul(&dot)?
    })
}

/// RMSNorm over the last dimension: `x / sqrt(mean(x²) + eps) * weight`.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if let Some(y) = normalize(x, Norm::Rms, eps, weight, None)? {
        return Ok(y);
    }
    if !x.track_op() && !weight.track_op() {
        return Ok(candle_nn::ops::rms_norm(
            &x.contiguous()?,
            weight,
            eps as f32,
        )?);
    }
    let inv_rms = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    Ok(x.broadcast_mul(&inv_rms)?.broadcast_mul(weight)?)
}

/// LayerNorm over the last dimension with weight and bias.
pub(crate) fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if let Some(y) = normalize(x, Norm::Layer, eps, weight, Some(bias))? {
        return Ok(y);
    }
    if !x.track_op() && !weight.track_op() && !bias.track_op() {
        return Ok(candle_nn::ops::layer_norm(
            &x.contiguous()?,
            weight,
            bias,
            eps as f32,
        )?);
    }
    let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let inv_std = (centered.sqr()?.mean_keepdim(D::Minus1)? + eps)?
        .sqrt()?
        .recip()?;
    Ok(centered
        .broadcast_mul(&inv_std)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)?)
}

/// The norm as one op on CPU when its weight and bias are frozen f32 (`None` otherwise: other
/// devices take candle's fused kernels, trained norm weights the composed form).
fn normalize(
    x: &Tensor,
    kind: Norm,
    eps: f64,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let frozen_f32 = |t: &Tensor| t.dtype() == DType::F32 && !t.track_op();
    if !x.device().is_cpu() || x.dtype() != DType::F32 || !frozen_f32(weight) {
        return Ok(None);
    }
    if bias.is_some_and(|b| !frozen_f32(b)) {
        return Ok(None);
    }
    let op = Normalize {
        kind,
        eps,
        weight: weight.contiguous()?,
        bias: bias.map(Tensor::contiguous).transpose()?,
    };
    let x = x.contiguous()?;
    Ok(Some(if x.track_op() {
        x.apply_op1(op)?
    } else {
        x.apply_op1_no_bwd(&op)?
    }))
}

#[derive(Debug, Clone, Copy)]
enum Norm {
    Rms,
    Layer,
}

/// A norm over the last dimension with a frozen weight (and bias), forward and input gradient,
/// one row per rayon task. With x̂ the normalized row, h = g ⊙ w and r = 1/σ:
/// RMSNorm, x̂ = x·r: dx = r · (h − x̂ · mean(h ⊙ x̂));
/// LayerNorm, x̂ = (x − μ)·r: dx = r · (h − mean(h) − x̂ · mean(h ⊙ x̂)).
struct Normalize {
    kind: Norm,
    eps: f64,
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Normalize {
    /// The row's mean (zero for RMSNorm) and `1/σ`, in f64.
    fn stats(&self, x: &[f32]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = match self.kind {
            Norm::Rms => 0.0,
            Norm::Layer => x.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
        };
        let var = x
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, 1.0 / (var + self.eps).sqrt())
    }

    /// The weight's width, checked against an input of `len` elements.
    fn cols(&self, len: usize) -> candle_core::Result<usize> {
        let cols = self.weight.elem_count();
        let bias_fits = self.bias.as_ref().is_none_or(|b| b.elem_count() == cols);
        if cols == 0 || len % cols != 0 || !bias_fits {
            candle_core::bail!("norm: a weight of {cols} does not fit an input of {len} elements")
        }
        Ok(cols)
    }
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "norm"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x, layout)?;
        let cols = self.cols(x.len())?;
        let w = cpu_f32(&self.weight)?;
        let bias = self.bias.as_ref().map(cpu_f32).transpose()?;
        let y = buffer::filled(x.len(), cols, |row, y| {
            let x = &x[row * cols..][..cols];
            let (mean, r) = self.stats(x);
            for ((y, &x), &w) in y.iter_mut().zip(x).zip(w.iter()) {
                *y = ((f64::from(x) - mean) * r) as f32 * w;
            }
            if let Some(bias) = &bias {
                y.iter_mut().zip(bias.iter()).for_each(|(y, b)| *y += b);
            }
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (xd, g, w) = (cpu_f32(x)?, cpu_f32(&grad)?, cpu_f32(&self.weight)?);
        let cols = self.cols(xd.len())?;
        if g.len() != xd.len() {
            candle_core::bail!("norm gradient: input and gradient do not fit")
        }
        let n = cols as f64;
        let dx = buffer::filled(xd.len(), cols, |row, dx| {
            let (x, g) = (&xd[row * cols..][..cols], &g[row * cols..][..cols]);
            let (mean, r) = self.stats(x);
            let (mut h_mean, mut proj) = (0.0, 0.0);
            for ((&x, &g), &w) in x.iter().zip(g).zip(w.iter()) {
                let h = f64::from(g) * f64::from(w);
                h_mean += h;
                proj += h * (f64::from(x) - mean) * r;
            }
            let (h_mean, proj) = match self.kind {
                Norm::Rms => (0.0, proj / n),
                Norm::Layer => (h_mean / n, proj / n),
            };
            for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(g).zip(w.iter()) {
                let normed = (f64::from(x) - mean) * r;
                let h = f64::from(g) * f64::from(w);
                *dx = (r * (h - h_mean - normed * proj)) as f32;
            }
        });
        Tensor::from_vec(dx, x.shape(), x.device()).map(Some)
    }
}

/// Rotary embedding in the "rotate half" layout of Hugging Face Llama.
/// `x` is `[batch, heads, seq, head_dim]`; `cos` and `sin` are `[seq, head_dim / 2]`, or
/// `[batch, seq, head_dim / 2]` when rows sit at different positions.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let y = candle_nn::rotary_emb::rope(&x.detach().contiguous()?, cos, sin)?;
    if !x.track_op() {
        return Ok(y);
    }
    if !x.device().is_cpu() {
        let half = x.dim(D::Minus1)? / 2;
        let (cos, sin) = match cos.rank() {
            3 => (&cos.unsqueeze(1)?, &sin.unsqueeze(1)?),
            _ => (cos, sin),
        };
        let x1 = x.narrow(D::Minus1, 0, half)?;
        let x2 = x.narrow(D::Minus1, half, half)?;
        let first = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
        let second = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
        return Ok(Tensor::cat(&[first, second], D::Minus1)?);
    }
    // The rotation is orthogonal: its gradient is the rotation by the opposite angle.
    let (cos, neg_sin) = (cos.clone(), sin.neg()?);
    with_input_grad(x, &y, move |g| {
        candle_nn::rotary_emb::rope(&g.contiguous()?, &cos, &neg_sin)
    })
}

/// The elements of a contiguous f32 CPU tensor, for custom ops.
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("expected a contiguous tensor".into()))?;
    match storage {
        CpuStorage::F32(data) => Ok(&data[start..end]),
        _ => candle_core::bail!("expected an f32 tensor"),
    }
}

/// The elements of a contiguous f32 CPU tensor held by a tensor (an op's saved input or a
/// frozen weight), borrowed without a copy.
pub(crate) struct F32View<'a> {
    storage: StorageRef<'a>,
    range: std::ops::Range<usize>,
}

impl std::ops::Deref for F32View<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match &*self.storage {
            Storage::Cpu(CpuStorage::F32(data)) => &data[self.range.clone()],
            // `cpu_f32` admits only the variant above.
            _ => &[],
        }
    }
}

/// Borrows the elements of `t`, which must be a contiguous f32 tensor on CPU.
pub(crate) fn cpu_f32(t: &Tensor) -> candle_core::Result<F32View<'_>> {
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor")
    };
    if !matches!(&*storage, Storage::Cpu(CpuStorage::F32(_))) {
        candle_core::bail!("expected an f32 tensor on CPU");
    }
    Ok(F32View {
        storage,
        range: start..end,
    })
}

/// `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transposed(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (r, row) in x.chunks(cols).enumerate() {
        for (c, &value) in row.iter().enumerate() {
            out[c * rows + r] = value;
        }
    }
    out
}

type InputGrad = Box<dyn Fn(&Tensor) -> candle_core::Result<Tensor> + Send + Sync>;

/// Attaches `value`, computed from `x` outside the graph (by a fused kernel), back to `x`:
/// the result equals `value`, and backward maps the output gradient through `input_grad`.
/// CPU only (the forward copies the value's storage).
fn with_input_grad(
    x: &Tensor,
    value: &Tensor,
    input_grad: impl Fn(&Tensor) -> candle_core::Result<Tensor> + Send + Sync + 'static,
) -> Result<Tensor> {
    let op = Reattach {
        input_grad: Box::new(input_grad),
    };
    Ok(x.apply_op2(&value.contiguous()?, op)?)
}

/// See [`with_input_grad`].
struct Reattach {
    input_grad: InputGrad,
}

impl CustomOp2 for Reattach {
    fn name(&self) -> &'static str {
        "reattach-with-input-grad"
    }

    fn cpu_fwd(
        &self,
        _x: &CpuStorage,
        _x_layout: &Layout,
        value: &CpuStorage,
        value_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = value_layout.shape().clone();
        let Some((start, end)) = value_layout.contiguous_offsets() else {
            candle_core::bail!("reattach expects a contiguous value")
        };
        let data = match value {
            CpuStorage::F32(v) => CpuStorage::F32(v[start..end].to_vec()),
            _ => candle_core::bail!("reattach supports f32 only"),
        };
        Ok((data, shape))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _value: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some((self.input_grad)(grad)?), None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::testing::max_diff;

    /// The fused norm values and gradients equal candle's autograd through the composed norms.
    #[test]
    fn norm_input_gradients_equal_the_composed_forms() {
        let x: Vec<f32> = (0..6 * 40)
            .map(|i| (i as f32 * 0.37).sin() * 3.0 + 0.5)
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(x, (6, 40), &Device::Cpu).unwrap()).unwrap();
        let w = Tensor::arange(0u32, 40, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let (w, bias) = (
            ((w * 0.05).unwrap() + 0.5).unwrap(),
            Tensor::ones(40, DType::F32, &Device::Cpu).unwrap(),
        );
        let up: Vec<f32> = (0..6 * 40).map(|i| (i as f32 * 1.3).cos()).collect();
        let up = Tensor::from_vec(up, (6, 40), &Device::Cpu).unwrap();
        let grad_of = |y: Tensor| {
            let grads = (y * &up).unwrap().sum_all().unwrap().backward().unwrap();
            grads.get(&x).unwrap().clone()
        };
        let xt = x.as_tensor();
        let inv_rms = (xt.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + 1e-5)
            .unwrap()
            .sqrt()
            .unwrap()
            .recip()
            .unwrap();
        let rms_plain = xt
            .broadcast_mul(&inv_rms)
            .unwrap()
            .broadcast_mul(&w)
            .unwrap();
        let centered = xt
            .broadcast_sub(&xt.mean_keepdim(D::Minus1).unwrap())
            .unwrap();
        let inv_std = (centered.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + 1e-5)
            .unwrap()
            .sqrt()
            .unwrap()
            .recip()
            .unwrap();
        let ln_plain = centered
            .broadcast_mul(&inv_std)
            .unwrap()
            .broadcast_mul(&w)
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let (rms, ln) = (
            rms_norm(xt, &w, 1e-5).unwrap(),
            layer_norm(xt, &w, &bias, 1e-5).unwrap(),
        );
        assert!(max_diff(&rms, &rms_plain) < 1e-5 && max_diff(&ln, &ln_plain) < 1e-5);
        let short = Tensor::ones(39, DType::F32, &Device::Cpu).unwrap();
        assert!(rms_norm(xt, &short, 1e-5).is_err());
        // Without gradient tracking, the same op gives the same values.
        let detached = rms_norm(&xt.detach(), &w, 1e-5).unwrap();
        assert_eq!(max_diff(&detached, &rms), 0.0);
        let pairs = [
            (grad_of(rms), grad_of(rms_plain)),
            (grad_of(ln), grad_of(ln_plain)),
        ];
        for (fused, plain) in pairs {
            let diff: f32 = (fused - plain)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(diff < 1e-4, "norm gradient off by {diff}");
        }
    }
}
