//! Future: deferred done-callbacks, set twice, long chains, combinators, cancel.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use squall::{chain_future, join_all, with_timeout, Error, Future, Reactor};
use util::Counter;

const NOW: Option<Duration> = Some(Duration::ZERO);

#[test]
fn done_callbacks_are_deferred_and_run_in_order() {
    let mut reactor = Reactor::new().unwrap();
    let fut: Future<u32> = Future::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..4 {
        let o = order.clone();
        fut.add_done_callback(move |f| o.borrow_mut().push((i, f.result().unwrap().unwrap())));
    }
    fut.set_result(7);
    assert!(
        order.borrow().is_empty(),
        "a done-callback ran inside set_result"
    );
    reactor.run_once(NOW).unwrap();
    assert_eq!(*order.borrow(), vec![(0, 7), (1, 7), (2, 7), (3, 7)]);
}

#[test]
fn done_callback_added_after_completion_still_runs_deferred() {
    let mut reactor = Reactor::new().unwrap();
    let fut = Future::ready(3u8);
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    fut.add_done_callback(move |f| *s.borrow_mut() = f.result());
    assert!(seen.borrow().is_none(), "ran inside add_done_callback");
    reactor.run_once(NOW).unwrap();
    assert!(matches!(*seen.borrow(), Some(Ok(3))));
}

#[test]
fn setting_a_future_twice_is_an_error_not_a_panic() {
    let _reactor = Reactor::new().unwrap();
    let fut: Future<u8> = Future::new();
    fut.try_set_result(1).unwrap();
    assert!(matches!(fut.try_set_result(2), Err(Error::InvalidState(_))));
    fut.set_result(3); // logged, ignored
    fut.set_error(Error::Timeout); // logged, ignored
    assert!(matches!(fut.result(), Some(Ok(1))));
}

#[test]
fn million_link_and_then_chain_resolves_without_stack_overflow() {
    const LINKS: u64 = 1_000_000;
    let mut reactor = Reactor::new().unwrap();
    let first: Future<u64> = Future::new();
    let mut last = first.clone();
    for _ in 0..LINKS {
        last = last.and_then(|n| Future::ready(n + 1));
    }
    first.set_result(0);
    assert_eq!(reactor.run_until(&last).unwrap(), LINKS);
}

#[test]
fn million_link_chain_resolves_without_a_reactor() {
    // No reactor on this thread: callbacks run from the trampoline, never recursively.
    const LINKS: u64 = 1_000_000;
    let first: Future<u64> = Future::new();
    let mut last = first.clone();
    for _ in 0..LINKS {
        last = last.map(|r| r.map(|n| n + 1));
    }
    first.set_result(0);
    assert!(matches!(last.result(), Some(Ok(LINKS))));
}

#[test]
fn map_transforms_the_result() {
    let mut reactor = Reactor::new().unwrap();
    let n: Future<u32> = Future::new();
    let s = n.map(|r| r.map(|n| format!("#{n}")));
    n.set_result(4);
    assert_eq!(reactor.run_until(&s).unwrap(), "#4");
    let e: Future<u32> = Future::failed(Error::StreamClosed);
    let m = e.map(|r| r.map(|n| n + 1));
    assert!(matches!(reactor.run_until(&m), Err(Error::StreamClosed)));
}

#[test]
fn and_then_passes_errors_through_without_calling_f() {
    let mut reactor = Reactor::new().unwrap();
    let called = Counter::new();
    let c = called.clone();
    let out = Future::<u8>::failed(Error::Timeout).and_then(move |n| {
        c.bump();
        Future::ready(n)
    });
    assert!(matches!(reactor.run_until(&out), Err(Error::Timeout)));
    assert_eq!(called.get(), 0);
}

#[test]
fn chain_future_copies_the_result_unless_the_target_is_done() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b): (Future<u8>, Future<u8>) = (Future::new(), Future::new());
    chain_future(&a, &b);
    a.set_result(5);
    assert_eq!(reactor.run_until(&b).unwrap(), 5);

    let (c, d): (Future<u8>, Future<u8>) = (Future::new(), Future::new());
    chain_future(&c, &d);
    assert!(d.cancel());
    c.set_result(6);
    reactor.run_once(NOW).unwrap();
    assert!(matches!(d.result(), Some(Err(Error::Cancelled))));
}

#[test]
fn join_all_keeps_input_order() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let futs: Vec<Future<u32>> = (0..5).map(|_| Future::new()).collect();
    // Resolve in reverse order, each on its own later iteration.
    for (i, f) in futs.iter().enumerate() {
        let f = f.clone();
        handle.call_later(Duration::from_millis(10 - 2 * i as u64), move || {
            f.set_result(i as u32 * 10)
        });
    }
    let all = join_all(futs);
    assert_eq!(reactor.run_until(&all).unwrap(), vec![0, 10, 20, 30, 40]);
    let empty = join_all(Vec::<Future<u8>>::new());
    assert_eq!(reactor.run_until(&empty).unwrap(), Vec::<u8>::new());
}

#[test]
fn join_all_fails_with_the_first_error_to_arrive() {
    let mut reactor = Reactor::new().unwrap();
    let futs: Vec<Future<u32>> = (0..3).map(|_| Future::new()).collect();
    let all = join_all(futs.clone());
    futs[2].set_error(Error::StreamClosed);
    reactor.run_once(NOW).unwrap();
    futs[0].set_error(Error::Timeout);
    futs[1].set_result(1);
    reactor.run_once(NOW).unwrap();
    assert!(matches!(reactor.run_until(&all), Err(Error::StreamClosed)));
}

#[test]
fn with_timeout_fails_when_the_inner_future_is_late() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let never: Future<u8> = Future::new();
    let t = with_timeout(&handle, Duration::from_millis(5), &never);
    assert!(matches!(reactor.run_until(&t), Err(Error::Timeout)));
    assert!(
        !never.is_done(),
        "with_timeout must not cancel the inner future"
    );
    // A late result does not change the outcome.
    never.set_result(1);
    reactor.run_once(NOW).unwrap();
    assert!(t.take_result().is_none());
}

#[test]
fn with_timeout_follows_the_inner_future_and_cancels_its_timer() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let inner: Future<u8> = Future::new();
    let pending_before = handle.stats().timers_pending;
    let t = with_timeout(&handle, Duration::from_secs(60), &inner);
    assert_eq!(handle.stats().timers_pending, pending_before + 1);
    let i = inner.clone();
    handle.add_callback(move || i.set_result(42));
    assert_eq!(reactor.run_until(&t).unwrap(), 42);
    assert_eq!(
        handle.stats().timers_pending,
        pending_before,
        "the timeout timer outlived the future"
    );
}

#[test]
fn cancel_fails_the_future_and_ignores_later_results() {
    let mut reactor = Reactor::new().unwrap();
    let fut: Future<u8> = Future::new();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    fut.add_done_callback(move |f| *s.borrow_mut() = f.result());
    assert!(fut.cancel());
    assert!(fut.is_cancelled() && fut.is_done());
    fut.set_result(1);
    assert!(
        fut.try_set_result(2).is_ok(),
        "a set on a cancelled future is ignored"
    );
    assert!(!fut.cancel(), "cancelled twice");
    reactor.run_once(NOW).unwrap();
    assert!(matches!(*seen.borrow(), Some(Err(Error::Cancelled))));
    assert!(matches!(fut.result(), Some(Err(Error::Cancelled))));

    let done = Future::ready(1u8);
    assert!(!done.cancel(), "cancelled a finished future");
    assert!(matches!(done.result(), Some(Ok(1))));
}

#[test]
fn take_result_moves_the_value_out_once() {
    let fut = Future::ready(String::from("once"));
    assert_eq!(fut.take_result().unwrap().unwrap(), "once");
    assert!(fut.take_result().is_none());
    assert!(
        fut.is_done(),
        "taking the result made the future pending again"
    );
    assert!(matches!(
        fut.try_set_result("again".into()),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn run_until_leaves_the_future_done() {
    let mut reactor = Reactor::new().unwrap();
    let fut: Future<u8> = Future::new();
    fut.set_result(1);
    assert_eq!(reactor.run_until(&fut).unwrap(), 1);
    assert!(fut.is_done());
    assert!(
        fut.try_set_result(2).is_err(),
        "set twice after run_until went unreported"
    );
}

#[test]
fn dropping_a_million_link_unresolved_chain_does_not_overflow_the_stack() {
    let _reactor = Reactor::new().unwrap();
    let first: Future<u64> = Future::new();
    let mut last = first.clone();
    for _ in 0..1_000_000 {
        last = last.and_then(|n| Future::ready(n + 1));
    }
    assert!(!last.is_done());
    drop(last);
    drop(first); // drops the whole chain, iteratively
}
