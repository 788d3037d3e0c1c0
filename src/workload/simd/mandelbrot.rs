//! The escape-time loop over a row's pixels in vector lanes: every lane iterates the same
//! `z = z^2 + c` with the same operations in the same order as the scalar loop (multiplies and
//! adds, no FMA), counting while it is still inside `|z|^2 <= 4`. A lane that escaped stops
//! counting but keeps computing until every lane of its vector has escaped (or `max_iter`): the
//! price of lanes, which irregular rows make visible.

use super::{Isa, Level};

/// The row's pixel geometry: pixel `x` has `re = re_min + (x + 0.5) * re_step`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub re_min: f64,
    pub re_step: f64,
    pub im: f64,
    pub max_iter: u32,
}

/// Fills the longest prefix of `out` that whole vectors cover; returns its length, for the
/// caller's scalar loop to finish. The scalar level does nothing.
pub fn row_prefix(isa: Isa, row: Row, out: &mut [u32]) -> usize {
    match isa.level() {
        Level::Scalar => 0,
        // SAFETY: an `Isa` of this level exists only where the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::row_avx2(row, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::row_avx512(row, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => 0,
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Row;

    /// Two vectors of four pixels in flight: one vector's multiply-add chain alone would
    /// leave the FP units idle most of each iteration.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn row_avx2(row: Row, out: &mut [u32]) -> usize {
        const LANES: usize = 4;
        const GROUP: usize = 2 * LANES;
        let (four, two, half) = (_mm256_set1_pd(4.0), _mm256_set1_pd(2.0), _mm256_set1_pd(0.5));
        let (re_min, re_step, im) =
            (_mm256_set1_pd(row.re_min), _mm256_set1_pd(row.re_step), _mm256_set1_pd(row.im));
        let offsets = [_mm256_setr_pd(0.0, 1.0, 2.0, 3.0), _mm256_setr_pd(4.0, 5.0, 6.0, 7.0)];
        let whole = out.len() / GROUP * GROUP;
        for (group, cells) in out[..whole].chunks_exact_mut(GROUP).enumerate() {
            let x0 = _mm256_set1_pd((group * GROUP) as f64);
            let re = offsets.map(|o| {
                _mm256_add_pd(re_min, _mm256_mul_pd(_mm256_add_pd(_mm256_add_pd(x0, o), half), re_step))
            });
            let (mut zr, mut zi) = ([_mm256_setzero_pd(); 2], [_mm256_setzero_pd(); 2]);
            let mut count = [_mm256_setzero_si256(); 2];
            let mut active = [_mm256_castsi256_pd(_mm256_set1_epi64x(-1)); 2];
            for _ in 0..row.max_iter {
                for k in 0..2 {
                    let (zr2, zi2) = (_mm256_mul_pd(zr[k], zr[k]), _mm256_mul_pd(zi[k], zi[k]));
                    active[k] =
                        _mm256_and_pd(active[k], _mm256_cmp_pd(_mm256_add_pd(zr2, zi2), four, _CMP_LE_OQ));
                    count[k] = _mm256_sub_epi64(count[k], _mm256_castpd_si256(active[k]));
                    let t = _mm256_add_pd(_mm256_sub_pd(zr2, zi2), re[k]);
                    zi[k] = _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(two, zr[k]), zi[k]), im);
                    zr[k] = t;
                }
                if _mm256_movemask_pd(_mm256_or_pd(active[0], active[1])) == 0 {
                    break;
                }
            }
            let mut lanes = [0u64; GROUP];
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), count[0]);
            _mm256_storeu_si256(lanes[LANES..].as_mut_ptr().cast(), count[1]);
            for (cell, n) in cells.iter_mut().zip(lanes) {
                *cell = n as u32;
            }
        }
        whole
    }

    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub unsafe fn row_avx512(row: Row, out: &mut [u32]) -> usize {
        const LANES: usize = 8;
        let (four, two) = (_mm512_set1_pd(4.0), _mm512_set1_pd(2.0));
        let (re_min, re_step, im) =
            (_mm512_set1_pd(row.re_min), _mm512_set1_pd(row.re_step), _mm512_set1_pd(row.im));
        let offsets = _mm512_setr_pd(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        let one = _mm512_set1_epi64(1);
        let whole = out.len() / LANES * LANES;
        for (block, cells) in out[..whole].chunks_exact_mut(LANES).enumerate() {
            let x = _mm512_add_pd(_mm512_set1_pd((block * LANES) as f64), offsets);
            let re = _mm512_add_pd(re_min, _mm512_mul_pd(_mm512_add_pd(x, _mm512_set1_pd(0.5)), re_step));
            let (mut zr, mut zi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
            let mut count = _mm512_setzero_si512();
            let mut active: __mmask8 = 0xff;
            for _ in 0..row.max_iter {
                let (zr2, zi2) = (_mm512_mul_pd(zr, zr), _mm512_mul_pd(zi, zi));
                active &= _mm512_cmp_pd_mask(_mm512_add_pd(zr2, zi2), four, _CMP_LE_OQ);
                if active == 0 {
                    break;
                }
                count = _mm512_mask_add_epi64(count, active, count, one);
                let t = _mm512_add_pd(_mm512_sub_pd(zr2, zi2), re);
                zi = _mm512_add_pd(_mm512_mul_pd(_mm512_mul_pd(two, zr), zi), im);
                zr = t;
            }
            let mut lanes = [0u64; LANES];
            _mm512_storeu_si512(lanes.as_mut_ptr().cast(), count);
            for (cell, n) in cells.iter_mut().zip(lanes) {
                *cell = n as u32;
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{levels, LENGTHS};
    use super::*;

    /// The scalar escape loop of `mandelbrot`, restated so this leaf module is tested alone.
    fn scalar(row: Row, x: usize) -> u32 {
        let re = row.re_min + (x as f64 + 0.5) * row.re_step;
        let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0);
        while n < row.max_iter && zr * zr + zi * zi <= 4.0 {
            let t = zr * zr - zi * zi + re;
            zi = 2.0 * zr * zi + row.im;
            zr = t;
            n += 1;
        }
        n
    }

    #[test]
    fn every_level_counts_exactly_the_scalar_iterations() {
        for isa in levels() {
            for width in LENGTHS {
                for (im, max_iter) in [(0.0, 200), (0.6, 1000), (-0.1, 1), (1.2, 37)] {
                    let row = Row { re_min: -2.25, re_step: 3.0 / width.max(1) as f64, im, max_iter };
                    let mut out = vec![u32::MAX; width];
                    let done = row_prefix(isa, row, &mut out);
                    for (x, cell) in out.iter_mut().enumerate().skip(done) {
                        *cell = scalar(row, x);
                    }
                    let want: Vec<u32> = (0..width).map(|x| scalar(row, x)).collect();
                    assert_eq!(out, want, "{} width {width} im {im}", isa.name());
                }
            }
        }
    }
}
