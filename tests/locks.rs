//! Locks: Condition, Event, Semaphore, BoundedSemaphore, Lock — FIFO service, timeouts,
//! cancelled or timed-out waiters skipped without losing a wake-up, deferred callbacks.
//! The behaviours follow Tornado's `locks_test.py`.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use squall::locks::{BoundedSemaphore, Condition, Event, Lock, Semaphore, SemaphoreGuard};
use squall::{Error, Future, Reactor};
use support::{assert_times_out, turn, wait, WAIT_LIMIT};

/// Long enough never to fire in a test that expects it not to: a failure bound only.
const NEVER: Duration = Duration::from_secs(60);
/// A timeout that is meant to fire.
const SHORT: Duration = Duration::from_millis(5);

/// Records `(label, result)` when `fut` finishes.
fn record<T: Clone + std::fmt::Debug + 'static>(
    log: &Rc<RefCell<Vec<String>>>,
    label: &str,
    fut: &Future<T>,
) {
    let (log, label) = (log.clone(), label.to_string());
    fut.add_done_callback(move |f| {
        let r = f.result().expect("done");
        log.borrow_mut().push(format!("{label}:{r:?}"));
    });
}

fn new_log() -> Rc<RefCell<Vec<String>>> {
    Rc::new(RefCell::new(Vec::new()))
}

/// A log, and two waits made by `start` recorded in it as `a` and `b`.
type Recorded<T> = (Rc<RefCell<Vec<String>>>, Future<T>, Future<T>);
fn two_recorded<T: Clone + std::fmt::Debug + 'static>(
    start: impl Fn() -> Future<T>,
) -> Recorded<T> {
    let log = new_log();
    let (a, b) = (start(), start());
    record(&log, "a", &a);
    record(&log, "b", &b);
    (log, a, b)
}

/// Turns the loop (what gave up is freed on a later iteration), then checks what `lock`
/// shows of itself.
#[track_caller]
fn assert_shows_after_turn(reactor: &mut Reactor, lock: &impl std::fmt::Debug, shown: &str) {
    turn(reactor);
    assert_eq!(format!("{lock:?}"), shown);
}

// ---- Condition ----

#[test]
fn condition_notify_wakes_oldest_first_with_deferred_callbacks() {
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let (log, a, b) = two_recorded(|| cond.wait());
    cond.notify(1);
    assert!(a.is_done() && !b.is_done());
    assert!(log.borrow().is_empty(), "a done-callback ran inside notify");
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["a:Ok(true)"]);
    cond.notify(1);
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["a:Ok(true)", "b:Ok(true)"]);
}

#[test]
fn condition_notify_n_wakes_n_in_order() {
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let log = new_log();
    let waiters: Vec<_> = (0..4).map(|_| cond.wait()).collect();
    for (i, w) in waiters.iter().enumerate() {
        record(&log, &i.to_string(), w);
    }
    cond.notify(2);
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["0:Ok(true)", "1:Ok(true)"]);
    cond.notify_all();
    turn(&mut reactor);
    assert_eq!(log.borrow().len(), 4);
    assert_eq!(log.borrow()[2..], ["2:Ok(true)", "3:Ok(true)"]);
}

#[test]
fn condition_notify_without_waiters_is_not_remembered() {
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    cond.notify(1);
    cond.notify_all();
    let w = cond.wait();
    turn(&mut reactor);
    assert!(!w.is_done(), "a notify before the wait must not wake it");
}

#[test]
fn condition_wait_timeout_resolves_false_and_frees_the_waiter() {
    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let w = cond.wait_timeout(&handle, SHORT);
    assert!(!wait(&mut reactor, &w).unwrap());
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 0 }");
}

#[test]
fn condition_wait_notified_before_timeout_cancels_its_timer() {
    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let w = cond.wait_timeout(&handle, NEVER);
    assert_eq!(handle.stats().timers_pending, 1);
    cond.notify(1);
    assert!(wait(&mut reactor, &w).unwrap());
    turn(&mut reactor);
    assert_eq!(handle.stats().timers_pending, 0, "the timeout timer leaked");
}

#[test]
fn condition_notify_one_skips_a_timed_out_waiter() {
    // The first waiter times out; notify(1) must wake the second, not be spent on the
    // first. Notify in the same iteration the timeout fired, before the expired waiter's
    // entry was freed, so the skip is what is tested.
    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let first = cond.wait_timeout(&handle, SHORT);
    let second = cond.wait();
    // This timer was set after the waiter's own timeout timer, so it runs after it.
    let (c, f) = (cond.clone(), first.clone());
    handle.call_later(SHORT, move || {
        if f.is_done() {
            c.notify(1);
        }
    });
    assert!(!wait(&mut reactor, &first).unwrap());
    assert!(wait(&mut reactor, &second).unwrap());
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 0 }");
}

/// `n` waiters on a fresh condition, the second with a short timeout, recorded in a log
/// as `0`, `1`, …; once the second timed out, `notify` runs and the loop turns. Returns
/// the log, the waiters and the condition (dropping it would cancel the waiters left).
fn notify_after_the_second_timed_out(
    n: usize,
    notify: impl FnOnce(&Condition),
) -> (Vec<String>, Vec<Future<bool>>, Condition) {
    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let log = new_log();
    let waiters: Vec<_> = (0..n)
        .map(|i| match i {
            1 => cond.wait_timeout(&handle, SHORT),
            _ => cond.wait(),
        })
        .collect();
    for (i, w) in waiters.iter().enumerate() {
        record(&log, &i.to_string(), w);
    }
    wait(&mut reactor, &waiters[1]).unwrap();
    notify(&cond);
    turn(&mut reactor);
    let log = log.borrow().clone();
    (log, waiters, cond)
}

#[test]
fn condition_notify_n_with_timed_out_waiters_wakes_the_next_ones() {
    // Tornado's test_notify_n_with_timeout: of four waiters the second times out;
    // notify(2) wakes the first and the third.
    let (log, waiters, _cond) = notify_after_the_second_timed_out(4, |cond| cond.notify(2));
    assert_eq!(log, ["1:Ok(false)", "0:Ok(true)", "2:Ok(true)"]);
    assert!(!waiters[3].is_done());
}

#[test]
fn condition_notify_all_skips_timed_out_waiters() {
    let (log, _, _) = notify_after_the_second_timed_out(3, |cond| cond.notify_all());
    assert_eq!(log, ["1:Ok(false)", "0:Ok(true)", "2:Ok(true)"]);
}

#[test]
fn condition_cancelled_waiter_is_skipped_and_freed() {
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let (gone, next) = (cond.wait(), cond.wait());
    assert!(gone.cancel());
    cond.notify(1); // before the cancelled entry was freed: it is skipped
    assert!(wait(&mut reactor, &next).unwrap());
    assert!(matches!(gone.take_result(), Some(Err(Error::Cancelled))));
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 0 }");
}

#[test]
fn condition_frees_many_cancelled_and_timed_out_waiters() {
    // Tornado's test_garbage_collection: parked waiters that give up are not kept.
    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let mut last = None;
    for i in 0..200 {
        if i % 2 == 0 {
            cond.wait().cancel();
        } else {
            last = Some(cond.wait_timeout(&handle, SHORT));
        }
    }
    let kept = cond.wait();
    wait(&mut reactor, &last.unwrap()).unwrap();
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 1 }");
    assert_eq!(handle.stats().timers_pending, 0);
    cond.notify(1);
    assert!(wait(&mut reactor, &kept).unwrap());
}

#[test]
fn condition_holds_ten_thousand_waiters_and_frees_the_ones_that_leave() {
    // The long-poll scale: many parked waiters, half of them leave, one notify_all
    // reaches every one still there.
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let waiters: Vec<_> = (0..10_000).map(|_| cond.wait()).collect();
    for w in waiters.iter().step_by(2) {
        w.cancel();
    }
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 5000 }");
    cond.notify_all();
    turn(&mut reactor);
    for (i, w) in waiters.iter().enumerate() {
        let r = w.take_result().expect("done");
        assert_eq!(r.is_ok(), i % 2 == 1, "waiter {i}: {r:?}");
    }
    assert_eq!(format!("{cond:?}"), "Condition { waiters: 0 }");
}

#[test]
fn condition_waiter_callback_may_notify_the_next_waiter() {
    // Tornado's test_nested_notify: re-entrancy from a done-callback.
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let first = cond.wait();
    let second = cond.wait();
    let third = cond.wait();
    let c = cond.clone();
    first.add_done_callback(move |_| c.notify(1));
    cond.notify(1);
    assert!(wait(&mut reactor, &second).unwrap());
    turn(&mut reactor);
    assert!(!third.is_done());
}

#[test]
fn condition_dropped_cancels_its_parked_waiters() {
    let mut reactor = Reactor::new().unwrap();
    let cond = Condition::new();
    let w = cond.wait();
    drop(cond);
    assert!(matches!(wait(&mut reactor, &w), Err(Error::Cancelled)));
}

// ---- Event ----

#[test]
fn event_set_wakes_every_waiter_and_later_waits_resolve_at_once() {
    let mut reactor = Reactor::new().unwrap();
    let event = Event::new();
    let (log, _a, _b) = two_recorded(|| event.wait());
    assert!(!event.is_set());
    event.set();
    assert!(log.borrow().is_empty(), "a done-callback ran inside set");
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["a:Ok(())", "b:Ok(())"]);
    assert!(event.wait().is_done());
    event.set(); // setting twice is harmless
    assert!(event.is_set());
}

#[test]
fn event_clear_makes_waits_park_again() {
    let mut reactor = Reactor::new().unwrap();
    let event = Event::new();
    event.set();
    event.clear();
    assert!(!event.is_set());
    let w = event.wait();
    turn(&mut reactor);
    assert!(!w.is_done());
    let e = event.clone();
    reactor.handle().add_callback(move || e.set());
    wait(&mut reactor, &w).unwrap();
}

#[test]
fn event_wait_timeout_fails_with_timeout_and_others_still_wake() {
    let (mut reactor, handle) = support::reactor();
    let event = Event::new();
    let (impatient, patient) = (event.wait_timeout(&handle, SHORT), event.wait());
    assert_times_out(&mut reactor, &impatient);
    event.set();
    wait(&mut reactor, &patient).unwrap();
    assert_shows_after_turn(&mut reactor, &event, "Event { state: \"set\", waiters: 0 }");
}

// ---- Semaphore ----

/// A semaphore of one permit, and the guard holding it.
fn held_semaphore() -> (Semaphore, SemaphoreGuard) {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    (sem, held)
}

#[test]
fn semaphore_counts_down_then_parks_and_serves_fifo() {
    let mut reactor = Reactor::new().unwrap();
    let sem = Semaphore::new(2);
    let g1 = wait(&mut reactor, &sem.acquire()).unwrap();
    let g2 = wait(&mut reactor, &sem.acquire()).unwrap();
    assert_eq!(sem.value(), 0);
    let log = new_log();
    let waiters: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
    for (i, w) in waiters.iter().enumerate() {
        let log = log.clone();
        w.add_done_callback(move |_| log.borrow_mut().push(i.to_string()));
    }
    turn(&mut reactor);
    assert!(log.borrow().is_empty());
    drop(g1);
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["0"]);
    drop(g2);
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["0", "1"]);
    assert_eq!(
        sem.value(),
        0,
        "a released permit goes to a waiter, not the count"
    );
    drop(waiters); // the guards inside go back
    turn(&mut reactor);
    assert_eq!(*log.borrow(), ["0", "1", "2"]);
    turn(&mut reactor);
    assert_eq!(sem.value(), 2);
}

#[test]
fn semaphore_acquire_timeout_fails_and_the_permit_goes_to_the_next_waiter() {
    let (mut reactor, handle) = support::reactor();
    let (sem, held) = held_semaphore();
    let (impatient, patient) = (sem.acquire_timeout(&handle, SHORT), sem.acquire());
    assert_times_out(&mut reactor, &impatient);
    drop(held);
    let _g = wait(&mut reactor, &patient).unwrap();
    assert_eq!(sem.value(), 0);
}

#[test]
fn semaphore_acquire_timeout_preempted_keeps_the_permit() {
    let (mut reactor, handle) = support::reactor();
    let (sem, held) = held_semaphore();
    let w = sem.acquire_timeout(&handle, NEVER);
    drop(held);
    let g = wait(&mut reactor, &w).unwrap();
    turn(&mut reactor);
    assert_eq!(handle.stats().timers_pending, 0);
    drop(g);
    assert_eq!(sem.value(), 1);
}

#[test]
fn semaphore_cancelled_waiter_is_skipped() {
    let mut reactor = Reactor::new().unwrap();
    let sem = Semaphore::new(0);
    let (gone, next) = (sem.acquire(), sem.acquire());
    gone.cancel();
    sem.release();
    let _g = wait(&mut reactor, &next).unwrap();
    assert_shows_after_turn(&mut reactor, &sem, "Semaphore { value: 0, waiters: 0 }");
}

#[test]
fn semaphore_permit_given_to_an_abandoned_waiter_comes_back() {
    // The caller dropped its future without cancelling it: the permit it is handed is
    // dropped with the future and goes to the next waiter, nothing deadlocks.
    let mut reactor = Reactor::new().unwrap();
    let (sem, held) = held_semaphore();
    drop(sem.acquire());
    let next = sem.acquire();
    drop(held);
    let g = wait(&mut reactor, &next).unwrap();
    drop(g);
    assert_eq!(sem.value(), 1);
}

#[test]
fn semaphore_release_unacquired_adds_a_permit() {
    let sem = Semaphore::new(0);
    sem.release();
    assert_eq!(sem.value(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn bounded_semaphore_refuses_release_above_its_initial_value() {
    let mut reactor = Reactor::new().unwrap();
    let sem = BoundedSemaphore::new(1);
    assert!(matches!(sem.release(), Err(Error::InvalidState(_))));
    let g = wait(&mut reactor, &sem.acquire()).unwrap();
    assert!(sem.try_acquire().is_none());
    sem.release().unwrap(); // hand release of the permit `g` holds...
    drop(g); // ...so the guard's release is refused (and logged), not counted twice
    assert_eq!(sem.value(), 1);
}

// ---- Lock ----

#[test]
fn lock_is_handed_over_in_fifo_order() {
    let mut reactor = Reactor::new().unwrap();
    let lock = Lock::new();
    let log = new_log();
    let mut last = None;
    for i in 0..5 {
        let log = log.clone();
        let step = lock.acquire().map(move |g| {
            let _guard = g?;
            log.borrow_mut().push(i.to_string());
            Ok(())
        });
        last = Some(step);
    }
    wait(&mut reactor, &last.unwrap()).unwrap();
    assert_eq!(*log.borrow(), ["0", "1", "2", "3", "4"]);
    assert!(!lock.is_locked());
}

#[test]
fn lock_guard_held_across_iterations_excludes_others() {
    let mut reactor = Reactor::new().unwrap();
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    assert!(lock.try_acquire().is_none());
    assert_eq!(format!("{lock:?}"), "Lock { state: \"locked\" }");
    let w = lock.acquire();
    turn(&mut reactor);
    assert!(!w.is_done());
    drop(guard);
    let _g = wait(&mut reactor, &w).unwrap();
    assert!(lock.is_locked());
}

#[test]
fn lock_acquire_timeout_fails_and_the_next_waiter_gets_the_lock() {
    let (mut reactor, handle) = support::reactor();
    let lock = Lock::new();
    let guard = lock.try_acquire().unwrap();
    let impatient = lock.acquire_timeout(&handle, SHORT);
    let patient = lock.acquire_timeout(&handle, NEVER);
    assert_times_out(&mut reactor, &impatient);
    drop(guard);
    let g = wait(&mut reactor, &patient).unwrap();
    drop(g);
    turn(&mut reactor);
    assert!(!lock.is_locked());
    assert_eq!(handle.stats().timers_pending, 0);
}

// ---- over real sockets ----

/// Long-polling as the chat demo does it: each TCP client sends `wait\n` and parks on a
/// Condition; a client that leaves cancels its waiter (from the stream's close callback).
/// `notify(1)` must then wake the client still there, not be spent on the one gone, and
/// the gone one's waiter must be freed.
#[test]
fn condition_long_poll_skips_a_client_that_left() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;

    let (mut reactor, handle) = support::reactor();
    let cond = Condition::new();
    let parked: Vec<Future<()>> = (0..2).map(|_| Future::new()).collect();
    let left: Future<()> = Future::new();
    let answered: Future<()> = Future::new();
    let accepted = Rc::new(std::cell::Cell::new(0));

    let (c, p, l, a) = (cond.clone(), parked.clone(), left.clone(), answered.clone());
    let server = squall::net::TcpServer::new(&handle, move |stream, _| {
        let n = accepted.get();
        accepted.set(n + 1);
        let (c, p, l, a) = (c.clone(), p[n].clone(), l.clone(), a.clone());
        let s = stream.clone();
        stream
            .read_until(b"\n", Some(64))
            .add_done_callback(move |f| {
                if !matches!(f.take_result(), Some(Ok(_))) {
                    return;
                }
                let waiter = c.wait();
                let w = waiter.clone();
                s.set_close_callback(move |_| {
                    if w.cancel() {
                        l.set_result(());
                    }
                });
                let s2 = s.clone();
                waiter.add_done_callback(move |f| {
                    if let Some(Ok(true)) = f.result() {
                        let a = a.clone();
                        s2.write(&b"woken\n"[..])
                            .add_done_callback(move |_| a.set_result(()));
                    }
                });
                p.set_result(());
            });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();

    let mut gone = TcpStream::connect(addr).unwrap();
    gone.write_all(b"wait\n").unwrap();
    wait(&mut reactor, &parked[0]).unwrap();
    let mut stays = TcpStream::connect(addr).unwrap();
    stays.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stays.write_all(b"wait\n").unwrap();
    wait(&mut reactor, &parked[1]).unwrap();

    drop(gone);
    wait(&mut reactor, &left).unwrap();
    cond.notify(1);
    wait(&mut reactor, &answered).unwrap();
    let mut line = String::new();
    BufReader::new(&mut stays).read_line(&mut line).unwrap();
    assert_eq!(line, "woken\n");
    assert_shows_after_turn(&mut reactor, &cond, "Condition { waiters: 0 }");
}
