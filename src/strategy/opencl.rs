//! `opencl`: the whole case on an OpenCL device (a GPU, or PoCL's CPU device), one kernel launch
//! per run.
//!
//! Its cases run on the `opencl` backend ([`crate::backend::opencl`]): the input is uploaded,
//! the workload's `.cl` kernel runs, the output comes back, and each sample reports the three as
//! the phases `transfer_in`, `kernel` and `transfer_out`. A device has no worker count: the plan
//! runs one case per size with one worker, and no efficiency is derived for it.

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct OpenCl;

/// `opencl-tiled`: the same backend with a tiled kernel that stages blocks in the device's local
/// memory (`matmul` only), beside `opencl`'s naive one.
pub struct OpenClTiled;

/// `opencl-f32`: the same backend computing in f32 (`stream_triad`, `matmul`): the inputs are
/// rounded to f32 on the host once, outside the samples, and the output widened back for the
/// workload's check, which holds it to its stated f32 tolerance. It runs on devices without
/// fp64 too.
pub struct OpenClF32;

impl Strategy for OpenClF32 {
    fn name(&self) -> &'static str {
        "opencl-f32"
    }
    fn summary(&self) -> &'static str {
        "as `opencl`, computing in f32 (stream_triad, matmul), held to a stated f32 tolerance"
    }
    fn family(&self) -> Family {
        Family::Device
    }
    fn availability(&self) -> Result<(), StrategyError> {
        OpenCl.availability()
    }
    fn threads(&self, workers: usize, params: &super::StrategyParams) -> usize {
        OpenCl.threads(workers, params)
    }
    fn backend(&self) -> &'static str {
        OpenCl.backend()
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why: "`opencl-f32` runs its cases on an OpenCL device through the `opencl` backend, not on an executor here"
                .into(),
        })
    }
}

/// The edge of `opencl-tiled`'s square work-groups and of the blocks they stage (`TILE` in
/// `backend/opencl/matmul.cl`).
pub const TILE: usize = 16;

impl Strategy for OpenClTiled {
    fn name(&self) -> &'static str {
        "opencl-tiled"
    }
    fn summary(&self) -> &'static str {
        "as `opencl`, with a kernel that stages 16 x 16 blocks in the device's local memory (matmul)"
    }
    fn family(&self) -> Family {
        Family::Device
    }
    fn availability(&self) -> Result<(), StrategyError> {
        OpenCl.availability()
    }
    fn threads(&self, workers: usize, params: &super::StrategyParams) -> usize {
        OpenCl.threads(workers, params)
    }
    fn backend(&self) -> &'static str {
        OpenCl.backend()
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why: "`opencl-tiled` runs its cases on an OpenCL device through the `opencl` backend, not on an executor here"
                .into(),
        })
    }
}

impl Strategy for OpenCl {
    fn name(&self) -> &'static str {
        "opencl"
    }
    fn summary(&self) -> &'static str {
        "the whole case on an OpenCL device: upload, one kernel launch, download (each a phase)"
    }
    fn family(&self) -> Family {
        Family::Device
    }
    fn availability(&self) -> Result<(), StrategyError> {
        if cfg!(feature = "opencl") {
            // Whether a platform and device are here is the backend's question.
            Ok(())
        } else {
            Err(StrategyError::Unavailable("built without the opencl feature".into()))
        }
    }
    fn threads(&self, _workers: usize, _params: &super::StrategyParams) -> usize {
        // The host side is this thread, waiting on the device.
        1
    }
    fn backend(&self) -> &'static str {
        "opencl"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why: "`opencl` runs its cases on an OpenCL device through the `opencl` backend, not on an executor here"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_runs_on_its_backend_and_says_why_it_is_unavailable() {
        let config = ExecConfig { workers: 1, params: Default::default(), cancel: Default::default() };
        for strategy in [&OpenCl as &dyn Strategy, &OpenClTiled, &OpenClF32] {
            let e = strategy.executor(&config).err().expect("no executor").to_string();
            assert!(e.contains("`opencl` backend"), "{e}");
            assert_eq!((strategy.family(), strategy.backend()), (Family::Device, "opencl"));
            let said = strategy.availability().map_err(|e| e.to_string());
            if cfg!(feature = "opencl") {
                assert_eq!(said, Ok(()));
            } else {
                assert_eq!(said, Err("built without the opencl feature".into()));
            }
        }
    }
}
