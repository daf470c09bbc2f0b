//! Clients that shut down their writing side (`shutdown(SHUT_WR)`, `curl` on some
//! platforms, `nc -N`) after a complete request. On the wire that is the same FIN as a
//! client that left: by default the server answers what the handler answers at once and
//! then closes (a parked responder is told the client left); with
//! `HttpServerOptions::half_close(true)` it keeps the connection open for writing until
//! the owed response is out, then closes.

mod support;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::http::{HttpServer, HttpServerOptions, Request, Responder};
use squall::{Error, Reactor};
use support::http::{connect, parse_all, read_to_eof};
use support::run_until;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Connects, sends `request` and shuts the writing side down, before the server's loop
/// ran at all: request bytes and FIN are both in the kernel when the server first reads.
fn half_closed_client(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s
}

/// Reads everything from `client` in a thread while the loop runs; returns the bytes.
fn read_all_while_serving(reactor: &mut Reactor, client: TcpStream) -> Vec<u8> {
    let done = Rc::new(Cell::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut client = client;
        let raw = read_to_eof(&mut client);
        tx.send(()).unwrap();
        raw
    });
    let d = done.clone();
    run_until(reactor, "the client to read to EOF", move || {
        if rx.try_recv().is_ok() {
            d.set(true);
        }
        d.get()
    });
    reader.join().unwrap()
}

/// A request size that fills a connection's new read buffer exactly (4 KiB): the read
/// after it finds nothing queued but the end-of-file.
const FILLS_A_BUFFER: usize = 4 * 1024;

/// A POST whose head and body together are exactly `total` bytes.
fn post_of_exactly(total: usize) -> Vec<u8> {
    let head_for = |n: usize| format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n");
    let mut body_len = total - head_for(0).len();
    while head_for(body_len).len() + body_len > total {
        body_len -= 1;
    }
    let mut req = head_for(body_len).into_bytes();
    req.resize(total, b'x');
    assert_eq!(req.len(), total);
    req
}

fn echo_length(req: Request, resp: Responder) {
    resp.send(format!("{} bytes\n", req.body.len()));
}

#[test]
fn an_immediate_response_reaches_a_client_whose_fin_came_with_the_request() {
    // 4 KiB exactly: the server's first read fills its new read buffer, so the same
    // read pass reads on and finds end-of-file, before the request is parsed.
    let mut reactor = Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), echo_length);
    let addr = server.listen("127.0.0.1:0").unwrap();
    let req = post_of_exactly(FILLS_A_BUFFER);
    let body_len = req.len() - (req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    let client = half_closed_client(addr, &req);
    let raw = read_all_while_serving(&mut reactor, client);
    let responses = parse_all(&raw);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body_str(), format!("{body_len} bytes\n"));
    assert!(responses[0].closes(), "no keep-alive after end-of-file");
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn pipelined_requests_before_a_half_close_are_all_answered() {
    // Four requests of 1 KiB (a read buffer filled exactly, as above): the first read
    // pass takes them all and finds end-of-file before any is parsed.
    let mut reactor = Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), |req: Request, resp: Responder| {
        resp.send(req.path().to_string());
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let mut req = Vec::new();
    for i in 0..4 {
        let head = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        let pad = 1024 - head.len() - 4;
        req.extend_from_slice(head.as_bytes());
        req.extend(std::iter::repeat_n(b'p', pad));
        req.extend_from_slice(b"\r\n\r\n");
    }
    assert_eq!(req.len(), FILLS_A_BUFFER);
    let client = half_closed_client(addr, &req);
    let raw = read_all_while_serving(&mut reactor, client);
    let paths: Vec<String> = parse_all(&raw).iter().map(|r| r.body_str()).collect();
    let expected: Vec<String> = (0..4).map(|i| format!("/{i}")).collect();
    assert_eq!(paths, expected);
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

/// A server whose handler parks each responder and answers it from a timer, `delay`
/// after the request; records whether `on_connection_close` ran.
fn delayed_server(
    reactor: &Reactor,
    options: HttpServerOptions,
    delay: Duration,
) -> (HttpServer, Rc<Cell<usize>>, Rc<Cell<usize>>) {
    let handle = reactor.handle();
    let requests = Rc::new(Cell::new(0usize));
    let told = Rc::new(Cell::new(0usize));
    let (r, t) = (requests.clone(), told.clone());
    let server = HttpServer::with_options(&reactor.handle(), options, move |req, mut resp| {
        r.set(r.get() + 1);
        let t = t.clone();
        resp.on_connection_close(move || t.set(t.get() + 1));
        let path = req.path().to_string();
        handle.call_later(delay, move || resp.send(format!("late answer to {path}")));
    });
    (server, requests, told)
}

#[test]
fn with_half_close_a_delayed_response_reaches_a_client_that_shut_down_its_writing_side() {
    let mut reactor = Reactor::new().unwrap();
    let options = HttpServerOptions::default().half_close(true);
    let (server, requests, told) = delayed_server(&reactor, options, Duration::from_millis(50));
    let addr = server.listen("127.0.0.1:0").unwrap();
    // FIN is in the kernel with the request: the server reads it on its next pass,
    // long before the timer answers.
    let client = half_closed_client(addr, b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    let raw = read_all_while_serving(&mut reactor, client);
    let responses = parse_all(&raw);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body_str(), "late answer to /poll");
    assert_eq!(requests.get(), 1);
    assert_eq!(told.get(), 0, "the responder was told its client left");
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn with_half_close_a_streamed_late_response_goes_out_whole_then_the_server_closes() {
    let (mut reactor, handle) = support::reactor();
    let options = HttpServerOptions::default().half_close(true);
    let server = HttpServer::with_options(&handle, options, {
        let handle = handle.clone();
        move |_req, mut resp: Responder| {
            handle.call_later(Duration::from_millis(20), move || {
                resp.write("one ");
                resp.write("two");
                resp.finish();
            });
        }
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = half_closed_client(addr, GET);
    let raw = read_all_while_serving(&mut reactor, client);
    let responses = parse_all(&raw);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&raw));
    assert!(responses[0].chunked);
    assert_eq!(responses[0].body_str(), "one two");
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn without_half_close_a_parked_responder_is_told_when_its_client_half_closes() {
    let mut reactor = Reactor::new().unwrap();
    let (server, requests, told) = delayed_server(
        &reactor,
        HttpServerOptions::default(),
        Duration::from_secs(3600),
    );
    let addr = server.listen("127.0.0.1:0").unwrap();
    // The client keeps its socket (it could still read): the server cannot tell it from
    // one that left, and by default takes it for gone.
    let client = half_closed_client(addr, GET);
    let raw = read_all_while_serving(&mut reactor, client);
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(requests.get(), 1);
    run_until(&mut reactor, "on_connection_close", || told.get() == 1);
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn with_half_close_a_vanished_client_is_noticed_when_a_write_fails() {
    // The documented trade-off: the FIN of a client that closed its socket looks like a
    // half-close, so a parked responder learns of it only through a failing write.
    let mut reactor = Reactor::new().unwrap();
    let parked: Rc<RefCell<Option<Responder>>> = Rc::default();
    let told = Rc::new(Cell::new(false));
    let (p, t) = (parked.clone(), told.clone());
    let options = HttpServerOptions::default().half_close(true);
    let server = HttpServer::with_options(&reactor.handle(), options, move |_req, mut resp| {
        let t = t.clone();
        resp.on_connection_close(move || t.set(true));
        *p.borrow_mut() = Some(resp);
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    drop(half_closed_client(addr, GET)); // gone entirely
    run_until(&mut reactor, "the request", || parked.borrow().is_some());
    // Let the server read the FIN: a few loop passes, each polling the socket.
    for _ in 0..5 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert!(!told.get(), "a half-closed client is not taken for gone");
    assert!(!parked.borrow().as_ref().unwrap().is_closed());
    // Stream until a write fails: the first one draws the client's reset.
    let mut failed = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while failed.is_none() {
        assert!(
            Instant::now() < deadline,
            "writes to a vanished client never failed"
        );
        let f = parked.borrow_mut().as_mut().unwrap().write("tick\n");
        run_until(&mut reactor, "the write to settle", || f.is_done());
        if let Err(e) = f.take_result().unwrap() {
            failed = Some(e);
        }
    }
    assert!(
        matches!(failed, Some(Error::StreamClosed | Error::Io(_))),
        "{failed:?}"
    );
    run_until(&mut reactor, "on_connection_close", || told.get());
    assert!(parked.borrow().as_ref().unwrap().is_closed());
    drop(parked.borrow_mut().take());
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn with_half_close_end_of_file_between_requests_or_mid_head_closes_the_connection() {
    let mut reactor = Reactor::new().unwrap();
    let options = HttpServerOptions::default().half_close(true);
    let server = HttpServer::with_options(&reactor.handle(), options, echo_length);
    let addr = server.listen("127.0.0.1:0").unwrap();
    // After a complete exchange, the client half-closes an idle keep-alive connection.
    let mut idle = connect(addr);
    idle.write_all(GET).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = support::http::Reader::new(idle);
        let first = r.response();
        r.stream.shutdown(Shutdown::Write).unwrap();
        r.expect_eof();
        tx.send(()).unwrap();
        first
    });
    // Another sends half a head, then its FIN: nothing is owed, the server closes.
    let partial = half_closed_client(addr, b"GET / HTTP/1.1\r\nHo");
    let raw = read_all_while_serving(&mut reactor, partial);
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    run_until(&mut reactor, "the keep-alive client to see EOF", || {
        rx.try_recv().is_ok()
    });
    let first = reader.join().unwrap();
    assert_eq!(first.status, 200);
    assert!(!first.closes());
    run_until(&mut reactor, "both connections to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn with_half_close_pipelined_requests_answered_late_are_all_delivered_in_order() {
    let mut reactor = Reactor::new().unwrap();
    let options = HttpServerOptions::default().half_close(true);
    let (server, requests, told) = delayed_server(&reactor, options, Duration::from_millis(10));
    let addr = server.listen("127.0.0.1:0").unwrap();
    let mut req = Vec::new();
    for i in 0..3 {
        req.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let client = half_closed_client(addr, &req);
    let raw = read_all_while_serving(&mut reactor, client);
    let bodies: Vec<String> = parse_all(&raw).iter().map(|r| r.body_str()).collect();
    assert_eq!(
        bodies,
        [
            "late answer to /0",
            "late answer to /1",
            "late answer to /2"
        ]
    );
    assert_eq!(requests.get(), 3);
    assert_eq!(told.get(), 0);
    run_until(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}
