//! The statistics behind drift: the population stability index over quantile bins of the
//! baseline, the two-sample Kolmogorov–Smirnov statistic with its asymptotic p-value, and the
//! two-proportion z-test for rates.
//!
//! Every function takes plain slices or counts and returns `None` instead of a number when its
//! input cannot support one (an empty sample, a NaN), so a caller never reports a made-up value.

/// The smallest proportion a bin may have in the PSI: an empty bin would make `ln(w / b)`
/// infinite. A proportion below this (an empty bin, or fewer than 1 in 10,000 observations) is
/// raised to it; the PSI of identical samples stays exactly 0.
pub const PSI_EPSILON: f64 = 1e-4;

/// The population stability index of proportions `baseline` and `window` (same bins, each
/// summing to 1): `Σ (w − b) · ln(w / b)`, after flooring each proportion at [`PSI_EPSILON`].
pub fn psi_of_proportions(baseline: &[f64], window: &[f64]) -> f64 {
    baseline
        .iter()
        .zip(window)
        .map(|(&b, &w)| {
            let (b, w) = (b.max(PSI_EPSILON), w.max(PSI_EPSILON));
            (w - b) * (w / b).ln()
        })
        .sum()
}

/// Cut points at the baseline's quantiles `k / bins` for `k` in `1..bins` (the sorted value at
/// index `⌊k·n / bins⌋`), without repeats. `sorted` must be sorted ascending and not empty.
fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..bins)
        .filter_map(|k| sorted.get(k * n / bins).copied())
        .collect();
    edges.dedup();
    edges
}

/// The bin of `value` among `edges`: below the first edge is bin 0, equal to edge `j` is bin
/// `2j + 1`, strictly between edges `j` and `j + 1` is bin `2j + 2`, above the last is bin
/// `2·edges`. Values equal to an edge get a bin of their own so that integer features with many
/// ties (token counts, lengths) and even a constant baseline still show a shift either way.
fn bin_of(edges: &[f64], value: f64) -> usize {
    edges.partition_point(|&e| e < value) + edges.partition_point(|&e| e <= value)
}

/// The share of `values` in each bin of `edges` (see [`bin_of`]).
fn proportions(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; 2 * edges.len() + 1];
    for &v in values {
        if let Some(count) = counts.get_mut(bin_of(edges, v)) {
            *count += 1;
        }
    }
    let n = values.len() as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// The PSI of `window` against `baseline` over `bins` quantile bins of the baseline (see
/// [`bin_of`] for values that fall on a cut point). Both slices must be sorted ascending;
/// `None` when either is empty or `bins` is 0.
pub fn psi(baseline: &[f64], window: &[f64], bins: usize) -> Option<f64> {
    if baseline.is_empty() || window.is_empty() || bins == 0 {
        return None;
    }
    let edges = quantile_edges(baseline, bins);
    Some(psi_of_proportions(
        &proportions(&edges, baseline),
        &proportions(&edges, window),
    ))
}

/// The two-sample Kolmogorov–Smirnov statistic: the largest distance between the empirical
/// distribution functions of `a` and `b`, ties handled as scipy's `ks_2samp` does. Both slices
/// must be sorted ascending; `None` when either is empty.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut d: f64 = 0.0;
    while i < a.len() && j < b.len() {
        let value = a[i].min(b[j]);
        while i < a.len() && a[i] <= value {
            i += 1;
        }
        while j < b.len() && b[j] <= value {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    Some(d)
}

/// The survival function of the Kolmogorov distribution, `P(K > λ)` (scipy's
/// `kstwobign.sf`): the alternating series `2 Σ (−1)^(k−1) e^(−2k²λ²)` for λ ≥ 1, and one minus
/// the theta-function form `√(2π)/λ · Σ e^(−(2k−1)²π²/(8λ²))` of the distribution function
/// below, where the first converges slowly.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 1.0;
    }
    let sf = if lambda < 1.0 {
        let mut cdf = 0.0;
        for k in 1..=50u32 {
            let odd = f64::from(2 * k - 1);
            let term =
                (-(odd * odd) * std::f64::consts::PI.powi(2) / (8.0 * lambda * lambda)).exp();
            cdf += term;
            if term < 1e-17 {
                break;
            }
        }
        1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * cdf
    } else {
        let mut sum = 0.0;
        for k in 1..=100u32 {
            let kf = f64::from(k);
            let term = (-2.0 * kf * kf * lambda * lambda).exp();
            sum += if k % 2 == 1 { term } else { -term };
            if term < 1e-17 {
                break;
            }
        }
        2.0 * sum
    };
    sf.clamp(0.0, 1.0)
}

/// The asymptotic p-value of a two-sample KS statistic `d` between samples of sizes `n` and `m`:
/// `P(K > √(nm/(n+m)) · d)`. Conservative for discrete data (ties make large `d` rarer).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let (n, m) = (n as f64, m as f64);
    kolmogorov_sf((n * m / (n + m)).sqrt() * d)
}

/// The two-sided p-value of the pooled two-proportion z-test of `x1` successes in `n1` trials
/// against `x2` in `n2`; 1 when the pooled rate is 0 or 1 (the samples cannot differ).
pub fn two_proportion_p_value(x1: usize, n1: usize, x2: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1 + x2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 {
        return 1.0;
    }
    let z = (x1 / n1 - x2 / n2) / variance.sqrt();
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// The complementary error function, to a relative error below 1.2e-7 (the Chebyshev fit of
/// Numerical Recipes' `erfcc`).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The median of `sorted` (ascending); `None` when empty.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn psi_matches_its_formula_and_is_zero_for_identical_samples() {
        // (0.3−0.5)·ln(0.3/0.5) + (0.7−0.5)·ln(0.7/0.5), worked by hand.
        close(
            psi_of_proportions(&[0.5, 0.5], &[0.3, 0.7]),
            0.2 * (5.0f64 / 3.0).ln() + 0.2 * 1.4f64.ln(),
            1e-12,
        );
        let sample: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(psi(&sample, &sample, 10), Some(0.0));
        // An empty bin is floored at epsilon, not infinite.
        let empty = psi_of_proportions(&[0.5, 0.5], &[0.0, 1.0]);
        assert!(empty.is_finite() && empty > 2.0, "{empty}");
    }

    #[test]
    fn quantile_bins_split_the_baseline_evenly_and_keep_ties_apart() {
        let baseline: Vec<f64> = (0..100).map(f64::from).collect();
        let edges = quantile_edges(&baseline, 4);
        assert_eq!(edges, vec![25.0, 50.0, 75.0]);
        assert_eq!(bin_of(&edges, -1.0), 0);
        assert_eq!(bin_of(&edges, 25.0), 1);
        assert_eq!(bin_of(&edges, 30.0), 2);
        assert_eq!(bin_of(&edges, 75.0), 5);
        assert_eq!(bin_of(&edges, 99.0), 6);
        // A constant baseline: one edge, and a shift either way lands outside its bin.
        let constant = vec![7.0; 50];
        assert_eq!(quantile_edges(&constant, 10), vec![7.0]);
        assert!(psi(&constant, &[8.0; 50], 10).unwrap() > 5.0);
        assert!(psi(&constant, &[6.0; 50], 10).unwrap() > 5.0);
        assert_eq!(psi(&constant, &constant, 10), Some(0.0));
        assert_eq!(psi(&[], &constant, 10), None);
    }

    #[test]
    fn ks_statistic_matches_scipy() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [3,4,5,6,7,8]).statistic == 0.5 (scipy 1.17.1);
        // with ties across the samples: ks_2samp([1,1,2,2,3], [2,2,3,3,4]).statistic == 0.4.
        close(
            ks_statistic(&[1., 2., 3., 4., 5.], &[3., 4., 5., 6., 7., 8.]).unwrap(),
            0.5,
            1e-12,
        );
        close(
            ks_statistic(&[1., 1., 2., 2., 3.], &[2., 2., 3., 3., 4.]).unwrap(),
            0.4,
            1e-12,
        );
        assert_eq!(ks_statistic(&[1.0, 2.0], &[1.0, 2.0]), Some(0.0));
        assert_eq!(ks_statistic(&[], &[1.0]), None);
    }

    #[test]
    fn kolmogorov_tail_matches_scipy() {
        // scipy.stats.kstwobign.sf(x) for these x (scipy 1.17.1).
        for (lambda, expected) in [
            (0.3, 0.999_990_694_198_665_5),
            (0.5, 0.963_945_243_664_875_1),
            (0.8, 0.544_142_411_574_198_1),
            (0.99, 0.280_873_839_225_548_9),
            (1.0, 0.269_999_671_677_354_56),
            (1.36, 0.049_485_876_755_377_876),
            (2.0, 0.000_670_925_255_779_695_3),
        ] {
            close(kolmogorov_sf(lambda), expected, 1e-9);
        }
        assert_eq!(kolmogorov_sf(0.0), 1.0);
        assert_eq!(kolmogorov_sf(f64::NAN), 1.0);
        // scipy.stats.kstwobign.sf(sqrt(100*200/300) * 0.2) for d = 0.2, n = 100, m = 200.
        close(ks_p_value(0.2, 100, 200), 0.009_655_898_901_034_472, 1e-9);
    }

    #[test]
    fn two_proportions_match_the_normal_tail() {
        // 2·norm.sf(|z|) with z from the pooled test: 10/100 vs 30/100 gives z = −3.5355,
        // p = 0.000406952 (scipy 1.17.1, 2·norm.sf).
        close(
            two_proportion_p_value(10, 100, 30, 100),
            0.000_406_952,
            1e-7,
        );
        close(two_proportion_p_value(10, 100, 10, 100), 1.0, 1e-7);
        assert_eq!(two_proportion_p_value(0, 50, 0, 70), 1.0);
        assert_eq!(two_proportion_p_value(3, 0, 1, 5), 1.0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 5.0, 9.0]), Some(5.0));
        assert_eq!(median(&[1.0, 5.0, 7.0, 9.0]), Some(6.0));
    }
}
