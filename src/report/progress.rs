//! Live progress on the terminal: one bar for the run and one per case (indicatif). When
//! stderr is not a terminal the bars hide themselves and one line per finished case is printed.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::table;
use crate::machine::Machine;
use crate::results::{CaseResult, Status};
use crate::runner::Listener;
use crate::scenario::{CaseSpec, Plan};
use crate::units::{format_count, format_ns};

pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    case: Option<ProgressBar>,
    interactive: bool,
}

impl Progress {
    pub fn new() -> Progress {
        let interactive = std::io::stderr().is_terminal();
        let target = if interactive { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} cases, {elapsed} elapsed",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        overall.set_prefix("parlab");
        Progress { multi, overall, case: None, interactive }
    }

    fn say(&self, line: String) {
        if self.interactive {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Listener for Progress {
    fn run_started(&mut self, plan: &Plan, machine: &Machine, cases: &[CaseSpec]) {
        self.overall.set_length(cases.len() as u64);
        self.say(format!(
            "parlab: scenario `{}`: {} cases on {} ({} logical CPUs)",
            plan.name,
            cases.len(),
            machine.cpu_model,
            machine.logical_cpus
        ));
    }

    fn case_started(&mut self, case: &CaseSpec) {
        let bar = self.multi.add(ProgressBar::new(1));
        bar.set_style(
            ProgressStyle::with_template("  {msg:50} {bar:20.green/white} {pos}/{len} samples")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(format!(
            "{} / {} / {}w / {}  warming up",
            case.workload, case.strategy, case.workers, case.effective_size
        ));
        self.case = Some(bar);
    }

    fn warmed_up(&mut self, case: &CaseSpec, _runs: u64) {
        if let Some(bar) = &self.case {
            bar.set_message(format!(
                "{} / {} / {}w / {}",
                case.workload, case.strategy, case.workers, case.effective_size
            ));
        }
    }

    fn sample(&mut self, _case: &CaseSpec, n: usize, max: usize, _ns: f64) {
        if let Some(bar) = &self.case {
            bar.set_length(max as u64);
            bar.set_position(n as u64);
        }
    }

    fn case_finished(&mut self, r: &CaseResult) {
        if let Some(bar) = self.case.take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.overall.inc(1);
        if let Some(line) = finished_line(r) {
            self.say(line);
        }
    }

    fn run_finished(&mut self, _: &crate::results::Results) {
        self.overall.finish_and_clear();
    }
}

/// The line a finished case prints, if any. A pair that never ran gets none: the final table
/// names each such strategy once per reason, instead of a line per worker count and size here.
fn finished_line(r: &CaseResult) -> Option<String> {
    if table::collapsed(r) {
        return None;
    }
    let what = format!(
        "{:<16} {:<16} {:>3}w {:>8}",
        r.workload,
        r.strategy,
        r.workers,
        format_count(r.effective_size)
    );
    Some(match r.status {
        Status::Ok => format!(
            "  ok    {what}  {:>10}  {}",
            r.median_ns().map_or("-".into(), format_ns),
            r.speedup.map_or(String::new(), |s| format!("{s:.2}x"))
        ),
        _ => format!("  {:<5} {what}  {}", short(r.status), table::row(r)[9]),
    })
}

fn short(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::FailedVerification => "FAIL",
        Status::Panicked => "PANIC",
        Status::TimedOut => "TIME",
        Status::Unsupported | Status::Unavailable => "skip",
        Status::Error => "ERROR",
        Status::Interrupted => "INTR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scaling;
    use crate::workload::Params;

    #[test]
    fn cases_that_never_ran_print_no_progress_line() {
        let spec = CaseSpec {
            id: 0,
            workload_index: 0,
            workload: "matmul".into(),
            strategy: "mutex".into(),
            workers: 2,
            size: 136_314_880,
            effective_size: 136_314_880,
            scaling: Scaling::Strong,
            seed: 42,
            tunables: Default::default(),
            notes: Vec::new(),
            device: None,
        };
        let unsupported =
            CaseResult::unmeasured(&spec, &Params::default(), Status::Unsupported, "no version");
        assert_eq!(finished_line(&unsupported), None);
        let failed = CaseResult::unmeasured(&spec, &Params::default(), Status::Error, "could not prepare");
        let line = finished_line(&failed).expect("a failure is shown");
        assert!(line.contains("ERROR") && line.contains("136M"), "{line}");
    }
}
