//! Backend `in-process`: a case's runs on threads of parlab's own process, through the
//! strategy's executor ([`Exec`]) and the workload's [`Kernel`]. Every strategy but the process
//! ones runs here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::{Backend, BackendError, CaseJob, Sample, Session};
use crate::clock::Clock;
use crate::scenario::CaseSpec;
use crate::strategy::Exec;
use crate::workload::{Instance, Kernel, Verification};

pub struct InProcess;

/// This backend's name, the one [`crate::strategy::Strategy::backend`] gives by default.
pub const NAME: &str = "in-process";

impl Backend for InProcess {
    fn name(&self) -> &'static str {
        NAME
    }
    fn summary(&self) -> &'static str {
        "threads of parlab's own process, through the strategy's executor"
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let setup = Instant::now();
        let exec = Exec::new(job.strategy, &job.config)
            .map_err(|e| BackendError::Setup { what: job.strategy.name().to_string(), why: e.to_string() })?;
        let setup_ns = setup.elapsed().as_nanos() as u64;
        let kernel = job.instance.kernel();
        Ok(Box::new(Threads {
            kernel: Some(kernel),
            exec,
            spec: job.spec,
            clock: job.clock,
            setup_ns,
            instance: job.instance,
        }))
    }
}

/// One case on the strategy's executor.
struct Threads<'a> {
    /// Made from `instance`. `None` only inside
    /// `verify`, between dropping the last output and making the fresh one.
    kernel: Option<Box<dyn Kernel + 'a>>,
    exec: Exec,
    spec: &'a CaseSpec,
    clock: Arc<dyn Clock>,
    setup_ns: u64,
    instance: &'a dyn Instance,
}

impl Session for Threads<'_> {
    fn setup_ns(&self) -> u64 {
        self.setup_ns
    }

    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
        let (kernel, exec) = (self.kernel.as_mut().expect("a kernel outside `verify`"), &self.exec);
        let ns = self.clock.measure(self.spec, index, &mut || {
            for _ in 0..runs {
                kernel.run(exec)
            }
        });
        Ok(Sample { ns, ..Sample::default() })
    }

    fn verify(&mut self) -> Result<Verification, BackendError> {
        let last = self.kernel.as_ref().expect("a kernel outside `verify`").verify();
        if !last.passed || self.exec.cancel_flag().load(Ordering::Relaxed) {
            return Ok(last);
        }
        // A fresh output (filled with values no kernel produces) and one more untimed run: a
        // kernel that skips part of its work cannot pass on what earlier runs left behind. The
        // last output goes first: outputs can be most of memory, and the plan counted one.
        self.kernel = None;
        let mut fresh = self.instance.kernel();
        fresh.run(&self.exec);
        let checked = fresh.verify();
        // Later samples (a benchmark's) run on the fresh output.
        self.kernel = Some(fresh);
        Ok(match checked {
            v if v.passed => last,
            v => Verification::fail(format!("a fresh run failed where the last sample passed: {}", v.detail)),
        })
    }

    fn isa(&self) -> Option<&str> {
        self.kernel.as_ref().and_then(|k| k.isa())
    }
}
