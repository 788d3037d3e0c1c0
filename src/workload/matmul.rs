//! `matmul`: dense `C = A * B` in f64, n x n, the compute-bound case.
//!
//! The kernel streams rows of B into rows of C (i-k-j order, which vectorises) over panels of
//! `K_BLOCK` rows of B that stay in the L2 cache. The reference takes dot products against
//! B transposed, a different summation order, so results are compared with a tolerance:
//! `|c - ref| <= 8 n eps * sum_k |a_ik b_kj|` (with all inputs in [-1, 1], at most `8 n^2 eps`).

use std::sync::OnceLock;

use super::{unit_f64, Instance, Kernel, Params, SizeUnit, Verification, Workload};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Matmul;

const K_BLOCK: usize = 128;

impl Workload for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn summary(&self) -> &'static str {
        "dense f64 matrix multiply, cache-blocked: compute-bound, 2n^3 FLOP"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "matrix order n", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "FLOP/s"
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
    fn check_size(&self, size: u64, _: &Params) -> Result<(), String> {
        if size > 32_768 {
            return Err("matrices larger than 32768 x 32768 would take hours".into());
        }
        Ok(())
    }
    fn prepare(&self, size: u64, _: &Params, seed: u64) -> Result<Box<dyn Instance>, String> {
        let n = size as usize;
        let nn = (n * n) as u64;
        let a = (0..nn).map(|k| 2.0 * unit_f64(seed, k) - 1.0).collect();
        let b = (0..nn).map(|k| 2.0 * unit_f64(seed, nn + k) - 1.0).collect();
        Ok(Box::new(Input { n, a, b, reference: OnceLock::new() }))
    }
}

struct Input {
    n: usize,
    a: Vec<f64>,
    b: Vec<f64>,
    reference: OnceLock<Vec<f64>>,
}

impl Input {
    fn rows(&self, first: usize, c: &mut [f64]) {
        let n = self.n;
        c.fill(0.0);
        for k0 in (0..n).step_by(K_BLOCK) {
            let k1 = (k0 + K_BLOCK).min(n);
            for (i, c_row) in c.chunks_mut(n).enumerate() {
                let a_row = &self.a[(first + i) * n..][..n];
                for (k, &aik) in a_row.iter().enumerate().take(k1).skip(k0) {
                    let b_row = &self.b[k * n..][..n];
                    for (c, b) in c_row.iter_mut().zip(b_row) {
                        *c += aik * b;
                    }
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
        Box::new(Run { input: self, c: vec![f64::NAN; self.n * self.n] })
    }
}

struct Run<'a> {
    input: &'a Input,
    c: Vec<f64>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let input = self.input;
        // Four rows per task: enough to reuse each B panel, small enough to balance.
        exec.for_each_rows_mut(&mut self.c, input.n, 4, |first, rows| input.rows(first, rows));
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
}
