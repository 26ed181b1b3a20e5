//! Element-wise math for the fused kernels, written so the compiler vectorizes it: `exp` as a
//! branch-free polynomial (glibc's `expf` is one call per element that no loop can vectorize, and
//! the softmaxes and SiLU made it 7 % of a training step), parallel maps, and reductions kept in
//! eight independent lanes. Only baseline x86-64 SIMD (SSE2) is assumed, so the binary runs on
//! any x86-64 and every lane does the same IEEE operations on every machine.

use crate::buffer;

/// Elements per rayon task: small enough to split a block's activations, large enough that
/// scheduling is noise.
pub(crate) const CHUNK: usize = 1 << 14;

/// `eˣ` within 2 ulp (Cephes' reduction and polynomial), without branches: 0 below −87.34
/// (where `eˣ` leaves f32's normal range), saturating at `e⁸⁸` ≈ 1.65e38, NaN for NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const MIN: f32 = -87.336_55;
    const MAX: f32 = 88.0;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 split so that `k · LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(MIN, MAX);
    // 1.5·2²³ + k, with the integer k = round(x·log₂e) in the low bits of its mantissa.
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = clamped - k * LN2_HI - k * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ᵏ from its exponent bits (k is within [−126, 127]), with integer operations only.
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(k_bits.wrapping_add(127) << 23);
    // All ones where x is at least MIN (or NaN), else zero: a mask instead of a branch.
    let keep = 0u32.wrapping_sub(u32::from(x >= MIN || x.is_nan()));
    f32::from_bits((y * scale).to_bits() & keep)
}

/// `1 / (1 + e⁻ˣ)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x` as `1 − 2 / (e²ˣ + 1)`: absolute error below 1e-7, exact ±1 in the tails.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// `f(a[i])` for every element, in parallel.
pub(crate) fn map1(a: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    buffer::filled(a.len(), CHUNK, |i, out| {
        let a = &a[i * CHUNK..][..out.len()];
        out.iter_mut().zip(a).for_each(|(o, &a)| *o = f(a));
    })
}

/// `f(a[i], b[i])` for every element, in parallel; the slices have equal lengths.
pub(crate) fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send) -> Vec<f32> {
    buffer::filled(a.len(), CHUNK, |i, out| {
        let (a, b) = (&a[i * CHUNK..][..out.len()], &b[i * CHUNK..][..out.len()]);
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    })
}

/// `f(a[i], b[i], c[i])` for every element, in parallel; the slices have equal lengths.
pub(crate) fn map3(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    buffer::filled(a.len(), CHUNK, |i, out| {
        let range = i * CHUNK..i * CHUNK + out.len();
        let (a, b, c) = (&a[range.clone()], &b[range.clone()], &c[range]);
        for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
            *o = f(a, b, c);
        }
    })
}

/// The largest element (−∞ for none), in eight independent lanes so the loop vectorizes.
#[inline(always)]
pub(crate) fn max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(x);
        }
    }
    tail.iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `Σ e^(x − shift)` over `row`, summed in f64 in eight independent lanes.
#[inline(always)]
pub(crate) fn sum_exp(row: &[f32], shift: f32) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let e: [f32; 8] = std::array::from_fn(|i| exp(chunk[i] - shift));
        for (lane, e) in lanes.iter_mut().zip(e) {
            *lane += f64::from(e);
        }
    }
    let tail: f64 = tail.iter().map(|&x| f64::from(exp(x - shift))).sum();
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_over_the_normal_range() {
        let mut worst = 0f64;
        let mut x = -87.3f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_731;
        }
        // One ulp of f32 is 2⁻²³ ≈ 1.19e-7 relative.
        assert!(worst < 2.4e-7, "relative error {worst}");
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), exp(88.0));
        assert!(exp(88.0) > 1.6e38);
        assert!(exp(f32::NAN).is_nan());
        assert!(sigmoid(-200.0) < 1e-38);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
    }

    #[test]
    fn tanh_is_close_to_the_library_tanh() {
        let worst = (-2000..2000)
            .map(|i| i as f32 * 0.005)
            .map(|x| (tanh(x) - x.tanh()).abs())
            .fold(0f32, f32::max);
        assert!(worst < 2e-7, "absolute error {worst}");
    }

    #[test]
    fn maps_and_reductions_agree_with_scalar_code() {
        // Lengths that leave tails both for the lanes and for the parallel chunks.
        let a: Vec<f32> = (0..CHUNK * 2 + 13)
            .map(|i| (i as f32 * 0.37).sin() * 9.0)
            .collect();
        let b: Vec<f32> = a.iter().map(|x| x.cos()).collect();
        let c: Vec<f32> = a.iter().map(|x| x * 0.5 - 1.0).collect();
        let scalar: Vec<f32> = a.iter().map(|&x| exp(x)).collect();
        assert_eq!(map1(&a, exp), scalar);
        let sum: Vec<f32> = a.iter().zip(&b).map(|(a, b)| a * b).collect();
        assert_eq!(map2(&a, &b, |a, b| a * b), sum);
        let fma: Vec<f32> = a
            .iter()
            .zip(&b)
            .zip(&c)
            .map(|((a, b), c)| a * b + c)
            .collect();
        assert_eq!(map3(&a, &b, &c, |a, b, c| a * b + c), fma);
        let want_max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(max(&a), want_max);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        let want_sum: f64 = a.iter().map(|&x| f64::from(exp(x - 3.0))).sum();
        let got_sum = sum_exp(&a, 3.0);
        assert!((got_sum - want_sum).abs() < 1e-9 * want_sum);
    }
}
