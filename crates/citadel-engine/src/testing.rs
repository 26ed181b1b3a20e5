//! Helpers the engine's unit tests share: deterministic test tensors and their largest difference.

use candle_core::{Device, Shape, Tensor};

/// A tensor of `sin(0.731·i + seed)` over its elements, on CPU.
pub(crate) fn wave(shape: impl Into<Shape>, seed: f32) -> Tensor {
    let shape = shape.into();
    let data: Vec<f32> = (0..shape.elem_count())
        .map(|i| (i as f32 * 0.731 + seed).sin())
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// The largest absolute element-wise difference of two tensors of one shape.
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}
