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
//! inputs in [-1, 1], at most `8 n^2 eps`). A device's f32 variant (`opencl-f32`: inputs rounded
//! to f32, products summed in f32) is held to the f32 bound instead, `2 n (n + 2) eps_f32`: each
//! input rounded once and `n` products summed in f32 give at most `(n + 2) eps_f32 * sum_k
//! |a_ik b_kj|` (Higham's gamma), twice that for margin.
//!
//! MPI version (`mpi`, [`RankPart`]): rank 0 holds A and B; every run scatters row blocks of A,
//! broadcasts B, lets each rank multiply its block with the chosen kernel and gathers the
//! blocks of C on rank 0, which checks them.

use std::sync::OnceLock;
use std::time::Instant;

use crate::align::{self, Buffer};

use super::device::{Device, Precision};
use super::simd::{self, Isa};
use super::{
    default_support, unit_f64, Instance, Kernel, ParamSpec, Params, PrepareError, Refused, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{Exec, Family, Strategy};

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
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.family() {
            Family::Mpi => super::collective_mpi_support(self.name(), strategy),
            // Computes in f32: any device.
            Family::Device if strategy.name() == "opencl-f32" => Ok(()),
            Family::Device => super::device::fp64_support(self.name(), strategy),
            _ => default_support(self.name(), strategy),
        }
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // A, B, B transposed, output, reference.
        size.saturating_mul(size).saturating_mul(5 * 8)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        if case.family == Family::Device {
            // The device's A, B and C (on a CPU device such as PoCL, this machine's memory).
            return size.saturating_mul(size).saturating_mul(3 * 8);
        }
        if case.family != Family::Mpi {
            return 0;
        }
        // A copy of B on every rank, the blocks of A and C (the whole of each, over the ranks),
        // and rank 0's whole input, gathered C, B transposed and reference.
        size.saturating_mul(size).saturating_mul(8).saturating_mul(case.workers as u64 + 2 + 5)
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
        Ok(Box::new(input(size as usize, params, seed)))
    }
    fn rank_share(
        &self,
        job: &JobSpec,
        strategy: &dyn Strategy,
        ranks: &dyn Ranks,
    ) -> Option<Result<Box<dyn RankShare>, String>> {
        if let Err(why) = self.support(strategy) {
            return Some(Err(why.to_string()));
        }
        Some(RankPart::new(job, ranks).map(|p| Box::new(p) as Box<dyn RankShare>))
    }
}

fn input(n: usize, params: &Params, seed: u64) -> Input {
    let nn = (n * n) as u64;
    // At this process's alignment offset (`--processes` varies it between processes).
    let a = align::from_fn(nn as usize, |k| 2.0 * unit_f64(seed, k as u64) - 1.0);
    let b = align::from_fn(nn as usize, |k| 2.0 * unit_f64(seed, nn + k as u64) - 1.0);
    Input { n, a, b, kernel: choice(params), reference: OnceLock::new() }
}

fn choice(params: &Params) -> Choice {
    match params.text("kernel") {
        "blocked" => Choice::Blocked(simd::select(params)),
        _ => Choice::Tuned,
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
        let m = c.len() / n;
        multiply(self.kernel, &self.a[first * n..(first + m) * n], &self.b, n, c);
    }
}

/// `c = a * b` for a block of rows: `a` and `c` hold as many rows of n values, `b` is n x n.
fn multiply(kernel: Choice, a: &[f64], b: &[f64], n: usize, c: &mut [f64]) {
    // The dgemm below reads and writes through raw pointers: the shapes must hold.
    assert!(a.len() == c.len() && b.len() == n * n && c.len().is_multiple_of(n), "a block of rows, and B");
    match kernel {
        Choice::Blocked(isa) => simd::matmul_blocked(isa, a, b, n, 0, c),
        Choice::Tuned => {
            let m = c.len() / n;
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
                    b.as_ptr(),
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

impl Input {
    /// `c` (the whole product after a run) against the reference, within the tolerance of the
    /// precision it was computed in (see the module's documentation).
    fn check(&self, c: &[f64], precision: Precision) -> Verification {
        let n = self.n;
        let want = self.reference.get_or_init(|| self.reference());
        let tolerance = match precision {
            Precision::F64 => 8.0 * (n * n) as f64 * f64::EPSILON,
            Precision::F32 => 2.0 * (n * (n + 2)) as f64 * f32::EPSILON as f64,
        };
        if c.len() != want.len() {
            return Verification::fail(format!("{} elements, {} expected", c.len(), want.len()));
        }
        let mut worst = 0.0f64;
        for (c, w) in c.iter().zip(want) {
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
        Box::new(Run { input: self, c: align::filled(self.n * self.n, f64::NAN), precision: Precision::F64 })
    }
}

struct Run<'a> {
    input: &'a Input,
    c: Buffer<f64>,
    /// What the last run computed in: f32 only on a device's f32 variant (`opencl-f32`).
    precision: Precision,
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
        self.input.check(&self.c, self.precision)
    }

    fn device(&mut self) -> Option<Device<'_>> {
        let input = self.input;
        Some(Device::Matmul {
            c: &mut self.c,
            a: &input.a,
            b: &input.b,
            n: input.n as u64,
            precision: &mut self.precision,
        })
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.kernel.isa())
    }
}

impl Choice {
    fn isa(self) -> &'static str {
        match self {
            Choice::Tuned => tuned_isa(),
            Choice::Blocked(isa) => isa.name(),
        }
    }
}

/// One rank's block of rows of C (see the module's documentation).
struct RankPart {
    n: usize,
    kernel: Choice,
    /// Values in each rank's block of rows: the counts of the scatter and the gather.
    counts: Vec<usize>,
    a: Buffer<f64>,
    /// B, rank 0's from the start, the others' from the broadcast of each run.
    b: Buffer<f64>,
    c: Buffer<f64>,
    /// On rank 0: A, B and the reference, and C gathered by the last run.
    whole: Option<Input>,
    result: Vec<f64>,
    /// Tests only: the rank takes part in the collectives but never multiplies its block.
    #[cfg(test)]
    skip: bool,
}

impl RankPart {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<RankPart, String> {
        let (n, rank, size) = (job.size as usize, ranks.rank(), ranks.size());
        if n < size {
            return Err(format!("{n} rows of A cannot give each of {size} ranks a row"));
        }
        let counts = ranks::block_counts(n, size, n);
        let whole = (rank == 0).then(|| input(n, &job.params, job.seed));
        let b = match &whole {
            Some(whole) => align::from_fn(n * n, |k| whole.b[k]),
            None => align::filled(n * n, f64::NAN),
        };
        Ok(RankPart {
            n,
            kernel: choice(&job.params),
            a: align::filled(counts[rank], f64::NAN),
            b,
            // NaN until computed: a block never multiplied cannot pass.
            c: align::filled(counts[rank], f64::NAN),
            result: if whole.is_some() { vec![f64::NAN; n * n] } else { Vec::new() },
            counts,
            whole,
            #[cfg(test)]
            skip: false,
        })
    }

    fn multiplies(&self) -> bool {
        #[cfg(test)]
        if self.skip {
            return false;
        }
        true
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let a_all: &[f64] = self.whole.as_ref().map_or(&[], |w| &w.a);
        let t0 = Instant::now();
        ranks.scatter_f64(a_all, &self.counts, &mut self.a);
        ranks.bcast_f64(&mut self.b);
        let t1 = Instant::now();
        if self.multiplies() {
            multiply(self.kernel, &self.a, &self.b, self.n, &mut self.c);
        }
        let t2 = Instant::now();
        ranks.gather_f64(&self.c, &self.counts, &mut self.result);
        let t3 = Instant::now();
        Ok(PhaseTimes {
            compute_ns: (t2 - t1).as_nanos() as u64,
            combine_ns: ((t1 - t0) + (t3 - t2)).as_nanos() as u64,
            excluded_ns: 0,
        })
    }

    fn verify(&self) -> Result<String, String> {
        let whole = self.whole.as_ref().ok_or("only rank 0 holds the whole product")?;
        whole.check(&self.result, Precision::F64).into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.kernel.isa())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::{mpi, mpi_nonblocking};
    use crate::workload::ParamValue;

    fn job(n: u64, kernel: &'static str) -> JobSpec {
        let mut params = crate::workload::default_params(&Matmul);
        params.0.insert("kernel".into(), ParamValue::Text(kernel.into()));
        JobSpec { workload: "matmul".into(), params, size: n, seed: 4, shared: None }
    }

    #[test]
    fn rank_shares_verify_on_one_and_several_ranks() {
        for kernel in ["tuned", "blocked"] {
            let job = job(23, kernel);
            let mut share = Matmul.rank_share(&job, mpi(), &OneRank).expect("an MPI version").unwrap();
            assert!(share.verify().is_err(), "verified before any run");
            share.run(&OneRank).unwrap();
            let ok = share.verify().unwrap();
            assert!(ok.contains("max abs error"), "{ok}");
            for size in [2, 3] {
                let make = |r: &dyn Ranks| Matmul.rank_share(&job, mpi(), r).expect("an MPI version");
                let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
                rank0.verify().unwrap_or_else(|e| panic!("{kernel} on {size}: {e}"));
            }
        }
        let e = Matmul.rank_share(&job(5, "tuned"), mpi_nonblocking(), &OneRank).unwrap().err().unwrap();
        assert!(e.contains("no neighbour messages"), "{e}");
    }

    #[test]
    fn a_rank_that_skips_its_block_fails_verification() {
        let job = job(23, "tuned");
        for (size, lazy) in [(2, 1), (3, 2), (3, 0)] {
            let make = |r: &dyn Ranks| -> Result<Box<dyn RankShare>, String> {
                let mut part = RankPart::new(&job, r)?;
                part.skip = r.rank() == lazy;
                Ok(Box::new(part))
            };
            let rank0 = ranks::run_on_threads(size, 1, &make).unwrap();
            let why = rank0.verify().unwrap_err();
            assert!(why.contains("over the tolerance"), "{size} ranks, rank {lazy} lazy: {why}");
        }
    }
}
