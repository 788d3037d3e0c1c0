//! SIMD for the compute kernels, chosen at run time: one portable binary (built for baseline
//! x86-64) that runs each kernel with the widest instruction set this CPU has.
//!
//! An [`Isa`] can only be obtained where the CPU has it (`is_x86_feature_detected!`), which is
//! what makes calling a `#[target_feature]` function sound. Kernels come in two kinds:
//! - *same source*: the portable loop, compiled once more per instruction set by
//!   [`same_source!`] (stencil, triad, the blocked matmul). Rust never fuses a multiply and an
//!   add into an FMA on its own, so these give bit-identical results on every path;
//! - *hand-written*: intrinsics where the compiler cannot vectorise the loop by itself (the
//!   RNG's 64-bit multiplies in [`pi`], the escape loop of [`mandelbrot`], the AoS force sum
//!   of [`nbody`]). Each returns how far it got, and the workload finishes the tail with its
//!   scalar code.
//!
//! `histogram` has no vector path: its kernel is a scatter of increments (`bins[b] += 1`), which
//! lanes cannot do without conflict detection, and its lesson is the cost of sharing anyway.
//!
//! On aarch64 NEON is part of the baseline, so the portable code is already vectorised there;
//! only x86-64 has paths to choose between. This module depends on nothing but `std` and the
//! workloads' RNG helpers.

use super::ParamSpec;

pub mod mandelbrot;
pub mod nbody;
pub mod pi;

/// Instruction-set levels, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The portable code as built for the target's baseline (SSE2 on x86-64, NEON on aarch64):
    /// no SIMD of parlab's own, though the compiler vectorises simple loops (triad, stencil,
    /// the blocked matmul) 2-wide with SSE2 by itself. Hence its name in results is the
    /// baseline instruction set, not "scalar".
    Scalar,
    /// AVX2 and FMA (Haswell, Zen and later).
    Avx2,
    /// AVX-512 F and DQ (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4 and later).
    Avx512,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Scalar, Level::Avx2, Level::Avx512];

    /// The name results and reports show: the instruction set the code was built for.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => BASELINE,
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level (cached by `std` after the first look).
    pub fn detected(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                Level::Avx2.detected()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx2 | Level::Avx512 => false,
        }
    }
}

/// The name of the target's baseline instruction set, which the portable code is built for.
#[cfg(target_arch = "x86_64")]
pub const BASELINE: &str = "sse2";
#[cfg(target_arch = "aarch64")]
pub const BASELINE: &str = "neon";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const BASELINE: &str = "baseline";

/// An instruction-set level this CPU is known to have: the only way to reach the
/// `#[target_feature]` code, so holding one is the proof that calling it is sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Level);

impl Isa {
    /// The portable code, always available.
    pub const SCALAR: Isa = Isa(Level::Scalar);

    /// `level`, if this CPU has it.
    pub fn new(level: Level) -> Option<Isa> {
        level.detected().then_some(Isa(level))
    }

    /// The widest level this CPU has.
    pub fn best() -> Isa {
        Level::ALL.iter().rev().find_map(|&l| Isa::new(l)).unwrap_or(Isa::SCALAR)
    }

    pub fn level(self) -> Level {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// The `simd` parameter every vectorised workload takes. (Written out rather than through
/// [`ParamSpec::choice`], so that workloads can list it in a promoted `&[...]` literal.)
pub const PARAM: ParamSpec = ParamSpec {
    name: "simd",
    help: "\"auto\" runs the widest instruction set this CPU has, \"scalar\" the portable code without parlab's SIMD, built for the baseline instruction set (SSE2 on x86-64, which the compiler still uses 2-wide on simple loops; recorded as `isa = \"sse2\"`), to see what wide vectors buy",
    default: super::ParamValue::Text(std::borrow::Cow::Borrowed("auto")),
    min: 0.0,
    max: 0.0,
    choices: &["auto", "scalar"],
};

/// The instruction set a case runs with, from its `simd` parameter. Absent means `"auto"`: a
/// worker process's job may come from a hand-built spec that names only the parameters it needs.
pub fn select(params: &super::Params) -> Isa {
    match params.0.get(PARAM.name) {
        Some(super::ParamValue::Text(name)) if name == "scalar" => Isa::SCALAR,
        _ => Isa::best(),
    }
}

/// Defines `fn NAME(isa: Isa, args..) -> R` that runs `body` compiled for `isa`: the same source
/// once for the baseline and once per wider instruction set (`#[target_feature]`, with the body
/// inlined into each). Argument types must not name lifetimes of their own.
macro_rules! same_source {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::workload::simd::Isa, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            match isa.level() {
                $crate::workload::simd::Level::Scalar => body($($arg),*),
                // SAFETY: an `Isa` of this level exists only where the CPU has its features.
                #[cfg(target_arch = "x86_64")]
                $crate::workload::simd::Level::Avx2 => unsafe { avx2($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::workload::simd::Level::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(not(target_arch = "x86_64"))]
                _ => unreachable!("no wider instruction set is ever detected off x86-64"),
            }
        }
    };
}

same_source! {
    /// STREAM's triad `a = b + s * c` over equal-length slices (a multiply, then an add).
    pub fn triad(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
        for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
            *a = b + s * c;
        }
    }
}

same_source! {
    /// One interior row of a Jacobi step: `out[j] = 0.25 * (up + down + left + right)` for
    /// `j` in `1..n - 1`, summed in that order; the boundary cells of `out` are left alone.
    pub fn relax_row(up: &[f64], mid: &[f64], down: &[f64], out: &mut [f64]) {
        let n = out.len();
        if n < 3 {
            return;
        }
        let (up, down) = (&up[1..n - 1], &down[1..n - 1]);
        let (left, right) = (&mid[..n - 2], &mid[2..n]);
        for ((((o, u), d), l), r) in out[1..n - 1].iter_mut().zip(up).zip(down).zip(left).zip(right) {
            *o = 0.25 * (u + d + l + r);
        }
    }
}

/// Rows of B per panel of the blocked matmul: a panel of 128 rows stays in the L2 cache.
pub const K_BLOCK: usize = 128;

same_source! {
    /// `matmul`'s hand-written blocked kernel: the rows of `C = A B` that start at row `first`
    /// (`c` holds whole rows of `n`), streaming rows of B into rows of C (i-k-j order, one
    /// multiply and one add per element) over panels of [`K_BLOCK`] rows of B.
    pub fn matmul_blocked(a: &[f64], b: &[f64], n: usize, first: usize, c: &mut [f64]) {
        c.fill(0.0);
        for k0 in (0..n).step_by(K_BLOCK) {
            let k1 = (k0 + K_BLOCK).min(n);
            for (i, c_row) in c.chunks_mut(n).enumerate() {
                let a_row = &a[(first + i) * n..][..n];
                for (k, &aik) in a_row.iter().enumerate().take(k1).skip(k0) {
                    let b_row = &b[k * n..][..n];
                    for (c, b) in c_row.iter_mut().zip(b_row) {
                        *c += aik * b;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every level this CPU has; prints a note for each it lacks, so a run on a narrower
    /// machine says what it did not check.
    pub fn levels() -> Vec<Isa> {
        Level::ALL
            .iter()
            .filter_map(|&l| {
                let isa = Isa::new(l);
                if isa.is_none() {
                    eprintln!("note: this CPU lacks {}: its paths are not checked here", l.name());
                }
                isa
            })
            .collect()
    }

    /// Awkward lengths: empty, shorter than a vector, and tails of every size.
    pub const LENGTHS: [usize; 9] = [0, 1, 3, 4, 7, 8, 15, 17, 100];

    #[test]
    fn best_is_detected_and_scalar_is_always_there() {
        assert!(Isa::best().level().detected());
        assert_eq!(Isa::new(Level::Scalar), Some(Isa::SCALAR));
        // The portable code is not scalar on x86-64: the compiler vectorises it with SSE2.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Isa::SCALAR.name(), "sse2");
        assert!(levels().contains(&Isa::SCALAR));
    }

    #[test]
    fn same_source_kernels_agree_bit_for_bit() {
        let v =
            |n: usize, k: u64| (0..n).map(|i| super::super::unit_f64(k, i as u64) - 0.3).collect::<Vec<_>>();
        for isa in levels() {
            for n in LENGTHS {
                let (b, c) = (v(n, 1), v(n, 2));
                let (mut want, mut got) = (vec![0.0; n], vec![0.0; n]);
                triad(Isa::SCALAR, &mut want, &b, &c, 3.1);
                triad(isa, &mut got, &b, &c, 3.1);
                assert_eq!(bits(&want), bits(&got), "triad {} n={n}", isa.name());

                let (up, mid, down) = (v(n, 3), v(n, 4), v(n, 5));
                let (mut want, mut got) = (vec![7.0; n], vec![7.0; n]);
                relax_row(Isa::SCALAR, &up, &mid, &down, &mut want);
                relax_row(isa, &up, &mid, &down, &mut got);
                assert_eq!(bits(&want), bits(&got), "relax_row {} n={n}", isa.name());
            }
            // Rows 1.. of C; 130 spans two panels of K_BLOCK.
            for n in [1, 5, 130] {
                let (a, b) = (v(n * n, 6), v(n * n, 7));
                let rows = n - 1;
                let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
                matmul_blocked(Isa::SCALAR, &a, &b, n, 1, &mut want);
                matmul_blocked(isa, &a, &b, n, 1, &mut got);
                assert_eq!(bits(&want), bits(&got), "matmul_blocked {} n={n}", isa.name());
            }
        }
    }

    pub fn bits(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }
}
