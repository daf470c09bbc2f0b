//! Future: deferred done-callbacks, set twice, long chains, combinators, cancel.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use squall::{chain_future, join_all, with_timeout, Error, Future, Reactor};
use support::Counter;

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
    let (mut reactor, handle) = support::reactor();
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
    let (mut reactor, handle) = support::reactor();
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
    assert!(
        matches!(t.take_result(), Some(Err(Error::InvalidState(_)))),
        "run_until took the Timeout; nothing new arrived"
    );
}

#[test]
fn with_timeout_follows_the_inner_future_and_cancels_its_timer() {
    let (mut reactor, handle) = support::reactor();
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
    assert!(matches!(
        fut.take_result(),
        Some(Err(Error::InvalidState(_)))
    ));
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

/// Runs `reactor` until `fut` is done or `bound` passes (a failure bound, not a wait):
/// returns whether it finished.
fn drive_bounded<T>(reactor: &mut Reactor, fut: &Future<T>, bound: Duration) -> bool {
    let end = std::time::Instant::now() + bound;
    while !fut.is_done() && std::time::Instant::now() < end {
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    fut.is_done()
}

#[test]
fn done_callbacks_run_under_the_running_reactor_not_the_first_built() {
    let _first = Reactor::new().unwrap();
    let mut second = Reactor::new().unwrap();
    let f = Future::ready(20).map(|r| r.map(|n: u32| n + 1));
    assert!(
        drive_bounded(&mut second, &f, Duration::from_secs(5)),
        "map's done-callback went to the idle reactor built first"
    );
    assert!(matches!(f.take_result(), Some(Ok(21))));
}

#[test]
fn a_reactor_built_after_the_running_one_does_not_capture_its_callbacks() {
    let mut running = Reactor::new().unwrap();
    let handle = running.handle();
    let out: Future<u32> = Future::new();
    let o = out.clone();
    handle.add_callback(move || {
        // Built inside a callback: it must not steal the done-callbacks of the loop that
        // runs.
        let idle = Reactor::new().unwrap();
        let f = Future::ready(1).map(|r| r.map(|n: u32| n + 1));
        chain_future(&f, &o);
        drop(idle);
    });
    assert!(drive_bounded(&mut running, &out, Duration::from_secs(5)));
    assert!(matches!(out.take_result(), Some(Ok(2))));
}

#[test]
fn map_on_a_future_whose_result_was_taken_fails_with_invalid_state() {
    let mut reactor = Reactor::new().unwrap();
    let fut = Future::ready(5u32);
    assert!(matches!(fut.take_result(), Some(Ok(5))));
    let m = fut.map(|r| r.map(|n| n + 1));
    assert!(
        drive_bounded(&mut reactor, &m, Duration::from_secs(5)),
        "map stalled"
    );
    assert!(matches!(m.take_result(), Some(Err(Error::InvalidState(_)))));
}

#[test]
fn and_then_and_chain_future_on_a_taken_result_fail_with_invalid_state() {
    let mut reactor = Reactor::new().unwrap();
    let fut = Future::ready(5u32);
    let _ = fut.take_result();
    let a = fut.and_then(|n| Future::ready(n + 1));
    let c: Future<u32> = Future::new();
    chain_future(&fut, &c);
    assert!(
        drive_bounded(&mut reactor, &a, Duration::from_secs(5)),
        "and_then stalled"
    );
    assert!(
        drive_bounded(&mut reactor, &c, Duration::from_secs(5)),
        "chain_future stalled"
    );
    assert!(matches!(a.take_result(), Some(Err(Error::InvalidState(_)))));
    assert!(matches!(c.take_result(), Some(Err(Error::InvalidState(_)))));
}

#[test]
fn join_all_never_returns_fewer_values_than_futures() {
    let mut reactor = Reactor::new().unwrap();
    let taken = Future::ready(2u32);
    let _ = taken.take_result();
    let all = join_all(vec![Future::ready(1u32), taken, Future::ready(3)]);
    assert!(
        drive_bounded(&mut reactor, &all, Duration::from_secs(5)),
        "join_all stalled"
    );
    match all.take_result() {
        Some(Err(Error::InvalidState(_))) => {}
        other => panic!("expected InvalidState, got {other:?}"),
    }
}

#[test]
fn with_timeout_on_a_taken_result_fails_with_invalid_state() {
    let (mut reactor, handle) = support::reactor();
    let fut = Future::ready(5u32);
    let _ = fut.take_result();
    let t = with_timeout(&handle, Duration::from_secs(3600), &fut);
    assert!(
        drive_bounded(&mut reactor, &t, Duration::from_secs(5)),
        "with_timeout stalled"
    );
    assert!(matches!(t.take_result(), Some(Err(Error::InvalidState(_)))));
    assert_eq!(handle.stats().timers_pending, 0);
}

#[test]
fn a_second_take_result_is_an_invalid_state_error() {
    let fut = Future::ready(String::from("once"));
    assert_eq!(fut.take_result().unwrap().unwrap(), "once");
    assert!(matches!(
        fut.take_result(),
        Some(Err(Error::InvalidState(_)))
    ));
    let pending: Future<u8> = Future::new();
    assert!(
        pending.take_result().is_none(),
        "a pending future has no result yet"
    );
}

#[test]
fn several_done_callbacks_read_a_non_clone_result_through_with_result() {
    struct NotClone(u32);
    let mut reactor = Reactor::new().unwrap();
    let fut: Future<NotClone> = Future::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..3 {
        let s = seen.clone();
        fut.add_done_callback(move |f| {
            let n = f.with_result(|r| r.as_ref().map(|v| v.0).unwrap_or(0));
            s.borrow_mut().push(n);
        });
    }
    let last = fut.map(|r| r.map(|v| v.0 * 2));
    assert!(
        fut.with_result(|_| ()).is_none(),
        "a pending future lent a result"
    );
    fut.set_result(NotClone(21));
    assert_eq!(reactor.run_until(&last).unwrap(), 42);
    assert_eq!(*seen.borrow(), vec![Some(21), Some(21), Some(21)]);
    // Taken by map: a late reader sees InvalidState, not a panic.
    assert!(matches!(
        fut.with_result(|r| matches!(r, Err(Error::InvalidState(_)))),
        Some(true)
    ));
}

#[test]
fn with_result_tolerates_the_future_being_used_inside_the_closure() {
    let fut = Future::ready(String::from("lent"));
    let inner_take = fut.with_result(|r| {
        assert_eq!(r.as_deref().unwrap(), "lent");
        assert!(fut.is_done());
        fut.take_result() // lent out: an error value, not a RefCell panic
    });
    assert!(matches!(
        inner_take,
        Some(Some(Err(Error::InvalidState(_))))
    ));
    assert_eq!(
        fut.take_result().unwrap().unwrap(),
        "lent",
        "the loan was not returned"
    );
}

#[test]
fn run_until_timeout_fails_with_timeout_and_leaves_the_loop_usable() {
    let (mut reactor, handle) = support::reactor();
    let late: Future<u32> = Future::new();
    let started = std::time::Instant::now();
    assert!(matches!(
        reactor.run_until_timeout(&late, Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert!(!late.is_done(), "the timeout must not cancel the future");
    // The loop still works: the same future can be waited for again.
    let l = late.clone();
    handle.add_callback(move || l.set_result(7));
    assert_eq!(
        reactor
            .run_until_timeout(&late, Duration::from_secs(30))
            .unwrap(),
        7
    );
    let ready = Future::ready(1u8);
    assert_eq!(
        reactor.run_until_timeout(&ready, Duration::ZERO).unwrap(),
        1
    );
    let forever = Future::ready(2u8);
    assert_eq!(
        reactor.run_until_timeout(&forever, Duration::MAX).unwrap(),
        2
    );
}

#[test]
fn remote_setter_resolves_a_future_from_another_thread() {
    let (mut reactor, handle) = support::reactor();
    let loop_thread = std::thread::current().id();
    let (fut, setter) = handle.remote_future::<Vec<u8>>();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    fut.add_done_callback(move |_| *s.borrow_mut() = Some(std::thread::current().id()));
    let worker = std::thread::spawn(move || assert!(setter.set_result(vec![1, 2, 3])));
    assert_eq!(reactor.run_until(&fut).unwrap(), vec![1, 2, 3]);
    worker.join().unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(*seen.borrow(), Some(loop_thread));
}

#[test]
fn a_dropped_remote_setter_fails_its_future_instead_of_stalling() {
    let mut reactor = Reactor::new().unwrap();
    let (fut, setter) = reactor.handle().remote_future::<u8>();
    std::thread::spawn(move || drop(setter)).join().unwrap();
    assert!(matches!(
        reactor.run_until_timeout(&fut, Duration::from_secs(30)),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn a_remote_setter_outliving_its_reactor_reports_it() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let (fut, setter) = handle.remote_future::<u8>();
    drop(reactor);
    assert!(
        !setter.set_result(1),
        "set on a dropped reactor claimed success"
    );
    assert!(!fut.is_done());
    let (late, _setter) = handle.remote_future::<u8>();
    assert!(matches!(
        late.take_result(),
        Some(Err(Error::InvalidState(_)))
    ));
}

#[test]
fn million_link_chain_resolves_beside_an_idle_reactor() {
    const LINKS: u64 = 1_000_000;
    let _idle = Reactor::new().unwrap();
    let mut running = Reactor::new().unwrap();
    let first: Future<u64> = Future::new();
    let mut last = first.clone();
    for _ in 0..LINKS {
        last = last.and_then(|n| Future::ready(n + 1));
    }
    first.set_result(0);
    assert_eq!(running.run_until(&last).unwrap(), LINKS);
}

#[test]
fn done_callbacks_wait_for_a_reactor_to_run_and_are_counted() {
    let (mut reactor, handle) = support::reactor();
    let before = handle.stats().done_callbacks_pending;
    let fut = Future::ready(1u8);
    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    fut.add_done_callback(move |_| *r.borrow_mut() = true);
    assert!(
        !*ran.borrow(),
        "ran inside add_done_callback beside a reactor"
    );
    assert_eq!(handle.stats().done_callbacks_pending, before + 1);
    reactor.run_once(NOW).unwrap();
    assert!(*ran.borrow());
    assert_eq!(handle.stats().done_callbacks_pending, 0);
}

#[test]
fn callbacks_added_to_a_done_future_after_its_run_was_queued_still_run_in_order() {
    let mut reactor = Reactor::new().unwrap();
    let fut = Future::ready(3u8);
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let o = order.clone();
        let f2 = fut.clone();
        fut.add_done_callback(move |f| {
            o.borrow_mut().push(i);
            if i == 0 {
                // Added while the batch runs: deferred to a later run, not run inline.
                let o = o.clone();
                f2.add_done_callback(move |_| o.borrow_mut().push(10));
            }
            assert!(matches!(f.result(), Some(Ok(3))));
        });
    }
    reactor.run_once(NOW).unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(*order.borrow(), vec![0, 1, 2, 10]);
}

#[test]
fn done_callbacks_queued_when_the_last_reactor_is_dropped_are_freed_unrun() {
    let reactor = Reactor::new().unwrap();
    let fut: Future<u32> = Future::new();
    let token = Rc::new(());
    let held = token.clone();
    let ran = Rc::new(std::cell::Cell::new(0));
    let r = ran.clone();
    fut.add_done_callback(move |_| {
        let _ = &held;
        r.set(r.get() + 1);
    });
    fut.set_result(1); // a reactor exists: queued for it
    assert_eq!(Rc::strong_count(&token), 2);
    drop(reactor);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "what the queued callback captured is freed with the last reactor"
    );
    assert_eq!(ran.get(), 0, "dropping a reactor runs no done-callback");
    // The future still takes callbacks: with no reactor left, the trampoline runs them.
    let r = ran.clone();
    fut.add_done_callback(move |_| r.set(r.get() + 10));
    assert_eq!(ran.get(), 10);
}
