//! Dense f32 products of the linear layers on CPU, split across rayon's pool: OpenBLAS's
//! `cblas_sgemm` (linked statically when `build.rs` finds it, one OpenBLAS thread per call) for products of
//! many rows, the `gemm` crate candle itself uses for the rest. On the project's 2-core machine
//! OpenBLAS runs training shapes at 125–150 GFLOP/s against `gemm`'s 95–100, and matmuls are
//! most of a training step. Products of up to eight rows by a weight (decoding) go to
//! [`gemv`], which streams the weight once where both libraries would pack it first.
//!
//! With `buffer.rs`, this is the engine's only `unsafe` code: both library kernels take raw
//! pointers. Every call goes through a function here that checks each slice holds the matrix it
//! is said to hold.
#![allow(unsafe_code)]

use rayon::prelude::*;

use crate::buffer;
use crate::gemv;

/// How the right-hand matrix `b` of `a · op(b)` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rhs {
    /// `b` is `[n, k]` and the product is `a · bᵀ` (a linear layer's `[out, in]` weight).
    Transposed,
    /// `b` is `[k, n]` and the product is `a · b`.
    Plain,
}

/// How the left-hand matrix `a` of `op(a) · op(b)` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lhs {
    /// `a` is `[m, k]`.
    Plain,
    /// `a` is `[k, m]` and the product is `aᵀ · op(b)`.
    Transposed,
}

/// Which kernel this build multiplies many-row products with (for benchmark reports).
pub const BACKEND: &str = if cfg!(citadel_openblas) {
    "openblas"
} else {
    "gemm"
};

/// Products of fewer rows than this per thread go to `gemm` (see the module comment).
#[cfg(citadel_openblas)]
const OPENBLAS_MIN_ROWS: usize = 16;

/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 17;
/// A row split gives each thread at least this many rows; shorter products split columns.
const MIN_ROWS_PER_PART: usize = 16;

/// `a[m, k] · op(b)`, a new row-major `[m, n]` matrix, computed across rayon's pool.
pub(crate) fn product(
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<f32>, String> {
    let threads = rayon::current_num_threads();
    if threads < 2 || m.saturating_mul(n).saturating_mul(k) < PARALLEL_MIN_WORK {
        return product_on_this_thread(a, b, rhs, (m, n, k));
    }
    check(a, b, rhs, (m, n, k))?;
    if m >= threads * MIN_ROWS_PER_PART || rhs == Rhs::Plain {
        let rows = m.div_ceil(threads);
        // Each thread zeroes and computes its own band of rows.
        return Ok(buffer::filled(m * n, rows * n, |band, c| {
            let a = &a[band * rows * k..][..c.len() / n * k];
            kernel(a, Lhs::Plain, b, rhs, (c.len() / n, n, k), c, n);
        }));
    }
    // Few rows (decoding): each thread takes a band of output columns, i.e. of `b`'s rows.
    let cols = n.div_ceil(threads);
    let bands: Vec<(usize, Vec<f32>)> = b
        .par_chunks(cols * k)
        .enumerate()
        .map(|(i, b)| {
            let width = b.len() / k;
            let mut band = vec![0.0; m * width];
            kernel(a, Lhs::Plain, b, rhs, (m, width, k), &mut band, width);
            (i * cols, band)
        })
        .collect();
    let mut c = vec![0.0; m * n];
    for (start, band) in bands {
        let width = band.len() / m;
        for (row, out) in band.chunks(width).zip(c.chunks_mut(n)) {
            out[start..start + width].copy_from_slice(row);
        }
    }
    Ok(c)
}

/// `c += a[m, k] · op(b)` for a row-major `[m, n]` matrix `c`, computed across rayon's pool.
pub(crate) fn add_product(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    (m, n, k): (usize, usize, usize),
) -> Result<(), String> {
    check(a, b, rhs, (m, n, k))?;
    if c.len() != m * n {
        return Err(format!(
            "matmul: {} elements do not hold a [{m}, {n}] result",
            c.len()
        ));
    }
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    if threads < 2 || m * n * k < PARALLEL_MIN_WORK || m < threads * MIN_ROWS_PER_PART {
        kernel(a, Lhs::Plain, b, rhs, (m, n, k), c, n);
        return Ok(());
    }
    let rows = m.div_ceil(threads);
    c.par_chunks_mut(rows * n)
        .zip(a.par_chunks(rows * k))
        .for_each(|(c, a)| kernel(a, Lhs::Plain, b, rhs, (c.len() / n, n, k), c, n));
    Ok(())
}

/// [`product`] on the calling thread, for callers that already split their work.
pub(crate) fn product_on_this_thread(
    a: &[f32],
    b: &[f32],
    rhs: Rhs,
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<f32>, String> {
    check(a, b, rhs, (m, n, k))?;
    let mut c = vec![0.0; m * n];
    if m > 0 && n > 0 && k > 0 {
        kernel(a, Lhs::Plain, b, rhs, (m, n, k), &mut c, n);
    }
    Ok(c)
}

/// `aᵀ · b` for `a` stored `[k, m]` and `b` `[k, n]`, on the calling thread: the transposed
/// factor is read in place (attention's backward multiplies by transposed scores).
pub(crate) fn transposed_product_on_this_thread(
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<f32>, String> {
    check(a, b, Rhs::Plain, (m, n, k))?;
    let mut c = vec![0.0; m * n];
    if m > 0 && n > 0 && k > 0 {
        kernel(a, Lhs::Transposed, b, Rhs::Plain, (m, n, k), &mut c, n);
    }
    Ok(c)
}

/// Checks `a` and `b` hold the matrices described, in sizes the kernels take.
fn check(a: &[f32], b: &[f32], rhs: Rhs, (m, n, k): (usize, usize, usize)) -> Result<(), String> {
    let fits = |len: usize, rows: usize, cols: usize| rows.checked_mul(cols) == Some(len);
    if !fits(a.len(), m, k) || !fits(b.len(), n, k) {
        return Err(format!(
            "matmul: {} and {} elements do not hold [{m}, {k}] and {} matrices",
            a.len(),
            b.len(),
            match rhs {
                Rhs::Transposed => format!("[{n}, {k}]"),
                Rhs::Plain => format!("[{k}, {n}]"),
            }
        ));
    }
    if [m, n, k].iter().any(|&d| d > i32::MAX as usize) {
        return Err(format!(
            "matmul: [{m}, {k}] x [{k}, {n}] exceeds the kernel's 32-bit sizes"
        ));
    }
    Ok(())
}

/// One thread's `c[m, n] += a[m, k] · op(b)`, `c` with row stride `ldc`. The caller has checked
/// `a` holds `m·k`, `b` holds `n·k` and `c` holds `m·ldc` elements, all sizes fitting an `i32`.
fn kernel(
    a: &[f32],
    lhs: Lhs,
    b: &[f32],
    rhs: Rhs,
    dims: (usize, usize, usize),
    c: &mut [f32],
    ldc: usize,
) {
    if lhs == Lhs::Plain && rhs == Rhs::Transposed && dims.0 <= gemv::MAX_ROWS {
        return gemv::add_rows_times_weight(a, b, dims, c, ldc);
    }
    #[cfg(citadel_openblas)]
    if dims.0 >= OPENBLAS_MIN_ROWS {
        return openblas_kernel(a, lhs, b, rhs, dims, c, ldc);
    }
    gemm_kernel(a, lhs, b, rhs, dims, c, ldc)
}

#[cfg(citadel_openblas)]
fn openblas_kernel(
    a: &[f32],
    lhs: Lhs,
    b: &[f32],
    rhs: Rhs,
    (m, n, k): (usize, usize, usize),
    c: &mut [f32],
    ldc: usize,
) {
    use std::ffi::c_int;
    extern "C" {
        fn openblas_set_num_threads(threads: c_int);
        fn cblas_sgemm(
            layout: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
    }
    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;
    const TRANS: c_int = 112;
    let (trans_a, lda) = match lhs {
        Lhs::Plain => (NO_TRANS, k),
        Lhs::Transposed => (TRANS, m),
    };
    let (trans_b, ldb) = match rhs {
        Rhs::Transposed => (TRANS, k),
        Rhs::Plain => (NO_TRANS, n),
    };
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= (m - 1) * ldc + n);
    // Rayon splits the work: each call computes on its caller's thread.
    static SINGLE_THREADED: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain setter of OpenBLAS's thread count.
    SINGLE_THREADED.call_once(|| unsafe { openblas_set_num_threads(1) });
    // SAFETY: the slices hold the matrices described (checked by `product`), sizes fit c_int,
    // and `c` is borrowed mutably for the call alone.
    unsafe {
        cblas_sgemm(
            ROW_MAJOR,
            trans_a,
            trans_b,
            m as c_int,
            n as c_int,
            k as c_int,
            1.0,
            a.as_ptr(),
            lda as c_int,
            b.as_ptr(),
            ldb as c_int,
            1.0,
            c.as_mut_ptr(),
            ldc as c_int,
        );
    }
}

fn gemm_kernel(
    a: &[f32],
    lhs: Lhs,
    b: &[f32],
    rhs: Rhs,
    (m, n, k): (usize, usize, usize),
    c: &mut [f32],
    ldc: usize,
) {
    // Strides (column, row) of `op(a)` viewed as `[m, k]`, and of `op(b)` viewed as `[k, n]`.
    let (lhs_cs, lhs_rs) = match lhs {
        Lhs::Plain => (1, k as isize),
        Lhs::Transposed => (m as isize, 1),
    };
    let (rhs_cs, rhs_rs) = match rhs {
        Rhs::Transposed => (k as isize, 1),
        Rhs::Plain => (1, n as isize),
    };
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= (m - 1) * ldc + n);
    // SAFETY: as for the OpenBLAS kernel.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            true,
            a.as_ptr(),
            lhs_cs,
            lhs_rs,
            b.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], rhs: Rhs, (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let bv = match rhs {
                        Rhs::Transposed => b[j * k + p],
                        Rhs::Plain => b[p * n + j],
                    };
                    c[i * n + j] += f64::from(a[i * k + p]) * f64::from(bv);
                }
            }
        }
        c.into_iter().map(|v| v as f32).collect()
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect()
    }

    fn worst_difference(got: &[f32], want: &[f32]) -> f32 {
        got.iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn products_match_a_naive_sum_for_every_split() {
        // Single-thread, row split, column split (few rows) and uneven band widths.
        for &(m, n, k) in &[
            (1, 7, 3),
            (3, 5, 2),
            (1, 1000, 300),
            (5, 999, 257),
            (64, 130, 70),
            (33, 17, 400),
        ] {
            for rhs in [Rhs::Transposed, Rhs::Plain] {
                let (a, b) = (values(m * k, 1), values(n * k, 2));
                let got = product(&a, &b, rhs, (m, n, k)).unwrap();
                let want = naive(&a, &b, rhs, (m, n, k));
                let worst = worst_difference(&got, &want);
                assert!(worst < 1e-3, "{rhs:?} {m}x{n}x{k}: off by {worst}");
                // Accumulating onto existing values adds the same product.
                let start = values(m * n, 3);
                let mut sum = start.clone();
                add_product(&mut sum, &a, &b, rhs, (m, n, k)).unwrap();
                let expected: Vec<f32> = start.iter().zip(&want).map(|(c, w)| c + w).collect();
                let worst = worst_difference(&sum, &expected);
                assert!(worst < 1e-3, "+= {rhs:?} {m}x{n}x{k}: off by {worst}");
            }
            // aᵀ·b with a stored transposed: the same as a·b with a stored plainly.
            let (a, b) = (values(m * k, 4), values(k * n, 5));
            let a_t: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let got = transposed_product_on_this_thread(&a_t, &b, (m, n, k)).unwrap();
            let want = naive(&a, &b, Rhs::Plain, (m, n, k));
            let worst = worst_difference(&got, &want);
            assert!(worst < 1e-3, "aᵀ·b {m}x{n}x{k}: off by {worst}");
        }
    }

    #[test]
    fn refuses_slices_that_do_not_hold_the_matrices() {
        let err = product(&[1.0; 5], &[1.0; 6], Rhs::Transposed, (2, 3, 2)).unwrap_err();
        assert!(err.contains("do not hold"), "{err}");
        assert!(product(&[1.0; 4], &[1.0; 5], Rhs::Plain, (2, 3, 2)).is_err());
        let mut short = [0.0; 5];
        let err = add_product(&mut short, &[1.0; 4], &[1.0; 6], Rhs::Plain, (2, 3, 2));
        assert!(err.unwrap_err().contains("do not hold a [2, 3] result"));
        assert_eq!(
            product(&[], &[], Rhs::Plain, (0, 0, 0)).unwrap(),
            Vec::<f32>::new()
        );
        assert_eq!(
            product(&[], &[], Rhs::Plain, (2, 3, 0)).unwrap(),
            vec![0.0; 6]
        );
    }
}
