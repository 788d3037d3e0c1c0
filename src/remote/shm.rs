//! Shared memory for `process-shm`: one region mapped by parlab and by every worker.
//!
//! On Linux the region is an anonymous `memfd` that workers open through
//! `/proc/<parlab's pid>/fd/<fd>`: nothing is left in the file system, even if parlab is killed,
//! and the memory goes away with the last mapping. Elsewhere it is a temporary file that the
//! creator deletes on drop. Either way both sides map it `MAP_SHARED` with `memmap2`.
//!
//! Who may touch what, when: workers write only the parts their tasks own, and parlab reads the
//! region only after every task has been reported done over the pipes (the pipe read orders the
//! writes before it, and the pool kills every worker when a run fails, before anyone reads).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

use super::wire::{Plain, SharedSpec};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A mapped shared region.
pub struct SharedMem {
    map: MmapMut,
    spec: SharedSpec,
    /// Keeps the memfd open so that its `/proc` path stays valid for workers that open it later.
    _file: File,
    /// A temporary file to delete on drop (the fallback without memfd, creator's side only).
    delete: Option<PathBuf>,
}

impl SharedMem {
    /// Creates a zero-filled region of `len` bytes for workers to map.
    pub fn create(len: usize) -> io::Result<SharedMem> {
        let len = len.max(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (file, path, delete) = create_file(id)?;
        file.set_len(len as u64)?;
        // SAFETY: the file is ours and stays at this length; other processes write into it only
        // under the rules in the module docs.
        let map = unsafe { MmapMut::map_mut(&file) }?;
        Ok(SharedMem { map, spec: SharedSpec { id, path, len: len as u64 }, _file: file, delete })
    }

    /// Maps a region another process created (in a worker).
    pub fn open(spec: &SharedSpec) -> io::Result<SharedMem> {
        let file = File::options().read(true).write(true).open(&spec.path)?;
        let actual = file.metadata()?.len();
        if actual < spec.len {
            return Err(io::Error::other(format!(
                "shared region {} holds {actual} bytes, {} expected",
                spec.path, spec.len
            )));
        }
        // The length came over the pipe: it must fit this machine's address space.
        let len = usize::try_from(spec.len).map_err(|_| {
            io::Error::other(format!("shared region of {} bytes cannot be mapped here", spec.len))
        })?;
        // SAFETY: as in `create`; the creator keeps the file at this length while we map it.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&file) }?;
        Ok(SharedMem { map, spec: spec.clone(), _file: file, delete: None })
    }

    /// What a worker needs to map this region.
    pub fn spec(&self) -> &SharedSpec {
        &self.spec
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `count` values of `T` starting `byte_offset` bytes into the region.
    pub fn slice<T: Plain>(&self, byte_offset: usize, count: usize) -> &[T] {
        self.check::<T>(byte_offset, count);
        // SAFETY: `check` proved bounds and alignment; any bit pattern is a valid `T: Plain`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(byte_offset).cast(), count) }
    }

    /// Like [`SharedMem::slice`], writable.
    pub fn slice_mut<T: Plain>(&mut self, byte_offset: usize, count: usize) -> &mut [T] {
        self.check::<T>(byte_offset, count);
        // SAFETY: as in `slice`, and `&mut self` makes this the only view in this process.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(byte_offset).cast(), count) }
    }

    fn check<T: Plain>(&self, byte_offset: usize, count: usize) {
        let bytes = count.checked_mul(std::mem::size_of::<T>()).expect("region view overflows");
        assert!(
            byte_offset.checked_add(bytes).is_some_and(|end| end <= self.map.len()),
            "a view of {bytes} bytes at {byte_offset} is outside the shared region of {} bytes",
            self.map.len()
        );
        // The mapping is page-aligned, so the offset decides the alignment.
        assert_eq!(byte_offset % std::mem::align_of::<T>(), 0, "misaligned view into the shared region");
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        if let Some(path) = &self.delete {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(target_os = "linux")]
fn create_file(id: u64) -> io::Result<(File, String, Option<PathBuf>)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let name = c"parlab-shm";
    // SAFETY: a valid C string; the returned descriptor is checked and then owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return create_temp_file(id);
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    let path = format!("/proc/{}/fd/{}", std::process::id(), file.as_raw_fd());
    Ok((file, path, None))
}

#[cfg(not(target_os = "linux"))]
fn create_file(id: u64) -> io::Result<(File, String, Option<PathBuf>)> {
    create_temp_file(id)
}

fn create_temp_file(id: u64) -> io::Result<(File, String, Option<PathBuf>)> {
    let path = std::env::temp_dir().join(format!("parlab-shm-{}-{id}", std::process::id()));
    let file = File::options().read(true).write(true).create_new(true).open(&path)?;
    Ok((file, path.to_string_lossy().into_owned(), Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_mapping_sees_the_first_ones_writes() {
        let mut a = SharedMem::create(3 * 8).unwrap();
        assert_eq!(a.slice::<u64>(0, 3), &[0, 0, 0], "zero-filled");
        let mut b = SharedMem::open(a.spec()).unwrap();
        a.slice_mut::<f64>(8, 2).copy_from_slice(&[1.5, 2.5]);
        assert_eq!(b.slice::<f64>(8, 2), &[1.5, 2.5]);
        b.slice_mut::<u32>(0, 1)[0] = 7;
        assert_eq!(a.slice::<u32>(0, 1), &[7]);
        let c = SharedMem::create(8).unwrap();
        assert_ne!(c.spec().id, a.spec().id);
    }

    #[test]
    #[should_panic(expected = "outside the shared region")]
    fn views_are_bounds_checked() {
        SharedMem::create(16).unwrap().slice::<u64>(8, 2);
    }
}
