//! `report::load` must refuse a file it cannot read without first building the whole file as a
//! JSON tree: a `serde_json::Value` takes several times the file's size, so a large file (up to
//! the 1 GiB input limit) of a newer schema, or not parlab's at all, could exhaust memory only to
//! be refused. An allocator that records its peak sees what loading costs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Peak;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Peak = Peak;

/// Bytes allocated at the peak of `f`, above what was allocated when it started. One at a
/// time: the counters are the whole test binary's, and tests run in parallel.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

#[test]
fn a_large_file_is_refused_for_its_schema_without_building_a_json_tree() {
    let dir = tempfile::tempdir().unwrap();
    // 8 MiB of small numbers: as a tree, 4 Mi values of 32 bytes each (128 MiB and more).
    let mut text = String::from(r#"{"schema_version": 999, "junk": ["#);
    text.push_str(&"0,".repeat(4 << 20));
    text.push_str("0]}");
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, &text).unwrap();
    let (out, peak) = peak_of(|| parlab::report::load(&newer));
    let e = format!("{:#}", out.unwrap_err());
    assert!(e.contains("newer than this parlab reads"), "{e}");
    assert!(peak < 3 * text.len(), "loading took {peak} bytes at its peak for a file of {}", text.len());

    // The same without any version, and JSON that is not an object: refused as not parlab's.
    let unversioned = dir.path().join("unversioned.json");
    std::fs::write(&unversioned, text.replacen(r#""schema_version": 999, "#, "", 1)).unwrap();
    let (out, peak) = peak_of(|| parlab::report::load(&unversioned));
    assert!(format!("{:#}", out.unwrap_err()).contains("it has no schema_version"));
    assert!(peak < 3 * text.len(), "loading took {peak} bytes at its peak for a file of {}", text.len());
    let array = dir.path().join("array.json");
    std::fs::write(&array, "[1, 2, 3]").unwrap();
    assert!(format!("{:#}", parlab::report::load(&array).unwrap_err()).contains("it has no schema_version"));
    std::fs::write(&array, "[999]").unwrap();
    assert!(format!("{:#}", parlab::report::load(&array).unwrap_err()).contains("it has no schema_version"));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"schema_version\": ").unwrap();
    assert!(format!("{:#}", parlab::report::load(&broken).unwrap_err()).contains("is not JSON"));
}

#[test]
fn a_large_schema_version_is_skipped_without_being_built() {
    // The review's reproduction: the bulk inside `schema_version` itself, which a
    // `serde_json::Value` field built whole (411 MB for 8 MiB).
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(r#"{"schema_version": ["#);
    text.push_str(&"0,".repeat(4 << 20));
    text.push_str("0]}");
    let path = dir.path().join("bulk.json");
    std::fs::write(&path, &text).unwrap();
    let (out, peak) = peak_of(|| parlab::report::load(&path));
    assert!(format!("{:#}", out.unwrap_err()).contains("it has no schema_version"));
    assert!(peak < 3 * text.len(), "loading took {peak} bytes at its peak for a file of {}", text.len());
}
