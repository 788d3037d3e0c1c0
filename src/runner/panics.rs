//! Panics inside cases: recorded (message and location) for the case's `reason` and kept off
//! the terminal while a case runs; panics elsewhere still go to the default hook.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

static IN_CASE: AtomicBool = AtomicBool::new(false);
static FIRST: Mutex<Option<String>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Installs the hook once per process.
pub fn install() {
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CASE.load(Ordering::SeqCst) {
                return default(info);
            }
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
            // The first panic is the cause; later ones are scopes re-raising it.
            first.get_or_insert(format!("{msg}{at}"));
        }));
    });
}

/// Marks the start of a case: panics from now on are recorded, not printed.
pub fn begin_case() {
    *FIRST.lock().unwrap_or_else(|e| e.into_inner()) = None;
    IN_CASE.store(true, Ordering::SeqCst);
}

/// Ends the case and returns the first panic recorded in it.
pub fn end_case() -> Option<String> {
    IN_CASE.store(false, Ordering::SeqCst);
    FIRST.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The first panic recorded so far in this case, without ending it.
pub fn first() -> Option<String> {
    FIRST.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
