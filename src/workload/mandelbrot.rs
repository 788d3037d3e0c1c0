//! `mandelbrot`: escape-time iteration counts for a square image, one row per task.
//!
//! Rows cost very different amounts (points inside the set run all `max_iter` iterations), and
//! the window is deliberately not symmetric about the real axis, so static blocks are unbalanced
//! and dynamic scheduling shows its worth. Counts are integers: results must match exactly.

use std::sync::OnceLock;

use super::{Instance, Kernel, ParamSpec, ParamValue, Params, SizeUnit, Verification, Workload};
use crate::machine::Machine;
use crate::strategy::Exec;

pub struct Mandelbrot;

// The window: real part [-2.25, 0.75], imaginary part [-1.0, 1.5] (off-centre on purpose).
const RE_MIN: f64 = -2.25;
const RE_SPAN: f64 = 3.0;
const IM_MAX: f64 = 1.5;
const IM_SPAN: f64 = 2.5;

impl Workload for Mandelbrot {
    fn name(&self) -> &'static str {
        "mandelbrot"
    }
    fn summary(&self) -> &'static str {
        "escape-time fractal, irregular rows: static vs dynamic scheduling"
    }
    fn size_unit(&self) -> SizeUnit {
        SizeUnit { what: "image width = height in pixels", bytes_per_item: None }
    }
    fn throughput_unit(&self) -> &'static str {
        "pixels/s"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[ParamSpec {
            name: "max_iter",
            help: "iterations before a point counts as inside the set",
            default: ParamValue::Int(500),
            min: 1.0,
            max: 1e7,
        }]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1024]
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Output and reference, u32 per pixel.
        2 * 4 * size * size
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        (size * size) as f64
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), String> {
        if size > 65_536 {
            return Err("an image wider than 65536 pixels would take hours".into());
        }
        Ok(())
    }
    fn prepare(&self, size: u64, params: &Params, _seed: u64) -> Result<Box<dyn Instance>, String> {
        Ok(Box::new(Input {
            width: size as usize,
            max_iter: params.int("max_iter") as u32,
            reference: OnceLock::new(),
        }))
    }
}

struct Input {
    width: usize,
    max_iter: u32,
    reference: OnceLock<Vec<u32>>,
}

impl Input {
    fn row(&self, y: usize, out: &mut [u32]) {
        let w = self.width as f64;
        let im = IM_MAX - (y as f64 + 0.5) * (IM_SPAN / w);
        for (x, cell) in out.iter_mut().enumerate() {
            let re = RE_MIN + (x as f64 + 0.5) * (RE_SPAN / w);
            let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0);
            while n < self.max_iter && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + re;
                zi = 2.0 * zr * zi + im;
                zr = t;
                n += 1;
            }
            *cell = n;
        }
    }
}

impl Instance for Input {
    fn kernel(&self) -> Box<dyn Kernel + '_> {
        // u32::MAX never comes out of the kernel, so an unwritten pixel cannot pass verification.
        Box::new(Run { input: self, image: vec![u32::MAX; self.width * self.width] })
    }
}

struct Run<'a> {
    input: &'a Input,
    image: Vec<u32>,
}

impl Kernel for Run<'_> {
    fn run(&mut self, exec: &Exec) {
        let input = self.input;
        let w = input.width;
        exec.for_each_rows_mut(&mut self.image, w, 1, |first, rows| {
            for (i, row) in rows.chunks_mut(w).enumerate() {
                input.row(first + i, row);
            }
        });
    }

    fn verify(&self) -> Verification {
        let w = self.input.width;
        let want = self.input.reference.get_or_init(|| {
            let mut img = vec![0; w * w];
            for (y, row) in img.chunks_mut(w).enumerate() {
                self.input.row(y, row);
            }
            img
        });
        let wrong = self.image.iter().zip(want).filter(|(a, b)| a != b).count();
        if wrong == 0 {
            Verification::pass(format!("all {} pixels match the reference", w * w))
        } else {
            Verification::fail(format!("{wrong} of {} pixels differ from the reference", w * w))
        }
    }
}
