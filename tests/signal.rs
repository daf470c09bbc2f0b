//! Signals: delivered to a handler on the loop thread.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use squall::{Future, Reactor};

#[test]
fn sigusr1_runs_its_handler_on_the_loop() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let loop_thread = std::thread::current().id();
    let got: Future<()> = Future::new();
    let calls = Rc::new(Cell::new(0));
    let (g, c) = (got.clone(), calls.clone());
    let token = handle
        .add_signal_handler(signal_hook::consts::SIGUSR1, move || {
            assert_eq!(std::thread::current().id(), loop_thread);
            c.set(c.get() + 1);
            if !g.is_done() {
                g.set_result(());
            }
        })
        .unwrap();
    let g = got.clone();
    let watchdog = handle.call_later(Duration::from_secs(10), move || {
        if !g.is_done() {
            g.set_error(squall::Error::Timeout);
        }
    });
    // SAFETY: raising a signal that has a handler installed (by add_signal_handler).
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    reactor.run_until(&got).expect("signal handler did not run");
    handle.cancel_timer(watchdog);
    assert_eq!(calls.get(), 1);
    handle.remove_handler(token).unwrap();
}
