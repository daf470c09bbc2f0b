//! run_in_executor: results come back on the loop thread; panics fail the future.

use std::thread;

use squall::{join_all, Error, Reactor};

#[test]
fn run_in_executor_resolves_on_the_loop_thread() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let loop_thread = thread::current().id();
    let job = handle.run_in_executor(move || thread::current().id());
    let on_loop = job.map(move |r| r.map(|_| thread::current().id()));
    let callback_thread = reactor.run_until(&on_loop).unwrap();
    assert_eq!(callback_thread, loop_thread);
    // And the job itself ran elsewhere.
    let job2 = handle.run_in_executor(move || thread::current().id() != loop_thread);
    assert!(reactor.run_until(&job2).unwrap());
}

#[test]
fn panicking_job_fails_its_future_and_the_pool_keeps_working() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let bad = handle.run_in_executor(|| -> u32 { panic!("job exploded") });
    match reactor.run_until(&bad) {
        Err(Error::Panicked(msg)) => assert!(msg.contains("job exploded"), "{msg}"),
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    // More jobs than workers, after several panics: all still run.
    for _ in 0..4 {
        let f = handle.run_in_executor(|| -> u8 { panic!("again") });
        assert!(reactor.run_until(&f).is_err());
    }
    let jobs: Vec<_> = (0..64u64)
        .map(|i| handle.run_in_executor(move || i * i))
        .collect();
    let all = join_all(jobs);
    let squares = reactor.run_until(&all).unwrap();
    assert_eq!(squares, (0..64u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn a_job_cancelled_while_queued_never_starts() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    // Occupy every worker (the pool has at most 16) until released.
    const BLOCKERS: usize = 16;
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let blockers: Vec<_> = (0..BLOCKERS)
        .map(|_| {
            let (rx, started) = (release_rx.clone(), started_tx.clone());
            handle.run_in_executor(move || {
                let _ = started.send(());
                // A failure bound, not a wait: released as soon as the test has cancelled.
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
            })
        })
        .collect();
    // At least one worker is busy, so the job below waits in the queue behind the rest.
    started_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let victim = handle.run_in_executor(move || r.store(true, Ordering::SeqCst));
    let after: Vec<_> = (0..BLOCKERS as u64)
        .map(|i| handle.run_in_executor(move || i))
        .collect();
    assert!(victim.cancel());
    reactor.run_once(Some(Duration::ZERO)).unwrap(); // tells the pool
    for _ in 0..BLOCKERS {
        release_tx.send(()).unwrap();
    }
    drop(release_tx);
    reactor.run_until(&join_all(blockers)).unwrap();
    // Jobs queued after the victim all ran, so the victim was taken off the queue.
    assert_eq!(reactor.run_until(&join_all(after)).unwrap().len(), BLOCKERS);
    assert!(matches!(victim.take_result(), Some(Err(Error::Cancelled))));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a job cancelled while queued still ran"
    );
}
