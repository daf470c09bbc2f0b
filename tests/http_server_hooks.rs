//! The responder's connection hooks over real sockets: `on_connection_close` (a parked
//! responder learns that its client left, from the loop, once) and `detach` (the
//! connection's stream handed over, with the bytes that followed the request head).

mod support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use squall::http::server::{HttpServer, HttpServerOptions, Responder};
use squall::{Error, Future, Handle};
use support::http::{connect, read_to_eof};

/// Fails `f` with a timeout after a generous bound, so a broken hook fails the test
/// instead of hanging it.
fn bound<T: 'static>(handle: &Handle, f: &Future<T>) -> squall::TimerId {
    let f = f.clone();
    handle.call_later(Duration::from_secs(20), move || {
        if !f.is_done() {
            f.set_error(Error::Timeout);
        }
    })
}

const GET: &[u8] = b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n";

/// Listens with `server`; a client in a thread sends `GET`, waits until the server says
/// (on `parked`) that it parked the request, and vanishes without an answer.
fn leaving_client(server: &HttpServer, parked: mpsc::Receiver<()>) -> std::thread::JoinHandle<()> {
    let addr = server.listen("127.0.0.1:0").unwrap();
    std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(GET).unwrap();
        parked.recv_timeout(Duration::from_secs(20)).unwrap();
        drop(s);
    })
}

#[test]
fn on_connection_close_runs_once_from_the_loop_when_a_parked_client_leaves() {
    let (mut reactor, handle) = support::reactor();
    let notified = Future::<()>::new();
    let calls = Rc::new(Cell::new(0));
    let parked: Rc<RefCell<Option<Responder>>> = Rc::default();
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (n, c, p) = (notified.clone(), calls.clone(), parked.clone());
    let server = HttpServer::new(&handle, move |_req, mut resp: Responder| {
        let (n, c, p2) = (n.clone(), c.clone(), p.clone());
        resp.on_connection_close(move || {
            c.set(c.get() + 1);
            // The responder agrees that the client is gone.
            assert!(p2.borrow().as_ref().is_some_and(|r| r.is_closed()));
            n.set_result(());
        });
        *p.borrow_mut() = Some(resp);
        parked_tx.send(()).unwrap();
    });
    let client = leaving_client(&server, parked_rx);
    let t = bound(&handle, &notified);
    reactor.run_until(&notified).expect("never notified");
    handle.cancel_timer(t);
    client.join().unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(server.connection_count(), 0);
    // Dropping the responder now sends nothing and calls nothing.
    drop(parked.borrow_mut().take());
    assert_eq!(calls.get(), 1);
}

#[test]
fn on_connection_close_is_not_called_when_the_response_completes() {
    let called = Rc::new(Cell::new(false));
    let token = Rc::new(());
    let (c, t) = (called.clone(), token.clone());
    let raw = support::http::run(
        move |h| {
            HttpServer::new(h, move |_req, mut resp: Responder| {
                let (c, t) = (c.clone(), t.clone());
                resp.on_connection_close(move || {
                    let _keep = &t;
                    c.set(true);
                });
                resp.set_header("connection", "close");
                resp.send("done");
            })
        },
        |addr| {
            let mut s = connect(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&read_to_eof(&mut s)).into_owned()
        },
    );
    assert!(raw.ends_with("done"), "{raw}");
    assert!(!called.get(), "called although the response completed");
    // The callback was dropped with the finished response (nothing keeps it).
    assert_eq!(Rc::strong_count(&token), 1);
}

#[test]
fn on_connection_close_set_after_the_client_left_runs_later_and_detach_then_fails() {
    let (mut reactor, handle) = support::reactor();
    let second = Future::<()>::new();
    let parked: Rc<RefCell<Option<Responder>>> = Rc::default();
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (p, s2) = (parked.clone(), second.clone());
    let server = HttpServer::new(&handle, move |_req, mut resp: Responder| {
        let (p2, s2) = (p.clone(), s2.clone());
        resp.on_connection_close(move || {
            // The client is gone; registering now must not run the callback inside
            // this call, but from the loop afterwards.
            let ran = Rc::new(Cell::new(false));
            let r2 = ran.clone();
            let s3 = s2.clone();
            p2.borrow_mut()
                .as_mut()
                .unwrap()
                .on_connection_close(move || {
                    r2.set(true);
                    s3.set_result(());
                });
            assert!(!ran.get(), "ran inside on_connection_close");
        });
        *p.borrow_mut() = Some(resp);
        parked_tx.send(()).unwrap();
    });
    let client = leaving_client(&server, parked_rx);
    let t = bound(&handle, &second);
    reactor
        .run_until(&second)
        .expect("second callback never ran");
    handle.cancel_timer(t);
    client.join().unwrap();
    let resp = parked.borrow_mut().take().unwrap();
    assert!(matches!(resp.detach(), Err(Error::StreamClosed)));
}

#[test]
fn detach_hands_over_the_stream_with_the_bytes_after_the_head() {
    let (mut reactor, handle) = support::reactor();
    let options = HttpServerOptions::default()
        .idle_connection_timeout(Some(Duration::from_millis(50)))
        .header_timeout(Some(Duration::from_millis(50)));
    let finished = Future::<()>::new();
    let t = bound(&handle, &finished);
    let baseline = handle.stats().timers_pending;
    let server_slot: Rc<RefCell<Option<HttpServer>>> = Rc::default();
    let (h, f, slot) = (handle.clone(), finished.clone(), server_slot.clone());
    let server = HttpServer::with_options(&handle, options, move |_req, resp: Responder| {
        let stream = resp.detach().expect("detach");
        // The server forgot the connection and every timer it armed for it.
        let count = slot.borrow().as_ref().unwrap().connection_count();
        assert_eq!(count, 0);
        assert_eq!(h.stats().timers_pending, baseline);
        let (f, s2) = (f.clone(), stream.clone());
        // "HELLO" came in the same packet as the head.
        stream.read_bytes(5, false).add_done_callback(move |r| {
            let got = r.take_result().unwrap().unwrap();
            let mut reply = b"got ".to_vec();
            reply.extend_from_slice(&got);
            s2.write(reply).add_done_callback(move |_| f.set_result(()));
        });
    });
    *server_slot.borrow_mut() = Some(server.clone());
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\nHELLO")
            .unwrap();
        let mut buf = [0u8; 9];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    reactor.run_until(&finished).expect("detached stream");
    handle.cancel_timer(t);
    assert_eq!(&client.join().unwrap(), b"got HELLO");
    assert_eq!(server.connection_count(), 0);
    server_slot.borrow_mut().take();
}

#[test]
fn detach_after_the_response_started_is_refused() {
    let outcome: Rc<RefCell<Option<String>>> = Rc::default();
    let o = outcome.clone();
    let raw = support::http::run(
        move |h| {
            HttpServer::new(h, move |_req, mut resp: Responder| {
                let _ = resp.write("partial");
                *o.borrow_mut() = Some(format!("{:?}", resp.detach().err()));
            })
        },
        |addr| {
            let mut s = connect(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            // The refused responder was dropped mid-stream: the connection closes
            // without the last chunk.
            String::from_utf8_lossy(&read_to_eof(&mut s)).into_owned()
        },
    );
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with("7\r\npartial\r\n"), "{raw}");
    let outcome = outcome.borrow().clone().unwrap();
    assert!(outcome.contains("InvalidState"), "{outcome}");
}

#[test]
fn detach_from_a_timer_later_still_finds_the_bytes_after_the_head() {
    // The handler parks the responder and detaches it from a timer, outside the
    // parser: the bytes that followed the head wait in the stream's buffer.
    let (mut reactor, handle) = support::reactor();
    let finished = Future::<Vec<u8>>::new();
    let t = bound(&handle, &finished);
    let (h, f) = (handle.clone(), finished.clone());
    let server = HttpServer::new(&handle, move |_req, resp: Responder| {
        let f = f.clone();
        h.call_later(Duration::from_millis(5), move || {
            let stream = resp.detach().expect("detach");
            stream.read_bytes(4, false).add_done_callback(move |r| {
                f.set_result(r.take_result().unwrap().unwrap().to_vec());
            });
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\nPING")
            .unwrap();
        rx.recv_timeout(Duration::from_secs(30)).ok();
    });
    let got = reactor.run_until(&finished).expect("detached read");
    handle.cancel_timer(t);
    tx.send(()).unwrap();
    client.join().unwrap();
    assert_eq!(got, b"PING");
    assert_eq!(server.connection_count(), 0);
}
