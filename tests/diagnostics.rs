//! Diagnostics: callbacks that block the loop are reported with the place they were
//! scheduled from; a failed future nobody looked at is reported when dropped.

mod support;

use std::time::{Duration, Instant};

use squall::{Error, Future, Reactor};
use support::log::{install_logger, warnings_mentioning};

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Schedules `callback` from the caller's line on a reactor whose slow-callback threshold
/// is `threshold`, and runs one loop iteration.
#[track_caller]
fn run_one_callback(threshold: Duration, callback: impl FnOnce() + 'static) {
    install_logger();
    let mut reactor = Reactor::builder()
        .slow_callback_threshold(Some(threshold))
        .build()
        .unwrap();
    reactor.handle().add_callback(callback);
    reactor.run_once(Some(Duration::ZERO)).unwrap();
}

#[test]
fn slow_callback_is_logged_with_where_it_was_scheduled() {
    let line = line!() + 1;
    run_one_callback(Duration::from_millis(10), || {
        busy_wait(Duration::from_millis(60))
    });
    let place = format!("tests/diagnostics.rs:{line}");
    let found = warnings_mentioning("blocked the loop");
    assert!(
        found.iter().any(|m| m.contains(&place)),
        "no slow-callback warning naming {place}: {found:?}"
    );
}

#[test]
fn fast_callbacks_are_not_reported() {
    let line = line!() + 1;
    run_one_callback(Duration::from_millis(200), || {});
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
