//! `stencil_heat`: 2D Jacobi heat diffusion on an `n x n` grid: each iteration replaces every
//! interior cell by the mean of its four neighbours from the previous iteration (two grids,
//! swapped). The boundary is fixed (top edge hot, other edges cold), the interior starts from a
//! seeded random field.
//!
//! A worker owning a block of rows also reads one halo row above and below it, written by its
//! neighbours in the previous iteration, so every iteration must finish everywhere before the
//! next starts. Data-parallel strategies fork and join once per iteration; `barrier` keeps one
//! thread per block for the whole run and meets at a barrier instead. Every cell is computed by
//! the same expression in the same order whatever the split, so results must match exactly.
//!
//! The row loop is compiled once more per wider instruction set and chosen at run time
//! (`simd = "auto"`, see [`super::simd`]): the same additions in the same order in every lane,
//! so the vector paths are bit-exact too.

use std::sync::OnceLock;

use super::simd::{self, Isa};
use super::{
    default_support, unit_f64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::strategy::{static_block, Exec, Family, PhaseBarrier, Strategy};

pub struct StencilHeat;

const HOT: f64 = 1.0;

/// Which code a strategy runs, with no catch-all: a strategy added to the registry is
/// unsupported until it is given a version, never run as another's code.
enum Version {
    /// A fork-join over rows per iteration: every data-parallel strategy.
    ForkJoin,
    /// One long-lived thread per block of rows, meeting at a barrier each iteration.
    Barrier,
}

fn version(strategy: &dyn Strategy) -> Result<Version, Unsupported> {
    match (strategy.family(), strategy.name()) {
        (Family::DataParallel, _) => Ok(Version::ForkJoin),
        (Family::Synchronization, "barrier") => Ok(Version::Barrier),
        (Family::SharedState | Family::Synchronization | Family::Async, name) => Err(Unsupported::new(
            "stencil_heat",
            strategy,
            format!(
                "`stencil_heat` is phase-synchronous CPU work: it runs with the data-parallel strategies \
                 (a fork-join per iteration) or `barrier`; `{name}` has no version here"
            ),
        )),
        (Family::Process | Family::Mpi, _) => {
            Err(default_support("stencil_heat", strategy)
                .expect_err("no workload has a default process version"))
        }
    }
}

impl Workload for StencilHeat {
    fn name(&self) -> &'static str {
        "stencil_heat"
    }
    fn summary(&self) -> &'static str {
        "2D Jacobi heat diffusion with halo rows: fork-join per iteration vs a barrier"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "grid width = height in cells", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "cells/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "iters",
                help: "Jacobi iterations per run",
                default: ParamValue::Int(20),
                min: 1.0,
                max: 1e6,
                choices: &[],
            },
            simd::PARAM,
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1024]
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        version(strategy).map(|_| ())
    }
    fn weak_size(&self, base: u64, workers: usize) -> u64 {
        // The work grows with the cell count, width squared.
        super::scaled_size(base, workers, 2)
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if !(3..=46_341).contains(&size) {
            return Err(PrepareError::Invalid(
                "the grid needs at least 3 cells a side (and fewer than 2^31 cells)".into(),
            ));
        }
        Ok(())
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Input, two working grids, the reference and its scratch grid.
        size.saturating_mul(size).saturating_mul(5 * 8)
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        (size.saturating_sub(2) as f64).powi(2) * params.int("iters") as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let n = size as usize;
        let grid = (0..n * n)
            .map(|k| {
                let (r, c) = (k / n, k % n);
                if r == 0 {
                    HOT
                } else if r == n - 1 || c == 0 || c == n - 1 {
                    0.0
                } else {
                    unit_f64(seed, k as u64)
                }
            })
            .collect();
        Ok(Box::new(Input {
            n,
            iters: params.int("iters") as usize,
            isa: simd::select(params),
            grid,
            reference: OnceLock::new(),
        }))
    }
}

struct Input {
    n: usize,
    iters: usize,
    isa: Isa,
    grid: Vec<f64>,
    reference: OnceLock<Vec<f64>>,
}

/// Rows `first..first + rows.len() / n` of `dst`, skipping the boundary rows. Each interior
/// cell becomes `0.25 * (up + down + left + right)`, summed in that order
/// ([`simd::relax_row`]); the boundary columns are left as they are.
fn relax_rows(isa: Isa, src: &[f64], n: usize, first: usize, rows: &mut [f64]) {
    for (i, out) in rows.chunks_mut(n).enumerate() {
        let r = first + i;
        if r != 0 && r != n - 1 {
            let (up, mid, down) =
                (&src[(r - 1) * n..r * n], &src[r * n..(r + 1) * n], &src[(r + 1) * n..(r + 2) * n]);
            simd::relax_row(isa, up, mid, down, out);
        }
    }
}

impl Input {
    /// The sequential reference: the same row function, in order, in scalar code.
    fn reference(&self) -> Vec<f64> {
        let n = self.n;
        let (mut a, mut b) = (self.grid.clone(), self.grid.clone());
        for _ in 0..self.iters {
            relax_rows(Isa::SCALAR, &a, n, 0, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        a
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        // Boundary cells never change, so they are written once here; the interior starts as
        // NaN, which no run produces, so an unwritten cell cannot pass verification.
        let n = self.n;
        let mut grid = self.grid.clone();
        for r in 1..n - 1 {
            grid[r * n + 1..(r + 1) * n - 1].fill(f64::NAN);
        }
        Box::new(Run { input: self, grids: [grid.clone(), grid] })
    }
}

struct Run<'a> {
    input: &'a Input,
    /// Iteration `k` writes `grids[k % 2]`, reading the input (k = 0) or the other grid.
    grids: [Vec<f64>; 2],
}

impl Run<'_> {
    fn result(&self) -> &[f64] {
        &self.grids[(self.input.iters - 1) % 2]
    }
}

/// Raw access to the two grids for the barrier team, whose members' borrows change roles every
/// iteration in a way the borrow checker cannot follow.
#[derive(Clone, Copy)]
struct Grids {
    input: *const f64,
    grids: [*mut f64; 2],
    len: usize,
}
// SAFETY: shared only within `PhaseBarrier::run`, under the access rules stated there.
unsafe impl Send for Grids {}
unsafe impl Sync for Grids {}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let (n, iters, isa) = (self.input.n, self.input.iters, self.input.isa);
        // `support` went through `version` too: an `Err` here means the runner skipped that check.
        let barrier = match version(exec.strategy()).unwrap_or_else(|why| panic!("{why}")) {
            Version::Barrier => true,
            Version::ForkJoin => false,
        };
        if barrier {
            let workers = exec.workers().min(n);
            let [a, b] = &mut self.grids;
            let g = Grids {
                input: self.input.grid.as_ptr(),
                grids: [a.as_mut_ptr(), b.as_mut_ptr()],
                len: n * n,
            };
            PhaseBarrier::run(workers, iters, exec.cancel_flag(), |w, k| {
                // Capture the whole (Sync) struct, not its raw-pointer fields one by one.
                let p = g;
                let rows = static_block(n, workers, w);
                let src = if k == 0 { p.input } else { p.grids[(k - 1) % 2] as *const f64 };
                // SAFETY: in phase `k` every member reads only `src` (the input, or the grid
                // written in phase `k - 1`, complete since all met at the barrier) and writes only
                // its own rows of `grids[k % 2]`, a different grid that nobody reads in this
                // phase. Both grids outlive the team, which `run` joins before returning.
                let (src, dst) = unsafe {
                    let src = std::slice::from_raw_parts(src, p.len);
                    let dst =
                        std::slice::from_raw_parts_mut(p.grids[k % 2].add(rows.start * n), rows.len() * n);
                    (src, dst)
                };
                relax_rows(isa, src, n, rows.start, dst);
            });
            return;
        }
        let grain_rows = (1 << 14) / n + 1;
        for k in 0..iters {
            if exec.is_cancelled() {
                break;
            }
            let [a, b] = &mut self.grids;
            let (src, dst): (&[f64], &mut [f64]) = match k {
                0 => (&self.input.grid, a),
                _ if k % 2 == 1 => (a, b),
                _ => (b, a),
            };
            exec.for_each_rows_mut(dst, n, grain_rows, |first, rows| relax_rows(isa, src, n, first, rows));
        }
    }

    fn verify(&self) -> Verification {
        let want = self.input.reference.get_or_init(|| self.input.reference());
        let got = self.result();
        let wrong = got.iter().zip(want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        if wrong == 0 {
            Verification::pass(format!("all {} cells match the reference bit for bit", want.len()))
        } else {
            Verification::fail(format!("{wrong} of {} cells differ from the reference", want.len()))
        }
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
}
