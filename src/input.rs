//! Reading the files a user names (a scenario, a resume plan, results and baselines): only
//! regular files, and at most a limit per kind of file.
//!
//! Read whole without a bound, `parlab run /dev/zero` reads until the allocator aborts, and a
//! FIFO with no writer hangs forever. Every such read goes through [`read`] or
//! [`read_to_string`] instead, whose errors are bad input (exit 2): the caller names the file,
//! the message names what is wrong and the limit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The most bytes parlab reads from one kind of input file, and what to call that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// As in "larger than 16 MiB, the most parlab reads for {what}".
    pub what: &'static str,
}

/// A scenario file: a few KiB by hand; 100,000 cases' worth of sweeps fit with room to spare.
pub const SCENARIO: Limit = Limit { bytes: 16 << 20, what: "a scenario file" };
/// `resume-plan.json`: the validated scenario as JSON, several times the size of its TOML
/// (every default filled in, a note per size). parlab writes it itself, so it must hold the
/// plan of any scenario within the limits: at most 100,000 cases, each of which can be a
/// `[[workload]]` entry of about 500 bytes or a size with its notes of about 200 (measured),
/// some 50 MB; the same 16 MiB as a scenario file would refuse parlab's own plan.
pub const PLAN: Limit = Limit { bytes: 256 << 20, what: "a resume plan" };
/// `results.json`, `results.jsonl`, a baseline, a criterion file: every sample of up to 100,000
/// cases, with a wide margin.
pub const RESULTS: Limit = Limit { bytes: 1 << 30, what: "a results file" };
/// An MPI hostfile (`[mpi] hostfile`): a line per host, a few KiB even for a large cluster.
pub const HOSTFILE: Limit = Limit { bytes: 1 << 20, what: "an MPI hostfile" };

/// Reads `path` whole, if it is a regular file of at most `limit.bytes`. The error says which
/// of the two it is not (or the system's reason), not which file: the caller names that.
pub fn read(path: &Path, limit: Limit) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a device can have effects of its own, and a FIFO blocks
    // in `open` until a writer comes.
    regular(&std::fs::metadata(path)?)?;
    let file = open(path)?;
    // And again on what was opened, in case the path was replaced in between.
    let metadata = file.metadata()?;
    regular(&metadata)?;
    let mut bytes = Vec::with_capacity(metadata.len().min(limit.bytes) as usize);
    // One byte past the limit tells a file at the limit from one over it, without trusting the
    // size it reported (a file can grow while it is read).
    file.take(limit.bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than {}, the most parlab reads for {}; is it the right file?",
                crate::units::format_bytes(limit.bytes),
                limit.what
            ),
        ));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, limit: Limit) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

fn regular(metadata: &std::fs::Metadata) -> io::Result<()> {
    if metadata.is_file() {
        return Ok(());
    }
    let kind = if metadata.is_dir() { "a folder" } else { "a device, FIFO or socket" };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{kind}, not a regular file; parlab reads its input only from regular files"),
    ))
}

#[cfg(unix)]
fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO put in the file's place after the check cannot hang `open`;
    // it changes nothing for a regular file.
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Limit = Limit { bytes: 8, what: "a test file" };

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "12345678").unwrap();
        assert_eq!(read_to_string(&path, TINY).unwrap(), "12345678");
    }

    #[test]
    fn a_file_past_the_limit_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "123456789").unwrap();
        let e = read(&path, TINY).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("larger than 8 B, the most parlab reads for a test file"), "{e}");
    }

    #[test]
    fn an_endless_device_is_refused_before_it_is_read() {
        let e = read(Path::new("/dev/zero"), RESULTS).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), SCENARIO).unwrap_err();
        assert!(e.to_string().contains("a folder, not a regular file"), "{e}");
    }

    /// A FIFO with no writer would block `open` (and a read) forever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&path, SCENARIO).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
}
