//! Queues: Queue, PriorityQueue, LifoQueue — put/get waits and their timeouts, nowait
//! errors, timed-out or cancelled waiters skipped without losing items, task_done/join,
//! and a bounded queue pacing a real TCP reader. Behaviours follow Tornado's
//! `queues_test.py`.

mod support;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use squall::net::TcpServer;
use squall::queues::{LifoQueue, PriorityQueue, Queue};
use squall::{Error, Future, Reactor};
use support::{assert_times_out, turn, wait, WAIT_LIMIT};

/// Long enough never to fire in a test that expects it not to: a failure bound only.
const NEVER: Duration = Duration::from_secs(60);
/// A timeout that is meant to fire.
const SHORT: Duration = Duration::from_millis(5);

/// A queue of one place, filled with `first`.
fn full_queue<T: 'static>(first: T) -> Queue<T> {
    let q = Queue::new(1);
    q.put_nowait(first).unwrap();
    q
}

/// `joined`, a join on `q`, waits while one task is not done, and resolves once it is
/// marked done.
#[track_caller]
fn assert_join_waits_for_the_last_task<T: 'static>(
    reactor: &mut Reactor,
    q: &Queue<T>,
    joined: &Future<()>,
) {
    turn(reactor);
    assert!(!joined.is_done(), "resolved with a task not done");
    q.task_done().unwrap();
    wait(reactor, joined).unwrap();
}

// ---- get ----

#[test]
fn get_nowait_on_an_empty_queue_is_queue_empty() {
    let q: Queue<u8> = Queue::new(0);
    assert!(matches!(q.get_nowait(), Err(Error::QueueEmpty)));
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert!(matches!(q.get_nowait(), Err(Error::QueueEmpty)));
}

#[test]
fn get_resolves_at_once_with_an_item_and_later_without() {
    let mut reactor = Reactor::new().unwrap();
    let q = Queue::new(0);
    q.put_nowait(0).unwrap();
    assert!(q.get().is_done());
    let pending = q.get();
    turn(&mut reactor);
    assert!(!pending.is_done());
    let q2 = q.clone();
    reactor
        .handle()
        .add_callback(move || q2.put_nowait(1).unwrap());
    assert_eq!(wait(&mut reactor, &pending).unwrap(), 1);
}

#[test]
fn getters_are_served_in_fifo_order() {
    let mut reactor = Reactor::new().unwrap();
    let q = Queue::new(0);
    let getters: Vec<_> = (0..3).map(|_| q.get()).collect();
    for i in [10, 11, 12] {
        q.put_nowait(i).unwrap();
    }
    assert_eq!(q.qsize(), 0, "items went straight to the parked getters");
    let got: Vec<_> = getters
        .iter()
        .map(|g| wait(&mut reactor, g).unwrap())
        .collect();
    assert_eq!(got, [10, 11, 12]);
}

#[test]
fn get_lets_a_parked_putter_in() {
    let mut reactor = Reactor::new().unwrap();
    let q = full_queue(0);
    let putter = q.put(1);
    assert!(!putter.is_done());
    assert_eq!(q.get_nowait().unwrap(), 0);
    wait(&mut reactor, &putter).unwrap();
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_nowait().unwrap(), 1);
}

#[test]
fn get_timeout_fails_and_does_not_eat_a_later_item() {
    let (mut reactor, handle) = support::reactor();
    let q = Queue::new(0);
    assert_times_out(&mut reactor, &q.get_timeout(&handle, SHORT));
    q.put_nowait(7).unwrap(); // the expired getter is skipped, the item is kept
    assert_eq!(q.get_nowait().unwrap(), 7);
}

#[test]
fn get_timeout_preempted_gets_the_item_and_cancels_its_timer() {
    let (mut reactor, handle) = support::reactor();
    let q = Queue::new(0);
    let g = q.get_timeout(&handle, NEVER);
    q.put_nowait(1).unwrap();
    assert_eq!(wait(&mut reactor, &g).unwrap(), 1);
    turn(&mut reactor);
    assert_eq!(handle.stats().timers_pending, 0);
}

#[test]
fn put_skips_timed_out_getters_and_serves_the_next() {
    // Tornado's test_get_clears_timed_out_getters.
    let (mut reactor, handle) = support::reactor();
    let q = Queue::new(0);
    let expired: Vec<_> = (0..10).map(|_| q.get_timeout(&handle, SHORT)).collect();
    let patient = q.get();
    for g in &expired {
        assert_times_out(&mut reactor, g);
    }
    q.put_nowait("item").unwrap();
    assert_eq!(wait(&mut reactor, &patient).unwrap(), "item");
    turn(&mut reactor);
    assert!(format!("{q:?}").contains("getters: 0"), "{q:?}");
}

#[test]
fn a_cancelled_getter_does_not_lose_the_item() {
    let mut reactor = Reactor::new().unwrap();
    let q = Queue::new(0);
    let gone = q.get();
    let next = q.get();
    gone.cancel();
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!(wait(&mut reactor, &next).unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap(), 2);
}

// ---- put ----

#[test]
fn put_nowait_on_a_full_queue_hands_the_item_back() {
    let q = Queue::new(1);
    assert!(!q.is_full());
    q.put_nowait(String::from("a")).unwrap();
    assert!(q.is_full());
    let refused = q.put_nowait(String::from("b")).unwrap_err();
    assert_eq!(refused.item(), "b");
    assert_eq!(refused.to_string(), "queue full");
    assert!(matches!(Error::from(refused), Error::QueueFull));
    assert_eq!(q.qsize(), 1);
}

#[test]
fn unbounded_queue_is_never_full() {
    let q = Queue::new(0);
    for i in 0..1000 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.is_full());
    assert_eq!(q.qsize(), 1000);
    assert_eq!(q.maxsize(), 0);
}

#[test]
fn putters_wait_while_full_and_are_let_in_fifo() {
    let mut reactor = Reactor::new().unwrap();
    let q = full_queue(0);
    let p1 = q.put(1);
    let p2 = q.put(2);
    turn(&mut reactor);
    assert!(!p1.is_done() && !p2.is_done());
    assert_eq!(q.get_nowait().unwrap(), 0);
    wait(&mut reactor, &p1).unwrap();
    assert!(!p2.is_done());
    assert_eq!(wait(&mut reactor, &q.get()).unwrap(), 1);
    wait(&mut reactor, &p2).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 2);
}

#[test]
fn put_timeout_fails_and_its_item_never_appears() {
    let (mut reactor, handle) = support::reactor();
    let q = full_queue(0);
    let p = q.put_timeout(1, &handle, SHORT);
    assert_times_out(&mut reactor, &p);
    assert_eq!(q.get_nowait().unwrap(), 0);
    assert!(matches!(q.get_nowait(), Err(Error::QueueEmpty)));
}

#[test]
fn get_skips_timed_out_putters_and_lets_the_next_in() {
    // Tornado's test_get_clears_timed_out_putters.
    let (mut reactor, handle) = support::reactor();
    let q = full_queue(0);
    let expired: Vec<_> = (1..=10).map(|i| q.put_timeout(i, &handle, SHORT)).collect();
    let patient = q.put(99);
    for p in &expired {
        assert_times_out(&mut reactor, p);
    }
    assert_eq!(q.get_nowait().unwrap(), 0);
    wait(&mut reactor, &patient).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 99);
    turn(&mut reactor);
    assert!(format!("{q:?}").contains("putters: 0"), "{q:?}");
}

#[test]
fn put_timeout_preempted_succeeds_and_cancels_its_timer() {
    let (mut reactor, handle) = support::reactor();
    let q = full_queue(0);
    let p = q.put_timeout(1, &handle, NEVER);
    assert_eq!(q.get_nowait().unwrap(), 0);
    wait(&mut reactor, &p).unwrap();
    turn(&mut reactor);
    assert_eq!(handle.stats().timers_pending, 0);
    assert_eq!(q.get_nowait().unwrap(), 1);
}

#[test]
fn dropping_the_queue_cancels_parked_getters() {
    let mut reactor = Reactor::new().unwrap();
    let q: Queue<u8> = Queue::new(0);
    let g = q.get();
    drop(q);
    assert!(matches!(wait(&mut reactor, &g), Err(Error::Cancelled)));
}

// ---- task_done / join ----

#[test]
fn task_done_more_than_put_is_an_error() {
    let q = Queue::new(0);
    assert!(matches!(q.task_done(), Err(Error::InvalidState(_))));
    q.put_nowait(1).unwrap();
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(matches!(q.task_done(), Err(Error::InvalidState(_))));
}

#[test]
fn join_waits_for_every_task_done() {
    let mut reactor = Reactor::new().unwrap();
    let q = Queue::new(0);
    assert!(q.join().is_done(), "nothing put: join resolves at once");
    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    let joined = q.join();
    for _ in 0..3 {
        q.get_nowait().unwrap();
    }
    turn(&mut reactor);
    assert!(!joined.is_done(), "items taken but not marked done");
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert_join_waits_for_the_last_task(&mut reactor, &q, &joined);
}

#[test]
fn items_handed_to_getters_count_as_tasks() {
    let mut reactor = Reactor::new().unwrap();
    let q = Queue::new(0);
    let g = q.get();
    q.put_nowait(1).unwrap();
    wait(&mut reactor, &g).unwrap();
    let joined = q.join();
    assert_join_waits_for_the_last_task(&mut reactor, &q, &joined);
}

#[test]
fn items_let_in_from_parked_putters_count_as_tasks() {
    let mut reactor = Reactor::new().unwrap();
    let q = full_queue("a");
    let waiting = q.put("b");
    assert_eq!(q.get_nowait().unwrap(), "a"); // lets "b" in
    wait(&mut reactor, &waiting).unwrap();
    assert_eq!(q.get_nowait().unwrap(), "b");
    q.task_done().unwrap();
    let joined = q.join();
    assert_join_waits_for_the_last_task(&mut reactor, &q, &joined);
    assert!(matches!(q.task_done(), Err(Error::InvalidState(_))));
}

#[test]
fn join_timeout_fails_with_timeout() {
    let (mut reactor, handle) = support::reactor();
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    assert_times_out(&mut reactor, &q.join_timeout(&handle, SHORT));
}

// ---- order ----

#[test]
fn priority_queue_hands_out_the_smallest_first() {
    let q = PriorityQueue::new(0);
    for item in [(1, "b"), (0, "a"), (3, "d"), (2, "c")] {
        q.put_nowait(item).unwrap();
    }
    let got: Vec<_> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
    assert_eq!(got, [(0, "a"), (1, "b"), (2, "c"), (3, "d")]);
}

#[test]
fn full_priority_queue_lets_a_smaller_parked_item_out_first() {
    let mut reactor = Reactor::new().unwrap();
    let q = PriorityQueue::new(1);
    q.put_nowait(5).unwrap();
    let p = q.put(1);
    assert_eq!(
        q.get_nowait().unwrap(),
        1,
        "the parked item joins before one leaves"
    );
    wait(&mut reactor, &p).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 5);
}

#[test]
fn lifo_queue_hands_out_the_newest_first() {
    let mut reactor = Reactor::new().unwrap();
    let q = LifoQueue::new(0);
    for i in 1..=3 {
        q.put_nowait(i).unwrap();
    }
    assert_eq!(
        format!("{q:?}"),
        "LifoQueue { maxsize: 0, qsize: 3, getters: 0, putters: 0, tasks: 3 }"
    );
    let got: Vec<_> = (0..3)
        .map(|_| wait(&mut reactor, &q.get()).unwrap())
        .collect();
    assert_eq!(got, [3, 2, 1]);
}

// ---- over a real socket ----

/// A bounded queue paces a TCP reader: the server reads a line, `put`s it (waiting
/// while the queue is full) and only then reads the next; a consumer `get`s each line
/// and answers it. Every line is answered once, in order, and the queue never holds
/// more than its maxsize.
#[test]
fn bounded_queue_paces_a_tcp_reader_without_losing_lines() {
    const LINES: usize = 50;
    let (mut reactor, handle) = support::reactor();
    let q: Queue<bytes::Bytes> = Queue::new(2);
    let peak = Rc::new(Cell::new(0));
    let served = Future::new();

    let (q2, peak2, served2) = (q.clone(), peak.clone(), served.clone());
    let server = TcpServer::new(&handle, move |stream, _addr| {
        // Reader: one line, one put, then the next line.
        fn read_next(
            stream: squall::stream::IoStream,
            q: Queue<bytes::Bytes>,
            peak: Rc<Cell<usize>>,
        ) {
            let (s, q2) = (stream.clone(), q.clone());
            stream
                .read_until(b"\n", Some(1024))
                .and_then(move |line| q2.put(line))
                .add_done_callback(move |f| {
                    if let Some(Ok(())) = f.take_result() {
                        peak.set(peak.get().max(q.qsize()));
                        read_next(s, q, peak);
                    }
                });
        }
        // Consumer: answer each line, close after the last.
        fn consume(
            stream: squall::stream::IoStream,
            q: Queue<bytes::Bytes>,
            left: usize,
            done: Future<()>,
        ) {
            q.get().add_done_callback(move |f| {
                let Some(Ok(line)) = f.take_result() else {
                    return;
                };
                let mut reply = b"ack ".to_vec();
                reply.extend_from_slice(&line);
                stream.write_and_forget(reply);
                q.task_done().unwrap();
                if left == 1 {
                    stream.close_after_writes();
                    done.set_result(());
                } else {
                    consume(stream, q, left - 1, done);
                }
            });
        }
        read_next(stream.clone(), q2.clone(), peak2.clone());
        consume(stream, q2.clone(), LINES, served2.clone());
    });
    let addr = server.listen("127.0.0.1:0").unwrap();

    let peer = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut all = String::new();
        for i in 0..LINES {
            all.push_str(&format!("line {i}\n"));
        }
        conn.write_all(all.as_bytes()).unwrap(); // all at once: the server must pace itself
        let replies: Vec<String> = BufReader::new(conn).lines().map(|l| l.unwrap()).collect();
        replies
    });
    wait(&mut reactor, &served).unwrap();
    wait(&mut reactor, &q.join()).unwrap();
    let replies = loop {
        // Keep the loop turning (the close must be flushed) until the peer has read EOF.
        if peer.is_finished() {
            break peer.join().unwrap();
        }
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    };
    let expected: Vec<String> = (0..LINES).map(|i| format!("ack line {i}")).collect();
    assert_eq!(replies, expected);
    assert!(peak.get() <= 2, "the queue held {} items", peak.get());
}
