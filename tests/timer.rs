//! Timers: deadline order, set order on ties, cancellation, churn.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::{Future, Reactor};
use support::{drops, run_for, Counter, DropProbe};

/// Runs `reactor` until `done` is resolved, failing after 10 s instead of hanging.
fn run_until_done(reactor: &mut Reactor, done: &Future<()>) {
    let d = done.clone();
    let watchdog = reactor
        .handle()
        .call_later(Duration::from_secs(10), move || {
            d.set_error(squall::Error::Timeout);
        });
    reactor.run_until(done).expect("timed out");
    reactor.handle().cancel_timer(watchdog);
}

/// Sets a timer at each `(deadline, label)` on a fresh reactor, the timer recording its
/// label; returns the labels in the order the timers fired, once all have.
fn firing_order<T: Copy + 'static>(timers: Vec<(Instant, T)>) -> Vec<T> {
    let mut reactor = Reactor::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let done = Future::new();
    let n = timers.len();
    for (deadline, label) in timers {
        let (o, d) = (order.clone(), done.clone());
        reactor.handle().call_at(deadline, move || {
            o.borrow_mut().push(label);
            if o.borrow().len() == n {
                d.set_result(());
            }
        });
    }
    run_until_done(&mut reactor, &done);
    order.take()
}

#[test]
fn timers_fire_in_deadline_order() {
    let base = Instant::now();
    let timers = [30u64, 10, 20, 0, 25].map(|ms| (base + Duration::from_millis(ms), ms));
    assert_eq!(firing_order(timers.to_vec()), vec![0, 10, 20, 25, 30]);
}

#[test]
fn call_later_fires_no_earlier_than_its_delay() {
    let (mut reactor, handle) = support::reactor();
    let done = Future::new();
    let fired_at = Rc::new(RefCell::new(None));
    let start = Instant::now();
    let (d, f) = (done.clone(), fired_at.clone());
    handle.call_later(Duration::from_millis(20), move || {
        *f.borrow_mut() = Some(Instant::now());
        d.set_result(());
    });
    run_until_done(&mut reactor, &done);
    let at = fired_at.borrow().unwrap();
    assert!(at - start >= Duration::from_millis(20));
}

#[test]
fn equal_deadlines_fire_in_set_order() {
    let deadline = Instant::now() + Duration::from_millis(5);
    let timers = (0..200u32).map(|i| (deadline, i)).collect();
    assert_eq!(firing_order(timers), (0..200).collect::<Vec<_>>());
}

#[test]
fn cancelled_timer_never_fires() {
    let (mut reactor, handle) = support::reactor();
    let fired = Counter::new();
    let (probe, count) = DropProbe::new();
    let f = fired.clone();
    let id = handle.call_later(Duration::from_millis(1), move || {
        let _p = &probe;
        f.bump();
    });
    assert!(handle.cancel_timer(id));
    assert_eq!(drops(&count), 1, "cancel must drop the closure");
    assert!(!handle.cancel_timer(id), "cancelled twice");
    run_for(&mut reactor, Duration::from_millis(20));
    assert_eq!(fired.get(), 0);
}

#[test]
fn cancelling_a_fired_timer_returns_false() {
    let (mut reactor, handle) = support::reactor();
    let done = Future::new();
    let d = done.clone();
    let id = handle.call_later(Duration::from_millis(1), move || d.set_result(()));
    run_until_done(&mut reactor, &done);
    assert!(!handle.cancel_timer(id));
    assert_eq!(handle.stats().timers_pending, 0);
}

#[test]
fn timer_cancelled_by_an_earlier_timer_due_in_the_same_iteration_does_not_run() {
    let (mut reactor, handle) = support::reactor();
    let deadline = Instant::now() + Duration::from_millis(5);
    let second_ran = Counter::new();
    let cancelled = Rc::new(RefCell::new(None));
    let victim = Rc::new(RefCell::new(None));
    let (h, v, c) = (handle.clone(), victim.clone(), cancelled.clone());
    handle.call_at(deadline, move || {
        *c.borrow_mut() = Some(h.cancel_timer(v.borrow().unwrap()));
    });
    let s = second_ran.clone();
    *victim.borrow_mut() = Some(handle.call_at(deadline, move || s.bump()));
    let done = Future::new();
    let d = done.clone();
    handle.call_at(deadline + Duration::from_millis(5), move || {
        d.set_result(())
    });
    // Both timers become due together and are handled in one iteration.
    while Instant::now() < deadline + Duration::from_millis(1) {
        std::hint::spin_loop();
    }
    run_until_done(&mut reactor, &done);
    let was_pending = cancelled.borrow().expect("first timer did not run");
    assert!(
        was_pending,
        "cancel_timer on a not-yet-run timer returned false"
    );
    assert_eq!(second_ran.get(), 0, "a cancelled timer ran");
}

#[test]
fn timer_set_inside_a_timer_for_now_runs_on_a_later_iteration() {
    let (mut reactor, handle) = support::reactor();
    let ran = Counter::new();
    let (h, r) = (handle.clone(), ran.clone());
    handle.call_at(Instant::now(), move || {
        let r = r.clone();
        h.call_at(Instant::now() - Duration::from_millis(1), move || r.bump());
    });
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(ran.get(), 0);
    reactor.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ran.get(), 1);
}

#[test]
fn hundred_thousand_timers_set_and_cancelled_leave_none_pending() {
    let (mut reactor, handle) = support::reactor();
    let fired = Counter::new();
    let ids: Vec<_> = (0..100_000u64)
        .map(|i| {
            let f = fired.clone();
            handle.call_later(Duration::from_millis(1 + i % 1000), move || f.bump())
        })
        .collect();
    assert_eq!(handle.stats().timers_pending, 100_000);
    // Cancel in an order unrelated to the heap order.
    for id in ids.iter().rev().step_by(2).chain(ids.iter().step_by(2)) {
        assert!(handle.cancel_timer(*id));
    }
    assert_eq!(handle.stats().timers_pending, 0);
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(fired.get(), 0);
}

#[test]
fn call_later_duration_max_saturates_to_never() {
    let (mut reactor, handle) = support::reactor();
    let fired = Rc::new(std::cell::Cell::new(false));
    let f = fired.clone();
    let never = handle.call_later(Duration::MAX, move || f.set(true));
    let f = fired.clone();
    let far = handle.call_at(
        Instant::now() + Duration::from_secs(1000 * 365 * 86_400),
        move || f.set(true),
    );
    assert_eq!(handle.stats().timers_pending, 2);
    // The loop does not wait for either: a zero-timeout iteration returns at once, and
    // a bounded one returns when its bound passes.
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    reactor.run_once(Some(Duration::from_millis(5))).unwrap();
    assert!(!fired.get());
    assert!(handle.cancel_timer(never));
    assert!(handle.cancel_timer(far));
    assert!(!handle.cancel_timer(never));
    assert_eq!(handle.stats().timers_pending, 0);
}
