//! Runner events. The runner never formats text: progress bars, the JSON Lines log and the
//! closing table all listen through [`Listener`], whose methods default to doing nothing
//! (criterion's `Report` / `Reports` shape).

use crate::machine::Machine;
use crate::results::{CaseResult, Results};
use crate::scenario::{CaseSpec, Plan};

pub trait Listener {
    fn run_started(&mut self, _plan: &Plan, _machine: &Machine, _cases: &[CaseSpec]) {}
    fn case_started(&mut self, _case: &CaseSpec) {}
    /// Warm-up is over; `runs` were made.
    fn warmed_up(&mut self, _case: &CaseSpec, _runs: u64) {}
    /// One timed sample, the `n`-th (1-based), out of at most `max`.
    fn sample(&mut self, _case: &CaseSpec, _n: usize, _max: usize, _ns: f64) {}
    /// Runs are too short to time alone: each sample is the mean of a batch of `runs`.
    fn batched(&mut self, _case: &CaseSpec, _runs: u64) {}
    /// Sampling is over and the output is being verified.
    fn verifying(&mut self, _case: &CaseSpec) {}
    /// One of the `of` processes a case is measured in has finished (`--processes`); the case
    /// itself finishes after its last process.
    fn process_finished(&mut self, _case: &CaseSpec, _index: usize, _of: usize, _part: &CaseResult) {}
    fn case_finished(&mut self, _result: &CaseResult) {}
    /// The run ended, completely or not (`results.complete`).
    fn run_finished(&mut self, _results: &Results) {}
}

/// Forwards every event to each listener in turn; the caller keeps ownership of each.
#[derive(Default)]
pub struct Listeners<'a>(pub Vec<&'a mut dyn Listener>);

impl Listener for Listeners<'_> {
    fn run_started(&mut self, plan: &Plan, machine: &Machine, cases: &[CaseSpec]) {
        self.0.iter_mut().for_each(|l| l.run_started(plan, machine, cases));
    }
    fn case_started(&mut self, case: &CaseSpec) {
        self.0.iter_mut().for_each(|l| l.case_started(case));
    }
    fn warmed_up(&mut self, case: &CaseSpec, runs: u64) {
        self.0.iter_mut().for_each(|l| l.warmed_up(case, runs));
    }
    fn sample(&mut self, case: &CaseSpec, n: usize, max: usize, ns: f64) {
        self.0.iter_mut().for_each(|l| l.sample(case, n, max, ns));
    }
    fn batched(&mut self, case: &CaseSpec, runs: u64) {
        self.0.iter_mut().for_each(|l| l.batched(case, runs));
    }
    fn verifying(&mut self, case: &CaseSpec) {
        self.0.iter_mut().for_each(|l| l.verifying(case));
    }
    fn process_finished(&mut self, case: &CaseSpec, index: usize, of: usize, part: &CaseResult) {
        self.0.iter_mut().for_each(|l| l.process_finished(case, index, of, part));
    }
    fn case_finished(&mut self, result: &CaseResult) {
        self.0.iter_mut().for_each(|l| l.case_finished(result));
    }
    fn run_finished(&mut self, results: &Results) {
        self.0.iter_mut().for_each(|l| l.run_finished(results));
    }
}
