//! The all-pairs force sum for one body in vector lanes: the other bodies are taken four (AVX2)
//! or eight (AVX-512) at a time, their positions pulled out of the array-of-structs layout
//! (a 4x4 transpose on AVX2, gathers on AVX-512), with one square root and one division per
//! lane and FMAs for the sums. The lanes sum in a different order from the scalar loop, so the
//! results agree within `nbody`'s tolerance, not bit for bit.

use super::{Isa, Level};

/// Position (0..3) and velocity (3..6) of one body, as `nbody` stores it.
pub type Body = [f64; 6];

/// The acceleration on a body at `p` from the longest prefix of `state` that whole vectors
/// cover, and that prefix's length, for the caller's scalar loop to finish. The scalar level
/// does nothing.
pub fn accel_prefix(
    isa: Isa,
    p: [f64; 3],
    state: &[Body],
    mass: &[f64],
    softening2: f64,
) -> ([f64; 3], usize) {
    assert_eq!(state.len(), mass.len(), "one mass per body");
    match isa.level() {
        Level::Scalar => ([0.0; 3], 0),
        // SAFETY: an `Isa` of this level exists only where the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::accel_avx2(p, state, mass, softening2) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::accel_avx512(p, state, mass, softening2) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => ([0.0; 3], 0),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Body;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn accel_avx2(p: [f64; 3], state: &[Body], mass: &[f64], soft: f64) -> ([f64; 3], usize) {
        const LANES: usize = 4;
        let (px, py, pz) = (_mm256_set1_pd(p[0]), _mm256_set1_pd(p[1]), _mm256_set1_pd(p[2]));
        let soft = _mm256_set1_pd(soft);
        let (mut ax, mut ay, mut az) = (_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd());
        let whole = state.len() / LANES * LANES;
        for (bodies, m) in state[..whole].chunks_exact(LANES).zip(mass.chunks_exact(LANES)) {
            // x, y, z, vx of each body, transposed into x, y and z of the four.
            let r: [__m256d; LANES] = std::array::from_fn(|k| _mm256_loadu_pd(bodies[k].as_ptr()));
            let (xz01, xz23) = (_mm256_unpacklo_pd(r[0], r[1]), _mm256_unpacklo_pd(r[2], r[3]));
            let (y01, y23) = (_mm256_unpackhi_pd(r[0], r[1]), _mm256_unpackhi_pd(r[2], r[3]));
            let dx = _mm256_sub_pd(_mm256_permute2f128_pd(xz01, xz23, 0x20), px);
            let dy = _mm256_sub_pd(_mm256_permute2f128_pd(y01, y23, 0x20), py);
            let dz = _mm256_sub_pd(_mm256_permute2f128_pd(xz01, xz23, 0x31), pz);
            let r2 = _mm256_fmadd_pd(dx, dx, _mm256_fmadd_pd(dy, dy, _mm256_fmadd_pd(dz, dz, soft)));
            let s = _mm256_div_pd(_mm256_loadu_pd(m.as_ptr()), _mm256_mul_pd(r2, _mm256_sqrt_pd(r2)));
            ax = _mm256_fmadd_pd(s, dx, ax);
            ay = _mm256_fmadd_pd(s, dy, ay);
            az = _mm256_fmadd_pd(s, dz, az);
        }
        let sum = |v: __m256d| {
            let mut lanes = [0.0; LANES];
            _mm256_storeu_pd(lanes.as_mut_ptr(), v);
            lanes.iter().sum()
        };
        ([sum(ax), sum(ay), sum(az)], whole)
    }

    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub unsafe fn accel_avx512(p: [f64; 3], state: &[Body], mass: &[f64], soft: f64) -> ([f64; 3], usize) {
        const LANES: usize = 8;
        let (px, py, pz) = (_mm512_set1_pd(p[0]), _mm512_set1_pd(p[1]), _mm512_set1_pd(p[2]));
        let soft = _mm512_set1_pd(soft);
        // Element offsets of the eight bodies' x within a block: a body is six f64.
        let at = _mm512_setr_epi64(0, 6, 12, 18, 24, 30, 36, 42);
        let (mut ax, mut ay, mut az) = (_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd());
        let whole = state.len() / LANES * LANES;
        for (bodies, m) in state[..whole].chunks_exact(LANES).zip(mass.chunks_exact(LANES)) {
            let base: *const f64 = bodies.as_ptr().cast();
            let dx = _mm512_sub_pd(_mm512_i64gather_pd::<8>(at, base.cast()), px);
            let dy = _mm512_sub_pd(_mm512_i64gather_pd::<8>(at, base.add(1).cast()), py);
            let dz = _mm512_sub_pd(_mm512_i64gather_pd::<8>(at, base.add(2).cast()), pz);
            let r2 = _mm512_fmadd_pd(dx, dx, _mm512_fmadd_pd(dy, dy, _mm512_fmadd_pd(dz, dz, soft)));
            let s = _mm512_div_pd(_mm512_loadu_pd(m.as_ptr()), _mm512_mul_pd(r2, _mm512_sqrt_pd(r2)));
            ax = _mm512_fmadd_pd(s, dx, ax);
            ay = _mm512_fmadd_pd(s, dy, ay);
            az = _mm512_fmadd_pd(s, dz, az);
        }
        ([_mm512_reduce_add_pd(ax), _mm512_reduce_add_pd(ay), _mm512_reduce_add_pd(az)], whole)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{levels, LENGTHS};
    use super::*;
    use crate::workload::unit_f64;

    /// The scalar force sum of `nbody`, restated so this leaf module is tested alone.
    fn scalar(p: [f64; 3], state: &[Body], mass: &[f64], soft: f64) -> [f64; 3] {
        let mut a = [0.0; 3];
        for (q, m) in state.iter().zip(mass) {
            let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
            let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + soft;
            let s = m / (r2 * r2.sqrt());
            (0..3).for_each(|c| a[c] += s * d[c]);
        }
        a
    }

    #[test]
    fn every_level_agrees_with_the_scalar_sum() {
        for isa in levels() {
            for n in LENGTHS {
                let state: Vec<Body> =
                    (0..n).map(|k| std::array::from_fn(|c| unit_f64(3, (6 * k + c) as u64))).collect();
                let mass: Vec<f64> = (0..n).map(|k| 0.5 + unit_f64(4, k as u64)).collect();
                for p in [[0.5, 0.5, 0.5], [0.1, 0.9, 0.3]] {
                    let (mut got, done) = accel_prefix(isa, p, &state, &mass, 1e-4);
                    let tail = scalar(p, &state[done..], &mass[done..], 1e-4);
                    (0..3).for_each(|c| got[c] += tail[c]);
                    let want = scalar(p, &state, &mass, 1e-4);
                    for c in 0..3 {
                        let err = (got[c] - want[c]).abs() / want[c].abs().max(1.0);
                        assert!(err <= 1e-12, "{} n={n} axis {c}: {} vs {}", isa.name(), got[c], want[c]);
                    }
                }
            }
        }
    }
}
