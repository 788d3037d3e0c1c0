//! The hypothesis tests behind the regression gate.
//!
//! - Mann-Whitney U (Mann & Whitney 1947) on raw samples, for `parlab compare`: rank-based, so a
//!   few outliers cannot fake a change, and it assumes no distribution. Two-sided p-value from
//!   the exact permutation distribution for small samples, ties included (up to 20 a side), else the
//!   normal approximation with tie correction.
//! - Exact sign-flip permutation test (Fisher 1935) on paired per-run log ratios, for `parlab
//!   ab`: with k pairs there are 2^k equally likely sign patterns under "no change", so the
//!   p-value is exact for any distribution of run-to-run noise, however few runs there are.

use crate::stats::Rng;

/// Two-sided p-value of the Mann-Whitney U test that `a` and `b` come from the same distribution.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> =
        a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_sum_a, mut tie_term) = (0.0, 0.0);
    // Every value's rank, doubled (tied ranks are halves): for the exact distribution.
    let mut doubled_ranks: Vec<usize> = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Tied values share the average of their ranks (1-based).
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += all[i..=j].iter().filter(|v| v.1).count() as f64 * rank;
        doubled_ranks.extend(std::iter::repeat_n(i + j + 2, j - i + 1));
        i = j + 1;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    // Small samples (process medians: five a side) get the exact permutation distribution,
    // ties included: the normal approximation's smallest p-value at 5 against 5 is 0.012,
    // above the usual alpha of 0.01, where the exact one is 2/252 = 0.008.
    if n1 + n2 <= EXACT_MAX_VALUES && n1 * n2 <= EXACT_MAX_PRODUCT {
        return exact_rank_sum_p_value(&doubled_ranks, n1, (2.0 * rank_sum_a).round() as usize);
    }
    let mean = n1f * n2f / 2.0;
    let nf = n as f64;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    // Continuity correction: U moves in steps of one.
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * normal_sf(z)).min(1.0)
}

/// Up to this many (n1 * n2) pairs, [`mann_whitney_u`] counts the exact distribution.
const EXACT_MAX_PRODUCT: usize = 400;
/// ... and up to this many values in all, which bounds the count table (sizes x rank sums).
const EXACT_MAX_VALUES: usize = 40;

/// Two-sided exact p-value of the rank sum of the first sample, `observed` (doubled, as the
/// ranks are), given every value's doubled rank (ties share the average) and `n1` values in the
/// first sample: every choice of `n1` of the ranks is equally likely under "no difference", and
/// `counts[k][s]` counts the choices of `k` ranks summing to `s`. Two-sided: the choices at least
/// as far from the mean sum as the observed one.
fn exact_rank_sum_p_value(doubled_ranks: &[usize], n1: usize, observed: usize) -> f64 {
    let total_sum: usize = doubled_ranks.iter().sum();
    let mut counts = vec![vec![0.0f64; total_sum + 1]; n1 + 1];
    counts[0][0] = 1.0;
    for &r in doubled_ranks {
        for k in (1..=n1).rev() {
            for s in (r..=total_sum).rev() {
                counts[k][s] += counts[k - 1][s - r];
            }
        }
    }
    let dist = &counts[n1];
    let all: f64 = dist.iter().sum();
    let mean = total_sum as f64 * n1 as f64 / doubled_ranks.len() as f64;
    let far = (observed as f64 - mean).abs();
    let extreme: f64 = dist
        .iter()
        .enumerate()
        .filter(|&(s, _)| (s as f64 - mean).abs() >= far - 1e-9)
        .map(|(_, &c)| c)
        .sum();
    (extreme / all).min(1.0)
}

/// Two-sided p-value of the sign-flip permutation test that the mean of `d` is zero.
/// Exact up to 20 values (2^20 patterns); beyond that, 200,000 random patterns, fixed seed.
pub fn sign_flip(d: &[f64]) -> f64 {
    let k = d.len();
    if k == 0 {
        return 1.0;
    }
    let observed = d.iter().sum::<f64>().abs();
    // A tiny tolerance so patterns equal to the observed one (up to rounding) count as extreme.
    let tol = 1e-12 * d.iter().map(|x| x.abs()).sum::<f64>();
    if k <= 20 {
        let extreme = |mask: u64| {
            let s: f64 = d.iter().enumerate().map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x }).sum();
            s.abs() >= observed - tol
        };
        let total = 1u64 << k;
        (0..total).filter(|&m| extreme(m)).count() as f64 / total as f64
    } else {
        // One random sign per value: any number of values, no shift overflow.
        let mut rng = Rng::new(0x5167_F11B);
        let draws = 200_000;
        let hits = (0..draws)
            .filter(|_| {
                let s: f64 = d.iter().map(|x| if rng.next_u64() & 1 == 1 { -x } else { *x }).sum();
                s.abs() >= observed - tol
            })
            .count();
        (hits + 1) as f64 / (draws + 1) as f64
    }
}

/// Upper tail of the standard normal distribution, P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The `p`-quantile of the standard normal distribution (bisection on [`normal_sf`]; ample
/// precision for sample-size estimates).
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if 1.0 - normal_sf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Complementary error function, Chebyshev fit with relative error below 1.2e-7 everywhere
/// (Numerical Recipes, 2nd ed., section 6.2).
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

pub use crate::stats::t_975;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_samples_get_the_exact_u_distribution() {
        // Complete separation of 5 against 5: 2 of the C(10, 5) = 252 arrangements.
        let p = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        assert!(p < 0.01, "5 processes a side can reach alpha = 0.01");
        // 3 against 3: C(6, 3) = 20; U = 0 has one arrangement, U <= 1 two.
        assert!((mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        assert!((mann_whitney_u(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]) - 0.2).abs() < 1e-12);
        // Ties keep the exact test: 5 against 5 separated, with a tie inside each side, is
        // still 2/252 (the normal approximation would give 0.012, above alpha = 0.01).
        let p = mann_whitney_u(&[1.0, 1.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 9.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // A tie across the sides: 2 against 2, values {1, 2} and {2, 3}; ranks 1, 2.5 | 2.5, 4.
        // Sums of two of the four ranks: 3.5, 3.5, 5, 5, 6.5, 6.5 (mean 5); observed 3.5.
        let p = mann_whitney_u(&[1.0, 2.0], &[2.0, 3.0]);
        assert!((p - 4.0 / 6.0).abs() < 1e-12, "{p}");
        // Symmetric in the two samples; interleaved values are no evidence at all.
        let (x, y) = ([1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0]);
        assert_eq!(mann_whitney_u(&x, &y), mann_whitney_u(&y, &x));
        assert!(mann_whitney_u(&x, &y) > 0.5);
    }

    #[test]
    fn normal_tail_matches_known_values() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.96) - 0.024_997_9).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((normal_sf(3.0) - 0.001_349_9).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_separates_shifted_samples() {
        let a: Vec<f64> = (0..30).map(|i| 100.0 + (i % 7) as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 20.0).collect();
        assert!(mann_whitney_u(&a, &b) < 1e-6);
        // The same data against itself: no evidence at all.
        assert!(mann_whitney_u(&a, &a) > 0.9);
        // Interleaved samples: no evidence either.
        let c: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
        assert!(mann_whitney_u(&a, &c) > 0.3);
        assert_eq!(mann_whitney_u(&[], &a), 1.0);
    }

    #[test]
    fn mann_whitney_known_value() {
        // Past the exact range (25 x 25 pairs): the normal approximation with continuity.
        // a = 1..25, b = 26..50: U = 0, z = (312.5 - 0.5) / sqrt(625 / 12 * 51) = 6.0536.
        let a: Vec<f64> = (1..=25).map(f64::from).collect();
        let b: Vec<f64> = (26..=50).map(f64::from).collect();
        let p = mann_whitney_u(&a, &b);
        assert!((p / 1.4168e-9 - 1.0).abs() < 0.01, "{p}");
    }

    #[test]
    fn sign_flip_is_exact() {
        // All 8 positive: only the all-positive and all-negative patterns are as extreme.
        let d = [0.05; 8];
        assert!((sign_flip(&d) - 2.0 / 256.0).abs() < 1e-12);
        // Balanced signs: nothing to see.
        assert!(sign_flip(&[0.01, -0.01, 0.02, -0.02]) > 0.5);
        assert_eq!(sign_flip(&[]), 1.0);
        // Many values: the sampled p-value is small for a consistent shift.
        let many: Vec<f64> = (0..30).map(|i| 0.01 + (i % 3) as f64 * 0.001).collect();
        assert!(sign_flip(&many) < 1e-4);
        // More values than bits in a mask: still sampled, and balanced signs still give nothing.
        let wide: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 0.01 } else { -0.01 }).collect();
        assert!(sign_flip(&wide) > 0.5);
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.995) - 2.575_829).abs() < 1e-5);
        assert!(normal_quantile(0.5).abs() < 1e-6);
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(30), 2.042);
        assert!((t_975(60) - 2.000).abs() < 0.005);
        assert!(t_975(0).is_infinite());
    }
}
