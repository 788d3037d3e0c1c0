//! The `mpi` backend: a case's runs on MPI ranks, one `mpirun` job per case.
//!
//! Always compiled, so that a build without MPI can say why its `mpi` cases are unavailable
//! (`built without the mpi feature`), and one with it where there is no launcher (`mpirun not
//! found`). [`Mpi::start`] launches `mpirun -n P parlab mpi-worker` ([`super::mpi_worker`]) and
//! talks to the job over the case protocol ([`super::protocol`]): mpirun forwards its stdin to
//! rank 0 and every rank's stdout to its own, and only rank 0 writes protocol lines. Spawning
//! the job until its `ready` is the session's setup (the launch cost), outside every sample.
//!
//! A job still running when its session ends (a timeout) is sent SIGTERM first: mpirun then
//! ends its ranks, which run outside its process group.
//!
//! On this machine alone (no hostfile), ranks are bound to cores only when they fit
//! (`--bind-to core`); more ranks than logical CPUs run `--oversubscribe --bind-to none`. With a
//! hostfile, or inside a batch allocation that mpirun reads (Slurm, PBS), the ranks spread over
//! hosts whose cores parlab does not know: the slots say how many fit where, and OpenMPI's own
//! binding applies. A `--bind-to` (or
//! `--oversubscribe`) in `[mpi] args` is the user's choice and parlab adds none of its own.
//! Each rank's placement records the CPUs it was allowed, which shows the binding taken.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::protocol::{self, ProtocolSession, Waits};
use super::{Backend, BackendError, CaseJob, Sample, Session, CASE_MARKER_ENV};
use crate::results::{Host, Placement};
use crate::scenario::{Launcher, MpiSettings, Plan};
use crate::subprocess::{mpi_launcher, worker_exe};
use crate::workload::Verification;

/// The hidden subcommand every rank runs.
pub const SUBCOMMAND: &str = "mpi-worker";

pub struct Mpi;

/// How `ranks` ranks are placed on a machine with `cpus` logical CPUs: bound one to a core when
/// they fit, else all free to move (binding more ranks than cores would stack them).
pub fn binding_args(ranks: usize, cpus: usize) -> &'static [&'static str] {
    if ranks <= cpus {
        &["--bind-to", "core"]
    } else {
        &["--oversubscribe", "--bind-to", "none"]
    }
}

/// The binding and oversubscription parlab adds for `mpirun` and `mpiexec`: [`binding_args`]
/// from this machine's logical CPUs (`local_cpus`) when the ranks all run here, nothing when
/// the hosts are elsewhere too (`local_cpus` is `None`: a hostfile's or a batch allocation's
/// slots decide), and never a `--bind-to` or `--oversubscribe` that `user` (the `[mpi] args`)
/// already gives, in either spelling (`-bind-to`, `--bind-to=core`).
pub fn placement_args(user: &[String], local_cpus: Option<usize>, ranks: usize) -> Vec<&'static str> {
    let gives = |flag: &str| {
        user.iter().any(|a| {
            let name = a.split('=').next().unwrap_or(a);
            name.trim_start_matches('-') == flag && name.starts_with('-')
        })
    };
    let Some(cpus) = local_cpus else { return Vec::new() };
    let mut out = Vec::new();
    let mut ours = binding_args(ranks, cpus).iter().copied();
    while let Some(arg) = ours.next() {
        match arg {
            "--oversubscribe" if gives("oversubscribe") => {}
            "--bind-to" => {
                let value = ours.next().expect("`--bind-to` has a value");
                if !gives("bind-to") {
                    out.extend([arg, value]);
                }
            }
            _ => out.push(arg),
        }
    }
    out
}

/// Batch systems whose allocations mpirun reads (Slurm, PBS, LSF, Grid Engine), by the
/// variable each sets in a job, and OpenMPI's own default hostfile.
const HOSTS_FROM_ENV: &[&str] =
    &["SLURM_JOB_ID", "PBS_NODEFILE", "LSB_JOBID", "PE_HOSTFILE", "OMPI_MCA_orte_default_hostfile"];

/// mpirun arguments that name hosts, in either spelling and with `=`.
const HOST_ARGS: &[&str] = &["host", "H", "default-hostfile", "rankfile", "rf"];

/// Whether `args` name hosts for mpirun (`--host a,b`, `-H a`, `--rankfile f`, ...).
fn args_name_hosts(args: &[String]) -> bool {
    args.iter().any(|a| {
        let name = a.split('=').next().unwrap_or(a);
        name.starts_with('-') && HOST_ARGS.contains(&name.trim_start_matches('-'))
    })
}

/// This machine's logical CPUs when an `mpirun` job of `settings` runs all its ranks here;
/// `None` when a hostfile, host arguments (`--host`, `-H`, a rankfile) or a batch system's
/// allocation (Slurm's `SLURM_JOB_ID`, PBS's `PBS_NODEFILE`, ..., which mpirun reads) give it
/// other hosts too: their slots decide what fits where, not this machine's cores.
pub fn local_cpus(settings: &MpiSettings) -> Option<usize> {
    let allocated = HOSTS_FROM_ENV.iter().any(|v| std::env::var_os(v).is_some());
    (settings.hostfile.is_none() && !allocated && !args_name_hosts(&settings.args))
        .then(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The launcher's arguments before the worker program, as `[mpi]` asks: the user's own first,
/// then the rank count and, for `mpirun` and `mpiexec`, the binding ([`placement_args`], given
/// [`local_cpus`]), the hostfile and a `-x` per
/// marker variable (which mpirun passes on only when told; `run_marker`: whether this run has
/// one); `srun` passes the whole environment (`--export=ALL`), markers included. Names only:
/// the markers' values travel in the environment, never on the command line.
pub fn launcher_args(
    settings: &MpiSettings,
    ranks: usize,
    local_cpus: Option<usize>,
    run_marker: bool,
) -> Vec<String> {
    let mut args = settings.args.clone();
    args.push("-n".into());
    args.push(ranks.to_string());
    match settings.launcher {
        Launcher::Mpirun | Launcher::Mpiexec => {
            let placement = placement_args(&settings.args, local_cpus, ranks);
            args.extend(placement.into_iter().map(String::from));
            if let Some(file) = &settings.hostfile {
                args.push("--hostfile".into());
                args.push(file.display().to_string());
            }
            args.push("-x".into());
            args.push(CASE_MARKER_ENV.into());
            if run_marker {
                args.push("-x".into());
                args.push(crate::marker::ENV.into());
            }
        }
        Launcher::Srun => args.push("--export=ALL".into()),
    }
    args
}

/// How a case's ranks were launched, as far as that changes what they measure: the launcher's
/// name, the user's arguments, the binding and the hostfile (by name and a hash of what it
/// says, so that a copy of a scenario in another folder still names the same launch). Not the
/// rank count (the case's `workers`), the markers or where the launcher was found. The case's
/// [`Session::launch`], part of its identity: a case launched with `srun` is not the one
/// launched with `mpirun`, nor one bound to cores the one oversubscribed.
pub fn launch(settings: &MpiSettings, ranks: usize, local_cpus: Option<usize>) -> String {
    let mut words = vec![settings.launcher.program().to_string()];
    words.extend(settings.args.iter().cloned());
    if matches!(settings.launcher, Launcher::Mpirun | Launcher::Mpiexec) {
        // The binding parlab adds, exactly as `launcher_args` adds it (none with a hostfile, in
        // an allocation or beside the user's own).
        words.extend(placement_args(&settings.args, local_cpus, ranks).iter().map(|a| a.to_string()));
        if let Some(file) = &settings.hostfile {
            let name =
                file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into());
            words.push("--hostfile".into());
            // Unreadable now (it was readable when the scenario was read): the name alone.
            words.push(match std::fs::read(file) {
                Ok(bytes) => format!("{name}#{:08x}", fnv1a(&bytes) as u32),
                Err(_) => name,
            });
        }
    }
    words.join(" ")
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The command line a case's ranks were started with, as its notes record it.
pub fn launch_note(program: &Path, args: &[String]) -> String {
    format!("ranks started by `{} {} parlab {SUBCOMMAND}`", program.display(), args.join(" "))
}

/// The system-wide MCA parameter file of Debian's and Ubuntu's OpenMPI. Its place in other
/// builds is `ompi_info --path sysconfdir`, too slow to ask for every case.
pub const SYSTEM_MCA_PARAMS: &str = "/etc/openmpi/openmpi-mca-params.conf";

/// The MCA parameter files OpenMPI reads, the one that wins first: `listed` (the value of
/// `OMPI_MCA_mca_base_param_files`, `:`-separated) if set, else the user's
/// (`HOME/.openmpi/mca-params.conf`) and then [`SYSTEM_MCA_PARAMS`].
pub fn mca_param_files(home: Option<&Path>, listed: Option<&str>) -> Vec<PathBuf> {
    match listed {
        Some(list) => list.split(':').filter(|f| !f.is_empty()).map(PathBuf::from).collect(),
        None => home
            .map(|h| h.join(".openmpi/mca-params.conf"))
            .into_iter()
            .chain([PathBuf::from(SYSTEM_MCA_PARAMS)])
            .collect(),
    }
}

/// An MCA parameter's value for a job, and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mca {
    pub value: String,
    /// `--mca`, `OMPI_MCA_NAME`, or a parameter file's path.
    pub from: String,
}

/// An OpenMPI MCA parameter as the job gets it, as OpenMPI ranks its sources: the last `--mca
/// NAME VALUE` (or `-mca`) in `args`, else `OMPI_MCA_NAME` in the environment (`env`), else the
/// first of the parameter `files` (see [`mca_param_files`]) that sets it (`NAME = VALUE`).
pub fn mca_setting(args: &[String], env: Option<String>, files: &[PathBuf], name: &str) -> Option<Mca> {
    let given = args
        .windows(3)
        .rev()
        .find(|w| (w[0] == "--mca" || w[0] == "-mca") && w[1] == name)
        .map(|w| Mca { value: w[2].clone(), from: "--mca".into() });
    let env = || env.map(|value| Mca { value, from: format!("OMPI_MCA_{name}") });
    let in_file = || {
        files.iter().find_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let value = param_file_value(&text, name)?;
            Some(Mca { value, from: f.display().to_string() })
        })
    };
    given.or_else(env).or_else(in_file)
}

/// `name`'s value in the text of an MCA parameter file: its last `name = value` line.
fn param_file_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
        .next_back()
}

/// The ranks on each host, in the order of the first rank there: `("node-a", 2)`.
pub fn ranks_per_host(placement: &[Placement]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for p in placement {
        match out.iter_mut().find(|(host, _)| *host == p.host) {
            Some((_, n)) => *n += 1,
            None => out.push((p.host.clone(), 1)),
        }
    }
    out
}

/// A case note on how the ranks were spread and how they talked: ranks per host, and the
/// transport, inferred from that spread and the effective `pml` and `btl` settings (see
/// [`mca_setting`]; `files`: the parameter files read). Inferred, and said so: OpenMPI picks a
/// BTL per pair of ranks at start-up and does not report it. Only the ob1 PML uses BTLs: where
/// `pml` is unset (ob1 assumed), lists ob1 or excludes ucx, within a host ob1 takes shared
/// memory (`vader`) when the `btl` list allows it, and between hosts the network BTLs allowed
/// (`tcp` on Ethernet). Any other PML (ucx, cm) carries the traffic itself, by means MPI does not
/// report: the note names the PML and no BTL. `None` without placement.
pub fn spread_note(
    placement: &[Placement],
    btl: Option<&Mca>,
    pml: Option<&Mca>,
    files: &[PathBuf],
) -> Option<String> {
    let per_host = ranks_per_host(placement);
    if per_host.is_empty() {
        return None;
    }
    let counts: Vec<String> = per_host.iter().map(|(host, n)| format!("{host} {n}")).collect();
    let within = per_host.iter().any(|(_, n)| *n > 1);
    let between = per_host.len() > 1;
    let mut said = format!("ranks per host: {}", counts.join(", "));
    if !within && !between {
        return Some(said);
    }
    let setting = |name: &str, m: Option<&Mca>| match m {
        Some(m) => format!("{name} {} from {}", m.value, m.from),
        None => format!("{name} unset"),
    };
    let read: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let settings = format!(
        "{}, {}; read: --mca, OMPI_MCA_*{}{}",
        setting("pml", pml),
        setting("btl", btl),
        if read.is_empty() { "" } else { ", " },
        read.join(", ")
    );
    // A PML list names candidates; `^` excludes those named.
    let names = |v: &str| -> (bool, Vec<String>) {
        match v.strip_prefix('^') {
            Some(rest) => (false, rest.split(',').map(|n| n.trim().to_string()).collect()),
            None => (true, v.split(',').map(|n| n.trim().to_string()).collect()),
        }
    };
    let ob1 = match pml.map(|m| names(&m.value)) {
        None => true,
        Some((true, listed)) => listed.iter().any(|n| n == "ob1"),
        Some((false, excluded)) => excluded.iter().any(|n| n == "ucx"),
    };
    if !ob1 {
        let pml = pml.map_or("", |m| m.value.as_str());
        said.push_str(&format!(
            "; interconnect chosen by the pml `{pml}`, which carries the traffic itself (MPI does not report the transport; {settings})"
        ));
        return Some(said);
    }
    let listed = btl.map(|b| names(&b.value));
    let allows = |name: &str| match &listed {
        None => true,
        Some((true, names)) => names.iter().any(|n| n == name),
        Some((false, names)) => !names.iter().any(|n| n == name),
    };
    let mut transports = Vec::new();
    if within {
        let shm = if allows("vader") {
            "shared memory (vader)"
        } else {
            "not shared memory (vader is not allowed)"
        };
        transports.push(format!("within a host {shm}"));
    }
    if between {
        let network: Vec<&str> = match &listed {
            Some((true, names)) => {
                names.iter().map(String::as_str).filter(|n| !["self", "vader", "sm"].contains(n)).collect()
            }
            _ => Vec::new(),
        };
        transports.push(match network.is_empty() {
            false => format!("between hosts {}", network.join(" or ")),
            true => "between hosts the fastest network BTL OpenMPI finds (tcp on Ethernet)".into(),
        });
    }
    let assumed = if pml.is_none() { ", ob1 assumed" } else { "" };
    said.push_str(&format!(
        "; interconnect {} (inferred from where the ranks ran and the MCA settings{assumed}: {settings}; MPI does not report it)",
        transports.join(", ")
    ));
    Some(said)
}

/// The launcher `settings` names, found on `PATH`, or why it cannot be used.
fn launcher(settings: &MpiSettings) -> Result<std::path::PathBuf, BackendError> {
    mpi_launcher(settings.launcher.program()).map_err(BackendError::Unavailable)
}

impl Backend for Mpi {
    fn name(&self) -> &'static str {
        "mpi"
    }
    fn summary(&self) -> &'static str {
        "MPI ranks in one launcher job (`mpirun`, `mpiexec`, `srun`) per case, driven over the case protocol through rank 0"
    }
    fn availability(&self) -> Result<(), BackendError> {
        launcher(&MpiSettings::default()).map(drop)
    }
    fn availability_in(&self, plan: &Plan) -> Result<(), BackendError> {
        launcher(&plan.mpi).map(drop)
    }
    fn launch(&self, mpi: &MpiSettings, workers: usize) -> Option<String> {
        Some(launch(mpi, workers.max(1), local_cpus(mpi)))
    }
    fn start<'a>(&self, job: CaseJob<'a>) -> Result<Box<dyn Session + 'a>, BackendError> {
        let program = launcher(&job.mpi)?;
        let exe = worker_exe().map_err(BackendError::Unavailable)?;
        let ranks = job.spec.workers.max(1);
        let run_marker = std::env::var_os(crate::marker::ENV).is_some();
        let here = local_cpus(&job.mpi);
        let args = launcher_args(&job.mpi, ranks, here, run_marker);
        let mut command = Command::new(&program);
        command.args(&args).arg(&exe).arg(SUBCOMMAND);
        let note = launch_note(&program, &args);
        let what = format!("`{} -n {ranks} parlab {SUBCOMMAND}`", job.mpi.launcher.program());
        // MPI_Finalize and the launcher's own teardown take longer than a plain program's exit.
        // The ranks run in process groups of their own: a job still running when the case ends
        // (cancelled, timed out) gets a SIGTERM, on which the launcher ends its ranks, before
        // the group's SIGKILL, which would leave them behind.
        let waits = Waits { exit: Duration::from_secs(5), term: Duration::from_secs(5), ..Waits::default() };
        let inner = protocol::start(command, what, &job, waits)?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let listed = std::env::var("OMPI_MCA_mca_base_param_files").ok();
        let files = mca_param_files(home.as_deref(), listed.as_deref());
        let btl = mca_setting(&job.mpi.args, std::env::var("OMPI_MCA_btl").ok(), &files, "btl");
        let pml = mca_setting(&job.mpi.args, std::env::var("OMPI_MCA_pml").ok(), &files, "pml");
        let spread = spread_note(&inner.placement(), btl.as_ref(), pml.as_ref(), &files);
        Ok(Box::new(MpiSession { inner, notes: std::iter::once(note).chain(spread).collect() }))
    }
}

/// A protocol session that also says how its ranks were started, spread and connected.
struct MpiSession {
    inner: ProtocolSession,
    notes: Vec<String>,
}

impl Session for MpiSession {
    fn setup_ns(&self) -> u64 {
        self.inner.setup_ns()
    }
    fn sample(&mut self, index: usize, runs: u64) -> Result<Sample, BackendError> {
        self.inner.sample(index, runs)
    }
    fn verify(&mut self) -> Result<Verification, BackendError> {
        self.inner.verify()
    }
    fn isa(&self) -> Option<&str> {
        self.inner.isa()
    }
    fn placement(&self) -> Vec<Placement> {
        self.inner.placement()
    }
    fn hosts(&self) -> Vec<Host> {
        self.inner.hosts()
    }
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_arguments_leave_the_binding_to_the_hosts_slots() {
        let with = |args: &[&str]| MpiSettings {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..MpiSettings::default()
        };
        for args in [
            &["--host", "a:4,b:4"][..],
            &["-H", "a,b"],
            &["--host=a:4"],
            &["-host", "a"],
            &["--rankfile", "r"],
            &["--default-hostfile", "h"],
        ] {
            let s = with(args);
            assert_eq!(local_cpus(&s), None, "{args:?}");
            let launched = launcher_args(&s, 16, local_cpus(&s), false);
            assert!(
                !launched.iter().any(|a| a == "--oversubscribe" || a == "--bind-to"),
                "{args:?}: {launched:?}"
            );
        }
        // Arguments that merely contain the word are not host arguments.
        assert!(local_cpus(&with(&["--mca", "btl_tcp_if_include", "host0"])).is_some());
    }

    #[test]
    fn ranks_are_bound_only_when_they_fit() {
        assert_eq!(binding_args(2, 2), ["--bind-to", "core"]);
        assert_eq!(binding_args(1, 4), ["--bind-to", "core"]);
        assert_eq!(binding_args(3, 2), ["--oversubscribe", "--bind-to", "none"]);
    }

    #[test]
    fn binding_is_decided_here_only_without_a_hostfile_and_never_over_the_users() {
        let user = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(placement_args(&[], Some(2), 2), ["--bind-to", "core"]);
        assert_eq!(placement_args(&[], Some(2), 3), ["--oversubscribe", "--bind-to", "none"]);
        // Three ranks over a hostfile's (or an allocation's) hosts may well fit, whatever this
        // machine has.
        assert!(placement_args(&[], None, 3).is_empty());
        assert!(placement_args(&user(&["--bind-to", "none"]), None, 3).is_empty());
        assert!(placement_args(&user(&["--bind-to", "socket"]), Some(2), 2).is_empty());
        assert_eq!(placement_args(&user(&["-bind-to", "none"]), Some(2), 3), ["--oversubscribe"]);
        assert_eq!(placement_args(&user(&["--bind-to=none"]), Some(2), 3), ["--oversubscribe"]);
        assert_eq!(placement_args(&user(&["--oversubscribe"]), Some(2), 3), ["--bind-to", "none"]);
        // A value that merely mentions the flag is not the flag.
        assert_eq!(placement_args(&user(&["-x", "bind-to"]), Some(2), 2), ["--bind-to", "core"]);
    }

    #[test]
    fn only_a_job_without_hostfile_or_allocation_is_placed_by_this_machines_cpus() {
        let hostfile = MpiSettings { hostfile: Some("/h/hosts".into()), ..MpiSettings::default() };
        assert_eq!(local_cpus(&hostfile), None);
        let allocated = ["SLURM_JOB_ID", "PBS_NODEFILE"].iter().any(|v| std::env::var_os(v).is_some());
        match local_cpus(&MpiSettings::default()) {
            Some(n) => assert!(!allocated && n >= 1),
            None => assert!(allocated),
        }
    }

    #[test]
    fn mpirun_and_mpiexec_get_binding_hostfile_and_markers_srun_the_environment() {
        let hostfile = std::path::PathBuf::from("/h/hosts");
        let mut settings = MpiSettings {
            launcher: Launcher::Mpiexec,
            args: vec!["--mca".into(), "btl".into(), "self,vader".into()],
            hostfile: Some(hostfile),
        };
        let args = launcher_args(&settings, 2, local_cpus(&settings), true);
        let want = "--mca btl self,vader -n 2 --hostfile /h/hosts -x PARLAB_CASE_MARKER -x PARLAB_RUN_MARKER";
        assert_eq!(args.join(" "), want);
        assert_eq!(
            launch_note(Path::new("/usr/bin/mpiexec"), &args),
            format!("ranks started by `/usr/bin/mpiexec {want} parlab mpi-worker`")
        );
        settings.hostfile = None;
        assert_eq!(
            launcher_args(&settings, 3, Some(2), false).join(" "),
            "--mca btl self,vader -n 3 --oversubscribe --bind-to none -x PARLAB_CASE_MARKER"
        );
        let srun =
            MpiSettings { launcher: Launcher::Srun, args: vec!["-p".into(), "short".into()], hostfile: None };
        assert_eq!(launcher_args(&srun, 4, Some(2), true), ["-p", "short", "-n", "4", "--export=ALL"]);
    }

    fn at(hosts: &[&str]) -> Vec<Placement> {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| Placement { role: format!("rank {i}"), host: h.to_string(), pid: None, cpus: None })
            .collect()
    }

    fn mca(value: &str, from: &str) -> Mca {
        Mca { value: value.into(), from: from.into() }
    }

    #[test]
    fn the_spread_note_counts_ranks_per_host_and_says_the_transport_is_inferred() {
        let files = [PathBuf::from("/etc/openmpi/openmpi-mca-params.conf")];
        assert_eq!(spread_note(&[], None, None, &files), None);
        assert_eq!(spread_note(&at(&["a"]), None, None, &files).unwrap(), "ranks per host: a 1");
        let tcp = mca("tcp,self", "--mca");
        let three = spread_note(&at(&["a", "b", "c"]), Some(&tcp), None, &files).unwrap();
        assert_eq!(
            three,
            "ranks per host: a 1, b 1, c 1; interconnect between hosts tcp (inferred from where the ranks ran and \
             the MCA settings, ob1 assumed: pml unset, btl tcp,self from --mca; read: --mca, OMPI_MCA_*, \
             /etc/openmpi/openmpi-mca-params.conf; MPI does not report it)"
        );
        let mixed = spread_note(&at(&["a", "b", "a"]), None, None, &[]).unwrap();
        assert!(mixed.starts_with("ranks per host: a 2, b 1; interconnect within a host shared memory (vader), between hosts the fastest network BTL"), "{mixed}");
        assert!(mixed.contains("read: --mca, OMPI_MCA_*; MPI"), "{mixed}");
        let no_shm =
            spread_note(&at(&["a", "a"]), Some(&mca("^vader", "OMPI_MCA_btl")), None, &files).unwrap();
        assert!(no_shm.contains("within a host not shared memory"), "{no_shm}");
        // Debian's own file: ob1 by excluding ucx; the BTLs are still inferred.
        let debian = mca("^ucx", "/etc/openmpi/openmpi-mca-params.conf");
        let btl = mca("^uct,openib,ofi", "/etc/openmpi/openmpi-mca-params.conf");
        let note = spread_note(&at(&["a", "a", "b"]), Some(&btl), Some(&debian), &files).unwrap();
        assert!(
            note.contains("interconnect within a host shared memory (vader), between hosts the fastest"),
            "{note}"
        );
        assert!(
            note.contains("settings: pml ^ucx from /etc/openmpi/openmpi-mca-params.conf, btl ^uct"),
            "{note}"
        );
        let ob1 = spread_note(&at(&["a", "b"]), Some(&tcp), Some(&mca("ob1", "--mca")), &files).unwrap();
        assert!(
            ob1.contains("interconnect between hosts tcp (inferred") && !ob1.contains("assumed"),
            "{ob1}"
        );
    }

    #[test]
    fn a_pml_other_than_ob1_is_named_as_the_carrier_and_no_btl_is() {
        let files = [PathBuf::from("/site/mca-params.conf")];
        let tcp = mca("tcp,self", "--mca");
        for pml in ["ucx", "cm", "^ob1"] {
            let note = spread_note(
                &at(&["a", "b", "a"]),
                Some(&tcp),
                Some(&mca(pml, "/site/mca-params.conf")),
                &files,
            )
            .unwrap();
            assert_eq!(
                note,
                format!(
                    "ranks per host: a 2, b 1; interconnect chosen by the pml `{pml}`, which carries the traffic \
                     itself (MPI does not report the transport; pml {pml} from /site/mca-params.conf, btl tcp,self \
                     from --mca; read: --mca, OMPI_MCA_*, /site/mca-params.conf)"
                )
            );
        }
    }

    #[test]
    fn mca_settings_come_from_the_command_line_then_the_environment_then_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".openmpi")).unwrap();
        let user = home.join(".openmpi/mca-params.conf");
        std::fs::write(&user, "# mine\nbtl = self,tcp\n  pml=ucx  \n").unwrap();
        let system = dir.path().join("system.conf");
        std::fs::write(&system, "pml = ^ucx\nbtl = ^openib\nbtl = ^uct,openib\nosc = ^ucx\n# pml = cm\n")
            .unwrap();
        // The default list: the user's file, then the system's.
        let files = mca_param_files(Some(&home), None);
        assert_eq!(files, [user.clone(), PathBuf::from(SYSTEM_MCA_PARAMS)]);
        // OMPI_MCA_mca_base_param_files replaces it; the first file that sets a name wins.
        let listed = format!("{}:{}", user.display(), system.display());
        let files = mca_param_files(Some(&home), Some(&listed));
        assert_eq!(files, [user.clone(), system.clone()]);
        let user_name = user.display().to_string();
        assert_eq!(mca_setting(&[], None, &files, "pml"), Some(mca("ucx", &user_name)));
        let only_system = [system.clone()];
        let system_name = system.display().to_string();
        assert_eq!(mca_setting(&[], None, &only_system, "pml"), Some(mca("^ucx", &system_name)));
        // Within a file the last line counts; a comment does not.
        assert_eq!(mca_setting(&[], None, &only_system, "btl"), Some(mca("^uct,openib", &system_name)));
        assert_eq!(mca_setting(&[], None, &[dir.path().join("absent")], "pml"), None);
        // The environment wins over the files, the command line over both.
        let args: Vec<String> =
            ["--mca", "btl", "tcp,self", "-mca", "btl", "self,vader", "--mca", "pml", "ob1"]
                .map(String::from)
                .to_vec();
        assert_eq!(mca_setting(&[], Some("tcp".into()), &files, "btl"), Some(mca("tcp", "OMPI_MCA_btl")));
        assert_eq!(mca_setting(&args, Some("tcp".into()), &files, "btl"), Some(mca("self,vader", "--mca")));
        assert_eq!(mca_setting(&args, None, &files, "pml"), Some(mca("ob1", "--mca")));
        assert_eq!(mca_setting(&args, None, &files, "plm_rsh_agent"), None);
    }

    #[test]
    fn the_launch_names_what_changes_the_measurement_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "localhost slots=2\n").unwrap();
        let mut settings = MpiSettings {
            launcher: Launcher::Mpirun,
            args: vec!["--mca".into(), "btl".into(), "self,vader".into()],
            hostfile: Some(hosts.clone()),
        };
        let bound = launch(&settings, 2, Some(4));
        assert!(bound.starts_with("mpirun --mca btl self,vader --bind-to core --hostfile hosts#"), "{bound}");
        assert!(!bound.contains("-n ") && !bound.contains("PARLAB"), "{bound}");
        assert_eq!(
            launch(&settings, 4, Some(4)),
            bound,
            "the rank count is the case's workers, not its launch"
        );
        let oversubscribed = launch(&settings, 3, Some(2));
        assert!(oversubscribed.contains("--oversubscribe --bind-to none"), "{oversubscribed}");
        // The same hosts in another folder are the same launch; other hosts are not.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("hosts"), "localhost slots=2\n").unwrap();
        let moved = MpiSettings { hostfile: Some(elsewhere.path().join("hosts")), ..settings.clone() };
        assert_eq!(launch(&moved, 2, Some(4)), bound);
        std::fs::write(&hosts, "node1 slots=2\n").unwrap();
        assert_ne!(launch(&settings, 2, Some(4)), bound);
        settings.hostfile = None;
        assert_eq!(launch(&settings, 2, Some(4)), "mpirun --mca btl self,vader --bind-to core");
        settings.launcher = Launcher::Mpiexec;
        assert_eq!(launch(&settings, 2, Some(4)), "mpiexec --mca btl self,vader --bind-to core");
        let srun =
            MpiSettings { launcher: Launcher::Srun, args: vec!["-p".into(), "short".into()], hostfile: None };
        assert_eq!(launch(&srun, 2, Some(4)), "srun -p short");
        assert_eq!(launch(&MpiSettings::default(), 1, Some(1)), "mpirun --bind-to core");
    }

    #[test]
    fn availability_says_why_not() {
        let said = Mpi.availability().map_err(|e| e.to_string());
        match (cfg!(feature = "mpi"), crate::subprocess::find_on_path("mpirun")) {
            (false, _) => assert_eq!(said, Err("built without the mpi feature".into())),
            (true, None) => assert_eq!(said, Err("mpirun not found".into())),
            (true, Some(_)) => assert_eq!(said, Ok(())),
        }
        // The plan's launcher decides: one that is nowhere is said by name.
        let plan = Plan {
            name: "t".into(),
            description: String::new(),
            source: "t.toml".into(),
            strategy_params: Default::default(),
            workloads: Vec::new(),
            mpi: MpiSettings { launcher: Launcher::Srun, ..MpiSettings::default() },
            devices: Vec::new(),
        };
        let said = Mpi.availability_in(&plan).map_err(|e| e.to_string());
        match (cfg!(feature = "mpi"), crate::subprocess::find_on_path("srun")) {
            (false, _) => assert_eq!(said, Err("built without the mpi feature".into())),
            (true, None) => assert_eq!(said, Err("srun not found".into())),
            (true, Some(_)) => assert_eq!(said, Ok(())),
        }
    }
}
