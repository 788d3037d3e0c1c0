//! parlab: a performance lab for parallel programming.
//!
//! A scenario file selects workloads and strategies; parlab detects the machine, runs every
//! strategy on every workload over a sweep of worker counts and sizes, verifies each result
//! against the sequential reference, measures with robust statistics and writes reports.
//!
//! The pipeline, one module per stage:
//! [`scenario`] (parse, validate) -> [`machine`] (detect) -> [`workload`] x [`strategy`] (the
//! matrix) -> [`runner`] (sampling, isolation, events) -> [`results`] (versioned schema) ->
//! [`report`] (terminal, Markdown, JSON).

pub mod align;
pub mod backend;
pub mod clock;
pub mod compare;
pub mod criterion_import;
pub mod identity;
pub mod input;
pub mod limits;
pub mod machine;
pub mod marker;
pub mod params;
pub mod ranks;
pub mod remote;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod strategy;
pub mod subprocess;
pub mod units;
pub mod workload;
