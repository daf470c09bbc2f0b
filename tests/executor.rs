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
