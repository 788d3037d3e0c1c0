//! `opencl`: the whole case on an OpenCL device (a GPU, or PoCL's CPU device), one kernel launch
//! per run.
//!
//! Its cases run on the `opencl` backend ([`crate::backend::opencl`]): the input is uploaded,
//! the workload's `.cl` kernel runs, the output comes back, and each sample reports the three as
//! the phases `transfer_in`, `kernel` and `transfer_out`. A device has no worker count: the plan
//! runs one case per size with one worker, and no efficiency is derived for it.

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct OpenCl;

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
        let e = OpenCl.executor(&config).err().expect("no executor").to_string();
        assert!(e.contains("`opencl` backend"), "{e}");
        assert_eq!((OpenCl.family(), OpenCl.backend()), (Family::Device, "opencl"));
        let said = OpenCl.availability().map_err(|e| e.to_string());
        if cfg!(feature = "opencl") {
            assert_eq!(said, Ok(()));
        } else {
            assert_eq!(said, Err("built without the opencl feature".into()));
        }
    }
}
