//! `nbody`: all-pairs gravity in f64, `steps` steps of a softened O(n^2) force sum followed by
//! a semi-implicit Euler update. The compute-bound case with good balance.
//!
//! - data-parallel strategies (and `async`, through `spawn_blocking`): forces for a block of
//!   bodies per task, then the update, a fork-join for each phase;
//! - `barrier`: one thread per block of bodies for the whole run, meeting at a barrier after
//!   the force phase and after the update phase of every step;
//! - `local-merge`: Newton's third law, each pair once, so half the arithmetic; every worker
//!   accumulates the forces of its pairs into a private array and the arrays are merged once
//!   per step. Row `i` has `n - 1 - i` pairs, so rows are dealt in folded pairs (`i`,
//!   `n - 1 - i`) of equal cost. Speedups above the worker count are this halving, not magic.
//!
//! The force sum of the data-parallel, `async` and `barrier` versions runs in vector lanes where
//! the CPU has them (`simd = "auto"`, see [`super::simd::nbody`]); `local-merge`'s pair loop,
//! which scatters into two bodies at once, stays scalar, and its results say so.
//!
//! Device version (`opencl`, `cuda`, through [`super::device::Device::Nbody`]): a work-item per body
//! sums its forces in index order with the scalar loop's operations (no contraction) and moves
//! it, one launch per step, reading one state buffer and writing the other.
//!
//! MPI version (`mpi`, [`RankPart`]): each rank owns a block of bodies and keeps every body's
//! position; each step it computes the forces on its block, moves it, and an allgather of the
//! blocks' positions brings every rank up to date for the next step. Rank 0 gathers the final
//! states and checks them.
//!
//! Sums in another order round differently, so the check is a tolerance: every coordinate
//! within 1e-9 (relative, or absolute below 1) of the sequential reference.

use std::ops::Range;
use std::sync::OnceLock;
use std::time::Instant;

use super::simd::{self, Isa};
use super::{
    default_support, unit_f64, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::ranks::{self, PhaseTimes, RankShare, Ranks};
use crate::remote::JobSpec;
use crate::strategy::{static_block, Exec, Family, PhaseBarrier, Strategy};

pub struct NBody;

const DT: f64 = 1e-3;
const SOFTENING2: f64 = 1e-4;
const TOLERANCE: f64 = 1e-9;

/// Which code a strategy runs: one arm per version, no catch-all, so that a strategy added to
/// the registry is unsupported until it is given a version, never run as another's code.
enum Version {
    /// A team of threads meeting at a barrier between the force and the move phases.
    Barrier,
    /// Each pair computed once into private force arrays, merged (`local-merge`).
    PairsOnce,
    /// Rows of forces split over the executor: every data-parallel strategy, and `async`
    /// (whose executor runs the tasks through `spawn_blocking`).
    Rows,
    /// A block of bodies per MPI rank (`mpi`), run by [`RankPart`], not [`Run`].
    Ranks,
    /// A work-item per body on a device (`opencl`), run by the backend through
    /// [`Kernel::device`], not [`Run::run`].
    Device,
}

fn version(strategy: &dyn Strategy) -> Result<Version, Unsupported> {
    match (strategy.family(), strategy.name()) {
        (Family::DataParallel, _) | (Family::Async, "async") => Ok(Version::Rows),
        (Family::Synchronization, "barrier") => Ok(Version::Barrier),
        (Family::SharedState, "local-merge") => Ok(Version::PairsOnce),
        (Family::SharedState | Family::Synchronization | Family::Async, name) => Err(Unsupported::new(
            "nbody",
            strategy,
            format!(
                "`nbody` is pure computation: it runs with the data-parallel strategies, `barrier`, \
                 `local-merge` (symmetric pairs) and `async` (via spawn_blocking); `{name}` has no version"
            ),
        )),
        (Family::Mpi, _) => super::collective_mpi_support("nbody", strategy).map(|()| Version::Ranks),
        (Family::Device, "opencl" | "cuda") => {
            super::device::fp64_support("nbody", strategy).map(|()| Version::Device)
        }
        (Family::Process | Family::Device, _) => Err(default_support("nbody", strategy)
            .expect_err("no workload has a default process or device version")),
    }
}

impl Workload for NBody {
    fn name(&self) -> &'static str {
        "nbody"
    }
    fn summary(&self) -> &'static str {
        "O(n^2) all-pairs gravity in f64: compute-bound and balanced"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "bodies", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "interactions/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "steps",
                help: "time steps per run",
                default: ParamValue::Int(4),
                min: 1.0,
                max: 1e6,
                choices: &[],
            },
            simd::PARAM,
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![2048]
    }
    fn speedup_meaning(&self, strategy: &str) -> super::SpeedupMeaning {
        match strategy {
            "local-merge" => super::SpeedupMeaning::Labelled(
                "`local-merge` computes each pair of bodies once, half the interactions of the \
                 sequential baseline: its speedup mixes a different algorithm with parallelism, so \
                 efficiency and Karp-Flatt do not apply",
            ),
            _ => super::SpeedupMeaning::Parallel,
        }
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        version(strategy).map(|_| ())
    }
    fn weak_size(&self, base: u64, workers: usize) -> u64 {
        // The work grows like the number of pairs, n squared.
        super::scaled_size(base, workers, 2)
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size < 2 {
            return Err(PrepareError::Invalid("at least 2 bodies are needed".into()));
        }
        Ok(())
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Masses, initial state, working state, forces and reference.
        size.saturating_mul(8 + 48 * 3 + 24)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        // `local-merge`: a private force array per task over half the pairs' rows, until merged.
        // MPI: every rank's copy of the input and of every position, and rank 0's gathered states.
        if case.family == Family::Mpi {
            return size.saturating_mul(8 + 48 * 2 + 24).saturating_mul(case.workers as u64 + 1);
        }
        // The device's masses, initial state and two working states (on a CPU device such as
        // PoCL, this machine's memory).
        if case.family == Family::Device {
            return size.saturating_mul(8 + 48 * 3);
        }
        match case.strategy {
            "local-merge" => case
                .max_tasks(size.div_ceil(2), 64)
                .saturating_mul(size.saturating_mul(24) + super::SLOT_BYTES + 24),
            _ => 0,
        }
    }
    fn work(&self, size: u64, params: &Params) -> f64 {
        (size as f64).powi(2) * params.int("steps") as f64
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
        if let Err(why) = version(strategy) {
            return Some(Err(why.to_string()));
        }
        Some(RankPart::new(job, ranks).map(|p| Box::new(p) as Box<dyn RankShare>))
    }
}

fn input(n: usize, params: &Params, seed: u64) -> Input {
    let u = |k: usize, c: u64| unit_f64(seed, 8 * k as u64 + c);
    let mass = (0..n).map(|k| 0.5 + u(k, 0)).collect();
    let state = (0..n)
        .map(|k| {
            let v = |c| 0.1 * (u(k, c) - 0.5);
            [u(k, 1), u(k, 2), u(k, 3), v(4), v(5), v(6)]
        })
        .collect();
    Input {
        mass,
        state,
        steps: params.int("steps") as usize,
        isa: simd::select(params),
        reference: OnceLock::new(),
    }
}

/// Position (0..3) and velocity (3..6) of one body.
type Body = [f64; 6];

struct Input {
    mass: Vec<f64>,
    state: Vec<Body>,
    steps: usize,
    isa: Isa,
    reference: OnceLock<Vec<Body>>,
}

/// The acceleration of body `i`, summed over every body: vector lanes for as many bodies as
/// they cover, then the scalar loop (in index order) for the rest.
#[inline]
fn accel(isa: Isa, i: usize, state: &[Body], mass: &[f64]) -> [f64; 3] {
    let p = &state[i];
    let (mut a, done) = simd::nbody::accel_prefix(isa, [p[0], p[1], p[2]], state, mass, SOFTENING2);
    for (q, m) in state.iter().zip(mass).skip(done) {
        let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
        let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + SOFTENING2;
        let s = m / (r2 * r2.sqrt());
        a[0] += s * d[0];
        a[1] += s * d[1];
        a[2] += s * d[2];
    }
    a
}

#[inline]
fn advance(body: &mut Body, a: &[f64; 3]) {
    for c in 0..3 {
        body[3 + c] += a[c] * DT;
        body[c] += body[3 + c] * DT;
    }
}

/// Forces of every pair `(i, j > i)` for the folded rows in `folded`, into a private array.
fn pair_forces(folded: std::ops::Range<usize>, state: &[Body], mass: &[f64]) -> Vec<[f64; 3]> {
    let n = state.len();
    let mut acc = vec![[0.0; 3]; n];
    for f in folded {
        let both = [f, n - 1 - f];
        let rows = if both[0] == both[1] { &both[..1] } else { &both[..] };
        for &i in rows {
            let p = state[i];
            for j in i + 1..n {
                let q = &state[j];
                let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
                let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + SOFTENING2;
                let inv = 1.0 / (r2 * r2.sqrt());
                let (si, sj) = (mass[j] * inv, mass[i] * inv);
                for c in 0..3 {
                    acc[i][c] += si * d[c];
                    acc[j][c] -= sj * d[c];
                }
            }
        }
    }
    acc
}

impl Input {
    /// `state` (every body after a run) against the reference, within the tolerance.
    fn check(&self, state: &[Body]) -> Verification {
        let want = self.reference.get_or_init(|| self.reference());
        if state.len() != want.len() {
            return Verification::fail(format!("{} bodies, {} expected", state.len(), want.len()));
        }
        let mut worst = 0.0f64;
        for (b, r) in state.iter().zip(want) {
            for c in 0..6 {
                let err = (b[c] - r[c]).abs() / r[c].abs().max(1.0);
                worst = if err.is_nan() { f64::INFINITY } else { worst.max(err) };
            }
        }
        if worst <= TOLERANCE {
            Verification::pass(format!(
                "max relative error {worst:.1e} <= {TOLERANCE:.0e} over {} bodies",
                want.len()
            ))
        } else {
            Verification::fail(format!("max relative error {worst:.1e} > {TOLERANCE:.0e}"))
        }
    }

    fn reference(&self) -> Vec<Body> {
        let mut state = self.state.clone();
        for _ in 0..self.steps {
            let acc: Vec<_> = (0..state.len()).map(|i| accel(Isa::SCALAR, i, &state, &self.mass)).collect();
            state.iter_mut().zip(&acc).for_each(|(b, a)| advance(b, a));
        }
        state
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        let n = self.state.len();
        // NaN never comes out of a run, so an unrun kernel cannot pass.
        Box::new(Run { input: self, state: vec![[f64::NAN; 6]; n], acc: vec![[0.0; 3]; n], ran: None })
    }
}

struct Run<'a> {
    input: &'a Input,
    state: Vec<Body>,
    acc: Vec<[f64; 3]>,
    /// The instruction set of the last run's force sum.
    ran: Option<Isa>,
}

/// Raw access to the state and forces for the barrier team (roles alternate by phase).
#[derive(Clone, Copy)]
struct Shared {
    state: *mut Body,
    acc: *mut [f64; 3],
    n: usize,
}
// SAFETY: shared only within `PhaseBarrier::run`, under the access rules stated there.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let (mass, steps, isa) = (&self.input.mass[..], self.input.steps, self.input.isa);
        self.state.copy_from_slice(&self.input.state);
        let n = self.state.len();
        // `support` went through `version` too: an `Err` here means the runner skipped that check.
        let version = version(exec.strategy()).unwrap_or_else(|why| panic!("{why}"));
        // Only the pairs-once version (`local-merge`) takes the scalar pair loop below.
        self.ran = Some(if matches!(version, Version::PairsOnce) { Isa::SCALAR } else { isa });
        match version {
            Version::Ranks => unreachable!("MPI cases run on ranks, through `RankPart`"),
            Version::Device => unreachable!("device cases run on their backend, through `Kernel::device`"),
            Version::Barrier => {
                let workers = exec.workers().min(n);
                let shared = Shared { state: self.state.as_mut_ptr(), acc: self.acc.as_mut_ptr(), n };
                PhaseBarrier::run(workers, 2 * steps, exec.cancel_flag(), |w, phase| {
                    // Capture the whole (Sync) struct, not its raw-pointer fields one by one.
                    let s = shared;
                    let mine = static_block(s.n, workers, w);
                    // SAFETY: in even phases every member reads all of `state` (nobody writes it)
                    // and writes only its own rows of `acc`; in odd phases each member reads and
                    // writes only its own rows of `acc` and `state`. Phases are separated by the
                    // barrier, and both arrays outlive the team, which `run` joins.
                    unsafe {
                        if phase % 2 == 0 {
                            let state = std::slice::from_raw_parts(s.state, s.n);
                            for i in mine {
                                *s.acc.add(i) = accel(isa, i, state, mass);
                            }
                        } else {
                            for i in mine {
                                advance(&mut *s.state.add(i), &*s.acc.add(i));
                            }
                        }
                    }
                });
            }
            Version::PairsOnce => {
                for _ in 0..steps {
                    if exec.is_cancelled() {
                        break;
                    }
                    let state = &self.state;
                    let acc = exec.map_reduce(
                        n.div_ceil(2),
                        64,
                        |folded| pair_forces(folded, state, mass),
                        Vec::new(),
                        |mut a, b| {
                            if a.is_empty() {
                                return b;
                            }
                            for (x, y) in a.iter_mut().zip(&b) {
                                (0..3).for_each(|c| x[c] += y[c]);
                            }
                            a
                        },
                    );
                    self.state.iter_mut().zip(&acc).for_each(|(b, a)| advance(b, a));
                }
            }
            Version::Rows => {
                let grain = (1 << 16) / n + 1;
                for _ in 0..steps {
                    if exec.is_cancelled() {
                        break;
                    }
                    let state = &self.state;
                    exec.for_each_rows_mut(&mut self.acc, 1, grain, |first, block| {
                        for (k, a) in block.iter_mut().enumerate() {
                            *a = accel(isa, first + k, state, mass);
                        }
                    });
                    let acc = &self.acc;
                    exec.for_each_rows_mut(&mut self.state, 1, 4096, |first, block| {
                        for (k, b) in block.iter_mut().enumerate() {
                            advance(b, &acc[first + k]);
                        }
                    });
                }
            }
        }
    }

    fn verify(&self) -> Verification {
        self.input.check(&self.state)
    }

    fn isa(&self) -> Option<&'static str> {
        self.ran.map(Isa::name)
    }

    fn device(&mut self) -> Option<super::device::Device<'_>> {
        let input = self.input;
        Some(super::device::Device::Nbody {
            state: self.state.as_flattened_mut(),
            initial: input.state.as_flattened(),
            mass: &input.mass,
            steps: input.steps as u64,
            dt: DT,
            softening2: SOFTENING2,
        })
    }
}

/// One rank's block of bodies (see the module's documentation).
struct RankPart {
    /// The masses and starting states of every body (each rank makes them from the seed), and
    /// on rank 0 the reference to check against.
    input: Input,
    mine: Range<usize>,
    /// Every body: this rank's block up to date, the others' positions as of the last allgather.
    state: Vec<Body>,
    acc: Vec<[f64; 3]>,
    /// Values in each rank's block: positions (3 per body) and whole states (6 per body).
    position_counts: Vec<usize>,
    state_counts: Vec<usize>,
    positions: Vec<f64>,
    /// On rank 0: every body's state gathered by the last run (6 values each).
    result: Vec<f64>,
    /// Tests only: the rank takes part in the collectives but never moves its bodies.
    #[cfg(test)]
    skip: bool,
}

impl RankPart {
    fn new(job: &JobSpec, ranks: &dyn Ranks) -> Result<RankPart, String> {
        let (n, rank, size) = (job.size as usize, ranks.rank(), ranks.size());
        if n < size {
            return Err(format!("{n} bodies cannot give each of {size} ranks one"));
        }
        let mine = ranks::block(n, rank, size);
        Ok(RankPart {
            input: input(n, &job.params, job.seed),
            acc: vec![[0.0; 3]; mine.len()],
            mine,
            state: vec![[f64::NAN; 6]; n],
            position_counts: ranks::block_counts(n, size, 3),
            state_counts: ranks::block_counts(n, size, 6),
            positions: vec![0.0; 3 * n],
            result: if rank == 0 { Vec::with_capacity(6 * n) } else { Vec::new() },
            #[cfg(test)]
            skip: false,
        })
    }

    fn moves(&self) -> bool {
        #[cfg(test)]
        if self.skip {
            return false;
        }
        true
    }
}

impl RankShare for RankPart {
    fn run(&mut self, ranks: &dyn Ranks) -> Result<PhaseTimes, String> {
        let (mass, isa, moves) = (&self.input.mass[..], self.input.isa, self.moves());
        let mine = self.mine.clone();
        self.state.copy_from_slice(&self.input.state);
        let (mut compute, mut combine) = (0u128, 0u128);
        for step in 0..self.input.steps {
            if step > 0 {
                // Every block's positions from the last step, into every rank's copy.
                let t = Instant::now();
                let own: Vec<f64> =
                    self.state[mine.clone()].iter().flat_map(|b| [b[0], b[1], b[2]]).collect();
                ranks.allgather_f64(&own, &self.position_counts, &mut self.positions);
                for (body, p) in self.state.iter_mut().zip(self.positions.chunks_exact(3)) {
                    body[..3].copy_from_slice(p);
                }
                combine += t.elapsed().as_nanos();
            }
            let t = Instant::now();
            if moves {
                for (a, i) in self.acc.iter_mut().zip(mine.clone()) {
                    *a = accel(isa, i, &self.state, mass);
                }
                for (body, a) in self.state[mine.clone()].iter_mut().zip(&self.acc) {
                    advance(body, a);
                }
            }
            compute += t.elapsed().as_nanos();
        }
        let t = Instant::now();
        let own: Vec<f64> = self.state[mine].iter().flatten().copied().collect();
        if ranks.rank() == 0 {
            self.result.resize(6 * self.state.len(), f64::NAN);
        }
        ranks.gather_f64(&own, &self.state_counts, &mut self.result);
        combine += t.elapsed().as_nanos();
        Ok(PhaseTimes { compute_ns: compute as u64, combine_ns: combine as u64, excluded_ns: 0 })
    }

    fn verify(&self) -> Result<String, String> {
        if self.result.is_empty() {
            return Err("no run has gathered the bodies on rank 0".into());
        }
        let state: Vec<Body> =
            self.result.chunks_exact(6).map(|b| b.try_into().expect("6 values a body")).collect();
        self.input.check(&state).into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranks::OneRank;
    use crate::strategy::mpi::{mpi, mpi_nonblocking};

    fn job(n: u64) -> JobSpec {
        JobSpec {
            workload: "nbody".into(),
            params: crate::workload::default_params(&NBody),
            size: n,
            seed: 8,
            shared: None,
        }
    }

    #[test]
    fn rank_shares_verify_on_one_and_several_ranks() {
        let job = job(37);
        let mut share = NBody.rank_share(&job, mpi(), &OneRank).expect("an MPI version").unwrap();
        assert!(share.verify().is_err(), "verified before any run");
        share.run(&OneRank).unwrap();
        let ok = share.verify().unwrap();
        assert!(ok.contains("over 37 bodies"), "{ok}");
        for size in [2, 3] {
            let make = |r: &dyn Ranks| NBody.rank_share(&job, mpi(), r).expect("an MPI version");
            let rank0 = ranks::run_on_threads(size, 2, &make).unwrap();
            let ok = rank0.verify().unwrap_or_else(|e| panic!("{size} ranks: {e}"));
            assert!(ok.contains("over 37 bodies"), "{ok}");
        }
        let e = NBody.rank_share(&job, mpi_nonblocking(), &OneRank).unwrap().err().unwrap();
        assert!(e.contains("no neighbour messages"), "{e}");
    }

    #[test]
    fn a_rank_that_skips_its_bodies_fails_verification() {
        let job = job(37);
        for (size, lazy) in [(2, 1), (3, 1), (3, 0)] {
            let make = |r: &dyn Ranks| -> Result<Box<dyn RankShare>, String> {
                let mut part = RankPart::new(&job, r)?;
                part.skip = r.rank() == lazy;
                Ok(Box::new(part))
            };
            let rank0 = ranks::run_on_threads(size, 1, &make).unwrap();
            let why = rank0.verify().unwrap_err();
            assert!(why.contains("max relative error"), "{size} ranks, rank {lazy} lazy: {why}");
        }
    }
}
