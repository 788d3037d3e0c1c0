//! `stream_triad`: `a[i] = b[i] + s * c[i]`, the memory-bandwidth kernel of STREAM.
//!
//! Following STREAM's rules (McCalpin), each array defaults to at least four times the
//! last-level cache, and bytes are counted as STREAM counts them: 24 per element (two reads and
//! one write; write-allocate traffic is not counted). The result is exact: one multiply and one
//! add per element in the same order in every strategy.
//!
//! The loop is compiled once more per wider instruction set and chosen at run time
//! (`simd = "auto"`, see [`super::simd`]); it is memory-bound, so wider vectors buy little here.
//!
//! Process version: under `process` each worker re-creates `b` and `c` from the seed when the job
//! is set up (untimed, as an inherited input would be), and each task's slice of `a` travels back
//! through the pipe: 8 more bytes per element through the kernel, twice copied, on top of the 24
//! of the triad itself. Under `process-shm` `b`, `c` and `a` live in one shared region, and the
//! workers read and write it in place: the triad as threads would run it, in other processes.

use std::ops::Range;
use std::sync::OnceLock;

use crate::align::{self, Buffer};

use super::device::{Device, Precision};
use super::simd::{self, Isa};
use super::{
    default_support, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, Refused, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::remote::{self, Coordinator, JobSpec, RemoteError, Share, SharedMem, Workers};
use crate::strategy::{Exec, Family, Strategy};

pub struct StreamTriad;

/// Elements per task: 256 KiB of each array, a few pages, so task overhead stays negligible.
const GRAIN: usize = 1 << 15;
/// The tolerance of a run in f32 (`opencl-f32`), in f32 epsilons of `|b| + |s*c|`.
const F32_ULPS: f64 = 3.0;
const BYTES_PER_ELEMENT: u64 = 3 * 8;
/// Used when the last-level cache is unknown (STREAM's own default array size).
const FALLBACK_ELEMENTS: u64 = 10_000_000;

impl Workload for StreamTriad {
    fn name(&self) -> &'static str {
        "stream_triad"
    }
    fn summary(&self) -> &'static str {
        "STREAM triad a = b + s*c: memory bandwidth, 24 bytes per element"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "elements per array (or bytes per array, e.g. \"128MiB\")", bytes_per_item: Some(8) }
    }
    fn throughput_unit(&self) -> &'static str {
        "B/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[
            ParamSpec {
                name: "scalar",
                help: "the triad's scalar s",
                default: ParamValue::Float(3.0),
                min: -1e6,
                max: 1e6,
                choices: &[],
            },
            simd::PARAM,
        ]
    }
    fn default_sizes(&self, machine: &Machine) -> Vec<u64> {
        let elements = machine.last_level_cache_bytes().map(|llc| 4 * llc / 8).unwrap_or(FALLBACK_ELEMENTS);
        vec![elements.max(FALLBACK_ELEMENTS)]
    }
    fn size_note(&self, size: u64, machine: &Machine) -> Option<String> {
        let array = size.saturating_mul(8);
        match machine.last_level_cache_bytes() {
            None => Some(format!(
                "the last-level cache size is unknown, so STREAM's rule (each array at least 4x the \
                 last-level cache) could not be checked for arrays of {}",
                crate::units::format_bytes(array)
            )),
            Some(llc) if array < llc.saturating_mul(4) => Some(format!(
                "STREAM's rule is not met: each array is {}, less than 4x the {} last-level cache, \
                 so part of the traffic may be served from cache and the bandwidth overstated",
                crate::units::format_bytes(array),
                crate::units::format_bytes(llc)
            )),
            Some(_) => None,
        }
    }
    fn memory_bound(&self) -> bool {
        true
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // b, c, one output and the reference.
        size.saturating_mul(4 * 8)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        match case.strategy {
            // Each worker process makes its own `b` and `c`, and a slice of `a` per task, which
            // comes back in one frame.
            "process" => (case.workers as u64)
                .saturating_mul(size.saturating_mul(3 * 8))
                .saturating_add(case.process_reply_memory(size, 8)),
            // One shared region holds `b`, `c` and `a`.
            "process-shm" => size.saturating_mul(3 * 8),
            // The device's `a`, `b` and `c` (on a CPU device such as PoCL, this machine's memory);
            // in f32, those and their f32 copies on the host.
            "opencl" | "opencl-f32" => size.saturating_mul(3 * 8),
            _ => 0,
        }
    }
    fn check_case(&self, size: u64, _: &Params, case: &super::CaseShape) -> Result<(), Refused> {
        // A task's slice of `a` travels in one frame under `process`.
        case.check_process_reply(size, 8)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        BYTES_PER_ELEMENT as f64 * size as f64
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.family() {
            Family::Process => Ok(()),
            Family::Device if super::device::plain(strategy) => {
                super::device::fp64_support(self.name(), strategy)
            }
            // Computes in f32: any device.
            Family::Device if strategy.name() == "opencl-f32" => Ok(()),
            _ => default_support(self.name(), strategy),
        }
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        let (b, c) = inputs(size as usize, seed);
        Ok(Box::new(Input {
            b,
            c,
            scalar: params.float("scalar"),
            isa: simd::select(params),
            reference: OnceLock::new(),
        }))
    }
    fn share(&self, job: &JobSpec) -> Result<Box<dyn Share>, PrepareError> {
        let n = job.size as usize;
        // Under `process-shm` the inputs are in the region; only the pipe version makes its own.
        let (b, c) = if job.shared.is_some() {
            (align::filled(0, 0.0), align::filled(0, 0.0))
        } else {
            inputs(n, job.seed)
        };
        Ok(Box::new(Worker {
            n,
            b,
            c,
            scalar: job.params.float("scalar"),
            isa: simd::select(&job.params),
            a: vec![],
        }))
    }
}

/// `b` and `c` for a seed. Small integers and halves: every product and sum is exact, whatever
/// the order.
fn inputs(n: usize, seed: u64) -> (Buffer<f64>, Buffer<f64>) {
    // At this process's alignment offset (`--processes` varies it between processes).
    let b = align::from_fn(n, |i| 1.0 + ((i as u64 ^ seed) % 1024) as f64 * 0.5);
    let c = align::from_fn(n, |i| 2.0 + ((i as u64).wrapping_mul(7) % 512) as f64);
    (b, c)
}

struct Input {
    b: Buffer<f64>,
    c: Buffer<f64>,
    scalar: f64,
    isa: Isa,
    reference: OnceLock<Vec<f64>>,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        // NaN never equals anything, so an element the kernel skipped fails verification. The
        // pages are touched here, outside the timed region, by the allocation's fill.
        Box::new(Run { input: self, a: align::filled(self.b.len(), f64::NAN), precision: Precision::F64 })
    }
    fn coordinator(&self) -> Option<Box<dyn Coordinator + '_>> {
        Some(Box::new(Run {
            input: self,
            a: align::filled(self.b.len(), f64::NAN),
            precision: Precision::F64,
        }))
    }
}

struct Run<'a> {
    input: &'a Input,
    a: Buffer<f64>,
    /// What the last run computed in: f32 only on a device's f32 variant (`opencl-f32`).
    precision: Precision,
}

impl Run<'_> {
    /// Compares `a` with `b + s*c`: exactly, or for a run in f32 within `F32_ULPS` f32 epsilons
    /// of `|b| + |s*c|` (b, c and s each rounded to f32, then a product and a sum rounded: at
    /// most 2 epsilons, with room for the f64 reference's own rounding).
    fn check(&self, a: &[f64]) -> Verification {
        let input = self.input;
        let want = input
            .reference
            .get_or_init(|| input.b.iter().zip(&input.c).map(|(b, c)| b + input.scalar * c).collect());
        if self.precision == Precision::F32 {
            let eps = f32::EPSILON as f64;
            let mut worst = 0.0f64;
            let mut wrong = 0usize;
            for (((a, w), b), c) in a.iter().zip(want).zip(input.b.iter()).zip(input.c.iter()) {
                let scale = b.abs() + (input.scalar * c).abs();
                let err = (a - w).abs();
                if err.is_nan() || err > F32_ULPS * eps * scale {
                    wrong += 1;
                }
                worst =
                    if err.is_nan() { f64::INFINITY } else { worst.max(err / scale.max(f64::MIN_POSITIVE)) };
            }
            return if wrong == 0 && a.len() == want.len() {
                Verification::pass(format!(
                    "all {} elements equal b + s*c within {F32_ULPS} f32 epsilons of |b| + |s*c| (worst {:.2})",
                    want.len(),
                    worst / eps
                ))
            } else {
                Verification::fail(format!(
                    "{wrong} of {} elements differ from b + s*c by more than {F32_ULPS} f32 epsilons of |b| + |s*c|",
                    want.len()
                ))
            };
        }
        let wrong = a.iter().zip(want).filter(|(a, w)| a != w).count();
        if wrong == 0 {
            Verification::pass(format!("all {} elements equal b + s*c exactly", want.len()))
        } else {
            Verification::fail(format!("{wrong} of {} elements differ from b + s*c", want.len()))
        }
    }
}

/// The process version. The shared region holds `b`, `c` and `a`, in that order.
impl Coordinator for Run<'_> {
    fn shared_bytes(&self, _workers: &dyn Workers) -> usize {
        3 * 8 * self.input.b.len()
    }

    fn init_shared(&mut self, region: &mut SharedMem) {
        let n = self.input.b.len();
        let all = region.slice_mut::<f64>(0, 3 * n);
        all[..n].copy_from_slice(&self.input.b);
        all[n..2 * n].copy_from_slice(&self.input.c);
        all[2 * n..].fill(f64::NAN);
    }

    fn run(&mut self, workers: &mut dyn Workers) -> Result<(), RemoteError> {
        let a = &mut self.a;
        workers.run(a.len(), &mut |_, range, payload| remote::copy_into(payload, &mut a[range]))
    }

    /// The `a` the last run wrote: local, or in the shared region.
    fn verify(&self, shared: Option<&SharedMem>) -> Result<String, String> {
        let n = self.input.b.len();
        match shared {
            Some(region) => self.check(region.slice(2 * 8 * n, n)),
            None => self.check(&self.a),
        }
        .into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let Input { b, c, scalar, isa, .. } = self.input;
        exec.for_each_rows_mut(&mut self.a, 1, GRAIN, |start, a| {
            let end = start + a.len();
            simd::triad(*isa, a, &b[start..end], &c[start..end], *scalar);
        });
    }

    fn verify(&self) -> Verification {
        self.check(&self.a)
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
    fn device(&mut self) -> Option<Device<'_>> {
        let Input { b, c, scalar, .. } = self.input;
        Some(Device::Triad { a: &mut self.a, b, c, scalar: *scalar, precision: &mut self.precision })
    }
}

/// The worker-process half: the triad over one task's range.
struct Worker {
    n: usize,
    /// The inputs under `process` (empty under `process-shm`, where they are in the region).
    b: Buffer<f64>,
    c: Buffer<f64>,
    scalar: f64,
    isa: Isa,
    /// One task's `a` under `process`, before its bytes are appended to the reply.
    a: Vec<f64>,
}

impl Share for Worker {
    fn task(
        &mut self,
        _task: usize,
        range: Range<usize>,
        shared: Option<&mut SharedMem>,
        reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        let n = self.n;
        if range.end > n {
            return Err(format!("elements {range:?} are outside the {n}-element arrays"));
        }
        match shared {
            Some(region) => {
                let all = region.slice_mut::<f64>(0, 3 * n);
                let (inputs, a) = all.split_at_mut(2 * n);
                let (b, c) = inputs.split_at(n);
                simd::triad(self.isa, &mut a[range.clone()], &b[range.clone()], &c[range], self.scalar);
            }
            None => {
                self.a.resize(range.len(), 0.0);
                simd::triad(self.isa, &mut self.a, &self.b[range.clone()], &self.c[range], self.scalar);
                reply.extend_from_slice(remote::as_bytes(&self.a));
            }
        }
        Ok(())
    }
}
