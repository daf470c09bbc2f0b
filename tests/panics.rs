//! Panics in callbacks: logged and contained by default, propagated on request.

mod support;

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use squall::{Future, Interest, Reactor};
use support::log::{install_logger, logged};
use support::{counting_handler, unix_pair, Counter};

#[test]
fn panicking_callback_is_logged_and_the_loop_goes_on() {
    install_logger();
    let (mut reactor, handle) = support::reactor();
    let later = Counter::new();
    handle.add_callback(|| panic!("boom-in-callback"));
    let (l, h) = (later.clone(), handle.clone());
    handle.add_callback(move || l.bump());
    let (l, h2) = (later.clone(), h.clone());
    h.call_later(Duration::from_millis(1), move || {
        l.bump();
        h2.stop();
    });
    reactor.run().unwrap();
    assert_eq!(later.get(), 2, "callbacks after the panic did not run");
    let logged = logged(log::Level::Error, "boom-in-callback");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].contains("Exception in callback"), "{logged:?}");
}

#[test]
fn panicking_timer_is_logged_and_later_timers_run() {
    install_logger();
    let (mut reactor, handle) = support::reactor();
    let f: Future<()> = Future::new();
    handle.call_later(Duration::from_millis(1), || panic!("boom-in-timer"));
    let g = f.clone();
    handle.call_later(Duration::from_millis(2), move || g.set_result(()));
    reactor.run_until(&f).unwrap();
    assert_eq!(logged(log::Level::Error, "boom-in-timer").len(), 1);
}

#[test]
fn panicking_handler_is_logged_and_stays_registered() {
    install_logger();
    let (mut reactor, handle) = support::reactor();
    let (a, mut b) = unix_pair();
    let calls = Counter::new();
    counting_handler(&handle, a, &calls, |n| {
        if n == 1 {
            panic!("boom-in-handler");
        }
    });
    b.write_all(b"1").unwrap();
    reactor.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(logged(log::Level::Error, "boom-in-handler").len(), 1);
    b.write_all(b"2").unwrap();
    reactor.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(calls.get(), 2);
    assert_eq!(handle.stats().handlers, 1);
}

#[test]
fn panicking_done_callback_is_logged_and_the_next_done_callbacks_run() {
    install_logger();
    // Two callbacks are kept inline, three or more in a list: both ways.
    for others in [1, 2] {
        let message = format!("boom-in-done-callback-{others}");
        let mut reactor = Reactor::new().unwrap();
        let f: Future<u8> = Future::new();
        let m = message.clone();
        f.add_done_callback(move |_f| panic!("{m}"));
        let later = Counter::new();
        for _ in 0..others {
            let l = later.clone();
            f.add_done_callback(move |_f| l.bump());
        }
        f.set_result(1);
        reactor.run_once(Some(Duration::ZERO)).unwrap();
        assert_eq!(logged(log::Level::Error, &message).len(), 1);
        reactor.run_once(Some(Duration::ZERO)).unwrap();
        assert_eq!(
            later.get(),
            others,
            "a panicking done-callback swallowed the next ones"
        );
    }
}

#[test]
fn propagate_panics_reaches_the_caller_of_run() {
    install_logger();
    let mut reactor = Reactor::builder().propagate_panics(true).build().unwrap();
    let handle = reactor.handle();
    let after = Counter::new();
    handle.add_callback(|| panic!("boom-propagated"));
    let (a, h) = (after.clone(), handle.clone());
    handle.add_callback(move || {
        a.bump();
        h.stop();
    });
    let caught = catch_unwind(AssertUnwindSafe(|| reactor.run()));
    let payload = caught.expect_err("the panic did not propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom-propagated"));
    assert!(logged(log::Level::Error, "boom-propagated").is_empty());
    // The loop is still usable, and the callback queued after the panicking one runs.
    reactor.run().unwrap();
    assert_eq!(after.get(), 1);
}

#[test]
fn propagate_panics_from_a_handler() {
    let mut reactor = Reactor::builder().propagate_panics(true).build().unwrap();
    let handle = reactor.handle();
    let (a, mut b) = unix_pair();
    handle
        .add_handler(a, Interest::READABLE, |s, _ev| {
            support::drain(s);
            panic!("boom-handler-propagated");
        })
        .unwrap();
    b.write_all(b"x").unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| reactor.run()));
    assert!(caught.is_err(), "the panic did not propagate");
    assert_eq!(handle.stats().handlers, 1, "the handler was lost");
    // run_until works afterwards.
    let f = Future::ready(5u8);
    assert_eq!(reactor.run_until(&f).unwrap(), 5);
}
