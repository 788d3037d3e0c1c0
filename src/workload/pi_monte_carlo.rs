//! `pi_monte_carlo`: estimate pi from random points in the unit square.
//!
//! The generator is counter-based (splitmix64 applied to `seed + k * GAMMA`): sample `i` uses
//! counters `2i` and `2i + 1`, whatever thread draws it, so every strategy and worker count
//! must produce the bit-exact same hit count as the sequential loop.

use std::ops::Range;
use std::sync::OnceLock;

use super::{Instance, Kernel, Params, SizeUnit, Verification, Workload, GAMMA};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct PiMonteCarlo;

/// Samples per task: large enough that handing out a task costs well under 1% of running it.
const GRAIN: usize = 1 << 16;

impl Workload for PiMonteCarlo {
    fn name(&self) -> &'static str {
        "pi_monte_carlo"
    }
    fn summary(&self) -> &'static str {
        "Monte Carlo pi with a counter-based RNG: embarrassingly parallel, bit-exact across strategies"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "samples", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "samples/s"
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![50_000_000]
    }
    fn memory_bytes(&self, _size: u64, _: &Params) -> u64 {
        0
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        size as f64
    }
    fn prepare(&self, size: u64, _: &Params, seed: u64) -> Result<Box<dyn Instance>, String> {
        Ok(Box::new(Input { samples: size as usize, seed, reference: OnceLock::new() }))
    }
}

struct Input {
    samples: usize,
    seed: u64,
    reference: OnceLock<u64>,
}

/// Points of `range` that land inside the quarter circle.
#[inline(never)]
fn hits(seed: u64, range: Range<usize>) -> u64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    let mut counter = seed.wrapping_add((2 * range.start as u64).wrapping_mul(GAMMA));
    let mut inside = 0u64;
    for _ in range {
        let x = (super::mix64(counter) >> 11) as f64 * SCALE;
        let y = (super::mix64(counter.wrapping_add(GAMMA)) >> 11) as f64 * SCALE;
        counter = counter.wrapping_add(GAMMA.wrapping_mul(2));
        inside += u64::from(x * x + y * y <= 1.0);
    }
    inside
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        Box::new(Run { input: self, inside: None })
    }
}

struct Run<'a> {
    input: &'a Input,
    inside: Option<u64>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let seed = self.input.seed;
        let total = exec.map_reduce(self.input.samples, GRAIN, |r| hits(seed, r), 0, |a, b| a + b);
        self.inside = Some(total);
    }

    fn verify(&self) -> Verification {
        let Some(inside) = self.inside else {
            return Verification::fail("the kernel produced no count");
        };
        let n = self.input.samples;
        // The reference is the plain sequential loop over all samples, independent of any split.
        let want = *self.input.reference.get_or_init(|| hits(self.input.seed, 0..n));
        let pi = 4.0 * inside as f64 / n as f64;
        if inside == want {
            Verification::pass(format!("hits {inside} == reference (pi ~ {pi:.6})"))
        } else {
            Verification::fail(format!("hits {inside} != reference {want}"))
        }
    }
}
