//! The `[mpi]` section: how the ranks of an `mpi` case's job are started.
//!
//! `launcher` picks the program (`mpirun`, the default, `mpiexec` or Slurm's `srun`), `args`
//! adds arguments of the user's own before parlab's, and `hostfile` (mpirun and mpiexec only)
//! names the hosts, a path relative to the scenario file. The validated [`MpiSettings`] travel in
//! the [`super::Plan`], so case processes and continued runs start ranks the same way; a plan
//! read back from a file is checked again by [`MpiSettings::check`].

use std::path::{Path, PathBuf};

use super::error::{closest, ScenarioError, Source};
use super::raw::RawMpi;
use serde::{Deserialize, Serialize};

/// The most extra launcher arguments `[mpi] args` may give.
pub const MAX_ARGS: usize = 64;
/// The longest one of them, in bytes.
pub const MAX_ARG_BYTES: usize = 4096;

/// The program that starts an `mpi` case's ranks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launcher {
    /// Open MPI's and MPICH's `mpirun`.
    #[default]
    Mpirun,
    /// The standard's name for it, `mpiexec`: the same arguments as `mpirun`.
    Mpiexec,
    /// Slurm's `srun`: ranks inside an allocation; the environment passes with `--export=ALL`.
    Srun,
}

impl Launcher {
    pub const ALL: [Launcher; 3] = [Launcher::Mpirun, Launcher::Mpiexec, Launcher::Srun];

    /// The program's name, as found on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Launcher::Mpirun => "mpirun",
            Launcher::Mpiexec => "mpiexec",
            Launcher::Srun => "srun",
        }
    }

    fn parse(name: &str) -> Option<Launcher> {
        Launcher::ALL.into_iter().find(|l| l.program() == name)
    }
}

/// The validated `[mpi]` section; the default is `mpirun` with no extra arguments or hostfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpiSettings {
    #[serde(default)]
    pub launcher: Launcher,
    /// Extra launcher arguments, given before parlab's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The hostfile, as an absolute path (resolved against the scenario file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostfile: Option<PathBuf>,
}

impl MpiSettings {
    /// The checks parsing makes, on settings read back from a file: `Err` names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.args.len() > MAX_ARGS {
            return Err(("args", format!("{} arguments; the limit is {MAX_ARGS}", self.args.len())));
        }
        for arg in &self.args {
            check_arg(arg).map_err(|m| ("args", m))?;
        }
        if let Some(path) = &self.hostfile {
            if self.launcher == Launcher::Srun {
                return Err(("hostfile", "`srun` takes its hosts from the Slurm allocation".into()));
            }
            check_hostfile(path).map_err(|m| ("hostfile", m))?;
        }
        Ok(())
    }
}

/// One extra argument: bounded, no NUL, and not one that parlab sets itself.
fn check_arg(arg: &str) -> Result<(), String> {
    if arg.len() > MAX_ARG_BYTES {
        return Err(format!("an argument of {} bytes; the limit is {MAX_ARG_BYTES}", arg.len()));
    }
    if arg.contains('\0') {
        return Err("an argument holds a NUL character".into());
    }
    // `-c` is mpirun's alias of `-np`; `-n4` and `-np4` are the count glued to its flag.
    let own =
        ["-n", "-np", "--np", "-c", "--ntasks", "--hostfile", "-hostfile", "--machinefile", "-machinefile"];
    let name = arg.split('=').next().unwrap_or(arg);
    let glued_count = ["-n", "-np"].iter().any(|flag| {
        name.strip_prefix(flag)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    });
    if own.contains(&name) || glued_count {
        return Err(format!(
            "`{arg}` is set by parlab: the rank count is the case's `workers`, the hosts `[mpi] hostfile`"
        ));
    }
    Ok(())
}

/// A hostfile must be a readable regular file within [`crate::input::HOSTFILE`].
fn check_hostfile(path: &Path) -> Result<(), String> {
    crate::input::read(path, crate::input::HOSTFILE)
        .map(drop)
        .map_err(|e| format!("cannot use `{}` as a hostfile: {e}", path.display()))
}

/// Validates the `[mpi]` section of the scenario in `src` (absent: the defaults).
pub(super) fn settings(src: &Source, raw: Option<&RawMpi>) -> Result<MpiSettings, ScenarioError> {
    let Some(raw) = raw else { return Ok(MpiSettings::default()) };
    let mut out = MpiSettings::default();
    if let Some(name) = &raw.launcher {
        out.launcher = Launcher::parse(name.get_ref()).ok_or_else(|| {
            let names = Launcher::ALL.map(Launcher::program);
            let help = match closest(name.get_ref(), names) {
                Some(best) => format!("did you mean `{best}`? (one of {})", names.join(", ")),
                None => format!("one of {}", names.join(", ")),
            };
            src.error_help(
                name.span(),
                "mpi.launcher",
                format!("unknown launcher `{}`", name.get_ref()),
                Some(help),
            )
        })?;
    }
    if let Some(args) = &raw.args {
        if args.get_ref().len() > MAX_ARGS {
            return Err(src.error(
                args.span(),
                "mpi.args",
                format!("{} arguments; the limit is {MAX_ARGS}", args.get_ref().len()),
            ));
        }
        for arg in args.get_ref() {
            check_arg(arg.get_ref()).map_err(|m| src.error(arg.span(), "mpi.args", m))?;
            out.args.push(arg.get_ref().clone());
        }
    }
    if let Some(file) = &raw.hostfile {
        if out.launcher == Launcher::Srun {
            return Err(src.error_help(
                file.span(),
                "mpi.hostfile",
                "`srun` takes its hosts from the Slurm allocation, not a hostfile",
                Some("leave `hostfile` out, or use `launcher = \"mpirun\"`".into()),
            ));
        }
        let written = Path::new(file.get_ref());
        let folder = Path::new(src.name).parent().unwrap_or(Path::new(""));
        let path = folder.join(written);
        let path = std::path::absolute(&path).unwrap_or(path);
        check_hostfile(&path).map_err(|m| {
            src.error_help(
                file.span(),
                "mpi.hostfile",
                m,
                Some(
                    "a path relative to the scenario file's folder, of a regular file listing the hosts"
                        .into(),
                ),
            )
        })?;
        out.hostfile = Some(path);
    }
    Ok(out)
}
