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
//!
//! MPI versions ([`RankPart`]): each rank owns a block of consecutive rows and keeps one halo
//! row above and below it, refreshed from its neighbours before every iteration:
//! - `mpi`: two `sendrecv` shifts (first rows up, last rows down), then the update;
//! - `mpi-nonblocking`: the halo rows' `isend`/`irecv` are started, the block's interior rows
//!   (which need no halo) are updated while they are in flight, and the block's first and last
//!   rows after the wait.
//!
//! Rank 0 gathers the blocks and checks the grid bit for bit against the sequential reference.

use std::ops::Range;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::simd::{self, Isa};
use super::{
    default_support, unit_f64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
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
    /// A block of rows per MPI rank, run by [`RankPart`], not [`Run`]: halos by `sendrecv`
    /// (`mpi`), or by `isend`/`irecv` overlapped with the interior rows (`mpi-nonblocking`).
    Ranks { overlap: bool },
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
        (Family::Mpi, "mpi") => Ok(Version::Ranks { overlap: false }),
        (Family::Mpi, "mpi-nonblocking") => Ok(Version::Ranks { overlap: true }),
        (Family::Mpi, name) => Err(Unsupported::new(
            "stencil_heat",
            strategy,
            format!("`stencil_heat`'s MPI versions are `mpi` and `mpi-nonblocking`; `{name}` has none"),
        )),
        (Family::Process | Family::Device, _) => Err(default_support("stencil_heat", strategy)
            .expect_err("no workload has a default process or device version")),
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
    fn case_memory_bytes(&self, size: u64, params: &Params, case: &super::CaseShape) -> u64 {
        if case.family != Family::Mpi {
            return 0;
        }
        // Every rank's starting block and two working blocks with their halo rows, and rank 0's
        // whole input, gathered grid, reference and its scratch grid.
        let halos = (case.workers as u64).saturating_mul(2 * size);
        size.saturating_mul(size)
            .saturating_add(halos)
            .saturating_mul(3 * 8)
            .saturating_add(self.memory_bytes(size, params))
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        (size.saturating_sub(2) as f64).powi(2) * params.int("iters") as f64
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
        let overlap = match version(strategy) {
            Ok(Version::Ranks { overlap }) => overlap,
            Ok(_) => return Some(Err(format!("`{}` is not an MPI strategy", strategy.name()))),
            Err(why) => return Some(Err(why.to_string())),
        };
        Some(RankPart::new(job, overlap, ranks).map(|p| Box::new(p) as Box<dyn RankShare>))
    }
}

/// Cell `(r, c)` of the starting grid: the top edge hot, the other edges cold, the interior a
/// seeded random field (each cell from its index alone, so any block can be made on its own).
fn initial(seed: u64, n: usize, r: usize, c: usize) -> f64 {
    if r == 0 {
        HOT
    } else if r == n - 1 || c == 0 || c == n - 1 {
        0.0
    } else {
        unit_f64(seed, (r * n + c) as u64)
    }
}

fn input(n: usize, params: &Params, seed: u64) -> Input {
    Input {
        n,
        iters: params.int("iters") as usize,
        isa: simd::select(params),
        grid: (0..n * n).map(|k| initial(seed, n, k / n, k % n)).collect(),
        reference: OnceLock::new(),
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
    /// `got` (the whole grid after a run) against the reference, bit for bit.
    fn check(&self, got: &[f64]) -> Verification {
        let want = self.reference.get_or_init(|| self.reference());
        let wrong = got.iter().zip(want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        if wrong == 0 && got.len() == want.len() {
            Verification::pass(format!("all {} cells match the reference bit for bit", want.len()))
        } else {
            Verification::fail(format!(
                "{wrong} of {} cells differ from the reference ({} computed)",
                want.len(),
                got.len()
            ))
        }
    }

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
            Version::Ranks { .. } => unreachable!("MPI cases run on ranks, through `RankPart`"),
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
        self.input.check(self.result())
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
}

/// Relaxes the rows `which` of a block (indices in the block, whose row 0 is grid row `first`)
/// into `dst` (the block's rows, without halos), reading from `src`, in which block row `i` is
/// row `i + lead` (`lead` 1 when `src` starts with the upper halo row, 0 when it starts at the
/// block's first row). The grid's own first and last rows are fixed and skipped; the rest use
/// [`simd::relax_row`], as [`relax_rows`] does, so every cell comes out bit for bit the same.
#[allow(clippy::too_many_arguments)]
fn relax_block(
    isa: Isa,
    n: usize,
    first: usize,
    src: &[f64],
    lead: usize,
    which: Range<usize>,
    dst: &mut [f64],
) {
    for i in which {
        let r = first + i;
        if r == 0 || r == n - 1 {
            continue;
        }
        let s = i + lead;
        let (up, mid, down) =
            (&src[(s - 1) * n..s * n], &src[s * n..(s + 1) * n], &src[(s + 1) * n..(s + 2) * n]);
        simd::relax_row(isa, up, mid, down, &mut dst[i * n..(i + 1) * n]);
    }
}

/// One rank's block of rows: the MPI versions (see the module's documentation).
struct RankPart {
    n: usize,
    iters: usize,
    isa: Isa,
    /// The grid rows this rank owns.
    rows: Range<usize>,
    /// The ranks holding the rows above and below the block (none at the grid's edges).
    up: Option<usize>,
    down: Option<usize>,
    overlap: bool,
    /// The block's starting rows between two halo rows (NaN until a neighbour's row arrives),
    /// and the two working copies of the same shape: iteration `k` reads one, writes the other.
    start: Vec<f64>,
    grids: [Vec<f64>; 2],
    /// How many values each rank's block holds: the counts of the final gather.
    counts: Vec<usize>,
    /// On rank 0: the whole input, to check against, and the grid gathered by the last run.
    whole: Option<Input>,
    result: Vec<f64>,
    /// Tests only: the rank exchanges and gathers but never updates its rows.
    #[cfg(test)]
    skip: bool,
}

impl RankPart {
    fn new(job: &JobSpec, overlap: bool, ranks: &dyn Ranks) -> Result<RankPart, String> {
        let (n, rank, size) = (job.size as usize, ranks.rank(), ranks.size());
        if n < size {
            return Err(format!("a grid of {n} rows cannot give each of {size} ranks a row"));
        }
        let rows = ranks::block(n, rank, size);
        let m = rows.len();
        let mut start = vec![f64::NAN; (m + 2) * n];
        for (i, row) in start[n..(m + 1) * n].chunks_mut(n).enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                *cell = initial(job.seed, n, rows.start + i, c);
            }
        }
        let whole = (rank == 0).then(|| input(n, &job.params, job.seed));
        Ok(RankPart {
            n,
            iters: job.params.int("iters") as usize,
            isa: simd::select(&job.params),
            up: rank.checked_sub(1),
            down: (rank + 1 < size).then_some(rank + 1),
            rows,
            overlap,
            grids: [start.clone(), start.clone()],
            start,
            counts: ranks::block_counts(n, size, n),
            whole,
            result: Vec::new(),
            #[cfg(test)]
            skip: false,
        })
    }

    fn updates(&self) -> bool {
        #[cfg(test)]
        if self.skip {
            return false;
        }
        true
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let (n, m, first, isa) = (self.n, self.rows.len(), self.rows.start, self.isa);
        let (up, down, updates) = (self.up, self.down, self.updates());
        let (mut compute, mut combine) = (Duration::ZERO, Duration::ZERO);
        let [a, b] = &mut self.grids;
        // Only the block to read starts over: the grid's fixed cells are never written in
        // either copy, and every other cell of the one written is before it is read.
        let t = Instant::now();
        a.copy_from_slice(&self.start);
        compute += t.elapsed();
        for _ in 0..self.iters {
            // `a` holds the last iteration's block, `b` receives this one's.
            let dst = &mut b[n..(m + 1) * n];
            if self.overlap {
                let begun = Instant::now();
                let mut overlapped = Duration::ZERO;
                {
                    let (top, rest) = a.split_at_mut(n);
                    let (block, bottom) = rest.split_at_mut(m * n);
                    let block = &*block;
                    let sends: Vec<(usize, &[f64])> = up
                        .map(|r| (r, &block[..n]))
                        .into_iter()
                        .chain(down.map(|r| (r, &block[(m - 1) * n..])))
                        .collect();
                    let mut recvs: Vec<(usize, &mut [f64])> =
                        up.map(|r| (r, top)).into_iter().chain(down.map(|r| (r, bottom))).collect();
                    // The rows whose neighbours are all in the block need no halo.
                    ranks.exchange_f64(&sends, &mut recvs, &mut || {
                        let t = Instant::now();
                        if updates {
                            relax_block(isa, n, first, block, 0, 1..m.saturating_sub(1), dst);
                        }
                        overlapped += t.elapsed();
                    });
                }
                combine += begun.elapsed().saturating_sub(overlapped);
                let t = Instant::now();
                if updates {
                    // The block's first and last rows, now that the halos are in.
                    relax_block(isa, n, first, a, 1, 0..1, dst);
                    relax_block(isa, n, first, a, 1, m.max(2) - 1..m, dst);
                }
                compute += overlapped + t.elapsed();
            } else {
                let t = Instant::now();
                {
                    let (top, rest) = a.split_at_mut(n);
                    let (block, bottom) = rest.split_at_mut(m * n);
                    // First rows up (the lower halo comes from below), then last rows down.
                    ranks.sendrecv_f64(&block[..n], up, bottom, down);
                    ranks.sendrecv_f64(&block[(m - 1) * n..], down, top, up);
                }
                let t2 = Instant::now();
                if updates {
                    relax_block(isa, n, first, a, 1, 0..m, dst);
                }
                combine += t2 - t;
                compute += t2.elapsed();
            }
            std::mem::swap(a, b);
        }
        let t = Instant::now();
        if self.whole.is_some() {
            self.result.resize(n * n, f64::NAN);
        }
        ranks.gather_f64(&self.grids[0][n..(m + 1) * n], &self.counts, &mut self.result);
        combine += t.elapsed();
        Ok(PhaseTimes {
            compute_ns: compute.as_nanos() as u64,
            combine_ns: combine.as_nanos() as u64,
            excluded_ns: 0,
        })
    }

    fn verify(&self) -> Result<String, String> {
        let whole = self.whole.as_ref().ok_or("only rank 0 holds the whole grid")?;
        if self.result.is_empty() {
            return Err("no run has gathered the grid".into());
        }
        whole.check(&self.result).into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.isa.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::{mpi, mpi_nonblocking};
    use crate::workload::ParamValue;

    fn job(n: u64) -> JobSpec {
        let mut params = crate::workload::default_params(&StencilHeat);
        params.0.insert("iters".into(), ParamValue::Int(5));
        JobSpec { workload: "stencil_heat".into(), params, size: n, seed: 9, shared: None }
    }

    #[test]
    fn rank_shares_verify_on_one_and_several_ranks_both_ways() {
        for strategy in [mpi(), mpi_nonblocking()] {
            // 4 rows: on 3 ranks a block of one row (no interior) beside blocks of two.
            for n in [4, 19] {
                let job = job(n);
                let mut share =
                    StencilHeat.rank_share(&job, strategy, &OneRank).expect("an MPI version").unwrap();
                assert!(share.verify().is_err(), "verified before any run");
                share.run(&OneRank).unwrap();
                let ok = share.verify().unwrap();
                assert!(ok.contains("bit for bit"), "{ok}");
                for size in [2, 3] {
                    let make =
                        |r: &dyn Ranks| StencilHeat.rank_share(&job, strategy, r).expect("an MPI version");
                    let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
                    let ok = rank0.verify().unwrap_or_else(|e| panic!("{} on {size}: {e}", strategy.name()));
                    assert!(ok.contains(&format!("all {} cells match", n * n)), "{ok}");
                }
            }
        }
    }

    #[test]
    fn a_rank_that_skips_its_rows_fails_verification() {
        let job = job(19);
        for strategy in [mpi(), mpi_nonblocking()] {
            for (size, lazy) in [(2, 1), (3, 1), (3, 0)] {
                let make = |r: &dyn Ranks| -> Result<Box<dyn RankShare>, String> {
                    let mut part = RankPart::new(&job, strategy.name() == "mpi-nonblocking", r)?;
                    part.skip = r.rank() == lazy;
                    Ok(Box::new(part))
                };
                let rank0 = ranks::run_on_threads(size, 1, &make).unwrap();
                let why = rank0.verify().unwrap_err();
                assert!(why.contains("cells differ"), "{why}");
            }
        }
    }

    #[test]
    fn too_many_ranks_for_the_rows_is_an_error_and_only_mpi_strategies_run_on_ranks() {
        let job = job(3);
        let make = |r: &dyn Ranks| StencilHeat.rank_share(&job, mpi(), r).expect("an MPI version");
        let e = ranks::run_on_threads(4, 1, &make).err().unwrap();
        assert!(e.contains("cannot give each of 4 ranks a row"), "{e}");
        let threads = crate::strategy::find("threads").unwrap();
        assert!(StencilHeat.rank_share(&job, threads, &OneRank).unwrap().is_err());
    }
}
