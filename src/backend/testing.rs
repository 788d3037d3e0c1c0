//! Test backends on the case protocol (`fault-injection` builds only): `test-phases` and
//! `test-orphan` run a whole case in `parlab case-program`, a hidden subcommand of parlab's own
//! binary that speaks [`super::protocol`] the way an external program would.
//!
//! They are what the harness is tested with: a backend whose samples carry phases (`setup`,
//! `kernel`) and item latencies from a child process's own clock, whose result is verified by
//! the workload's own verifier in that process; and one that leaves a grandchild behind, outside
//! its process group, for the runner's scan for the case marker to find and end.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use super::protocol::{
    self, FromProgram, Ready, SampleReply, ToProgram, VerificationReply, WireHost, WirePlacement, MAX_ITEMS,
};
use super::{Backend, BackendError, CaseJob, Session};
use crate::strategy::{Exec, ExecConfig, StrategyParams};
use crate::workload::{Kernel, Verification};

/// Names the host the test program says it runs on (tests of hosts the run did not start on).
pub const HOSTNAME_ENV: &str = "PARLAB_TEST_HOSTNAME";

/// The hidden subcommand the test backends start.
pub const SUBCOMMAND: &str = "case-program";

/// What the test program does beside speaking the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs the workload sequentially, reporting `setup` and `kernel` phases per sample.
    Phases,
    /// The same, after starting a `sleep 300` in a process group of its own that it never ends.
    Orphan,
}

impl Behaviour {
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Phases => "phases",
            Behaviour::Orphan => "orphan",
        }
    }

    pub fn parse(name: &str) -> Result<Behaviour, String> {
        [Behaviour::Phases, Behaviour::Orphan]
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| format!("no behaviour `{name}` (phases, orphan)"))
    }
}

/// A backend running cases in `parlab case-program --behaviour …`.
pub struct TestProgram {
    name: &'static str,
    behaviour: Behaviour,
}

pub static TEST_PHASES: TestProgram = TestProgram { name: "test-phases", behaviour: Behaviour::Phases };
pub static TEST_ORPHAN: TestProgram = TestProgram { name: "test-orphan", behaviour: Behaviour::Orphan };

impl Backend for TestProgram {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        match self.behaviour {
            Behaviour::Phases => "tests: a case in `parlab case-program`, reporting setup and kernel phases",
            Behaviour::Orphan => "tests: the same, leaving a grandchild behind outside its process group",
        }
    }
    fn availability(&self) -> Result<(), BackendError> {
        crate::subprocess::worker_exe().map(drop).map_err(BackendError::Unavailable)
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let exe = crate::subprocess::worker_exe().map_err(BackendError::Unavailable)?;
        let mut command = Command::new(exe);
        command.args([SUBCOMMAND, "--behaviour", self.behaviour.name()]);
        let what = format!("`parlab {SUBCOMMAND} --behaviour {}`", self.behaviour.name());
        let session = protocol::start(command, what, &job, protocol::Waits::default())?;
        Ok(Box::new(session))
    }
}

/// The program's side: answers the protocol on `input`/`output` until its input ends. On an
/// error it says `{"error": …}` before returning it.
pub fn serve(behaviour: Behaviour, input: &mut dyn BufRead, output: &mut dyn Write) -> Result<(), String> {
    let result = answer(behaviour, input, output);
    if let Err(e) = &result {
        // Best effort: the harness may be gone, and the error is returned either way.
        let _ = protocol::write_message(output, &FromProgram::Error(e.clone()));
    }
    result
}

fn answer(behaviour: Behaviour, input: &mut dyn BufRead, output: &mut dyn Write) -> Result<(), String> {
    let begun = Instant::now();
    let Some(line) = protocol::read_line(input)? else { return Ok(()) };
    let ToProgram::Start(start) = protocol::parse_request(&line)? else {
        return Err("the first request must be `start`".into());
    };
    if start.protocol != protocol::VERSION {
        return Err(format!("protocol {} asked; this program speaks {}", start.protocol, protocol::VERSION));
    }
    if behaviour == Behaviour::Orphan {
        leave_an_orphan()?;
    }
    let workload =
        crate::workload::find(&start.workload).ok_or_else(|| format!("no workload `{}`", start.workload))?;
    let instance = workload.prepare(start.size, &start.params, start.seed).map_err(|e| e.to_string())?;
    let sequential = crate::strategy::find("sequential").expect("sequential is a strategy");
    let config = ExecConfig {
        workers: 1,
        params: StrategyParams::default(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let exec = Exec::new(sequential, &config).map_err(|e| e.to_string())?;
    let mut machine = crate::machine::Machine::detect();
    // Tests stand in for a program on another host by naming one.
    if let Ok(name) = std::env::var(HOSTNAME_ENV) {
        machine.hostname = name;
    }
    let ready = Ready {
        setup_ns: begun.elapsed().as_nanos() as u64,
        placement: vec![WirePlacement {
            role: "program".into(),
            host: machine.hostname.clone(),
            pid: Some(std::process::id()),
            cpus: crate::subprocess::allowed_cpus(),
        }],
        host: WireHost {
            hostname: machine.hostname,
            cpu: machine.cpu_model,
            logical_cpus: machine.logical_cpus.max(1),
            physical_cores: machine.physical_cores.max(1),
        },
        isa: None,
        hosts: Vec::new(),
    };
    let say = |output: &mut dyn Write, said: FromProgram| {
        protocol::write_message(output, &said).map_err(|e| format!("cannot write to parlab: {e}"))
    };
    say(output, FromProgram::Ready(ready))?;
    let mut last: Option<Box<dyn Kernel + '_>> = None;
    while let Some(line) = protocol::read_line(input)? {
        let said = match protocol::parse_request(&line)? {
            ToProgram::Start(_) => return Err("`start` came twice".into()),
            ToProgram::Sample(request) => {
                let runs = request.runs;
                // An evenly spaced subset of the runs' latencies when there are too many to send.
                let stride = runs.div_ceil(MAX_ITEMS as u64).max(1);
                let (mut setup, mut kernel) = (0u64, 0u64);
                let mut items_ns = Vec::with_capacity(runs.min(MAX_ITEMS as u64) as usize);
                let sample_start = Instant::now();
                for run in 0..runs {
                    let a = Instant::now();
                    let mut k = instance.kernel();
                    let b = Instant::now();
                    k.run(&exec);
                    let c = Instant::now();
                    setup += (b - a).as_nanos() as u64;
                    let ns = (c - b).as_nanos() as u64;
                    kernel += ns;
                    if run % stride == 0 {
                        items_ns.push(ns as f64);
                    }
                    // The previous output is freed here, inside the sample: its cost is `other`.
                    last = Some(k);
                }
                let ns = sample_start.elapsed().as_nanos() as u64;
                let phases = vec![("setup".to_string(), setup), ("kernel".to_string(), kernel)];
                FromProgram::Sample(SampleReply { ns, phases, items_ns, rank_mean_ns: None })
            }
            ToProgram::Verify(_) => {
                let v = verify(last.as_deref(), &*instance, &exec);
                FromProgram::Verification(VerificationReply { passed: v.passed, detail: v.detail })
            }
        };
        say(output, said)?;
    }
    Ok(())
}

/// The last run's output checked, then a fresh output from one more run: a kernel that skips
/// work must not pass on what earlier runs left.
fn verify(
    last: Option<&(dyn Kernel + '_)>,
    instance: &dyn crate::workload::Instance,
    exec: &Exec,
) -> Verification {
    if let Some(k) = last {
        let v = k.verify();
        if !v.passed {
            return Verification { passed: false, detail: format!("the last timed run: {}", v.detail) };
        }
    }
    let mut fresh = instance.kernel();
    fresh.run(exec);
    fresh.verify()
}

/// Starts `sleep 300` in a process group of its own, carrying this process's environment (the
/// markers), and lets it run: what a careless program does, for the runner's scan to find.
fn leave_an_orphan() -> Result<(), String> {
    let child = Command::new("sleep")
        .arg("300")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the orphan: {e}"))?;
    // Dropping a `Child` neither kills nor waits for it.
    drop(child);
    Ok(())
}
