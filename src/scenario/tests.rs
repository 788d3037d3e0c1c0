//! Every validation error names the file, line, column and field, and suggests a fix.

use super::*;
use crate::machine::fixture::Synthetic;

/// A machine read from a synthetic sysfs tree: the same on every host that runs the tests.
fn synthetic(cores: usize, llc_bytes: u64, available_bytes: u64) -> Machine {
    let dir = tempfile::tempdir().expect("temporary folder");
    let spec = crate::machine::fixture::Synthetic { cores, ..Synthetic::new(llc_bytes, available_bytes) };
    spec.detect(dir.path()).expect("fixture tree")
}

/// 4 CPUs, an 8 MiB last-level cache and 1 GiB available.
fn machine() -> Machine {
    synthetic(4, 8 << 20, 1 << 30)
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
    for (name, machine) in machines() {
        parse("<built-in quick>", BUILTIN_QUICK, &machine).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let plan = ok(BUILTIN_QUICK);
    assert_eq!(plan.name, "quick");
    // The five data-parallel workloads plus a slice of each thread, sync and async one.
    let kinds: Vec<&str> = plan.workloads.iter().map(|w| w.kind.as_str()).collect();
    for kind in ["pi_monte_carlo", "histogram", "producer_consumer", "ping_pong", "async_fanout"] {
        assert!(kinds.contains(&kind), "quick has no {kind}: {kinds:?}");
    }
    assert!(plan.workloads.iter().all(|w| w.strategies[0] == "sequential"));
}

/// A small-cache and a large-cache machine, each with little and with plenty of memory.
fn machines() -> Vec<(&'static str, Machine)> {
    vec![
        ("8 MiB LLC, 2 GiB", synthetic(2, 8 << 20, 2 << 30)),
        ("8 MiB LLC, 64 GiB", synthetic(2, 8 << 20, 64 << 30)),
        ("260 MiB LLC, 2 GiB", synthetic(2, 260 << 20, 2 << 30)),
        ("260 MiB LLC, 64 GiB", synthetic(2, 260 << 20, 64 << 30)),
    ]
}

#[test]
fn every_shipped_scenario_is_valid() {
    for (name, machine) in machines() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                load(&path, &machine).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}

/// The GPU check's scenario uses GPUs only: on a host with PoCL, `"all"` ran every OpenCL case
/// on the CPU too, at GPU sizes, past `ci/gpu-check.sh`'s time budget (the CUDA review).
#[test]
fn the_gpu_scenario_selects_gpus_only() {
    let (_, machine) = machines().remove(0);
    let plan =
        load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/gpu.toml")), &machine)
            .unwrap();
    for w in &plan.workloads {
        assert_eq!(w.settings.device, crate::scenario::DeviceChoice::Gpu, "{}", w.kind);
    }
}

/// The triad's default on each machine: STREAM's 4x the LLC where half the memory allows it,
/// else the largest size that fits, with a note every case of it carries.
#[test]
fn the_builtin_triad_default_fits_every_machine_and_says_when_stream_is_not_met() {
    for (name, machine) in machines() {
        let plan =
            parse("<built-in quick>", BUILTIN_QUICK, &machine).unwrap_or_else(|e| panic!("{name}: {e}"));
        let triad = plan.workloads.iter().find(|w| w.kind == "stream_triad").unwrap();
        let size = triad.sizes[0];
        let llc = machine.last_level_cache_bytes().unwrap();
        let stream_rule = (4 * llc / 8).max(10_000_000);
        let w = crate::workload::find("stream_triad").unwrap();
        let notes: Vec<&str> = triad.notes.iter().map(|n| n.note.as_str()).collect();
        assert!(w.memory_bytes(size, &triad.params) <= machine.memory_available_bytes / 2, "{name}: {size}");
        if name == "260 MiB LLC, 2 GiB" {
            assert!(size < stream_rule, "{name}: {size}");
            assert!(notes.iter().any(|n| n.contains("reduced")), "{name}: {notes:?}");
            assert!(notes.iter().any(|n| n.contains("STREAM's rule is not met")), "{name}: {notes:?}");
            let cases: Vec<_> = plan.cases().into_iter().filter(|c| c.workload == "stream_triad").collect();
            // A device's case also carries why it has no efficiency.
            let device = |c: &crate::scenario::CaseSpec| {
                crate::strategy::find(&c.strategy)
                    .is_some_and(|s| s.family() == crate::strategy::Family::Device)
            };
            let expected = |c: &crate::scenario::CaseSpec| if device(c) { 3 } else { 2 };
            assert!(
                !cases.is_empty() && cases.iter().all(|c| c.notes.len() == expected(c)),
                "{name}: {cases:?}"
            );
        } else {
            assert_eq!(size, stream_rule, "{name}");
            assert!(notes.is_empty(), "{name}: {notes:?}");
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
    assert!(msg.contains("between 1 and 4096"), "{msg}");
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

/// A `pi_monte_carlo` entry with `$body` after its kind, which starts on line 5 after [`HEAD`].
macro_rules! pi {
    ($body:literal) => {
        concat!("[[workload]]\nkind = \"pi_monte_carlo\"\n", $body)
    };
}

/// The and the reviews' reproductions: each aborted, hung or exhausted the machine;
/// each is now an error that names its line, field and limit, before anything runs. Each is
/// the scenario after [`HEAD`], the line and field blamed, and what the message says. Every
/// one is refused on any machine, with little or plenty of memory.
const REPRODUCTIONS: &[(&str, usize, &str, &str)] = &[
    (pi!("workers = \"1..=1000000000\"\n"), 5, "workload[0].workers", "between 1 and 4096"),
    (pi!("workers = [1000000000]\n"), 5, "workload[0].workers", "between 1 and 4096"),
    (pi!("workers = 5000\nstrategies = [\"process\"]\n"), 5, "workload[0].workers", "between 1 and 4096"),
    (pi!("max_samples = 1_000_000_000_000\n"), 5, "workload[0].max_samples", "between 1 and 1000000"),
    (pi!("min_samples = 1_000_000_000_000\n"), 5, "workload[0].min_samples", "between 1 and 1000000"),
    (pi!("timeout = \"400000000000y\"\n"), 5, "workload[0].timeout", "limit of 24h"),
    (pi!("size = \"18446744073709551616\"\n"), 5, "workload[0].size", "too large"),
    // The channel's 2^30 slots (24 GiB), allocated and stamped on every run.
    (
        "[[workload]]\nkind = \"producer_consumer\"\nsize = 1000\nparams = { capacity = 1073741824 }\n\
         strategies = [\"channels\"]\n",
        6,
        "workload[0].params.capacity",
        "out of range [-1, 1048576]",
    ),
    // tokio's bounded channel asserts a capacity of at least 1: the case panicked.
    (
        "[[workload]]\nkind = \"producer_consumer\"\nparams = { capacity = 0 }\nstrategies = [\"async\"]\n",
        5,
        "workload[0].params.capacity",
        "cannot run with capacity 0",
    ),
    // A thread per permit: 100,000 sleeping threads, past the kernel's limits.
    (
        "[strategy.semaphore]\ncapacity = 1048576\n[[workload]]\nkind = \"async_fanout\"\nworkers = 1\n\
         size = 100000\nparams = { io_us = 10000000 }\nstrategies = [\"semaphore\"]\n",
        4,
        "strategy.semaphore.capacity",
        "the limit is 4096",
    ),
    // The shared image (a memfd, 8.6 GB) beside the local one and the reference.
    (
        "[[workload]]\nkind = \"mandelbrot\"\nsize = 46341\nworkers = 1\nstrategies = [\"process-shm\"]\n",
        5,
        "workload[0].size",
        "`process-shm` with 1 workers",
    ),
    // One task's rows in one reply of 3.6 GB: the worker could only fail it at run time.
    (
        "[[workload]]\nkind = \"mandelbrot\"\nsize = 30000\nworkers = 1\nchunk = 30000\n\
         strategies = [\"process\"]\n",
        7,
        "workload[0].chunk",
        "more than a frame may carry",
    ),
];

#[test]
fn the_reproductions_are_clear_errors() {
    for (body, line, field, needle) in REPRODUCTIONS {
        let (got_line, got, msg) = err(&format!("{HEAD}{body}"));
        assert_eq!((got_line, got.as_str()), (*line, *field), "{body}: {msg}");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[test]
fn per_task_slots_count_towards_memory() {
    // `spin` allocates a result slot per task, one task per item under rayon: 240 GB here.
    let text = format!("{HEAD}[[workload]]\nkind = \"spin\"\nsize = \"10G\"\nstrategies = [\"rayon\"]\n");
    let (line, field, msg) = err(&text);
    assert_eq!((line, field.as_str()), (5, "workload[0].size"));
    assert!(msg.contains("`rayon` with") && msg.contains("1 GiB is available"), "{msg}");
    // Sequentially it is one task, and the same size fits.
    ok(&format!("{HEAD}[[workload]]\nkind = \"spin\"\nsize = \"10G\"\nstrategies = []\n"));
    // A chunk makes fewer tasks: the estimate follows it.
    ok(&format!(
        "{HEAD}[[workload]]\nkind = \"spin\"\nsize = \"10G\"\nstrategies = [\"rayon\"]\nchunk = 1000\n"
    ));
}

/// Parses `text` on `machine` and expects an error: (line, field, full message).
fn err_on(machine: &Machine, text: &str) -> (usize, String, String) {
    match parse("s.toml", text, machine) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ScenarioError::Invalid(l)) => (l.line, l.field.clone(), l.to_string()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn producer_consumer_capacity_is_capped_and_its_slots_are_counted_whatever_the_size() {
    let text = |capacity: i64, strategy: &str| {
        format!(
            "{HEAD}[[workload]]\nkind = \"producer_consumer\"\nsize = 1000\n\
             params = {{ capacity = {capacity} }}\nstrategies = [\"{strategy}\"]\n"
        )
    };
    let (line, field, msg) = err(&text(1 << 30, "channels"));
    assert_eq!((line, field.as_str()), (6, "workload[0].params.capacity"), "{msg}");
    assert!(msg.contains("1048576") && msg.contains("up front"), "{msg}");
    ok(&text(1 << 20, "channels"));
    // 2^20 slots of 24 B (24 MiB) are allocated up front, for 1000 messages of 96 B.
    let small = synthetic(2, 8 << 20, 16 << 20);
    for strategy in ["channels", "std-mpsc"] {
        let (line, field, msg) = err_on(&small, &text(1 << 20, strategy));
        assert_eq!((line, field.as_str()), (6, "workload[0].params.capacity"), "{msg}");
        assert!(
            msg.contains(&format!("`{strategy}` with 2 workers")) && msg.contains("even at size 1"),
            "{msg}"
        );
    }
    // The queues that grow as messages arrive hold at most 1000 of them here.
    parse("s.toml", &text(1 << 20, "condvar-queue"), &small).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn capacity_zero_is_refused_only_where_a_strategy_cannot_run_it() {
    let text = |strategy: &str| {
        format!(
            "{HEAD}[[workload]]\nkind = \"producer_consumer\"\nparams = {{ capacity = 0 }}\n\
             strategies = [\"{strategy}\"]\n"
        )
    };
    for strategy in ["async", "async-current-thread"] {
        let (line, field, msg) = err(&text(strategy));
        assert_eq!((line, field.as_str()), (5, "workload[0].params.capacity"), "{msg}");
        assert!(msg.contains(&format!("`{strategy}` cannot run with capacity 0")), "{msg}");
        assert!(msg.contains("-1 for unbounded"), "{msg}");
    }
    // A rendezvous deadlocks these two by design (the lesson the case timeout catches).
    for strategy in ["channels", "std-mpsc", "condvar-queue", "semaphore"] {
        ok(&text(strategy));
    }
}

#[test]
fn producer_consumer_counts_a_message_per_worker() {
    // 256 workers each holding a 16 MiB message: 4 GiB, though the queue holds only one.
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"producer_consumer\"\nsize = 100\nworkers = 256\n\
         params = {{ msg_bytes = 16777216, capacity = 1 }}\nstrategies = [\"channels\"]\n"
    );
    let (_, field, msg) = err_on(&synthetic(2, 8 << 20, 2 << 30), &text);
    assert!(field.starts_with("workload[0]."), "{field}");
    assert!(msg.contains("`channels` with 256 workers") && msg.contains("2 GiB is available"), "{msg}");
    parse("s.toml", &text, &synthetic(2, 8 << 20, 8 << 30)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn executor_queues_count_towards_memory() {
    // One channel per worker, every slot allocated up front: 256 x 2^20 x 16 B = 4 GiB.
    let text = format!(
        "{HEAD}[strategy.std-mpsc]\ncapacity = 1048576\n[[workload]]\nkind = \"producer_consumer\"\n\
         workers = 256\nstrategies = [\"std-mpsc\"]\n"
    );
    let (line, field, msg) = err_on(&synthetic(2, 8 << 20, 1 << 30), &text);
    assert_eq!((line, field.as_str()), (4, "strategy.std-mpsc.capacity"), "{msg}");
    assert!(msg.contains("`std-mpsc` with 256 workers needs 4.0 GiB"), "{msg}");
    parse("s.toml", &text, &synthetic(2, 8 << 20, 8 << 30)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn semaphore_permits_are_threads_within_their_own_limit() {
    let text = |capacity: usize| {
        format!(
            "{HEAD}[strategy.semaphore]\ncapacity = {capacity}\n[[workload]]\nkind = \"async_fanout\"\n\
             workers = 1\nsize = 1000\nstrategies = [\"semaphore\"]\n"
        )
    };
    let machine = synthetic(2, 8 << 20, 1 << 30);
    let (line, field, msg) = err_on(&machine, &text(4097));
    assert_eq!((line, field.as_str()), (4, "strategy.semaphore.capacity"), "{msg}");
    assert!(msg.contains("4097 threads at once") && msg.contains("the limit is 4096"), "{msg}");
    // Sleeping threads past the 256 per-CPU workers of 2 CPUs: allowed, and counted.
    parse("s.toml", &text(4096), &machine).unwrap_or_else(|e| panic!("{e}"));
    let (line, field, msg) = err_on(&synthetic(2, 8 << 20, 128 << 20), &text(4096));
    assert_eq!((line, field.as_str()), (4, "strategy.semaphore.capacity"), "{msg}");
    assert!(msg.contains("needs 256.0 MiB"), "{msg}");
    // The permits matter only where `semaphore` runs: nothing to check for `pi_monte_carlo`.
    ok(&format!("{HEAD}[strategy.semaphore]\ncapacity = 1048576\n[[workload]]\nkind = \"pi_monte_carlo\"\n"));
}

#[test]
fn process_buffers_count_towards_memory() {
    let text = |kind: &str, size: &str, strategy: &str| {
        format!("{HEAD}[[workload]]\nkind = \"{kind}\"\nsize = {size}\nworkers = 1\nstrategies = [\"{strategy}\"]\n")
    };
    // mandelbrot: the 8.6 GB shared image beside the 17.2 GB of local image and reference.
    let machine = synthetic(2, 8 << 20, 20 << 30);
    parse("s.toml", &text("mandelbrot", "46341", "threads"), &machine).unwrap_or_else(|e| panic!("{e}"));
    let (_, field, msg) = err_on(&machine, &text("mandelbrot", "46341", "process-shm"));
    assert_eq!(field, "workload[0].size", "{msg}");
    assert!(msg.contains("`process-shm` with 1 workers"), "{msg}");
    // Under `process`, a task's 1875 rows come back in a 225 MB frame, held twice.
    let machine = synthetic(2, 8 << 20, 7_500_000_000);
    parse("s.toml", &text("mandelbrot", "30000", "threads"), &machine).unwrap_or_else(|e| panic!("{e}"));
    let (_, field, msg) = err_on(&machine, &text("mandelbrot", "30000", "process"));
    assert_eq!(field, "workload[0].size", "{msg}");
    assert!(msg.contains("`process` with 1 workers"), "{msg}");
    // ping_pong: the 1 GiB message's shared region beside its five buffers and the pong's own.
    let machine = synthetic(2, 8 << 20, 13 << 29);
    parse("s.toml", &text("ping_pong", "\"1GiB\"", "channels"), &machine).unwrap_or_else(|e| panic!("{e}"));
    let (_, field, msg) = err_on(&machine, &text("ping_pong", "\"1GiB\"", "process-shm"));
    assert_eq!(field, "workload[0].size", "{msg}");
}

#[test]
fn a_process_reply_larger_than_a_frame_is_refused_before_it_runs() {
    let machine = synthetic(2, 8 << 20, 64 << 30);
    // The workload's chunk, the strategy's, and a size that makes tasks too big on its own.
    let (line, field, msg) = err_on(
        &machine,
        &format!(
            "{HEAD}[[workload]]\nkind = \"mandelbrot\"\nsize = 30000\nchunk = 30000\nstrategies = [\"process\"]\n"
        ),
    );
    assert_eq!((line, field.as_str()), (6, "workload[0].chunk"), "{msg}");
    assert!(msg.contains("a `chunk` of at most 17895 items"), "{msg}");
    let (line, field, msg) = err_on(
        &machine,
        &format!(
            "{HEAD}[strategy.process]\nchunk = 400000000\n[[workload]]\nkind = \"stream_triad\"\n\
             size = \"1G\"\nstrategies = [\"process\"]\n"
        ),
    );
    assert_eq!((line, field.as_str()), (4, "strategy.process.chunk"), "{msg}");
    assert!(msg.contains("more than a frame may carry"), "{msg}");
    let (line, field, msg) = err_on(
        &machine,
        &format!("{HEAD}[[workload]]\nkind = \"stream_triad\"\nsize = \"5G\"\nworkers = 1\nstrategies = [\"process\"]\n"),
    );
    assert_eq!((line, field.as_str()), (5, "workload[0].size"), "{msg}");
    assert!(msg.contains("use a smaller size, or a `chunk`"), "{msg}");
    // `process-shm` answers only "done": the same chunk is fine there.
    parse(
        "s.toml",
        &format!(
            "{HEAD}[[workload]]\nkind = \"mandelbrot\"\nsize = 30000\nchunk = 30000\nstrategies = [\"process-shm\"]\n"
        ),
        &machine,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn worker_processes_count_their_own_copies() {
    // 160M elements: 5.1 GB for the triad in this process; each of 4 `process` workers makes
    // its own `b`, `c` and `a` slices (3.8 GB each), which a 16 GiB machine cannot hold.
    let text = |strategy: &str| {
        format!(
            "{HEAD}[[workload]]\nkind = \"stream_triad\"\nsize = \"160M\"\nworkers = 4\nstrategies = [\"{strategy}\"]\n"
        )
    };
    let machine = synthetic(4, 8 << 20, 16 << 30);
    parse("s.toml", &text("threads"), &machine).unwrap_or_else(|e| panic!("{e}"));
    let e = parse("s.toml", &text("process"), &machine).unwrap_err().to_string();
    assert!(e.contains("`process` with 4 workers") && e.contains("workload[0].size"), "{e}");
}

#[test]
fn oversubscription_is_checked_against_the_machine() {
    let (_, field, msg) = err(&with_workload("workers = 17\nstrategies = [\"process\"]\n"));
    assert_eq!(field, "workload[0].workers");
    assert!(msg.contains("worker processes") && msg.contains("limit here is 16"), "{msg}");
    let (_, _, msg) = err(&with_workload("workers = 257\nstrategies = [\"threads\"]\n"));
    assert!(msg.contains("limit here is 256"), "{msg}");
    ok(&with_workload("workers = 256\nstrategies = [\"threads\"]\n"));
}

#[test]
fn other_values_that_do_not_fit_are_refused() {
    let (_, field, msg) = err(&with_workload("seed = -1\n"));
    assert_eq!(field, "workload[0].seed");
    assert!(msg.contains("from 0 up"), "{msg}");
    let (_, field, msg) = err(&format!(
        "{HEAD}[strategy.channels]\ncapacity = 1_000_000_000_000\n[[workload]]\nkind = \"matmul\"\n"
    ));
    assert_eq!(field, "strategy.channels.capacity");
    assert!(msg.contains("between 0 and 1048576"), "{msg}");
    let (_, _, msg) = err(&with_workload("size = \"2P\"\n"));
    assert!(msg.contains("unknown unit"), "{msg}");
    let (_, _, msg) = err(&with_workload("size = \"1001T\"\n"));
    assert!(msg.contains("limit of 1000000000000000"), "{msg}");
    let (_, field, msg) = err(&with_workload("warmup = \"2days\"\n"));
    assert_eq!(field, "workload[0].warmup");
    assert!(msg.contains("limit of 24h"), "{msg}");
    let (_, field, msg) = err(&format!(
        "{HEAD}[[workload]]\nkind = \"spin\"\nparams = {{ work_units = 9223372036854775807 }}\n"
    ));
    assert_eq!(field, "workload[0].params.work_units");
    assert!(msg.contains("out of range"), "{msg}");
}

#[test]
fn too_many_cases_are_refused_before_they_are_made() {
    // 400 sizes x 16 strategies x 20 worker counts: about 122,000 cases.
    let sizes: Vec<String> = (1..=400).map(|i| (i * 1000).to_string()).collect();
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"empty\"\nworkers = \"1..=20\"\nsize = [{}]\n",
        sizes.join(", ")
    );
    let machine = synthetic(64, 8 << 20, 1 << 30);
    let e = parse("s.toml", &text, &machine).unwrap_err().to_string();
    assert!(e.contains("more than 100000 cases") && e.contains("`workload[0]`"), "{e}");
}

#[test]
fn processes_are_checked_against_their_own_limit() {
    // Not the samples' limit (1000000) nor their help: the processes cap is 1000.
    for n in [0, 1001] {
        let (_, field, msg) = err(&with_workload(&format!("processes = {n}\n")));
        assert_eq!(field, "workload[0].processes");
        assert!(msg.contains(&format!("between 1 and 1000 processes per case, got {n}")), "{msg}");
        assert!(!msg.contains("samples"), "{msg}");
    }
    assert_eq!(ok(&with_workload("processes = 1000\n")).workloads[0].settings.processes, 1000);
}

/// Memory that could not be read is a fixed budget (2 GiB), never "no limit": the issue's own
/// reproduction (240 GB of result slots) must be refused on such a host too.
#[test]
fn unknown_memory_is_a_fixed_budget_not_unlimited() {
    let unknown = synthetic(2, 8 << 20, 0);
    assert_eq!(unknown.memory_available_bytes, 0);
    let text = format!("{HEAD}[[workload]]\nkind = \"spin\"\nsize = \"10G\"\nstrategies = [\"rayon\"]\n");
    let e = parse("s.toml", &text, &unknown).unwrap_err().to_string();
    assert!(e.contains("`workload[0].size`") && e.contains("`rayon` with"), "{e}");
    assert!(e.contains("memory is unknown") && e.contains("at most 2 GiB"), "{e}");
    // A default derived from the machine (STREAM's 4x a 260 MiB LLC: 3 GiB of arrays) shrinks
    // to half the budget, and says why.
    let unknown = synthetic(2, 260 << 20, 0);
    let plan = parse("s.toml", &format!("{HEAD}[[workload]]\nkind = \"stream_triad\"\n"), &unknown)
        .unwrap_or_else(|e| panic!("{e}"));
    let triad = &plan.workloads[0];
    assert!(plan.worst_memory(0, triad.sizes[0]) <= limits::UNKNOWN_MEMORY_BYTES / 2, "{triad:?}");
    assert!(
        triad.notes.iter().any(|n| n.note.contains("reduced") && n.note.contains("unknown")),
        "{triad:?}"
    );
    // The built-in scenario is still never refused.
    parse("<built-in quick>", BUILTIN_QUICK, &unknown).unwrap_or_else(|e| panic!("{e}"));
}

/// Results files can name a workload this build does not have (a test-only one, a newer
/// parlab's): expanding their scenario must not panic, whatever its scaling.
#[test]
fn cases_of_a_workload_this_build_lacks_do_not_panic() {
    let mut plan =
        ok(&with_workload("size = 4\nworkers = [1, 2]\nstrategies = [\"threads\"]\nscaling = \"weak\"\n"));
    plan.workloads[0].kind = "not_in_this_build".into();
    let cases = plan.cases();
    let sizes: Vec<(usize, u64)> = cases.iter().map(|c| (c.workers, c.effective_size)).collect();
    // Weak scaling by the default (linear) rule.
    assert_eq!(sizes, [(1, 4), (1, 4), (1, 8), (2, 8)]);
    assert_eq!(cases.len() as u64, plan.case_count());
}

#[test]
fn max_and_the_default_sweep_stay_within_the_worker_limit_on_a_huge_machine() {
    let huge = Machine { logical_cpus: 5000, ..synthetic(4, 8 << 20, 64 << 30) };
    for workers in ["workers = \"max\"\n", "workers = \"1..=max\"\n", "workers = \"pow2\"\n", ""] {
        let text = with_workload(&format!("size = 1000\nstrategies = [\"threads\"]\n{workers}"));
        let plan = parse("s.toml", &text, &huge).unwrap_or_else(|e| panic!("{workers}: {e}"));
        let w = &plan.workloads[0];
        assert_eq!(w.workers.last(), Some(&limits::MAX_WORKERS), "{workers}");
        assert!(w.workers.iter().all(|&n| (1..=limits::MAX_WORKERS).contains(&n)), "{workers}");
        let cases = plan.cases();
        assert!(
            cases
                .iter()
                .all(|c| c.notes.iter().any(|n| n.contains("5000 logical CPUs") && n.contains("4096"))),
            "{workers}: {:?}",
            cases[0].notes
        );
    }
    // Counts written out are not cut down, and need no note.
    let text = with_workload("size = 1000\nworkers = [1, 4096]\nstrategies = [\"threads\"]\n");
    let plan = parse("s.toml", &text, &huge).unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.cases().iter().all(|c| c.notes.is_empty()));
}

#[test]
fn long_worker_lists_are_refused_without_being_expanded() {
    // 5,000 wide ranges: expanded before the dedup they were 20 million counts (the issue's
    // 1 MB file of them, hundreds of millions).
    let items = vec!["\"1..=4096\""; 5000].join(", ");
    let (_, field, msg) = err(&with_workload(&format!("workers = [{items}]\nstrategies = []\n")));
    assert_eq!(field, "workload[0].workers");
    assert!(msg.contains("at most 4096 entries"), "{msg}");
    // As many entries as there are counts is fine, ranges included, and the counts are distinct.
    let items = vec!["\"1..=3\""; 4096].join(", ");
    assert_eq!(ok(&with_workload(&format!("workers = [{items}]\n"))).workloads[0].workers, [1, 2, 3]);
}

#[test]
fn the_case_count_is_checked_before_any_size_is_estimated() {
    // 25,001 sizes x (sequential + rayon at 4 worker counts): 125,005 cases. The first size
    // would also need 240 GB; refusing the count first spares 25,001 memory estimates (each
    // over every strategy and worker count), so the count is the error.
    let sizes = std::iter::once("\"10G\"").chain(std::iter::repeat_n("1000", 25_000)).collect::<Vec<_>>();
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"spin\"\nworkers = \"1..=4\"\nstrategies = [\"rayon\"]\nsize = [{}]\n",
        sizes.join(", ")
    );
    let (_, field, msg) = err(&text);
    assert_eq!(field, "workload[0]", "{msg}");
    assert!(msg.contains("more than 100000 cases"), "{msg}");
}

/// What `--resume` and a case process read back: a plan that passes parsing passes, and one
/// edited (or written by another parlab) past a limit is refused naming the field, where it
/// would otherwise abort, panic or start a billion threads.
#[test]
fn plans_read_back_are_held_to_the_scenario_limits() {
    for (name, machine) in machines() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let plan = load(&path, &machine).unwrap();
                let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
                back.check_limits(&machine).unwrap_or_else(|e| panic!("{name}: {}: {e}", path.display()));
            }
        }
    }
    let machine = machine();
    let plan = ok(&format!(
        "{HEAD}[strategy.channels]\ncapacity = 8\n[[workload]]\nkind = \"pi_monte_carlo\"\nsize = 1000\n\
         workers = [1, 2]\nstrategies = [\"threads\", \"channels\"]\n"
    ));
    plan.check_limits(&machine).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: &[(Edit, &str)] = &[
        (
            |v| v["workloads"][0]["settings"]["max_samples"] = 1_000_000_000_000u64.into(),
            "workload[0].max_samples: must be between 1 and 1000000",
        ),
        (|v| v["workloads"][0]["settings"]["min_samples"] = 0.into(), "workload[0].min_samples"),
        (|v| v["workloads"][0]["settings"]["timeout"] = 1e18.into(), "workload[0].timeout: "),
        (
            |v| v["workloads"][0]["settings"]["timeout"] = 0.0.into(),
            "workload[0].timeout: the timeout must be longer than zero",
        ),
        (|v| v["workloads"][0]["settings"]["warmup"] = 1e9.into(), "workload[0].warmup"),
        (
            |v| v["workloads"][0]["settings"]["processes"] = 0.into(),
            "workload[0].processes: must be between 1 and 1000",
        ),
        (|v| v["workloads"][0]["settings"]["target_ci"] = 0.0.into(), "workload[0].target_ci"),
        (
            |v| v["workloads"][0]["kind"] = "warp_drive".into(),
            "workload[0].kind: unknown workload `warp_drive`",
        ),
        (
            |v| v["workloads"][0]["workers"] = serde_json::json!([1_000_000_000u64]),
            "workload[0].workers: worker counts must be between 1 and 4096",
        ),
        (|v| v["workloads"][0]["workers"] = serde_json::json!([]), "workload[0].workers"),
        (
            |v| v["workloads"][0]["workers"] = serde_json::json!([300]),
            "workload[0].workers: `threads` with 300 workers",
        ),
        (
            |v| v["workloads"][0]["strategies"] = serde_json::json!(["sequential", "warp"]),
            "workload[0].strategies: unknown strategy `warp`",
        ),
        (|v| v["workloads"][0]["sizes"] = serde_json::json!([]), "workload[0].size"),
        (|v| v["workloads"][0]["sizes"] = serde_json::json!([10_000_000_000_000_000u64]), "workload[0].size"),
        (|v| v["workloads"][0]["chunk"] = 0.into(), "workload[0].chunk"),
        (|v| v["workloads"][0]["params"]["simd"] = "avx9000".into(), "workload[0].params.simd"),
        (|v| v["workloads"][0]["params"] = serde_json::json!({}), "workload[0].params.simd: missing"),
        (|v| v["workloads"][0]["params"]["warp"] = 9.into(), "workload[0].params.warp"),
        (
            |v| v["strategy_params"]["channels"]["capacity"] = 1_000_000_000_000u64.into(),
            "strategy.channels.capacity: must be between 0 and 1048576",
        ),
        (
            |v| v["strategy_params"]["threads"] = serde_json::json!({"capacity": 4}),
            "strategy.threads.capacity: strategy `threads` has no tunable",
        ),
        (|v| v["strategy_params"]["warp"] = serde_json::json!({}), "strategy.warp: unknown strategy"),
        (|v| v["workloads"] = serde_json::json!([]), "no workload"),
    ];
    for (edit, needle) in edits {
        let mut v = json.clone();
        edit(&mut v);
        let bad: Plan = serde_json::from_value(v).unwrap();
        let e = bad.check_limits(&machine).unwrap_err();
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // A semaphore's permits are threads: held to their own limit where it runs.
    let fanout = ok(&format!(
        "{HEAD}[strategy.semaphore]\ncapacity = 8\n[[workload]]\nkind = \"async_fanout\"\nsize = 100\n\
         workers = 1\nstrategies = [\"semaphore\"]\n"
    ));
    fanout.check_limits(&machine).unwrap();
    let mut v = serde_json::to_value(&fanout).unwrap();
    v["strategy_params"]["semaphore"]["capacity"] = 1_048_576.into();
    let bad: Plan = serde_json::from_value(v).unwrap();
    let e = bad.check_limits(&machine).unwrap_err();
    assert!(e.contains("strategy.semaphore.capacity: would run 1048576 threads at once"), "{e}");
    // Sizes times worker counts beyond the case limit, counted without being made.
    let mut v = json.clone();
    v["workloads"][0]["sizes"] = (1..=50_001u64).collect::<Vec<_>>().into();
    let bad: Plan = serde_json::from_value(v).unwrap();
    assert!(bad.check_limits(&machine).unwrap_err().contains("more than 100000 cases"));
}

/// A resume plan or a case process's request is held to the memory a case needs, as parsing
/// holds a scenario: a size whose input cannot be allocated is refused naming the size, where
/// it aborted the whole run (`vec![0.0; 10^15]`).
#[test]
fn plans_read_back_are_held_to_the_memory_and_each_cases_limits() {
    let machine = synthetic(2, 8 << 20, 2 << 30);
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"stream_triad\"\nsize = 1000\nworkers = [1, 2]\n\
         strategies = [\"rayon\"]\n"
    );
    let plan = parse("s.toml", &text, &machine).unwrap();
    plan.check_limits(&machine).unwrap();
    let mut v = serde_json::to_value(&plan).unwrap();
    v["workloads"][0]["sizes"] = serde_json::json!([limits::MAX_SIZE]);
    let huge: Plan = serde_json::from_value(v).unwrap();
    let e = huge.check_limits(&machine).unwrap_err();
    assert!(e.starts_with("workload[0].size: size 1000000000000000 needs"), "{e}");
    assert!(e.contains("of memory at worst") && e.contains("only 2 GiB is available"), "{e}");
    // Weak scaling: the size measured at the most workers, not the base size, is what runs.
    let mut v = serde_json::to_value(&plan).unwrap();
    v["workloads"][0]["settings"]["scaling"] = "weak".into();
    v["workloads"][0]["sizes"] = serde_json::json!([40_000_000u64]);
    let weak: Plan = serde_json::from_value(v.clone()).unwrap();
    let e = weak.check_limits(&machine).unwrap_err();
    assert!(e.starts_with("workload[0].size: size 80000000 needs"), "{e}");
    v["workloads"][0]["settings"]["scaling"] = "strong".into();
    let strong: Plan = serde_json::from_value(v).unwrap();
    strong.check_limits(&machine).unwrap();
    // `check_case` as when parsed: an async strategy cannot run producer_consumer unbuffered.
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"producer_consumer\"\nsize = 1000\nworkers = 2\n\
         strategies = [\"async\"]\nparams = {{ capacity = 1 }}\n"
    );
    let plan = parse("s.toml", &text, &machine).unwrap();
    plan.check_limits(&machine).unwrap();
    let mut v = serde_json::to_value(&plan).unwrap();
    v["workloads"][0]["params"]["capacity"] = 0.into();
    let unbuffered: Plan = serde_json::from_value(v).unwrap();
    let e = unbuffered.check_limits(&machine).unwrap_err();
    assert!(e.starts_with("workload[0].params.capacity: `async` cannot run with capacity 0"), "{e}");
}

/// A weak-scaling default is held to the workload's own size limits at the size it measures,
/// as a size the scenario gives is: parsing and [`Plan::check_limits`] agree on it. At 4096
/// workers stencil_heat's default width would measure 65,536, past its 46,341.
#[test]
fn a_weak_scaling_default_size_is_shrunk_within_the_workloads_limits() {
    let machine = synthetic(2, 8 << 20, 512 << 30);
    let text = format!(
        "{HEAD}[[workload]]\nkind = \"stencil_heat\"\nscaling = \"weak\"\nworkers = [4096]\nstrategies = []\n"
    );
    let plan = parse("s.toml", &text, &machine).unwrap_or_else(|e| panic!("{e}"));
    plan.check_limits(&machine).unwrap_or_else(|e| panic!("parse accepted what check_limits refuses: {e}"));
    let w = &plan.workloads[0];
    let heat = crate::workload::find("stencil_heat").unwrap();
    for c in plan.cases() {
        heat.check_size(c.effective_size, &w.params).unwrap();
    }
    let size = w.sizes[0];
    assert!(heat.weak_size(size + 1, 4096) > 46_341, "the largest size within the limit: {size}");
    assert!(
        w.notes.iter().any(|n| n.size == size && n.note.contains("within the workload's limits")),
        "{:?}",
        w.notes
    );
}

mod properties {
    //! Scenarios with extreme but well-formed values: parsing never panics, and every plan it
    //! accepts stays within the limits.
    use super::*;
    use crate::scenario::limits;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// 2 CPUs and an 8 MiB LLC, with unknown (0), 2 GiB and 64 GiB of available memory; and a
    /// machine with more logical CPUs than a case may have workers (`"max"` must stop there).
    static MACHINES: LazyLock<Vec<Machine>> = LazyLock::new(|| {
        let mut machines: Vec<Machine> =
            [0u64, 2, 64].iter().map(|gib| synthetic(2, 8 << 20, gib << 30)).collect();
        machines.push(Machine { logical_cpus: 5000, ..synthetic(2, 8 << 20, 64 << 30) });
        machines
    });

    fn extreme_int() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            Just(0i64),
            Just(1i64),
            Just(4096i64),
            Just(4097i64),
            Just(1_000_000i64),
            Just(1_000_001i64),
            Just(i64::MAX),
            any::<i64>(),
            0i64..100,
        ]
    }

    /// Mostly ordinary values, so that many scenarios are accepted and checked, else extremes.
    fn mostly_small() -> impl Strategy<Value = i64> {
        prop_oneof![12 => 1i64..40, 1 => extreme_int()]
    }

    fn size_text() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => mostly_small().prop_map(|n| n.to_string()),
            8 => (1u64..1_000_000_000).prop_map(|n| n.to_string()),
            1 => extreme_int().prop_map(|n| format!("\"{n}\"")),
            1 => Just("\"18446744073709551616\"".to_string()),
            1 => Just("\"18446744073709551615\"".to_string()),
            1 => Just("\"10G\"".to_string()),
            1 => Just("\"1000T\"".to_string()),
            1 => Just("\"16EiB\"".to_string()),
            1 => Just("\"1.5Ti\"".to_string()),
            1 => (1u64..u64::MAX).prop_map(|n| format!("\"{n}\"")),
        ]
    }

    fn workers_text() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => mostly_small().prop_map(|n| n.to_string()),
            1 => (mostly_small(), extreme_int()).prop_map(|(a, b)| format!("\"{a}..={b}\"")),
            1 => (extreme_int(), extreme_int()).prop_map(|(a, b)| format!("\"{a}..{b}\"")),
            2 => Just("\"1..=max\"".to_string()),
            1 => Just("\"max\"".to_string()),
            2 => Just("\"pow2\"".to_string()),
            1 => Just("\"99999999999999999999999\"".to_string()),
            2 => proptest::collection::vec(mostly_small(), 1..4)
                .prop_map(|v| format!("[{}]", v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))),
        ]
    }

    fn duration_text() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("\"400000000000y\"".to_string()),
            1 => Just("\"18446744073709551615s\"".to_string()),
            1 => Just("\"0s\"".to_string()),
            1 => Just("\"24h\"".to_string()),
            1 => (0u64..u64::MAX).prop_map(|n| format!("\"{n}ms\"")),
            24 => (1u64..100_000).prop_map(|n| format!("\"{n}ms\"")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn extreme_scenarios_never_panic_and_stay_within_the_limits(
            kind in prop::sample::select(vec!["pi_monte_carlo", "spin", "stream_triad", "histogram", "nbody", "matmul", "ping_pong", "producer_consumer", "async_fanout", "mandelbrot", "stencil_heat", "empty"]),
            strategy in prop::sample::select(vec!["rayon", "threads", "process", "process-shm", "local-merge", "channels", "async", "semaphore"]),
            // `None`: no `size`, so the workload's default, shrunk to fit (or refused).
            size in prop::option::weighted(0.85, size_text()),
            workers in workers_text(),
            min_samples in mostly_small(),
            max_samples in prop_oneof![12 => 40i64..100, 1 => extreme_int()],
            timeout in duration_text(),
            chunk in mostly_small(),
            capacity in mostly_small(),
            permits in prop_oneof![4 => mostly_small(), 1 => Just(4096i64), 1 => Just(4097i64), 1 => Just(1i64 << 20)],
            seed in mostly_small(),
            scaling in prop::sample::select(vec!["strong", "weak"]),
            machine in 0usize..4,
        ) {
            let size = size.map(|s| format!("size = {s}\n")).unwrap_or_default();
            let text = format!(
                "[scenario]\nname = \"p\"\n[defaults]\nscaling = \"{scaling}\"\nseed = {seed}\n\
                 [strategy.channels]\ncapacity = {capacity}\n[strategy.semaphore]\ncapacity = {permits}\n\
                 [[workload]]\nkind = \"{kind}\"\n{size}workers = {workers}\n\
                 min_samples = {min_samples}\nmax_samples = {max_samples}\ntimeout = {timeout}\n\
                 chunk = {chunk}\nstrategies = [\"{strategy}\"]\n"
            );
            let parsed = parse("p.toml", &text, &MACHINES[machine]);
            if let Ok(plan) = parsed {
                prop_assert!(plan.case_count() <= limits::MAX_CASES);
                for w in &plan.workloads {
                    prop_assert!(w.workers.iter().all(|&n| (1..=limits::MAX_WORKERS).contains(&n)));
                    prop_assert!(w.sizes.iter().all(|&s| (1..=limits::MAX_SIZE).contains(&s)));
                    prop_assert!(w.settings.max_samples <= limits::MAX_SAMPLES);
                    prop_assert!(w.settings.timeout <= crate::units::MAX_DURATION);
                    prop_assert!(w.chunk.is_none_or(|c| c as u64 <= limits::MAX_SIZE));
                }
                for p in plan.strategy_params.values() {
                    prop_assert!(p.capacity.is_none_or(|c| c <= limits::MAX_CAPACITY));
                }
                // No tunable runs more threads at once than the limit, where its strategy runs.
                for (i, w) in plan.workloads.iter().enumerate() {
                    let most = *w.workers.iter().max().unwrap();
                    let kind = crate::workload::find(&w.kind).unwrap();
                    for name in &w.strategies {
                        let s = crate::strategy::find(name).unwrap();
                        if kind.support(s).is_ok() {
                            prop_assert!(s.threads(most, &plan.tunables(i, name)) <= limits::MAX_THREADS.max(most));
                        }
                    }
                }
                let cases = plan.cases();
                prop_assert_eq!(cases.len() as u64, plan.case_count());
                for c in &cases {
                    prop_assert!(c.effective_size <= limits::MAX_SIZE);
                }
                // Every accepted size fits the memory: what is available, or the fixed budget
                // where that is unknown (0), which must never mean "no limit".
                let budget = match MACHINES[machine].memory_available_bytes {
                    0 => limits::UNKNOWN_MEMORY_BYTES,
                    n => n,
                };
                for (i, w) in plan.workloads.iter().enumerate() {
                    for &size in &w.sizes {
                        let need = plan.worst_memory(i, size);
                        prop_assert!(need <= budget, "{} at {}: {} > {}", w.kind, size, need, budget);
                    }
                }
                // A plan read back from a file (resume, a case process) passes the same limits.
                let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
                prop_assert!(back.check_limits(&MACHINES[machine]).is_ok(), "{:?}", back.check_limits(&MACHINES[machine]));
            }
        }
    }

    #[test]
    fn the_fixed_corpus_is_refused() {
        let machine = synthetic(2, 8 << 20, 23 << 30);
        for (body, _, field, _) in REPRODUCTIONS {
            let e = parse("r.toml", &format!("{HEAD}{body}"), &machine).unwrap_err().to_string();
            assert!(e.contains(field), "{body}: {e}");
        }
    }
}

#[test]
fn cases_whose_speedup_is_not_parallel_scaling_carry_a_note() {
    let plan = ok(BUILTIN_QUICK);
    let noted = |workload: &str, strategy: &str| {
        let cases: Vec<_> =
            plan.cases().into_iter().filter(|c| c.workload == workload && c.strategy == strategy).collect();
        assert!(!cases.is_empty(), "{workload} x {strategy}");
        cases.iter().all(|c| !c.notes.is_empty())
    };
    assert!(noted("ping_pong", "channels") && noted("ping_pong", "sequential"));
    assert!(noted("async_fanout", "async") && !noted("async_fanout", "sequential"));
    assert!(noted("nbody", "local-merge") && !noted("nbody", "rayon"));
    assert!(!noted("pi_monte_carlo", "rayon"));
}

/// `[mpi]` with `body`, on a scenario written to a file in `dir` (a hostfile is relative to it).
fn mpi_scenario(dir: &std::path::Path, body: &str) -> Result<Plan, ScenarioError> {
    let text = format!("{HEAD}[mpi]\n{body}\n[[workload]]\nkind = \"pi_monte_carlo\"\n");
    let file = dir.join("s.toml");
    std::fs::write(&file, &text).unwrap();
    load(&file, &machine())
}

fn mpi_err(dir: &std::path::Path, body: &str) -> (usize, String, String) {
    match mpi_scenario(dir, body) {
        Err(ScenarioError::Invalid(l)) => (l.line, l.field.clone(), l.to_string()),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn the_mpi_section_is_validated_with_file_line_field_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    // Lines: 1-2 the head, 3 `[mpi]`, 4 the body.
    let (line, field, full) = mpi_err(dir.path(), "hostfiel = \"hosts\"");
    assert_eq!((line, field.as_str()), (4, "mpi.hostfiel"), "{full}");
    assert!(full.contains("did you mean `hostfile`?"), "{full}");
    let (line, field, full) = mpi_err(dir.path(), "launcher = \"mpiexc\"");
    assert_eq!((line, field.as_str()), (4, "mpi.launcher"), "{full}");
    assert!(full.contains("unknown launcher `mpiexc`") && full.contains("did you mean `mpiexec`?"), "{full}");
    let (line, field, full) = mpi_err(dir.path(), "hostfile = \"missing\"");
    assert_eq!((line, field.as_str()), (4, "mpi.hostfile"), "{full}");
    assert!(full.contains("missing") && full.contains("relative to the scenario file"), "{full}");
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let (_, _, full) = mpi_err(dir.path(), "hostfile = \"folder\"");
    assert!(full.contains("not a regular file"), "{full}");
    let (_, field, full) = mpi_err(dir.path(), "args = [\"--mca\", \"btl\", \"self\", \"-n\"]");
    assert_eq!(field, "mpi.args");
    assert!(full.contains("`-n` is set by parlab"), "{full}");
    let many = format!("args = [{}]", vec!["\"-v\""; super::mpi::MAX_ARGS + 1].join(", "));
    assert!(mpi_err(dir.path(), &many).2.contains("the limit is 64"));
    std::fs::write(dir.path().join("hosts"), "localhost slots=2\n").unwrap();
    let (_, field, full) = mpi_err(dir.path(), "launcher = \"srun\"\nhostfile = \"hosts\"");
    assert_eq!(field, "mpi.hostfile", "{full}");
}

#[test]
fn the_mpi_section_travels_in_the_plan_and_is_checked_again_when_read_back() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(mpi_scenario(dir.path(), "").unwrap().mpi, MpiSettings::default());
    std::fs::write(dir.path().join("hosts"), "localhost slots=2\n").unwrap();
    let plan = mpi_scenario(
        dir.path(),
        "launcher = \"mpiexec\"\nargs = [\"--mca\", \"btl\", \"self,vader\"]\nhostfile = \"hosts\"",
    )
    .unwrap();
    assert_eq!(plan.mpi.launcher, Launcher::Mpiexec);
    assert_eq!(plan.mpi.args, ["--mca", "btl", "self,vader"]);
    let hostfile = plan.mpi.hostfile.clone().unwrap();
    assert!(hostfile.is_absolute() && hostfile.ends_with("hosts"), "{hostfile:?}");
    let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(back, plan);
    back.check_limits(&machine()).unwrap();
    let mut edited = back.clone();
    edited.mpi.args.push("--np=4".into());
    assert!(edited.check_limits(&machine()).unwrap_err().starts_with("mpi.args: `--np=4` is set by parlab"));
    // mpirun's alias of -np, and counts glued to their flag, are the rank count too.
    for own in ["-c", "-n4", "-np16"] {
        let mut glued = back.clone();
        glued.mpi.args.push(own.into());
        let e = glued.check_limits(&machine()).unwrap_err();
        assert!(e.starts_with(&format!("mpi.args: `{own}` is set by parlab")), "{e}");
    }
    let mut fine = back.clone();
    fine.mpi.args.extend(["-nolocal".to_string(), "--noprefix".to_string()]);
    fine.check_limits(&machine()).unwrap();
    std::fs::remove_file(&hostfile).unwrap();
    let gone = back.check_limits(&machine()).unwrap_err();
    assert!(gone.starts_with("mpi.hostfile: cannot use"), "{gone}");
    // A plan written before `[mpi]` existed reads as the defaults.
    let mut old = serde_json::to_value(&plan).unwrap();
    old.as_object_mut().unwrap().remove("mpi");
    assert_eq!(serde_json::from_value::<Plan>(old).unwrap().mpi, MpiSettings::default());
}

/// The test machine with two OpenCL devices (a CPU and a GPU) and a CUDA one.
fn machine_with_devices() -> Machine {
    let mut m = machine();
    let gpu = |api: &str, name: &str, kind: &str| crate::machine::Gpu {
        name: name.into(),
        api: api.into(),
        memory_bytes: 1 << 30,
        platform: None,
        kind: Some(kind.into()),
        compute_units: Some(4),
        cache_bytes: Some(1 << 20),
        max_work_group_size: Some(256),
        version: None,
        fp64: Some(true),
        cuda: None,
    };
    m.gpus = vec![
        gpu("opencl", "pthread-Tiny CPU", "cpu"),
        gpu("opencl", "Tiny GPU", "gpu"),
        gpu("cuda", "Tiny GPU", "gpu"),
    ];
    m
}

/// `(strategy, workers, device label, cache, resident)` of a case.
type DeviceRow = (String, usize, Option<String>, Option<Cache>, Option<bool>);

/// The [`DeviceRow`] of each case of `text`'s plan, on [`machine_with_devices`].
fn device_cases(text: &str) -> Vec<DeviceRow> {
    let plan = parse("s.toml", text, &machine_with_devices()).unwrap_or_else(|e| panic!("{e}"));
    let cases = plan.cases();
    assert_eq!(plan.case_count(), cases.len() as u64, "counted as made");
    cases
        .into_iter()
        .map(|c| {
            let d = c.device.as_ref();
            (c.strategy, c.workers, d.map(|d| d.label()), d.map(|d| d.cache), d.map(|d| d.resident))
        })
        .collect()
}

#[test]
fn each_selected_device_is_its_own_case_and_cpu_strategies_get_none() {
    let matmul = |body: &str| {
        format!(
            "{HEAD}[[workload]]\nkind = \"matmul\"\nsize = 32\nworkers = [1, 2]\n\
             strategies = [\"threads\", \"opencl\", \"opencl-tiled\"]\n{body}"
        )
    };
    let s = |n: &str| n.to_string();
    let on = |d: &str| Some(d.to_string());
    // By default every device of the strategy's backend, the cache cold and nothing resident;
    // the CUDA device is not the `opencl` backend's.
    let cold = (Some(Cache::Cold), Some(false));
    assert_eq!(
        device_cases(&matmul("")),
        [
            (s("sequential"), 1, None, None, None),
            (s("threads"), 1, None, None, None),
            (s("threads"), 2, None, None, None),
            (s("opencl"), 1, on("pthread-Tiny CPU"), cold.0, cold.1),
            (s("opencl"), 1, on("Tiny GPU"), cold.0, cold.1),
            (s("opencl-tiled"), 1, on("pthread-Tiny CPU"), cold.0, cold.1),
            (s("opencl-tiled"), 1, on("Tiny GPU"), cold.0, cold.1),
        ]
    );
    let gpu = device_cases(&matmul("device = \"gpu\"\ncache = \"warm\"\nresident = true\n"));
    assert_eq!(gpu.len(), 5);
    assert_eq!(gpu[3], (s("opencl"), 1, on("Tiny GPU"), Some(Cache::Warm), Some(true)));
    assert_eq!(device_cases(&matmul("device = \"CPU\"\n"))[3].2, on("pthread-Tiny CPU"));
    assert_eq!(device_cases(&matmul("device = \"tiny g\"\n"))[3].2, on("Tiny GPU"));
    // No device matches: one case each, which the backend reports unavailable, saying why.
    let none = device_cases(&matmul("device = \"Radeon\"\n"));
    assert_eq!(none.len(), 5);
    assert_eq!(none[3].2, on("none matching \"Radeon\""));
    // [defaults] reach every entry; one without a device strategy ignores them.
    let text = format!(
        "{HEAD}[defaults]\ndevice = \"gpu\"\ncache = \"warm\"\n[[workload]]\nkind = \"pi_monte_carlo\"\n\
         size = 1000\nworkers = [1, 2]\nstrategies = [\"threads\"]\n[[workload]]\nkind = \"matmul\"\n\
         size = 32\nstrategies = [\"opencl\"]\n"
    );
    let cases = device_cases(&text);
    assert_eq!(cases.len(), 5, "{cases:?}");
    assert!(cases[..3].iter().all(|c| c.2.is_none()));
    assert_eq!(cases[4], (s("opencl"), 1, on("Tiny GPU"), Some(Cache::Warm), Some(false)));
    // A machine with no device: one case per device strategy, with no target.
    let plan = ok(&matmul(""));
    let targets: Vec<_> = plan.cases().iter().filter_map(|c| c.device.clone()).map(|d| d.target).collect();
    assert_eq!(targets, [None, None]);
    // The plan keeps the devices it saw, so that a plan read back expands to the same cases.
    let plan = parse("s.toml", &matmul(""), &machine_with_devices()).unwrap();
    let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(back.cases(), plan.cases());
}

#[test]
fn device_settings_are_checked_with_file_line_field_and_a_suggestion() {
    let matmul = |body: &str| {
        format!("{HEAD}[[workload]]\nkind = \"matmul\"\nsize = 32\nstrategies = [\"opencl\"]\n{body}")
    };
    let (line, field, msg) = err(&matmul("device = \"  \"\n"));
    assert_eq!((line, field.as_str()), (7, "workload[0].device"));
    assert!(msg.contains("empty") && msg.contains("\"gpu\", \"cpu\", \"all\""), "{msg}");
    let (line, field, msg) = err(&matmul("cache = \"wram\"\n"));
    assert_eq!((line, field.as_str()), (7, "workload[0].cache"));
    assert!(msg.contains("unknown cache state `wram`") && msg.contains("did you mean \"warm\"?"), "{msg}");
    let (_, field, msg) =
        err(&format!("{HEAD}[defaults]\ncache = \"hot\"\n[[workload]]\nkind = \"matmul\"\n"));
    assert_eq!(field, "defaults.cache");
    assert!(msg.contains("\"cold\"") && msg.contains("\"warm\""), "{msg}");
    let (line, field, _) = err(&matmul("resident = \"yes\"\n"));
    assert_eq!((line, field.as_str()), (7, "workload[0].resident"));
    // On an entry with no device strategy the settings would do nothing: refused, at the key.
    let (line, field, msg) = err(&with_workload("strategies = [\"threads\"]\nresident = true\n"));
    assert_eq!((line, field.as_str()), (6, "workload[0].resident"));
    assert!(msg.contains("device strategies only") && msg.contains("opencl"), "{msg}");
    let (_, field, _) = err(&with_workload("strategies = [\"threads\"]\ndevice = \"gpu\"\n"));
    assert_eq!(field, "workload[0].device");
    // A plan read back holds an empty selector no more than a scenario does.
    let mut plan = ok(&matmul(""));
    plan.workloads[0].settings.device = DeviceChoice::Name(String::new());
    let e = plan.check_limits(&machine()).unwrap_err();
    assert!(e.starts_with("workload[0].device: "), "{e}");
}
