//! Panics inside cases: recorded (message and location) for the case's `reason` and kept off
//! the terminal while a case runs; panics elsewhere still go to the default hook.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use crate::subprocess::NON_STRING_PAYLOAD as NON_STRING;
pub(crate) use crate::subprocess::{panic_description as describe, payload_text};

/// Cases running now: one in the binary, several when tests run pipelines side by side.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static FIRST: Mutex<Option<String>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Installs the hook once per process.
pub fn install() {
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.load(Ordering::SeqCst) == 0 {
                return default(info);
            }
            let text = describe(info);
            let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
            // The first panic is the cause; later ones are scopes re-raising it.
            first.get_or_insert(text);
        }));
    });
}

/// Marks the start of a case: panics from now on are recorded, not printed.
pub fn begin_case() {
    if ACTIVE.fetch_add(1, Ordering::SeqCst) == 0 {
        *FIRST.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Ends the case and returns the first panic recorded in it.
pub fn end_case() -> Option<String> {
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    FIRST.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The reason to show for a case whose thread unwound with `payload_text`: the recorded panic
/// (with its location) when it is this one, else the payload itself. A scope that re-raises a
/// worker's panic carries no message of its own, so then the recorded first panic is the cause.
pub fn reason(payload_text: &str) -> String {
    let recorded = first();
    let generic = payload_text.contains("a scoped thread panicked") || payload_text == NON_STRING;
    match recorded {
        Some(r) if generic || r.starts_with(payload_text) => r,
        _ => payload_text.to_string(),
    }
}

/// The first panic recorded so far in this case, without ending it.
pub fn first() -> Option<String> {
    FIRST.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
