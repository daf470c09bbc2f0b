//! Remote: callbacks and stop from other threads.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use squall::{Reactor, Remote};

/// Fails the test (by stopping the loop and flagging it) instead of hanging forever.
fn watchdog(reactor: &Reactor) -> std::rc::Rc<std::cell::Cell<bool>> {
    let fired = std::rc::Rc::new(std::cell::Cell::new(false));
    let (f, h) = (fired.clone(), reactor.handle());
    reactor
        .handle()
        .call_later(Duration::from_secs(20), move || {
            f.set(true);
            h.stop();
        });
    fired
}

#[test]
fn callbacks_from_eight_threads_all_run_on_the_loop_thread() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10_000;
    let (mut reactor, handle) = support::reactor();
    let loop_thread = thread::current().id();
    let ran = Arc::new(AtomicUsize::new(0));
    let wrong_thread = Arc::new(AtomicUsize::new(0));
    let timed_out = watchdog(&reactor);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let remote = handle.remote();
            let (ran, wrong) = (ran.clone(), wrong_thread.clone());
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let (ran, wrong, r2) = (ran.clone(), wrong.clone(), remote.clone());
                    assert!(remote.add_callback(move || {
                        if thread::current().id() != loop_thread {
                            wrong.fetch_add(1, Ordering::SeqCst);
                        }
                        if ran.fetch_add(1, Ordering::SeqCst) + 1 == THREADS * PER_THREAD {
                            r2.stop();
                        }
                    }));
                }
            })
        })
        .collect();
    reactor.run().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    assert!(!timed_out.get(), "timed out");
    assert_eq!(ran.load(Ordering::SeqCst), THREADS * PER_THREAD);
    assert_eq!(wrong_thread.load(Ordering::SeqCst), 0);
}

/// Runs the loop while a thread runs `body` with a `Remote` of it; fails the test,
/// saying `failure`, if the watchdog and not the thread had to stop the loop.
#[track_caller]
fn run_stopped_by(
    reactor: &mut Reactor,
    failure: &str,
    body: impl FnOnce(Remote) + Send + 'static,
) {
    let timed_out = watchdog(reactor);
    let remote = reactor.handle().remote();
    let thread = thread::spawn(move || body(remote));
    reactor.run().unwrap();
    thread.join().unwrap();
    assert!(!timed_out.get(), "{failure}");
}

#[test]
fn remote_stop_from_another_thread_stops_run() {
    let (mut reactor, handle) = support::reactor();
    let (running_tx, running_rx) = mpsc::channel();
    // Tell the thread once the loop is really running (and idle afterwards).
    handle.add_callback(move || running_tx.send(()).unwrap());
    run_stopped_by(
        &mut reactor,
        "Remote::stop did not stop run",
        move |remote| {
            running_rx.recv().unwrap();
            remote.stop();
        },
    );
}

#[test]
fn remote_stop_is_not_lost_among_concurrent_callbacks() {
    // The stop is the last thing a busy sender does: it must still end `run`.
    for round in 0..200 {
        let mut reactor = Reactor::new().unwrap();
        run_stopped_by(
            &mut reactor,
            &format!("stop lost in round {round}"),
            |remote| {
                for _ in 0..100 {
                    remote.add_callback(|| {});
                }
                remote.stop();
            },
        );
    }
}

#[test]
fn remote_callback_wakes_a_blocked_run_once() {
    let (mut reactor, handle) = support::reactor();
    let remote = handle.remote();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        rx.recv().unwrap();
        remote.add_callback(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
    });
    tx.send(()).unwrap();
    // No timeout: only the remote wake-up can end this iteration. The watchdog timer
    // bounds it in case the wake-up is lost.
    let timed_out = watchdog(&reactor);
    while ran.load(Ordering::SeqCst) == 0 && !timed_out.get() {
        reactor.run_once(None).unwrap();
    }
    t.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn remote_is_send_and_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<squall::Remote>();
    let reactor = Reactor::new().unwrap();
    let remote = reactor.handle().remote();
    let ok = thread::spawn(move || remote.add_callback(|| {}))
        .join()
        .unwrap();
    assert!(ok, "Remote::add_callback refused with the reactor alive");
}

#[test]
fn many_remote_setters_from_several_threads_each_resolve_their_own_future() {
    const PER_THREAD: u64 = 500;
    const THREADS: u64 = 4;
    let mut reactor = squall::Reactor::new().unwrap();
    let handle = reactor.handle();
    let mut futures = Vec::new();
    let mut workers = Vec::new();
    for t in 0..THREADS {
        let mut setters = Vec::new();
        for i in 0..PER_THREAD {
            let (fut, setter) = handle.remote_future::<u64>();
            futures.push(fut);
            setters.push((t * PER_THREAD + i, setter));
        }
        workers.push(std::thread::spawn(move || {
            // Set in reverse order, every third dropped unset: keys are fired out of
            // order and freed slots are not confused with live ones.
            for (n, setter) in setters.into_iter().rev() {
                if n % 3 == 0 {
                    drop(setter);
                } else {
                    assert!(setter.set_result(n * 10));
                }
            }
        }));
    }
    for w in workers {
        w.join().unwrap();
    }
    for (n, fut) in futures.iter().enumerate() {
        let n = n as u64;
        match reactor.run_until(fut) {
            Ok(v) => assert_eq!(v, n * 10, "future {n} got another's value"),
            Err(squall::Error::InvalidState(_)) => {
                assert_eq!(n % 3, 0, "future {n} lost its value")
            }
            Err(e) => panic!("future {n}: {e}"),
        }
    }
}
