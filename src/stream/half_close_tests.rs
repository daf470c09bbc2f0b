//! The end-of-file hook (`IoStream::set_eof_callback`) over real socket pairs.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use super::IoStream;
use crate::error::Error;
use crate::future::Future;
use crate::reactor::Reactor;

fn pair(reactor: &Reactor) -> (IoStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (IoStream::new(&reactor.handle(), a).unwrap(), b)
}

/// One parser call: the buffered bytes and `closed`.
type Call = (Vec<u8>, bool);

/// A future resolved by the stream's end-of-file callback.
fn eof_future(stream: &IoStream) -> Future<()> {
    let eof = Future::new();
    let e = eof.clone();
    stream.set_eof_callback(move || e.set_result(()));
    eof
}

#[test]
fn end_of_file_ends_the_pending_read_and_keeps_the_stream_writable() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let eof = eof_future(&a);
    let read = a.read_bytes(10, false);
    b.write_all(b"abc").unwrap();
    b.shutdown(Shutdown::Write).unwrap();
    let r = reactor.run_until(&read);
    assert!(matches!(r, Err(Error::StreamClosed)), "{r:?}");
    reactor.run_until(&eof).unwrap();
    assert!(a.is_read_closed());
    assert!(!a.is_closed());
    // Reads started later are served from what arrived, as after a close.
    assert_eq!(
        &reactor.run_until(&a.read_until_close()).unwrap()[..],
        b"abc"
    );
    reactor.run_until(&a.write(&b"reply"[..])).unwrap();
    a.close();
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"reply");
}

#[test]
fn a_custom_parser_is_called_with_closed_at_end_of_file() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut b) = pair(&reactor);
    let _eof = eof_future(&a);
    // What the parser saw on each call: the buffer and `closed`.
    let calls: Rc<RefCell<Vec<Call>>> = Rc::default();
    let c = calls.clone();
    let read = a.read_with(move |buf, closed| {
        c.borrow_mut().push((buf.to_vec(), closed));
        Ok(closed.then(|| buf.split().freeze()))
    });
    b.write_all(b"last words").unwrap();
    b.shutdown(Shutdown::Write).unwrap();
    assert_eq!(&reactor.run_until(&read).unwrap()[..], b"last words");
    assert_eq!(
        calls.borrow().last().unwrap(),
        &(b"last words".to_vec(), true)
    );
    assert!(!a.is_closed());
    reactor.run_until(&a.write(&b"still open"[..])).unwrap();
    drop(a);
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"still open");
}

#[test]
fn the_callback_runs_after_the_read_it_ended_and_never_inside_a_call() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = pair(&reactor);
    let order: Rc<RefCell<Vec<&str>>> = Rc::default();
    let o = order.clone();
    let eof = Future::new();
    let e = eof.clone();
    a.set_eof_callback(move || {
        o.borrow_mut().push("eof");
        e.set_result(());
    });
    let o = order.clone();
    a.read_until_close()
        .add_done_callback(move |_: &Future<_>| o.borrow_mut().push("read"));
    b.shutdown(Shutdown::Write).unwrap();
    reactor.run_until(&eof).unwrap();
    assert_eq!(*order.borrow(), ["read", "eof"]);
    // Set again after end-of-file: it runs from the loop, not inside this call.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    a.set_eof_callback(move || r.set(true));
    assert!(!ran.get());
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert!(ran.get());
}

#[test]
fn without_the_callback_end_of_file_closes_the_stream() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = pair(&reactor);
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    a.set_eof_callback(move || r.set(r.get() + 1));
    a.clear_eof_callback();
    let closed = Future::new();
    let c = closed.clone();
    a.set_close_callback(move |e| c.set_result(e.is_none()));
    b.shutdown(Shutdown::Write).unwrap();
    assert!(reactor.run_until(&closed).unwrap(), "closed with an error");
    assert!(a.is_closed() && a.is_read_closed());
    // On a closed stream the callback never runs (the close callback told).
    let r = ran.clone();
    a.set_eof_callback(move || r.set(r.get() + 1));
    for _ in 0..3 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(ran.get(), 0, "an end-of-file callback ran");
}

#[test]
fn a_half_closed_stream_does_not_spin_the_loop() {
    // The end-of-file stays readable (level-triggered): the stream must stop asking.
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let (a, b) = pair(&reactor);
    let eof = eof_future(&a);
    a.set_close_callback(|_| {});
    b.shutdown(Shutdown::Write).unwrap();
    reactor.run_until(&eof).unwrap();
    let before = handle.stats().iterations;
    let fired = Future::new();
    let f = fired.clone();
    handle.call_later(Duration::from_millis(100), move || f.set_result(()));
    reactor.run_until(&fired).unwrap();
    let spent = handle.stats().iterations - before;
    assert!(
        spent < 20,
        "{spent} loop iterations in 100 ms: the stream spins"
    );
    assert!(!a.is_closed());
    drop(b);
}

#[test]
fn a_half_closed_peer_that_resets_neither_spins_the_loop_nor_goes_unnoticed_by_writes() {
    // epoll reports a reset whatever the interest, on every poll: a half-closed stream
    // with nothing to write must not be polled then. Its next write notices the reset.
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (a, _) = listener.accept().unwrap();
    let a = IoStream::new(&handle, a).unwrap();
    let eof = eof_future(&a);
    b.shutdown(Shutdown::Write).unwrap();
    reactor.run_until(&eof).unwrap();
    drop(b); // gone: the bytes it gets now draw a reset
    let closed = Future::new();
    let c = closed.clone();
    a.set_close_callback(move |e| c.set_result(e));
    reactor.run_until(&a.write(&b"anyone there?"[..])).unwrap();
    // The reset arrives meanwhile (loopback): the loop stays idle.
    let before = handle.stats().iterations;
    let fired = Future::new();
    let f = fired.clone();
    handle.call_later(Duration::from_millis(100), move || f.set_result(()));
    reactor.run_until(&fired).unwrap();
    let spent = handle.stats().iterations - before;
    assert!(
        spent < 20,
        "{spent} loop iterations in 100 ms: the stream spins"
    );
    // Writing finds the peer gone, and the stream closes with the error.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(std::time::Instant::now() < deadline, "writes never failed");
        let w = a.write(&b"hello?"[..]);
        if reactor.run_until(&w).is_err() {
            break;
        }
    }
    let error = reactor.run_until(&closed).unwrap();
    assert!(matches!(error, Some(Error::Io(_))), "{error:?}");
    assert!(a.is_closed());
}
