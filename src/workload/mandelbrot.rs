//! `mandelbrot`: escape-time iteration counts for a square image, one row per task.
//!
//! Rows cost very different amounts (points inside the set run all `max_iter` iterations), and
//! the window is deliberately not symmetric about the real axis, so static blocks are unbalanced
//! and dynamic scheduling shows its worth. Counts are integers: results must match exactly.
//!
//! Pixels run in vector lanes where the CPU has them (`simd = "auto"`, see
//! [`super::simd::mandelbrot`]) with the same operations, so counts stay exact.
//!
//! Process version: each worker computes whole rows. Under `process` every row's counts travel
//! back through the pipe and are copied into the image (4 bytes per pixel); under `process-shm`
//! the image is a shared region the workers write directly, and only "done" comes back.

use std::ops::Range;
use std::sync::OnceLock;

use super::device::Device;
use super::simd::{self, Isa};
use super::{
    default_support, Instance, Kernel, ParamSpec, ParamValue, Params, PrepareError, Refused, SizeUnit,
    Unsupported, Verification, Workload,
};
use crate::machine::Machine;
use crate::remote::{self, Coordinator, JobSpec, RemoteError, Share, SharedMem, Workers};
use crate::strategy::{Exec, Family, Strategy};

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
        &[
            ParamSpec {
                name: "max_iter",
                help: "iterations before a point counts as inside the set",
                default: ParamValue::Int(500),
                min: 1.0,
                max: 1e7,
                choices: &[],
            },
            simd::PARAM,
        ]
    }
    fn default_sizes(&self, _: &Machine) -> Vec<u64> {
        vec![1024]
    }
    fn memory_bytes(&self, size: u64, _: &Params) -> u64 {
        // Output and reference, u32 per pixel.
        size.saturating_mul(size).saturating_mul(2 * 4)
    }
    fn case_memory_bytes(&self, size: u64, _: &Params, case: &super::CaseShape) -> u64 {
        match case.strategy {
            // Each worker keeps one row, and each task's rows come back in one frame.
            "process" => (case.workers as u64)
                .saturating_mul(4 * size)
                .saturating_add(case.process_reply_memory(size, 4 * size)),
            // The shared image, beside the local one `memory_bytes` counts (a memfd: real RAM).
            "process-shm" => size.saturating_mul(size).saturating_mul(4),
            // The device's image (on a CPU device such as PoCL, this machine's memory).
            "opencl" => size.saturating_mul(size).saturating_mul(4),
            _ => 0,
        }
    }
    fn check_case(&self, size: u64, _: &Params, case: &super::CaseShape) -> Result<(), Refused> {
        // A task's rows travel in one frame under `process`: 4 bytes per pixel of each row.
        case.check_process_reply(size, 4 * size)
    }
    fn work(&self, size: u64, _: &Params) -> f64 {
        (size as f64).powi(2)
    }
    fn weak_size(&self, base: u64, workers: usize) -> u64 {
        // The work grows with the pixel count, width squared.
        super::scaled_size(base, workers, 2)
    }
    fn check_size(&self, size: u64, _: &Params) -> Result<(), PrepareError> {
        if size > 65_536 {
            return Err(PrepareError::Invalid("an image wider than 65536 pixels would take hours".into()));
        }
        Ok(())
    }
    fn support(&self, strategy: &dyn Strategy) -> Result<(), Unsupported> {
        match strategy.family() {
            Family::Process => Ok(()),
            Family::Device if super::device::plain(strategy) => {
                super::device::fp64_support(self.name(), strategy)
            }
            _ => default_support(self.name(), strategy),
        }
    }
    fn prepare(&self, size: u64, params: &Params, _seed: u64) -> Result<Box<dyn Instance>, PrepareError> {
        Ok(Box::new(Input::new(size, params)))
    }
    fn share(&self, job: &JobSpec) -> Result<Box<dyn Share>, PrepareError> {
        let input = Input::new(job.size, &job.params);
        Ok(Box::new(Worker { row: vec![0; input.width], input }))
    }
}

struct Input {
    width: usize,
    max_iter: u32,
    isa: Isa,
    reference: OnceLock<Vec<u32>>,
}

impl Input {
    fn new(size: u64, params: &Params) -> Input {
        Input {
            width: size as usize,
            max_iter: params.int("max_iter") as u32,
            isa: simd::select(params),
            reference: OnceLock::new(),
        }
    }

    /// Row `y` with the case's instruction set: vector lanes for as many pixels as they cover.
    fn row(&self, y: usize, out: &mut [u32]) {
        self.row_with(self.isa, y, out)
    }

    fn row_with(&self, isa: Isa, y: usize, out: &mut [u32]) {
        let w = self.width as f64;
        let im = IM_MAX - (y as f64 + 0.5) * (IM_SPAN / w);
        let row = simd::mandelbrot::Row { re_min: RE_MIN, re_step: RE_SPAN / w, im, max_iter: self.max_iter };
        let done = simd::mandelbrot::row_prefix(isa, row, out);
        for (x, cell) in out.iter_mut().enumerate().skip(done) {
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
    fn coordinator(&self) -> Option<Box<dyn Coordinator + '_>> {
        // Under `process` the rows are copied into `image`, with the same sentinel; under
        // `process-shm` it stays untouched and the image is in the region.
        Some(Box::new(Run { input: self, image: vec![u32::MAX; self.width * self.width] }))
    }
}

struct Run<'a> {
    input: &'a Input,
    image: Vec<u32>,
}

impl Run<'_> {
    /// Compares `image` with the sequential reference.
    fn check(&self, image: &[u32]) -> Verification {
        let w = self.input.width;
        let want = self.input.reference.get_or_init(|| {
            let mut img = vec![0; w * w];
            // The plain scalar loop, whatever the case ran with.
            for (y, row) in img.chunks_mut(w).enumerate() {
                self.input.row_with(Isa::SCALAR, y, row);
            }
            img
        });
        let wrong = image.iter().zip(want).filter(|(a, b)| a != b).count();
        if wrong == 0 {
            Verification::pass(format!("all {} pixels match the reference", w * w))
        } else {
            Verification::fail(format!("{wrong} of {} pixels differ from the reference", w * w))
        }
    }
}

/// The process version: rows come back through the pipes, or are already in shared memory.
impl Coordinator for Run<'_> {
    fn shared_bytes(&self, _workers: &dyn Workers) -> usize {
        4 * self.input.width * self.input.width
    }

    fn init_shared(&mut self, image: &mut SharedMem) {
        let w = self.input.width;
        image.slice_mut::<u32>(0, w * w).fill(u32::MAX);
    }

    fn run(&mut self, workers: &mut dyn Workers) -> Result<(), RemoteError> {
        let w = self.input.width;
        let image = &mut self.image;
        workers.run(w, &mut |_, rows, payload| {
            remote::copy_into(payload, &mut image[rows.start * w..rows.end * w])
        })
    }

    /// The image the last run wrote: local, or the shared region.
    fn verify(&self, shared: Option<&SharedMem>) -> Result<String, String> {
        let w = self.input.width;
        match shared {
            Some(image) => self.check(image.slice(0, w * w)),
            None => self.check(&self.image),
        }
        .into_result()
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
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
        self.check(&self.image)
    }

    fn isa(&self) -> Option<&'static str> {
        Some(self.input.isa.name())
    }
    fn device(&mut self) -> Option<Device<'_>> {
        let w = self.input.width as f64;
        Some(Device::Mandelbrot {
            image: &mut self.image,
            width: self.input.width as u64,
            max_iter: self.input.max_iter,
            re_min: RE_MIN,
            re_step: RE_SPAN / w,
            im_max: IM_MAX,
            im_step: IM_SPAN / w,
        })
    }
}

/// The worker-process half: computes whole rows.
struct Worker {
    input: Input,
    /// One row, computed here before its bytes are appended to the reply.
    row: Vec<u32>,
}

impl Share for Worker {
    fn task(
        &mut self,
        _task: usize,
        rows: Range<usize>,
        shared: Option<&mut SharedMem>,
        reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        let w = self.input.width;
        if rows.end > w {
            return Err(format!("rows {rows:?} are outside the {w}-row image"));
        }
        match shared {
            Some(image) => {
                let block = image.slice_mut::<u32>(4 * rows.start * w, rows.len() * w);
                for (y, row) in rows.zip(block.chunks_mut(w)) {
                    self.input.row(y, row);
                }
            }
            None => {
                reply.reserve(4 * rows.len() * w);
                for y in rows {
                    self.input.row(y, &mut self.row);
                    reply.extend_from_slice(remote::as_bytes(&self.row));
                }
            }
        }
        Ok(())
    }
}
