//! PeriodicCallback: repeats, stops, and skips missed runs instead of bursting.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::{Future, Handle, PeriodicCallback};
use support::{run_for, Counter};

/// A periodic callback every `interval`, not started, counting its runs in `runs`; on
/// the fifth it calls `at_fifth`, then resolves the future returned.
fn count_to_five(
    handle: &Handle,
    interval: Duration,
    runs: &Counter,
    at_fifth: impl Fn() + 'static,
) -> (PeriodicCallback, Future<()>) {
    let done: Future<()> = Future::new();
    let (r, d) = (runs.clone(), done.clone());
    let pc = PeriodicCallback::new(handle, interval, move || {
        r.bump();
        if r.get() == 5 {
            at_fifth();
            d.set_result(());
        }
    });
    (pc, done)
}

#[test]
fn periodic_callback_runs_repeatedly_and_stops() {
    let (mut reactor, handle) = support::reactor();
    let runs = Counter::new();
    let pc_slot: Rc<RefCell<Option<PeriodicCallback>>> = Rc::default();
    let slot = pc_slot.clone();
    let (pc, done) = count_to_five(&handle, Duration::from_millis(2), &runs, move || {
        slot.borrow().as_ref().unwrap().stop();
    });
    *pc_slot.borrow_mut() = Some(pc.clone());
    assert!(!pc.is_running());
    pc.start();
    assert!(pc.is_running());
    reactor.run_until(&done).unwrap();
    assert!(!pc.is_running());
    assert_eq!(
        handle.stats().timers_pending,
        0,
        "a stopped periodic callback left a timer"
    );
    // Nothing more runs after stop.
    let later: Future<()> = Future::new();
    let l = later.clone();
    handle.call_later(Duration::from_millis(10), move || l.set_result(()));
    reactor.run_until(&later).unwrap();
    assert_eq!(runs.get(), 5);
    pc_slot.borrow_mut().take();
}

#[test]
fn periodic_callback_skips_missed_runs_instead_of_bursting() {
    const INTERVAL: Duration = Duration::from_millis(40);
    let (mut reactor, handle) = support::reactor();
    // (start, end) of each run.
    let runs: Rc<RefCell<Vec<(Instant, Instant)>>> = Rc::default();
    let done: Future<()> = Future::new();
    let (r, d) = (runs.clone(), done.clone());
    let pc = PeriodicCallback::new(&handle, INTERVAL, move || {
        let start = Instant::now();
        let n = r.borrow().len();
        if n == 1 {
            // Block the loop for more than three intervals.
            while start.elapsed() < INTERVAL * 7 / 2 {
                std::hint::spin_loop();
            }
        }
        r.borrow_mut().push((start, Instant::now()));
        if n + 1 == 5 {
            d.set_result(());
        }
    });
    pc.start();
    reactor.run_until(&done).unwrap();
    pc.stop();
    let runs = runs.borrow();
    // Gaps between single runs are not compared: on a loaded machine one run can start
    // late and the next on time. What a burst cannot fake is the span below.
    // Three runs were missed during the block: replayed, runs 2 to 4 would come back to
    // back; skipped, they stay on the schedule, at least one interval apart in all.
    assert!(
        runs[4].0 - runs[2].0 >= INTERVAL,
        "missed runs were replayed in a burst: {:?}",
        runs[4].0 - runs[2].0
    );
}

#[test]
fn dropping_the_last_handle_stops_the_periodic_callback() {
    let (mut reactor, handle) = support::reactor();
    let runs = Counter::new();
    let r = runs.clone();
    let pc = PeriodicCallback::new(&handle, Duration::from_millis(1), move || r.bump());
    pc.start();
    let clone = pc.clone();
    drop(pc);
    run_for(&mut reactor, Duration::from_millis(20));
    assert!(
        runs.get() > 0,
        "a clone still held it: it must keep running"
    );
    assert!(clone.is_running());
    drop(clone);
    let after_drop = runs.get();
    assert_eq!(
        handle.stats().timers_pending,
        0,
        "the dropped schedule left a timer"
    );
    run_for(&mut reactor, Duration::from_millis(20));
    assert!(
        runs.get() <= after_drop + 1,
        "ran {} more times after its last handle was dropped",
        runs.get() - after_drop
    );
}

#[test]
fn a_detached_periodic_callback_keeps_running_without_a_handle() {
    let (mut reactor, handle) = support::reactor();
    let runs = Counter::new();
    let (pc, done) = count_to_five(&handle, Duration::from_millis(1), &runs, || {});
    pc.start();
    pc.detach();
    reactor.run_until(&done).unwrap();
    assert_eq!(runs.get(), 5);
    assert_eq!(
        handle.stats().timers_pending,
        1,
        "detached: still scheduled"
    );
    drop(reactor); // frees it
}

#[test]
fn a_periodic_callback_dropped_inside_its_own_run_stops() {
    let (mut reactor, handle) = support::reactor();
    let runs = Counter::new();
    let slot: Rc<RefCell<Option<PeriodicCallback>>> = Rc::default();
    let (r, s) = (runs.clone(), slot.clone());
    let pc = PeriodicCallback::new(&handle, Duration::from_millis(1), move || {
        r.bump();
        s.borrow_mut().take(); // the last handle, dropped while it runs
    });
    pc.start();
    *slot.borrow_mut() = Some(pc);
    run_for(&mut reactor, Duration::from_millis(30));
    assert_eq!(runs.get(), 1);
    assert_eq!(handle.stats().timers_pending, 0);
}
