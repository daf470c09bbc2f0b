//! Diagnostics: callbacks that block the loop are reported with the place they were
//! scheduled from; a failed future nobody looked at is reported when dropped.

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use squall::{Error, Future, Reactor};

struct Recorder;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut records = RECORDS.lock().unwrap_or_else(|e| e.into_inner());
        records.push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Recorder).expect("logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn warnings_mentioning(needle: &str) -> Vec<String> {
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(level, msg)| *level == log::Level::Warn && msg.contains(needle))
        .map(|(_, msg)| msg.clone())
        .collect()
}

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn slow_callback_is_logged_with_where_it_was_scheduled() {
    install_logger();
    let mut reactor = Reactor::builder()
        .slow_callback_threshold(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    let handle = reactor.handle();
    let line = line!() + 1;
    handle.add_callback(|| busy_wait(Duration::from_millis(60)));
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    let place = format!("tests/diagnostics.rs:{line}");
    let found = warnings_mentioning("blocked the loop");
    assert!(
        found.iter().any(|m| m.contains(&place)),
        "no slow-callback warning naming {place}: {found:?}"
    );
}

#[test]
fn fast_callbacks_are_not_reported() {
    install_logger();
    let mut reactor = Reactor::builder()
        .slow_callback_threshold(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let handle = reactor.handle();
    let line = line!() + 1;
    handle.add_callback(|| {});
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    let place = format!("tests/diagnostics.rs:{line}");
    let found = warnings_mentioning(&place);
    assert!(found.is_empty(), "unexpected warning: {found:?}");
}

#[test]
fn dropped_failed_future_nobody_looked_at_is_reported() {
    install_logger();
    let _reactor = Reactor::new().unwrap();
    let f: Future<u8> = Future::new();
    f.set_error(Error::Resolve {
        host: "never-retrieved.test".into(),
        message: "x".into(),
    });
    drop(f);
    assert_eq!(warnings_mentioning("never-retrieved.test").len(), 1);

    let g: Future<u8> = Future::new();
    g.set_error(Error::Resolve {
        host: "was-retrieved.test".into(),
        message: "x".into(),
    });
    assert!(g.take_result().is_some_and(|r| r.is_err()));
    drop(g);
    assert!(warnings_mentioning("was-retrieved.test").is_empty());
}
