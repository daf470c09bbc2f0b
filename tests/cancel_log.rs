//! A cancelled future is not an error nobody looked at: dropping it logs nothing, while a
//! failed future nobody looked at is still reported.

use std::sync::Mutex;

use squall::{Error, Future, Reactor};

struct Recorder;

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn {
            let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
            records.push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn never_retrieved() -> Vec<String> {
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|m| m.contains("never retrieved"))
        .cloned()
        .collect()
}

// One test in this binary, so no other test's futures can log meanwhile.
#[test]
fn cancelled_futures_log_no_never_retrieved_warning() {
    log::set_logger(&Recorder).expect("logger");
    log::set_max_level(log::LevelFilter::Trace);
    let mut reactor = Reactor::new().unwrap();

    // Cancelled by the user, nobody looked.
    let f: Future<u8> = Future::new();
    assert!(f.cancel());
    drop(f);
    // An operation failing its own future with Cancelled.
    let g: Future<u8> = Future::new();
    g.set_error(Error::Cancelled);
    drop(g);
    // A derived future of a cancelled one, run through the loop, then dropped unread.
    let h: Future<u8> = Future::new();
    let derived = h.map(|r| r.map(|n| n + 1));
    h.cancel();
    reactor.run_once(Some(std::time::Duration::ZERO)).unwrap();
    assert!(derived.is_done());
    drop(derived);
    assert!(
        never_retrieved().is_empty(),
        "cancelled futures were reported: {:?}",
        never_retrieved()
    );

    // The warning itself still works for a real error.
    let e: Future<u8> = Future::new();
    e.set_error(Error::Timeout);
    drop(e);
    assert_eq!(never_retrieved().len(), 1, "{:?}", never_retrieved());
}
