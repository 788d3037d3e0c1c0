//! Test-only strategies (`fault-injection` builds): `test-phases` and `test-orphan`, whose cases
//! run on the test backends of the same names ([`crate::backend::testing`]). They let a scenario
//! exercise the case protocol end to end; they are never listed.

use super::{ExecConfig, Executor, Family, Strategy, StrategyError};

pub struct TestPhases;
pub struct TestOrphan;

impl Strategy for TestPhases {
    fn name(&self) -> &'static str {
        "test-phases"
    }
    fn summary(&self) -> &'static str {
        "tests: the case in a child program on the case protocol, with setup and kernel phases"
    }
    fn family(&self) -> Family {
        Family::DataParallel
    }
    fn backend(&self) -> &'static str {
        "test-phases"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        no_executor(self)
    }
}

impl Strategy for TestOrphan {
    fn name(&self) -> &'static str {
        "test-orphan"
    }
    fn summary(&self) -> &'static str {
        "tests: as test-phases, and the program leaves a grandchild behind"
    }
    fn family(&self) -> Family {
        Family::DataParallel
    }
    fn backend(&self) -> &'static str {
        "test-orphan"
    }
    fn executor(&self, _config: &ExecConfig) -> Result<Box<dyn Executor>, StrategyError> {
        no_executor(self)
    }
}

fn no_executor(s: &dyn Strategy) -> Result<Box<dyn Executor>, StrategyError> {
    Err(StrategyError::NoExecutor {
        strategy: s.name(),
        backend: s.backend(),
        why: format!(
            "`{}` runs its cases in a program of their own, on the `{}` backend, not on an executor here",
            s.name(),
            s.backend()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_may_name_them_but_they_are_never_listed() {
        let text = r#"
[scenario]
name = "t"
[[workload]]
kind = "pi_monte_carlo"
size = 1000
strategies = ["sequential", "test-phases", "test-orphan"]
"#;
        let plan =
            crate::scenario::parse("t", text, &crate::machine::Machine::detect()).expect("a valid scenario");
        let names: Vec<String> = plan.cases().into_iter().map(|c| c.strategy).collect();
        assert!(
            names.iter().any(|n| n == "test-phases") && names.iter().any(|n| n == "test-orphan"),
            "{names:?}"
        );
        for s in super::super::TESTING {
            assert!(super::super::STRATEGIES.iter().all(|l| l.name() != s.name()), "{} is listed", s.name());
            assert_eq!(crate::strategy::find(s.name()).map(|f| f.backend()), Some(s.name()));
            assert!(crate::backend::find(s.backend()).is_some(), "{} has its backend", s.name());
            let config = ExecConfig { workers: 1, params: Default::default(), cancel: Default::default() };
            let e = s.executor(&config).err().expect("no executor").to_string();
            assert!(e.contains("on the `test-"), "{e}");
        }
    }
}
