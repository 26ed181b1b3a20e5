//! Products of a few rows by a linear layer's `[n, k]` weight, `c += a · bᵀ`: decoding, where
//! each step multiplies one row per sequence by every weight of the model.
//!
//! Such a step is bound by reading the weights, not by arithmetic. OpenBLAS packs the weight
//! into its blocked layout first (reading it twice), and `gemm` does the same from two rows on;
//! here each weight row is read once, from memory, and each of its chunks is multiplied into up
//! to four input rows while it sits in registers, so a batch of a few rows costs little more
//! than one. Every output is summed in one fixed order whatever the number of rows, so a row's
//! products do not depend on the rows beside it (the prompt's prefill and the padded attention
//! of a batch are other kernels, so whole generations are only held to the same tokens). The
//! SIMD width (AVX2 with FMA, or scalar) is chosen at run time by `pulp`.

use pulp::{Arch, Simd, WithSimd};

/// Products of at most this many rows take this path (beyond it, OpenBLAS's blocking wins).
pub(crate) const MAX_ROWS: usize = 8;

/// Input rows that share each load of a weight chunk: four rows of two accumulators fill half
/// of x86-64's sixteen vector registers.
const GROUP: usize = 4;

/// `c[r, j] += a[r, ..] · b[j, ..]` for `a` `[m, k]` (m ≤ [`MAX_ROWS`]), `b` `[n, k]` and `c`
/// with rows `ldc` apart. The caller checks the sizes.
pub(crate) fn add_rows_times_weight(
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    c: &mut [f32],
    ldc: usize,
) {
    debug_assert!(m <= MAX_ROWS && a.len() >= m * k && b.len() >= n * k);
    debug_assert!(m == 0 || c.len() >= (m - 1) * ldc + n);
    if k == 0 || m == 0 {
        return;
    }
    Arch::new().dispatch(RowsByWeight {
        a: &a[..m * k],
        b: &b[..n * k],
        k,
        c,
        ldc,
    });
}

struct RowsByWeight<'a> {
    a: &'a [f32],
    b: &'a [f32],
    k: usize,
    c: &'a mut [f32],
    ldc: usize,
}

impl WithSimd for RowsByWeight<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { a, b, k, c, ldc } = self;
        for (j, weight) in b.chunks_exact(k).enumerate() {
            for (g, rows) in a.chunks(GROUP * k).enumerate() {
                let sums = match rows.len() / k {
                    1 => dots::<S, 1>(simd, rows, weight),
                    2 => dots::<S, 2>(simd, rows, weight),
                    3 => dots::<S, 3>(simd, rows, weight),
                    _ => dots::<S, 4>(simd, rows, weight),
                };
                for (i, sum) in sums.into_iter().take(rows.len() / k).enumerate() {
                    c[(g * GROUP + i) * ldc + j] += sum;
                }
            }
        }
    }
}

/// The dot products of `R` rows (`rows` `[R, k]`) with `weight` `[k]`: two vector accumulators
/// per row (so consecutive multiply-adds overlap), added and reduced, then the tail in order.
/// A row goes through the same operations whatever `R`.
#[inline(always)]
fn dots<S: Simd, const R: usize>(simd: S, rows: &[f32], weight: &[f32]) -> [f32; GROUP] {
    let k = weight.len();
    let (w_vectors, w_tail) = S::as_simd_f32s(weight);
    let x: [(&[S::f32s], &[f32]); R] =
        std::array::from_fn(|r| S::as_simd_f32s(&rows[r * k..(r + 1) * k]));
    let mut acc = [[simd.splat_f32s(0.0); 2]; R];
    let pairs = w_vectors.chunks_exact(2);
    let odd = pairs.remainder();
    for (p, w) in pairs.enumerate() {
        for (acc, (xv, _)) in acc.iter_mut().zip(&x) {
            acc[0] = simd.mul_add_f32s(xv[2 * p], w[0], acc[0]);
            acc[1] = simd.mul_add_f32s(xv[2 * p + 1], w[1], acc[1]);
        }
    }
    if let [w] = odd {
        for (acc, (xv, _)) in acc.iter_mut().zip(&x) {
            acc[0] = simd.mul_add_f32s(xv[xv.len() - 1], *w, acc[0]);
        }
    }
    let mut sums = [0f32; GROUP];
    for ((sum, acc), (_, x_tail)) in sums.iter_mut().zip(&acc).zip(&x) {
        let vector_sum = simd.reduce_sum_f32s(simd.add_f32s(acc[0], acc[1]));
        *sum = x_tail
            .iter()
            .zip(w_tail)
            .fold(vector_sum, |s, (x, w)| x.mul_add(*w, s));
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn adds_the_product_for_every_row_count_and_width() {
        for m in 1..=MAX_ROWS {
            for k in [1, 7, 8, 15, 16, 31, 64, 67, 200] {
                let n = 5;
                let ldc = n + 3;
                let (a, b) = (values(m * k, 1), values(n * k, 2));
                let before = values(m * ldc, 3);
                let mut c = before.clone();
                add_rows_times_weight(&a, &b, (m, n, k), &mut c, ldc);
                for r in 0..m {
                    for j in 0..ldc {
                        let dot: f64 = if j < n {
                            (0..k)
                                .map(|p| f64::from(a[r * k + p]) * f64::from(b[j * k + p]))
                                .sum()
                        } else {
                            0.0
                        };
                        let want = f64::from(before[r * ldc + j]) + dot;
                        let got = f64::from(c[r * ldc + j]);
                        assert!(
                            (got - want).abs() < 1e-4,
                            "m {m} k {k} [{r}, {j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_or_among_others() {
        for k in [131, 768] {
            let (m, n) = (MAX_ROWS, 9);
            let (a, b) = (values(m * k, 4), values(n * k, 5));
            let mut together = vec![0.0; m * n];
            add_rows_times_weight(&a, &b, (m, n, k), &mut together, n);
            for r in 0..m {
                let mut alone = vec![0.0; n];
                add_rows_times_weight(&a[r * k..(r + 1) * k], &b, (1, n, k), &mut alone, n);
                assert_eq!(alone, together[r * n..(r + 1) * n], "k {k}, row {r}");
            }
        }
    }
}
