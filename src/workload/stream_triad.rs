//! `stream_triad`: `a[i] = b[i] + s * c[i]`, the memory-bandwidth kernel of STREAM.
//!
//! Following STREAM's rules (McCalpin), each array defaults to at least four times the
//! last-level cache, and bytes are counted as STREAM counts them: 24 per element (two reads and
//! one write; write-allocate traffic is not counted). The result is exact: one multiply and one
//! add per element in the same order in every strategy.

use std::sync::OnceLock;

use super::{Instance, Kernel, ParamSpec, ParamValue, Params, SizeUnit, Verification, Workload};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct StreamTriad;

/// Elements per task: 256 KiB of each array, a few pages, so task overhead stays negligible.
const GRAIN: usize = 1 << 15;
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
        &[ParamSpec {
            name: "scalar",
            help: "the triad's scalar s",
            default: ParamValue::Float(3.0),
            min: -1e6,
            max: 1e6,
        }]
    }
    fn default_sizes(&self, machine: &Machine) -> Vec<u64> {
        let elements = machine.last_level_cache_bytes().map(|llc| 4 * llc / 8).unwrap_or(FALLBACK_ELEMENTS);
        vec![elements.max(FALLBACK_ELEMENTS)]
    }
    fn memory_bound(&self) -> bool {
        true
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // b, c, one output and the reference.
        4 * 8 * size
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        (BYTES_PER_ELEMENT * size) as f64
    }
    fn prepare(&self, size: u64, params: &Params, seed: u64) -> Result<Box<dyn Instance>, String> {
        let n = size as usize;
        // Small integers and halves: every product and sum is exact, whatever the order.
        let b = (0..n).map(|i| 1.0 + ((i as u64 ^ seed) % 1024) as f64 * 0.5).collect();
        let c = (0..n).map(|i| 2.0 + ((i as u64).wrapping_mul(7) % 512) as f64).collect();
        Ok(Box::new(Input { b, c, scalar: params.float("scalar"), reference: OnceLock::new() }))
    }
}

struct Input {
    b: Vec<f64>,
    c: Vec<f64>,
    scalar: f64,
    reference: OnceLock<Vec<f64>>,
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        // NaN never equals anything, so an element the kernel skipped fails verification. The
        // pages are touched here, outside the timed region, by the allocation's fill.
        Box::new(Run { input: self, a: vec![f64::NAN; self.b.len()] })
    }
}

struct Run<'a> {
    input: &'a Input,
    a: Vec<f64>,
}

#[inline]
fn triad(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
        *a = b + s * c;
    }
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let Input { b, c, scalar, .. } = self.input;
        exec.for_each_rows_mut(&mut self.a, 1, GRAIN, |start, a| {
            let end = start + a.len();
            triad(a, &b[start..end], &c[start..end], *scalar);
        });
    }

    fn verify(&self) -> Verification {
        let input = self.input;
        let want = input
            .reference
            .get_or_init(|| input.b.iter().zip(&input.c).map(|(b, c)| b + input.scalar * c).collect());
        let wrong = self.a.iter().zip(want).filter(|(a, w)| a != w).count();
        if wrong == 0 {
            Verification::pass(format!("all {} elements equal b + s*c exactly", want.len()))
        } else {
            Verification::fail(format!("{wrong} of {} elements differ from b + s*c", want.len()))
        }
    }
}
