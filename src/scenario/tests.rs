//! Every validation error names the file, line, column and field, and suggests a fix.

use super::*;

fn machine() -> Machine {
    let mut m = Machine::detect();
    m.logical_cpus = 4;
    m.memory_available_bytes = 1 << 30;
    m
}

fn ok(text: &str) -> Plan {
    parse("s.toml", text, &machine()).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `text`, expects an error, and returns (line, field, full message).
fn err(text: &str) -> (usize, String, String) {
    match parse("s.toml", text, &machine()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ScenarioError::Invalid(l)) => {
            let full = l.to_string();
            assert!(full.starts_with(&format!("s.toml:{}:{}:", l.line, l.column)), "{full}");
            (l.line, l.field.clone(), full)
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

const HEAD: &str = "[scenario]\nname = \"t\"\n";

fn with_workload(body: &str) -> String {
    format!("{HEAD}[[workload]]\nkind = \"pi_monte_carlo\"\n{body}")
}

#[test]
fn the_builtin_scenario_is_valid() {
    let plan = ok(BUILTIN_QUICK);
    assert_eq!(plan.name, "quick");
    // The five data-parallel workloads plus a slice of each thread, sync and async one.
    let kinds: Vec<&str> = plan.workloads.iter().map(|w| w.kind.as_str()).collect();
    for kind in ["pi_monte_carlo", "histogram", "producer_consumer", "ping_pong", "async_fanout"] {
        assert!(kinds.contains(&kind), "quick has no {kind}: {kinds:?}");
    }
    assert!(plan.workloads.iter().all(|w| w.strategies[0] == "sequential"));
}

#[test]
fn every_shipped_scenario_is_valid() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path, &machine()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn worker_specs_expand() {
    let workers =
        |spec: &str| ok(&with_workload(&format!("workers = {spec}\n"))).workloads[0].workers.clone();
    assert_eq!(workers("\"max\""), [4]);
    assert_eq!(workers("\"1..=max\""), [1, 2, 3, 4]);
    assert_eq!(workers("\"2..4\""), [2, 3]);
    assert_eq!(workers("\"pow2\""), [1, 2, 4]);
    assert_eq!(workers("[3, 1, \"max\", 1]"), [1, 3, 4]);
    assert_eq!(workers("6"), [6]);
}

#[test]
fn sizes_take_units() {
    let sizes = |spec: &str, kind: &str| {
        ok(&format!("{HEAD}[[workload]]\nkind = \"{kind}\"\nsize = {spec}\n")).workloads[0].sizes.clone()
    };
    assert_eq!(sizes("\"10M\"", "pi_monte_carlo"), [10_000_000]);
    assert_eq!(sizes("[1000, \"2k\"]", "pi_monte_carlo"), [1000, 2000]);
    assert_eq!(sizes("\"8MiB\"", "stream_triad"), [1 << 20], "8 bytes per element");
}

#[test]
fn defaults_cascade_into_workloads() {
    let p = ok(&format!(
        "{HEAD}[defaults]\nmin_samples = 7\nmax_samples = 9\nwarmup = \"1s\"\n\
         [[workload]]\nkind = \"matmul\"\nsize = 8\nmax_samples = 20\n"
    ));
    let s = &p.workloads[0].settings;
    assert_eq!((s.min_samples, s.max_samples, s.warmup.as_secs()), (7, 20, 1));
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    let (line, field, msg) = err(&format!("{HEAD}[defaults]\nwokers = 2\n"));
    assert_eq!(line, 4);
    assert_eq!(field, "defaults.wokers");
    assert!(msg.contains("did you mean `workers`?"), "{msg}");
}

#[test]
fn unknown_workload_suggests_the_closest() {
    let (line, field, msg) = err(&format!("{HEAD}[[workload]]\nkind = \"mandlebrot\"\n"));
    assert_eq!((line, field.as_str()), (4, "workload[0].kind"));
    assert!(
        msg.contains("unknown workload `mandlebrot`") && msg.contains("did you mean `mandelbrot`?"),
        "{msg}"
    );
}

#[test]
fn unknown_strategy_suggests_the_closest() {
    let (line, field, msg) = err(&with_workload("strategies = [\"rayon\", \"thread\"]\n"));
    assert_eq!((line, field.as_str()), (5, "workload[0].strategies"));
    assert!(msg.contains("did you mean `threads`?"), "{msg}");
    let (_, field, _) =
        err(&format!("{HEAD}[strategy.chanels]\ncapacity = 2\n[[workload]]\nkind = \"matmul\"\n"));
    assert_eq!(field, "strategy.chanels");
}

#[test]
fn bad_units_and_sizes() {
    let (line, field, msg) = err(&with_workload("size = \"12 parsecs\"\n"));
    assert_eq!((line, field.as_str()), (5, "workload[0].size"));
    assert!(msg.contains("unknown unit"), "{msg}");
    let (_, _, msg) = err(&with_workload("size = 0\n"));
    assert!(msg.contains("positive"), "{msg}");
    let (_, _, msg) = err(&with_workload("size = -5\n"));
    assert!(msg.contains("positive"), "{msg}");
    let (_, _, msg) = err(&with_workload("size = \"1MiB\"\n"));
    assert!(msg.contains("not bytes"), "{msg}");
    let (_, field, msg) = err(&with_workload("warmup = \"2 fortnights\"\n"));
    assert_eq!(field, "workload[0].warmup");
    assert!(msg.contains("not a duration"), "{msg}");
}

#[test]
fn zero_workers_are_rejected() {
    let (line, field, msg) = err(&with_workload("workers = [1, 0]\n"));
    assert_eq!((line, field.as_str()), (5, "workload[0].workers"));
    assert!(msg.contains("at least 1"), "{msg}");
    let (_, field, _) = err(&format!("{HEAD}[defaults]\nworkers = \"0..=max\"\n"));
    assert_eq!(field, "defaults.workers");
}

#[test]
fn sizes_beyond_available_memory_are_rejected() {
    let (line, field, msg) = err(&format!("{HEAD}[[workload]]\nkind = \"stream_triad\"\nsize = \"2GiB\"\n"));
    assert_eq!((line, field.as_str()), (5, "workload[0].size"));
    assert!(msg.contains("available") && msg.contains("smaller size"), "{msg}");
}

#[test]
fn params_are_checked() {
    let bad = |p: &str| err(&format!("{HEAD}[[workload]]\nkind = \"mandelbrot\"\nparams = {{ {p} }}\n"));
    let (_, field, msg) = bad("max_iters = 5");
    assert_eq!(field, "workload[0].params.max_iters");
    assert!(msg.contains("did you mean `max_iter`?"), "{msg}");
    let (_, _, msg) = bad("max_iter = 0");
    assert!(msg.contains("out of range"), "{msg}");
    let (_, _, msg) = bad("max_iter = 2.5");
    assert!(msg.contains("whole number"), "{msg}");
}

#[test]
fn choice_params_take_one_of_their_names() {
    let plan = |kind: &str, p: &str| format!("{HEAD}[[workload]]\nkind = \"{kind}\"\nparams = {{ {p} }}\n");
    let params = ok(&plan("stencil_heat", "simd = \"scalar\"")).workloads[0].params.clone();
    assert_eq!(params.text("simd"), "scalar");
    assert_eq!(ok(&plan("nbody", "steps = 2")).workloads[0].params.text("simd"), "auto", "the default");
    let (line, field, msg) = err(&plan("mandelbrot", "simd = \"scalr\""));
    assert_eq!((line, field.as_str()), (5, "workload[0].params.simd"));
    assert!(msg.contains("did you mean \"scalar\"?"), "{msg}");
    let (_, _, msg) = err(&plan("mandelbrot", "simd = 1"));
    assert!(msg.contains("expected one of \"auto\", \"scalar\", got 1"), "{msg}");
    // Valid one by one, not together: blamed on `simd`, with the way out.
    let (_, field, msg) = err(&plan("matmul", "kernel = \"tuned\", simd = \"scalar\""));
    assert_eq!(field, "workload[0].params.simd");
    assert!(msg.contains("kernel = \"blocked\""), "{msg}");
    ok(&plan("matmul", "kernel = \"blocked\", simd = \"scalar\""));
    let (_, field, _) = err(&plan("matmul", "simd = \"scalar\""));
    assert_eq!(field, "workload[0].params.simd", "the default kernel is the tuned one");
}

#[test]
fn settings_are_checked() {
    let (_, field, _) = err(&with_workload("target_ci = 1.5\n"));
    assert_eq!(field, "workload[0].target_ci");
    let (_, field, msg) = err(&with_workload("min_samples = 10\nmax_samples = 5\n"));
    assert_eq!(field, "workload[0].min_samples");
    assert!(msg.contains("larger than max_samples"), "{msg}");
    let (_, _, msg) = err(&with_workload("scaling = \"sideways\"\n"));
    assert!(msg.contains("\"strong\""), "{msg}");
    let (_, _, msg) =
        err(&format!("{HEAD}[strategy.threads]\ncapacity = 2\n[[workload]]\nkind = \"matmul\"\n"));
    assert!(msg.contains("no tunable `capacity`"), "{msg}");
}

#[test]
fn syntax_errors_have_a_location() {
    let (line, _, _) = err(&format!("{HEAD}[defaults\n"));
    assert_eq!(line, 3);
    let (_, field, msg) = err("[scenario]\nname = \"\"\n[[workload]]\nkind = \"matmul\"\n");
    assert_eq!(field, "scenario.name");
    assert!(msg.contains("needs a name"));
    let (_, _, msg) = err(HEAD);
    assert!(msg.contains("no [[workload]]"), "{msg}");
}

#[test]
fn cases_put_the_baseline_first_and_skip_its_worker_sweep() {
    let p = ok(&with_workload("workers = [1, 2]\nstrategies = [\"threads\"]\nsize = [10, 20]\n"));
    let cases: Vec<_> = p.cases().iter().map(|c| (c.strategy.clone(), c.workers, c.size)).collect();
    let s = |n: &str| n.to_string();
    assert_eq!(
        cases,
        [
            (s("sequential"), 1, 10),
            (s("threads"), 1, 10),
            (s("threads"), 2, 10),
            (s("sequential"), 1, 20),
            (s("threads"), 1, 20),
            (s("threads"), 2, 20)
        ]
    );
}

#[test]
fn weak_scaling_keeps_work_per_worker_constant() {
    let p = ok(&format!(
        "{HEAD}[defaults]\nscaling = \"weak\"\nworkers = [1, 4]\n\
         [[workload]]\nkind = \"mandelbrot\"\nsize = 100\nstrategies = []\n\
         [[workload]]\nkind = \"pi_monte_carlo\"\nsize = 100\nstrategies = []\n"
    ));
    let sizes = |w: usize| -> Vec<u64> {
        p.cases().iter().filter(|c| c.workload_index == w).map(|c| c.effective_size).collect()
    };
    // Mandelbrot's work is width squared: four workers get twice the width.
    assert_eq!(sizes(0), [100, 200]);
    assert_eq!(sizes(1), [100, 400]);
    let (_, field, msg) = err(&format!(
        "{HEAD}[defaults]\nscaling = \"weak\"\nworkers = [1, 4]\n[[workload]]\nkind = \"mandelbrot\"\nsize = 60000\n"
    ));
    assert_eq!(field, "workload[0].size");
    assert!(msg.contains("weak scaling measures size 120000"), "{msg}");
}
