//! The loop itself: callbacks, fairness, stop, run_until, embedding, and what dropping
//! the reactor does.

mod support;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::{Error, Future, Handle, Interest, PeriodicCallback, Reactor};
use support::{counting_handler, drops, unix_pair, Counter, DropProbe};

const NOW: Option<Duration> = Some(Duration::ZERO);

#[test]
fn callbacks_run_in_order_on_the_next_iteration() {
    let (mut reactor, handle) = support::reactor();
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..5 {
        let o = order.clone();
        handle.add_callback(move || o.borrow_mut().push(i));
    }
    assert!(
        order.borrow().is_empty(),
        "add_callback ran its closure inline"
    );
    reactor.run_once(NOW).unwrap();
    assert_eq!(*order.borrow(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn callback_added_inside_a_callback_runs_on_the_following_iteration() {
    let (mut reactor, handle) = support::reactor();
    let inner_ran = Counter::new();
    let (h, r) = (handle.clone(), inner_ran.clone());
    handle.add_callback(move || {
        let r = r.clone();
        h.add_callback(move || r.bump());
    });
    reactor.run_once(NOW).unwrap();
    assert_eq!(inner_ran.get(), 0);
    assert_eq!(handle.stats().callbacks_pending, 1);
    reactor.run_once(NOW).unwrap();
    assert_eq!(inner_ran.get(), 1);
}

#[test]
fn self_readding_callback_does_not_starve_timer_or_handler() {
    let (mut reactor, handle) = support::reactor();
    let spins = Rc::new(Cell::new(0u64));
    let timer_fired = Rc::new(Cell::new(false));
    let handler_fired = Rc::new(Cell::new(false));

    fn spin(h: squall::Handle, spins: Rc<Cell<u64>>) {
        spins.set(spins.get() + 1);
        if spins.get() > 1_000_000 {
            h.stop(); // starved: give up so the assertions below fail
            return;
        }
        let h2 = h.clone();
        h.add_callback(move || spin(h2, spins));
    }
    spin(handle.clone(), spins.clone());

    let (a, mut b) = unix_pair();
    let (hf, tf, h) = (handler_fired.clone(), timer_fired.clone(), handle.clone());
    handle
        .add_handler(a, Interest::READABLE, move |s, _ev| {
            support::drain(s);
            hf.set(true);
            if tf.get() {
                h.stop();
            }
        })
        .unwrap();
    let (hf, tf, h) = (handler_fired.clone(), timer_fired.clone(), handle.clone());
    handle.call_later(Duration::from_millis(10), move || {
        tf.set(true);
        if hf.get() {
            h.stop();
        }
    });
    b.write_all(b"wake").unwrap();
    reactor.run().unwrap();
    assert!(timer_fired.get(), "timer starved ({} spins)", spins.get());
    assert!(
        handler_fired.get(),
        "handler starved ({} spins)",
        spins.get()
    );
}

#[test]
fn stop_inside_a_callback_ends_run() {
    let (mut reactor, handle) = support::reactor();
    let h = handle.clone();
    handle.add_callback(move || h.stop());
    reactor.run().unwrap();
    // The loop is reusable after a stop.
    let after = Counter::new();
    let (h, a) = (handle.clone(), after.clone());
    handle.add_callback(move || {
        a.bump();
        h.stop();
    });
    reactor.run().unwrap();
    assert_eq!(after.get(), 1);
}

/// A counter bumped by a timer `after` from now: one that must not fire in the test.
fn far_timer(handle: &Handle, after: Duration) -> Counter {
    let fired = Counter::new();
    let f = fired.clone();
    handle.call_later(after, move || f.bump());
    fired
}

#[test]
fn stop_before_run_returns_at_once() {
    let (mut reactor, handle) = support::reactor();
    let timer = far_timer(&handle, Duration::from_secs(30));
    handle.stop();
    let start = Instant::now();
    reactor.run().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(timer.get(), 0);
}

/// Runs a fresh loop until the future that `arrange` (given the loop's handle and the
/// future) settles or the loop stops.
fn run_until_arranged<T: 'static>(arrange: impl FnOnce(&Handle, Future<T>)) -> squall::Result<T> {
    let mut reactor = Reactor::new().unwrap();
    let f = Future::new();
    arrange(&reactor.handle(), f.clone());
    reactor.run_until(&f)
}

#[test]
fn run_until_returns_the_value() {
    let r = run_until_arranged(|handle, g: Future<String>| {
        handle.call_later(Duration::from_millis(2), move || {
            g.set_result("done".into())
        });
    });
    assert_eq!(r.unwrap(), "done");
}

#[test]
fn run_until_returns_the_error() {
    let r = run_until_arranged(|handle, g: Future<u8>| {
        handle.add_callback(move || g.set_error(Error::StreamClosed))
    });
    assert!(matches!(r, Err(Error::StreamClosed)));
}

#[test]
fn run_until_reports_a_stop_before_the_future_is_done() {
    let r = run_until_arranged(|handle, _never: Future<u8>| {
        let h = handle.clone();
        handle.add_callback(move || h.stop());
    });
    assert!(matches!(r, Err(Error::InvalidState(_))));
}

#[test]
fn run_once_with_zero_timeout_runs_one_iteration_without_blocking() {
    let (mut reactor, handle) = support::reactor();
    let far = far_timer(&handle, Duration::from_secs(60));
    let before = handle.stats().iterations;
    let start = Instant::now();
    reactor.run_once(NOW).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "run_once blocked"
    );
    assert_eq!(handle.stats().iterations, before + 1);
    assert_eq!(far.get(), 0);
}

#[test]
fn reactor_fd_becomes_readable_when_work_is_ready() {
    // Embedding: the host waits on the reactor's descriptor, then runs one iteration.
    let (mut reactor, handle) = support::reactor();
    let (a, mut b) = unix_pair();
    let fired = Counter::new();
    counting_handler(&handle, a, &fired, |_| {});
    let fd = reactor.as_fd().as_raw_fd();
    assert_eq!(fd, reactor.as_raw_fd());
    let poll = |timeout_ms: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        assert!(n >= 0);
        n == 1 && p.revents & libc::POLLIN != 0
    };
    assert!(!poll(0), "reactor fd readable with nothing ready");
    b.write_all(b"x").unwrap();
    assert!(poll(5000), "reactor fd not readable with a ready handler");
    reactor.run_once(NOW).unwrap();
    assert_eq!(fired.get(), 1);
    assert!(!poll(0));

    // A Remote callback wakes it too.
    let remote = handle.remote();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = ran.clone();
    std::thread::spawn(move || {
        remote.add_callback(move || r.store(true, std::sync::atomic::Ordering::SeqCst));
    })
    .join()
    .unwrap();
    assert!(
        poll(5000),
        "reactor fd not readable after a remote callback"
    );
    reactor.run_once(NOW).unwrap();
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn dropping_the_reactor_frees_everything_that_captured_its_handle() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let (probe, count) = DropProbe::new();
    let mut expected = 0;
    let mut probe_for = || {
        expected += 1;
        DropProbe::another(&count)
    };

    let (a, _b) = unix_pair();
    let (p, h) = (probe_for(), handle.clone());
    handle
        .add_handler(a, Interest::READABLE, move |_s, _ev| {
            let _ = (&p, &h);
        })
        .unwrap();
    let (p, h) = (probe_for(), handle.clone());
    handle.call_later(Duration::from_secs(60), move || {
        let _ = (&p, &h);
    });
    let (p, h) = (probe_for(), handle.clone());
    handle.add_callback(move || {
        let _ = (&p, &h);
    });
    // A pending future whose done-callback captured the handle, owned by a timer.
    let fut: Future<()> = Future::new();
    let (p, h) = (probe_for(), handle.clone());
    fut.add_done_callback(move |_f| {
        let _ = (&p, &h);
    });
    handle.call_later(Duration::from_secs(60), move || fut.set_result(()));
    // A detached periodic callback: kept alive by its timer alone.
    let (p, h) = (probe_for(), handle.clone());
    let pc = PeriodicCallback::new(&handle, Duration::from_secs(60), move || {
        let _ = (&p, &h);
    });
    pc.start();
    pc.detach();
    drop(probe);
    expected += 1;

    let weak_probe_count = drops(&count);
    assert_eq!(weak_probe_count, 1, "only the local probe is gone yet");
    drop(handle);
    drop(reactor);
    assert_eq!(
        drops(&count),
        expected,
        "closures leaked after the reactor was dropped"
    );
}

#[test]
fn handle_calls_after_the_reactor_is_dropped_do_not_panic() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let remote = handle.remote();
    let (a, _b) = unix_pair();
    let token = handle
        .add_handler(a, Interest::READABLE, |_s, _ev| {})
        .unwrap();
    drop(reactor);

    let (probe, count) = DropProbe::new();
    handle.add_callback(move || drop(probe));
    assert_eq!(drops(&count), 1, "add_callback kept the closure");

    let (probe, count) = DropProbe::new();
    let id = handle.call_later(Duration::from_millis(1), move || drop(probe));
    assert_eq!(drops(&count), 1, "call_later kept the closure");
    assert!(!handle.cancel_timer(id));

    let (c, _d) = unix_pair();
    assert!(matches!(
        handle.add_handler(c, Interest::READABLE, |_s, _ev| {}),
        Err(Error::InvalidState(_))
    ));
    assert!(handle.update_handler(token, Interest::NONE).is_err());
    assert!(handle.remove_handler(token).is_err());

    let (probe, count) = DropProbe::new();
    assert!(!remote.add_callback(move || drop(probe)));
    assert_eq!(drops(&count), 1, "Remote::add_callback kept the closure");
    remote.stop();
    handle.stop();
    let stats = handle.stats();
    assert_eq!(
        (
            stats.handlers,
            stats.timers_pending,
            stats.callbacks_pending
        ),
        (0, 0, 0)
    );

    // A future resolved after the reactor is gone still runs its callbacks.
    let fut: Future<u8> = Future::new();
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    fut.add_done_callback(move |f| s.set(f.result().unwrap().unwrap()));
    fut.set_result(9);
    assert_eq!(seen.get(), 9);
}

#[test]
fn run_in_executor_after_the_reactor_is_dropped_fails_at_once() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    drop(reactor);
    let f = handle.run_in_executor(|| 1u8);
    assert!(
        matches!(f.take_result(), Some(Err(Error::InvalidState(_)))),
        "the future of a job on a dropped reactor never resolves"
    );
}

/// Waits (at most 5 s, a failure bound) until `fd` reports an error or hang-up.
fn wait_for_hangup(fd: std::os::fd::RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, 5000) };
    assert_eq!(n, 1, "the peer's reset never arrived");
    assert!(p.revents & (libc::POLLHUP | libc::POLLERR) != 0);
}

/// A TCP stream whose peer reset the connection (error and hang-up pending on it).
fn reset_stream() -> std::net::TcpStream {
    let (peer, local) = support::tcp_pair();
    local.set_nonblocking(true).unwrap();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer); // linger 0: close sends a reset
    wait_for_hangup(local.as_raw_fd());
    local
}

/// How many times the loop turns in 300 ms with nothing to do but the timer that ends
/// the wait (a spinning loop turns thousands of times in this window, however loaded the
/// machine is).
fn idle_turns(reactor: &mut Reactor) -> u64 {
    let handle = reactor.handle();
    let before = handle.stats().iterations;
    let h = handle.clone();
    handle.call_later(Duration::from_millis(300), move || h.stop());
    reactor.run().unwrap();
    handle.stats().iterations - before
}

#[test]
fn hung_up_source_with_no_interest_does_not_spin_the_loop() {
    // epoll always reports errors and hang-ups, whatever was asked for: a paused source
    // (Interest::NONE) whose peer reset must not wake the loop again and again.
    let (mut reactor, handle) = support::reactor();
    let called = Counter::new();
    let c = called.clone();
    let _token = handle
        .add_handler(reset_stream(), Interest::NONE, move |_s, _ev| c.bump())
        .unwrap();
    let turns = idle_turns(&mut reactor);
    assert_eq!(called.get(), 0, "a handler with no interest was called");
    // Idle, the loop turns for the timer only.
    assert!(turns < 50, "the loop spun {turns} times while idle");
}

#[test]
fn paused_hung_up_source_reports_the_hangup_once_interest_returns() {
    let (mut reactor, handle) = support::reactor();
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let token = handle
        .add_handler(reset_stream(), Interest::NONE, move |_s, ev| {
            s.set(Some(ev))
        })
        .unwrap();
    // Paused: an iteration that would have reported the hang-up reports nothing.
    reactor.run_once(NOW).unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(seen.get(), None);
    // Pause and resume: level-triggered again, the hang-up is reported as readable.
    handle.update_handler(token, Interest::READABLE).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.get().is_none() && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_secs(1))).unwrap();
    }
    let ev = seen
        .take()
        .expect("hang-up not reported after interest returned");
    assert!(ev.is_readable() && !ev.is_writable());
    // Still reported (level-triggered) while nobody reads the error...
    reactor.run_once(Some(Duration::from_secs(5))).unwrap();
    assert!(seen.take().is_some());
    // ...and paused again, silent again.
    handle.update_handler(token, Interest::NONE).unwrap();
    reactor.run_once(NOW).unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(seen.get(), None);
    // Writable interest alone sees it too.
    handle.update_handler(token, Interest::WRITABLE).unwrap();
    reactor.run_once(Some(Duration::from_secs(5))).unwrap();
    let ev = seen
        .take()
        .expect("hang-up not reported to writable interest");
    assert!(ev.is_writable() && !ev.is_readable());
}

#[test]
fn idle_stream_whose_peer_reset_does_not_spin_the_loop() {
    // An IoStream with no read pending and no close callback registers no interest.
    let (mut reactor, handle) = support::reactor();
    let stream = squall::stream::IoStream::new(&handle, reset_stream()).unwrap();
    let turns = idle_turns(&mut reactor);
    assert!(turns < 50, "the loop spun {turns} times while idle");
    // The reset is still there for the next read to find.
    let read = stream.read_bytes(1, false);
    assert!(reactor.run_until(&read).is_err());
}
