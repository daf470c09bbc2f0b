//! Every log record of the test binary, from any thread, for tests that check what squall
//! logged and at which level (`squall::testing::ExpectLog` sees only the records of the
//! thread that made it), and with the thread that logged it.

use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use log::Level;

/// Records every log record.
struct Recorder;

static RECORDS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());
/// The thread that logged each of `RECORDS`.
static THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
        records.push((record.level(), record.args().to_string()));
        let mut threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        threads.push(std::thread::current().id());
    }

    fn flush(&self) {}
}

/// Installs the recorder as the binary's logger (once; at every level).
pub fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Recorder).expect("logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The messages logged at `level` that mention `needle` (tests run in parallel: each
/// looks for its own).
pub fn logged(level: Level, needle: &str) -> Vec<String> {
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(l, msg)| *l == level && msg.contains(needle))
        .map(|(_, msg)| msg.clone())
        .collect()
}

/// The messages logged by this thread (a test's own, its loop included when it runs
/// there) at `level` or a more severe one.
pub fn logged_here(level: Level) -> Vec<String> {
    let me = std::thread::current().id();
    let records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
    let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    records
        .iter()
        .zip(threads.iter())
        .filter(|((l, _), t)| *l <= level && **t == me)
        .map(|((_, msg), _)| msg.clone())
        .collect()
}

/// The warnings that mention `needle`.
pub fn warnings_mentioning(needle: &str) -> Vec<String> {
    logged(Level::Warn, needle)
}

/// Everything recorded so far (for a failure message).
pub fn records() -> Vec<(Level, String)> {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
