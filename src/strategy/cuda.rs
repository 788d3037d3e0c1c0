//! `cuda`: the whole case on an NVIDIA GPU through the CUDA driver, one kernel launch per run;
//! `cuda-tiled`: the same with a `matmul` kernel that stages blocks in shared memory.
//!
//! Their cases run on the `cuda` backend ([`crate::backend::cuda`]): the input is uploaded, the
//! workload's `.cu` kernel (compiled by NVRTC at setup) runs, the output comes back, and each
//! sample reports the three as the phases `transfer_in`, `kernel` and `transfer_out`. A device
//! has no worker count: the plan runs one case per size with one worker, and no efficiency is
//! derived for it.

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct Cuda;

/// `cuda-tiled`: the `cuda` backend with a tiled kernel that stages 16 x 16 blocks in shared
/// memory (`matmul` only), beside `cuda`'s naive one.
pub struct CudaTiled;

impl Strategy for Cuda {
    fn name(&self) -> &'static str {
        "cuda"
    }
    fn summary(&self) -> &'static str {
        "the whole case on an NVIDIA GPU (CUDA driver, NVRTC): upload, one kernel launch, download (each a phase)"
    }
    fn family(&self) -> Family {
        Family::Device
    }
    fn availability(&self) -> Result<(), StrategyError> {
        // What the `cuda` backend checks too: the feature, then a driver with a device, then
        // NVRTC (so that `parlab list` says which is missing).
        if !cfg!(feature = "cuda") {
            return Err(StrategyError::Unavailable("built without the cuda feature".into()));
        }
        let unavailable = StrategyError::Unavailable;
        crate::machine::cuda::chosen().as_ref().map_err(|why| unavailable(why.clone()))?;
        crate::machine::cuda::nvrtc_library().map_err(unavailable)
    }
    fn threads(&self, _workers: usize, _params: &super::StrategyParams) -> usize {
        // The host side is this thread, waiting on the device.
        1
    }
    fn backend(&self) -> &'static str {
        // `crate::backend::cuda::NAME`: strategies come before backends in the pipeline.
        "cuda"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why: "`cuda` runs its cases on an NVIDIA GPU through the `cuda` backend, not on an executor here"
                .into(),
        })
    }
}

impl Strategy for CudaTiled {
    fn name(&self) -> &'static str {
        "cuda-tiled"
    }
    fn summary(&self) -> &'static str {
        "as `cuda`, with a kernel that stages 16 x 16 blocks in the GPU's shared memory (matmul)"
    }
    fn family(&self) -> Family {
        Family::Device
    }
    fn availability(&self) -> Result<(), StrategyError> {
        Cuda.availability()
    }
    fn threads(&self, workers: usize, params: &super::StrategyParams) -> usize {
        Cuda.threads(workers, params)
    }
    fn backend(&self) -> &'static str {
        Cuda.backend()
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        Err(StrategyError::NoExecutor {
            strategy: self.name(),
            backend: self.backend(),
            why:
                "`cuda-tiled` runs its cases on an NVIDIA GPU through the `cuda` backend, not on an executor \
                  here"
                    .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    #[test]
    fn it_runs_on_its_backend_and_says_why_it_is_unavailable() {
        let config = ExecConfig { workers: 1, params: Default::default(), cancel: Default::default() };
        for strategy in [&Cuda as &dyn Strategy, &CudaTiled] {
            let e = strategy.executor(&config).err().expect("no executor").to_string();
            assert!(e.contains("`cuda` backend"), "{e}");
            assert_eq!((strategy.family(), strategy.backend()), (Family::Device, "cuda"));
            assert_eq!(strategy.threads(8, &Default::default()), 1);
            let said = strategy.availability().map_err(|e| e.to_string());
            let backend = crate::backend::cuda::CudaBackend.availability().map_err(|e| e.to_string());
            assert_eq!(said, backend);
            if !cfg!(feature = "cuda") {
                assert_eq!(said, Err("built without the cuda feature".into()));
            }
        }
    }
}
