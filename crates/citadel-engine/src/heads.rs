//! Moving attention heads between the projections' `[b, s, heads·d]` layout and attention's
//! `[b, heads, s, d]`, with the rotary embedding applied on the way in.
//!
//! On CPU each direction is one autograd node and one parallel copy; composed, it is a reshape, a
//! transposing copy and a rotation, each node with its own zero-filled gradient buffer. GPT-2's
//! fused `c_attn` output is read in place: `q`, `k` and `v` are column ranges of one tensor.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, D};

use crate::buffer;
use crate::error::{Error, Result};
use crate::ops::{self, contiguous_f32, cpu_f32};

/// Per-position rotation tables, `[s, d / 2]` (or `[b, s, d / 2]` for left-padded rows).
#[derive(Clone, Copy)]
pub(crate) struct Rotary<'a> {
    pub(crate) cos: &'a Tensor,
    pub(crate) sin: &'a Tensor,
}

/// Heads `[b, heads, s, d]` from columns `first_column..first_column + heads·d` of `x`
/// `[b, s, width]`, rotated when `rotary` is given.
pub(crate) fn split(
    x: &Tensor,
    heads: usize,
    head_dim: usize,
    first_column: usize,
    rotary: Option<Rotary>,
) -> Result<Tensor> {
    let (b, s, width) = x.dims3()?;
    if first_column + heads * head_dim > width {
        return Err(Error::InvalidArgument(format!(
            "{heads} heads of {head_dim} from column {first_column} do not fit a width of {width}"
        )));
    }
    if !(x.device().is_cpu() && x.dtype() == DType::F32) {
        let heads = x
            .narrow(D::Minus1, first_column, heads * head_dim)?
            .reshape((b, s, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        return match rotary {
            Some(r) => ops::rope(&heads, r.cos, r.sin),
            None => Ok(heads),
        };
    }
    let rotation = rotary
        .map(|r| Rotation::new(r, (b, s, head_dim)))
        .transpose()?;
    let op = Split(Layout4 {
        b,
        s,
        heads,
        head_dim,
        width,
        first_column,
        rotation,
    });
    let x = x.contiguous()?;
    Ok(if x.track_op() {
        x.apply_op1(op)?
    } else {
        x.apply_op1_no_bwd(&op)?
    })
}

/// `[b, heads, s, d]` → `[b, s, heads·d]`.
pub(crate) fn merge(x: &Tensor) -> Result<Tensor> {
    let (b, heads, s, head_dim) = x.dims4()?;
    if !(x.device().is_cpu() && x.dtype() == DType::F32) {
        return Ok(x.transpose(1, 2)?.reshape((b, s, heads * head_dim))?);
    }
    let op = Merge(Layout4 {
        b,
        s,
        heads,
        head_dim,
        width: heads * head_dim,
        first_column: 0,
        rotation: None,
    });
    let x = x.contiguous()?;
    Ok(if x.track_op() {
        x.apply_op1(op)?
    } else {
        x.apply_op1_no_bwd(&op)?
    })
}

/// The rotation tables, checked against the positions they rotate.
struct Rotation {
    cos: Tensor,
    sin: Tensor,
    per_row: bool,
}

impl Rotation {
    fn new(r: Rotary, (b, s, head_dim): (usize, usize, usize)) -> Result<Self> {
        if head_dim % 2 == 1 {
            return Err(Error::InvalidArgument(format!(
                "the rotary embedding needs an even head size, not {head_dim}"
            )));
        }
        let half = head_dim / 2;
        let per_row = match r.cos.dims() {
            [rows, h] if *rows == s && *h == half => false,
            [rb, rows, h] if *rb == b && *rows == s && *h == half => true,
            dims => {
                return Err(Error::InvalidArgument(format!(
                    "rotary table {dims:?} does not fit {b}×{s} positions of {head_dim}"
                )))
            }
        };
        if r.sin.dims() != r.cos.dims() {
            return Err(Error::InvalidArgument(format!(
                "rotary tables {:?} and {:?} differ",
                r.cos.dims(),
                r.sin.dims()
            )));
        }
        Ok(Self {
            cos: r.cos.to_dtype(DType::F32)?.contiguous()?,
            sin: r.sin.to_dtype(DType::F32)?.contiguous()?,
            per_row,
        })
    }
}

/// Where the heads sit: `[b, s, width]` rows holding `heads·head_dim` columns from `first_column`.
struct Layout4 {
    b: usize,
    s: usize,
    heads: usize,
    head_dim: usize,
    width: usize,
    first_column: usize,
    rotation: Option<Rotation>,
}

/// Forward or backward rotation (the inverse turns by the opposite angle).
#[derive(Clone, Copy, PartialEq)]
enum Turn {
    Forward,
    Back,
}

impl Layout4 {
    fn rows_shape(&self) -> Shape {
        Shape::from((self.b, self.s, self.width))
    }

    fn heads_shape(&self) -> Shape {
        Shape::from((self.b, self.heads, self.s, self.head_dim))
    }

    /// Rows `[b, s, width]` → heads `[b, heads, s, d]`, rotated by `turn` when tables are set.
    fn to_heads(&self, rows: &[f32], turn: Turn) -> candle_core::Result<Vec<f32>> {
        let (s, d) = (self.s, self.head_dim);
        let tables = self.tables()?;
        Ok(buffer::filled(
            self.b * self.heads * s * d,
            s * d,
            |bh, block| {
                let (bi, h) = (bh / self.heads, bh % self.heads);
                for (t, dst) in block.chunks_mut(d).enumerate() {
                    let start = (bi * s + t) * self.width + self.first_column + h * d;
                    let src = &rows[start..start + d];
                    match &tables {
                        Some((cos, sin)) => rotate(src, dst, self.angle(cos, sin, bi, t), turn),
                        None => dst.copy_from_slice(src),
                    }
                }
            },
        ))
    }

    /// Heads `[b, heads, s, d]` → rows `[b, s, width]` (zero outside the heads' columns).
    fn to_rows(&self, heads: &[f32], turn: Turn) -> candle_core::Result<Vec<f32>> {
        let (s, d) = (self.s, self.head_dim);
        let tables = self.tables()?;
        Ok(buffer::filled(
            self.b * s * self.width,
            self.width,
            |row, dst| {
                let (bi, t) = (row / s, row % s);
                let columns = &mut dst[self.first_column..self.first_column + self.heads * d];
                for (h, dst) in columns.chunks_mut(d).enumerate() {
                    let start = ((bi * self.heads + h) * s + t) * d;
                    let src = &heads[start..start + d];
                    match &tables {
                        Some((cos, sin)) => rotate(src, dst, self.angle(cos, sin, bi, t), turn),
                        None => dst.copy_from_slice(src),
                    }
                }
            },
        ))
    }

    fn tables(&self) -> candle_core::Result<Option<(ops::F32View<'_>, ops::F32View<'_>)>> {
        self.rotation
            .as_ref()
            .map(|r| Ok((cpu_f32(&r.cos)?, cpu_f32(&r.sin)?)))
            .transpose()
    }

    /// cos and sin rows of position `t` of batch row `bi`.
    fn angle<'t>(
        &self,
        cos: &'t [f32],
        sin: &'t [f32],
        bi: usize,
        t: usize,
    ) -> (&'t [f32], &'t [f32]) {
        let half = self.head_dim / 2;
        let per_row = self.rotation.as_ref().is_some_and(|r| r.per_row);
        let start = if per_row {
            (bi * self.s + t) * half
        } else {
            t * half
        };
        (&cos[start..start + half], &sin[start..start + half])
    }
}

/// `dst = rotate(src)` by the half-split (GPT-NeoX / Hugging Face) convention:
/// `[x₁·cos − x₂·sin, x₂·cos + x₁·sin]`, or by the opposite angle for [`Turn::Back`].
fn rotate(src: &[f32], dst: &mut [f32], (cos, sin): (&[f32], &[f32]), turn: Turn) {
    let half = src.len() / 2;
    let (x1, x2) = src.split_at(half);
    let (y1, y2) = dst.split_at_mut(half);
    let sign = if turn == Turn::Forward { 1.0 } else { -1.0 };
    for i in 0..half {
        let s = sign * sin[i];
        y1[i] = x1[i] * cos[i] - x2[i] * s;
        y2[i] = x2[i] * cos[i] + x1[i] * s;
    }
}

/// See [`split`].
struct Split(Layout4);

impl CustomOp1 for Split {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if layout.shape() != &self.0.rows_shape() {
            candle_core::bail!("split-heads: input {:?} changed shape", layout.shape());
        }
        let heads = self.0.to_heads(contiguous_f32(x, layout)?, Turn::Forward)?;
        Ok((CpuStorage::F32(heads), self.0.heads_shape()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = self.0.to_rows(&cpu_f32(&grad)?, Turn::Back)?;
        Tensor::from_vec(dx, self.0.rows_shape(), x.device()).map(Some)
    }
}

/// See [`merge`].
struct Merge(Layout4);

impl CustomOp1 for Merge {
    fn name(&self) -> &'static str {
        "merge-heads"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if layout.shape() != &self.0.heads_shape() {
            candle_core::bail!("merge-heads: input {:?} changed shape", layout.shape());
        }
        let rows = self.0.to_rows(contiguous_f32(x, layout)?, Turn::Forward)?;
        Ok((CpuStorage::F32(rows), self.0.rows_shape()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = self.0.to_heads(&cpu_f32(&grad)?, Turn::Back)?;
        Tensor::from_vec(dx, self.0.heads_shape(), x.device()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;
    use crate::testing::{max_diff, wave as values};

    /// The composed split: narrow, reshape, transpose, and the rotation from its definition.
    fn composed_split(
        x: &Tensor,
        heads: usize,
        d: usize,
        first: usize,
        rotary: Option<Rotary>,
    ) -> Tensor {
        let (b, s, _) = x.dims3().unwrap();
        let h = x
            .narrow(D::Minus1, first, heads * d)
            .unwrap()
            .reshape((b, s, heads, d))
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        let Some(r) = rotary else { return h };
        let (cos, sin) = match r.cos.rank() {
            3 => (r.cos.unsqueeze(1).unwrap(), r.sin.unsqueeze(1).unwrap()),
            _ => (r.cos.clone(), r.sin.clone()),
        };
        let x1 = h.narrow(D::Minus1, 0, d / 2).unwrap();
        let x2 = h.narrow(D::Minus1, d / 2, d / 2).unwrap();
        let first = (x1.broadcast_mul(&cos).unwrap() - x2.broadcast_mul(&sin).unwrap()).unwrap();
        let second = (x2.broadcast_mul(&cos).unwrap() + x1.broadcast_mul(&sin).unwrap()).unwrap();
        Tensor::cat(&[first, second], D::Minus1).unwrap()
    }

    /// `Σ y ⊙ up`'s gradient with respect to `x`.
    fn grad(y: &Tensor, x: &Var) -> Tensor {
        let up = values(y.dims(), 9.0);
        let store = (y * up).unwrap().sum_all().unwrap().backward().unwrap();
        store.get(x.as_tensor()).unwrap().clone()
    }

    #[test]
    fn rotated_split_and_its_gradient_equal_the_composed_form() {
        let (b, s, heads, d) = (2, 5, 3, 8);
        let x = Var::from_tensor(&values(&[b, s, heads * d], 1.0)).unwrap();
        // Shared positions `[s, d/2]` and per-row positions `[b, s, d/2]` (left-padded batches).
        for table_dims in [vec![s, d / 2], vec![b, s, d / 2]] {
            let (cos, sin) = (
                values(table_dims.as_slice(), 2.0),
                values(table_dims.as_slice(), 3.0),
            );
            let rotary = Some(Rotary {
                cos: &cos,
                sin: &sin,
            });
            let fused = split(x.as_tensor(), heads, d, 0, rotary).unwrap();
            let plain = composed_split(x.as_tensor(), heads, d, 0, rotary);
            assert_eq!(fused.dims(), [b, heads, s, d]);
            assert!(max_diff(&fused, &plain) < 1e-6);
            assert!(max_diff(&grad(&fused, &x), &grad(&plain, &x)) < 1e-5);
        }
    }

    #[test]
    fn column_ranges_of_a_fused_projection_split_like_narrowed_copies() {
        let (b, s, heads, d) = (2, 4, 2, 6);
        let qkv = Var::from_tensor(&values(&[b, s, 3 * heads * d], 1.0)).unwrap();
        let sum = |pick: &dyn Fn(usize) -> Tensor| {
            (0..3)
                .map(|i| (pick(i) * (i as f64 + 1.0)).unwrap())
                .reduce(|a, c| (a + c).unwrap())
                .unwrap()
        };
        let fused = sum(&|i| split(qkv.as_tensor(), heads, d, i * heads * d, None).unwrap());
        let plain = sum(&|i| composed_split(qkv.as_tensor(), heads, d, i * heads * d, None));
        assert!(max_diff(&fused, &plain) < 1e-6);
        assert!(max_diff(&grad(&fused, &qkv), &grad(&plain, &qkv)) < 1e-6);
    }

    #[test]
    fn merge_and_its_gradient_equal_transpose_and_reshape() {
        let x = Var::from_tensor(&values(&[2, 3, 5, 4], 1.0)).unwrap();
        let fused = merge(x.as_tensor()).unwrap();
        let plain = x
            .as_tensor()
            .transpose(1, 2)
            .unwrap()
            .reshape((2, 5, 12))
            .unwrap();
        assert!(max_diff(&fused, &plain) < 1e-7);
        assert!(max_diff(&grad(&fused, &x), &grad(&plain, &x)) < 1e-7);
    }

    #[test]
    fn heads_or_tables_that_do_not_fit_are_refused() {
        let x = values(&[1, 3, 16], 1.0);
        assert!(split(&x, 3, 8, 0, None).is_err());
        assert!(split(&x, 2, 8, 4, None).is_err());
        let (cos, sin) = (values(&[2, 4], 2.0), values(&[2, 4], 3.0));
        let rotary = Some(Rotary {
            cos: &cos,
            sin: &sin,
        });
        assert!(split(&x, 2, 8, 0, rotary).is_err());
        // An odd head size is fine without a rotation, and refused with one.
        assert_eq!(split(&x, 3, 5, 1, None).unwrap().dims(), [1, 3, 3, 5]);
        let (cos, sin) = (values(&[3, 2], 2.0), values(&[3, 2], 3.0));
        let rotary = Some(Rotary {
            cos: &cos,
            sin: &sin,
        });
        assert!(split(&x, 3, 5, 1, rotary).is_err());
    }
}
