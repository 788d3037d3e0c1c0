//! The Monte Carlo pi loop in vector lanes: each lane draws its own samples from the same
//! splitmix64 counters as the scalar loop (sample `i`: x from counter `2i`, y from `2i + 1`),
//! so the hit count is bit-exact.
//!
//! What bounds it is splitmix64's two 64-bit multiplies per number. AVX-512DQ has a 64-bit
//! lane multiply (`vpmullq`); AVX2 does not, so each one becomes two: a 32x32->64 multiply
//! (`vpmuludq`) for `lo*lo` and a 32-bit one (`vpmulld`) for both cross terms, added as
//! `lo*lo + ((hi*lo + lo*hi) << 32)`. The top 53 bits convert to f64
//! exactly (AVX-512DQ `vcvtuqq2pd`; on AVX2 the two-halves trick with 2^52 and 2^84
//! offsets), and `x*x + y*y` is a multiply and an add, never an FMA, as in the scalar code.

use std::ops::Range;

use super::{Isa, Level};

/// Counts hits for a prefix of `range` that fills whole vectors; returns the count and where
/// the prefix ends, for the caller's scalar loop to finish. The scalar level does nothing.
pub fn hits_prefix(isa: Isa, seed: u64, range: Range<usize>) -> (u64, usize) {
    match isa.level() {
        Level::Scalar => (0, range.start),
        // SAFETY: an `Isa` of this level exists only where the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::hits_avx2(seed, range) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::hits_avx512(seed, range) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => (0, range.start),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use crate::workload::GAMMA;

    const M1: u64 = 0xBF58_476D_1CE4_E5B9;
    const M2: u64 = 0x94D0_49BB_1331_11EB;
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    /// The bits of 2^52, 2^84 and 2^84 + 2^52 as f64.
    const TWO_52: u64 = 0x4330_0000_0000_0000;
    const TWO_84: u64 = 0x4530_0000_0000_0000;
    const TWO_84_PLUS_52: u64 = 0x4530_0000_0010_0000;

    /// The counter of sample `i`'s x: `seed + 2i * GAMMA`.
    fn counter(seed: u64, i: usize) -> u64 {
        seed.wrapping_add((2 * i as u64).wrapping_mul(GAMMA))
    }

    /// `a * b` per 64-bit lane, modulo 2^64, from 32-bit multiplies: `lo(a) lo(b)` in full
    /// (`vpmuludq`), plus the two cross products, of which only the low 32 bits matter, from
    /// one `vpmulld` against `b` with its halves swapped (`b_swap`), shifted into place.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn mul64_avx2(a: __m256i, b: __m256i, b_swap: __m256i) -> __m256i {
        let lo = _mm256_mul_epu32(a, b);
        let cross = _mm256_mullo_epi32(a, b_swap);
        let cross = _mm256_add_epi32(cross, _mm256_srli_epi64(cross, 32));
        _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32))
    }

    /// splitmix64's finaliser, then the top 53 bits as an exact f64 in `[0, 1)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn unit_avx2(z: __m256i) -> __m256d {
        let (m1, m1_swap) = (_mm256_set1_epi64x(M1 as i64), _mm256_set1_epi64x(M1.rotate_left(32) as i64));
        let (m2, m2_swap) = (_mm256_set1_epi64x(M2 as i64), _mm256_set1_epi64x(M2.rotate_left(32) as i64));
        let z = mul64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), m1, m1_swap);
        let z = mul64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), m2, m2_swap);
        let v = _mm256_srli_epi64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 31)), 11);
        // v < 2^53: (hi * 2^32 + 2^84) - (2^84 + 2^52) and 2^52 + lo are exact, and so is
        // their sum hi * 2^32 + lo = v.
        let hi = _mm256_or_si256(_mm256_srli_epi64(v, 32), _mm256_set1_epi64x(TWO_84 as i64));
        let hi = _mm256_sub_pd(_mm256_castsi256_pd(hi), _mm256_set1_pd(f64::from_bits(TWO_84_PLUS_52)));
        let lo = _mm256_blend_epi32(v, _mm256_set1_epi64x(TWO_52 as i64), 0b1010_1010);
        _mm256_mul_pd(_mm256_add_pd(hi, _mm256_castsi256_pd(lo)), _mm256_set1_pd(SCALE))
    }

    /// Two vectors of four samples per step (eight in flight hide the multiply latency).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn hits_avx2(seed: u64, range: Range<usize>) -> (u64, usize) {
        const LANES: usize = 4;
        let steps = range.len() / (2 * LANES);
        let first = counter(seed, range.start);
        let lane = |j: u64| first.wrapping_add((2 * j).wrapping_mul(GAMMA)) as i64;
        let mut cx = [
            _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3)),
            _mm256_setr_epi64x(lane(4), lane(5), lane(6), lane(7)),
        ];
        let gamma = _mm256_set1_epi64x(GAMMA as i64);
        let step = _mm256_set1_epi64x((2 * 2 * LANES as u64).wrapping_mul(GAMMA) as i64);
        let one = _mm256_set1_pd(1.0);
        let mut inside = [_mm256_setzero_si256(); 2];
        for _ in 0..steps {
            for k in 0..2 {
                let x = unit_avx2(cx[k]);
                let y = unit_avx2(_mm256_add_epi64(cx[k], gamma));
                let r2 = _mm256_add_pd(_mm256_mul_pd(x, x), _mm256_mul_pd(y, y));
                // All ones (-1) in lanes inside the circle.
                inside[k] =
                    _mm256_sub_epi64(inside[k], _mm256_castpd_si256(_mm256_cmp_pd(r2, one, _CMP_LE_OQ)));
                cx[k] = _mm256_add_epi64(cx[k], step);
            }
        }
        let mut lanes = [0u64; LANES];
        _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi64(inside[0], inside[1]));
        (lanes.iter().sum(), range.start + steps * 2 * LANES)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn unit_avx512(z: __m512i) -> __m512d {
        let z =
            _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64(M1 as i64));
        let z =
            _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64(M2 as i64));
        let v = _mm512_srli_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 31)), 11);
        _mm512_mul_pd(_mm512_cvtepu64_pd(v), _mm512_set1_pd(SCALE))
    }

    /// Two vectors of eight samples per step.
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub unsafe fn hits_avx512(seed: u64, range: Range<usize>) -> (u64, usize) {
        const LANES: usize = 8;
        let steps = range.len() / (2 * LANES);
        let first = counter(seed, range.start);
        let lanes: [i64; 2 * LANES] =
            std::array::from_fn(|j| first.wrapping_add((2 * j as u64).wrapping_mul(GAMMA)) as i64);
        let mut cx =
            [_mm512_loadu_si512(lanes.as_ptr().cast()), _mm512_loadu_si512(lanes[LANES..].as_ptr().cast())];
        let gamma = _mm512_set1_epi64(GAMMA as i64);
        let step = _mm512_set1_epi64((2 * 2 * LANES as u64).wrapping_mul(GAMMA) as i64);
        let one = _mm512_set1_pd(1.0);
        let mut inside = 0u64;
        for _ in 0..steps {
            for c in &mut cx {
                let x = unit_avx512(*c);
                let y = unit_avx512(_mm512_add_epi64(*c, gamma));
                let r2 = _mm512_add_pd(_mm512_mul_pd(x, x), _mm512_mul_pd(y, y));
                inside += u64::from(_mm512_cmp_pd_mask(r2, one, _CMP_LE_OQ).count_ones());
                *c = _mm512_add_epi64(*c, step);
            }
        }
        (inside, range.start + steps * 2 * LANES)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::levels;
    use super::*;

    /// The scalar loop of `pi_monte_carlo`, restated so this leaf module is tested alone.
    fn scalar(seed: u64, range: Range<usize>) -> u64 {
        range
            .filter(|&i| {
                let x = crate::workload::unit_f64(seed, 2 * i as u64);
                let y = crate::workload::unit_f64(seed, 2 * i as u64 + 1);
                x * x + y * y <= 1.0
            })
            .count() as u64
    }

    #[test]
    fn every_level_counts_exactly_the_scalar_hits() {
        for isa in levels() {
            for seed in [0, 42, u64::MAX] {
                for range in [0..0, 0..7, 3..19, 5..1000, 1000..4113] {
                    let (prefix, end) = hits_prefix(isa, seed, range.clone());
                    assert!((range.start..=range.end).contains(&end));
                    let total = prefix + scalar(seed, end..range.end);
                    assert_eq!(total, scalar(seed, range.clone()), "{} seed {seed} {range:?}", isa.name());
                    if isa != Isa::SCALAR && range.len() >= 64 {
                        assert!(
                            range.end - end < 64,
                            "{} left {} samples to the tail",
                            isa.name(),
                            range.end - end
                        );
                    }
                }
            }
        }
    }
}
