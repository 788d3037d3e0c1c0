//! `matmul`: dense `C = A * B` in f64, n x n, the compute-bound case.
//!
//! Two kernels (`kernel` parameter), both handed row blocks of C by the strategy:
//! - `tuned` (the default): the `matrixmultiply` crate's packed, register-blocked dgemm (the
//!   BLIS design: panels of A and B packed into contiguous buffers, a micro-kernel of FMAs that
//!   keeps a tile of C in registers), which picks AVX-512, AVX2+FMA or AVX at run time. Each
//!   task packs the whole of B again, so tasks are kept large ([`tuned_grain`]);
//! - `blocked`: the hand-written kernel for teaching, which streams rows of B into rows of C
//!   (i-k-j order, which vectorises) over panels of [`simd::K_BLOCK`] rows of B that stay in
//!   the L2 cache, compiled per instruction set like the other kernels (`simd` parameter).
//!
//! The reference takes dot products against B transposed, a different summation order, so
//! results are compared with a tolerance: `|c - ref| <= 8 n eps * sum_k |a_ik b_kj|` (with all
//! inputs in [-1, 1], at most `8 n^2 eps`).

use std::sync::OnceLock;

use crate::align::{self, Buffer};

use super::simd::{self, Isa};
use super::{
    unit_f64, Instance, Kernel, ParamSpec, Params, PrepareError, Refused, SizeUnit, Verification, Workload,
};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Matmul;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "kernel",
        "\"tuned\" is matrixmultiply's packed dgemm, \"blocked\" the hand-written cache-blocked loop",
        &["tuned", "blocked"],
    ),
    simd::PARAM,
];

/// Rows of C per task for the tuned kernel: every call packs all of B (n^2 copies) for
/// `2 rows n^2` FLOP, so a task needs a few hundred rows for the packing to cost a few percent.
fn tuned_grain(n: usize) -> usize {
    (n / 8).clamp(16, 256)
}

/// The instruction set matrixmultiply's dgemm runs with here: the same tests, in the same
/// order, as its `dgemm_kernel::detect` (AVX-512 F, then AVX2 with FMA, then AVX).
fn tuned_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        if is_x86_feature_detected!("avx") {
            return "avx";
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        return "neon";
    }
    simd::BASELINE
}

impl Workload for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn summary(&self) -> &'static str {
        "dense f64 matrix multiply, packed (tuned) or cache-blocked: compute-bound, 2n^3 FLOP"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "matrix order n", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "FLOP/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![512]
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // A, B, B transposed, output, reference.
        size.saturating_mul(size).saturating_mul(5 * 8)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        2.0 * (size as f64).powi(3)
    }
    fn weak_size(&self, base: u64, workers: usize) -> u64 {
        // The work grows like n cubed.
        super::scaled_size(base, workers, 3)
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size > 32_768 {
            return Err(PrepareError::Invalid("matrices larger than 32768 x 32768 would take hours".into()));
        }
        Ok(())
    }
    fn check_params(&self, params: &Params) -> Result<(), Refused> {
        if params.text("kernel") == "tuned" && params.text(simd::PARAM.name) == "scalar" {
            return Err(Refused::new(
                "simd",
                "the tuned kernel (matrixmultiply) picks its own instruction set; use \
                 `kernel = \"blocked\"` to measure the scalar path",
            ));
        }
        Ok(())
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let n = size as usize;
        let nn = (n * n) as u64;
        // At this process's alignment offset (`--processes` varies it between processes).
        let a = align::from_fn(nn as usize, |k| 2.0 * unit_f64(seed, k as u64) - 1.0);
        let b = align::from_fn(nn as usize, |k| 2.0 * unit_f64(seed, nn + k as u64) - 1.0);
        let kernel = match params.text("kernel") {
            "blocked" => Choice::Blocked(simd::select(params)),
            _ => Choice::Tuned,
        };
        Ok(Box::new(Input { n, a, b, kernel, reference: OnceLock::new() }))
    }
}

#[derive(Debug, Clone, Copy)]
enum Choice {
    Tuned,
    Blocked(Isa),
}

struct Input {
    n: usize,
    a: Buffer<f64>,
    b: Buffer<f64>,
    kernel: Choice,
    reference: OnceLock<Vec<f64>>,
}

impl Input {
    /// Rows `first..` of C, as many as `c` holds.
    fn rows(&self, first: usize, c: &mut [f64]) {
        let n = self.n;
        match self.kernel {
            Choice::Blocked(isa) => simd::matmul_blocked(isa, &self.a, &self.b, n, first, c),
            Choice::Tuned => {
                let m = c.len() / n;
                let a = &self.a[first * n..(first + m) * n];
                // SAFETY: `a` is m x n, `b` n x n and `c` m x n, all row-major with row stride
                // n and column stride 1, as the pointers and strides say; `c` is not aliased.
                unsafe {
                    let (rs, cs) = (n as isize, 1);
                    matrixmultiply::dgemm(
                        m,
                        n,
                        n,
                        1.0,
                        a.as_ptr(),
                        rs,
                        cs,
                        self.b.as_ptr(),
                        rs,
                        cs,
                        // beta = 0: C is overwritten, never read (it starts as NaN).
                        0.0,
                        c.as_mut_ptr(),
                        rs,
                        cs,
                    );
                }
            }
        }
    }

    fn reference(&self) -> Vec<f64> {
        let n = self.n;
        let mut bt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                bt[j * n + i] = self.b[i * n + j];
            }
        }
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            let a_row = &self.a[i * n..][..n];
            for j in 0..n {
                c[i * n + j] = a_row.iter().zip(&bt[j * n..][..n]).map(|(a, b)| a * b).sum();
            }
        }
        c
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, c: align::filled(self.n * self.n, f64::NAN) })
    }
}

struct Run<'a> {
    input: &'a Input,
    c: Buffer<f64>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let input = self.input;
        let grain = match input.kernel {
            Choice::Tuned => tuned_grain(input.n),
            // Four rows per task: enough to reuse each B panel, small enough to balance.
            Choice::Blocked(_) => 4,
        };
        exec.for_each_rows_mut(&mut self.c, input.n, grain, |first, rows| input.rows(first, rows));
    }

    fn verify(&self) -> Verification {
        let n = self.input.n;
        let want = self.input.reference.get_or_init(|| self.input.reference());
        let tolerance = 8.0 * (n * n) as f64 * f64::EPSILON;
        let mut worst = 0.0f64;
        for (c, w) in self.c.iter().zip(want) {
            let err = (c - w).abs();
            if err.is_nan() || err > tolerance {
                return Verification::fail(format!(
                    "element off by {err:e}, over the tolerance {tolerance:.1e}"
                ));
            }
            worst = worst.max(err);
        }
        Verification::pass(format!("max abs error {worst:.1e} <= {tolerance:.1e}"))
    }

    fn isa(&self) -> Option<&'static str> {
        Some(match self.input.kernel {
            Choice::Tuned => tuned_isa(),
            Choice::Blocked(isa) => isa.name(),
        })
    }
}
