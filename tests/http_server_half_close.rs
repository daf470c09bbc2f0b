//! Clients that shut down their writing side (`shutdown(SHUT_WR)`, `curl` on some
//! platforms, `nc -N`) after a complete request. On the wire that is the same FIN as a
//! client that left: by default the server answers what the handler answers at once and
//! then closes (a parked responder is told the client left); with
//! `HttpServerOptions::half_close(true)` it keeps the connection open for writing until
//! the owed response is out, then closes.

mod http_util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_util::{connect, parse_all, read_to_eof};
use squall::http::{HttpServer, HttpServerOptions, Request, Responder};
use squall::{Error, Reactor};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Connects, sends `request` and shuts the writing side down, before the server's loop
/// ran at all: request bytes and FIN are both in the kernel when the server first reads.
fn half_closed_client(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s
}

/// Runs the loop until `done()`, failing the test after a generous bound.
fn run_while(reactor: &mut Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        reactor
            .run_once(Some(Duration::from_millis(20)))
            .expect("run_once");
    }
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
    run_while(reactor, "the client to read to EOF", move || {
        if rx.try_recv().is_ok() {
            d.set(true);
        }
        d.get()
    });
    reader.join().unwrap()
}

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
    // 64 KiB exactly: the server's first read fills its chunk, so the same read pass
    // also finds end-of-file, before the request is parsed.
    let mut reactor = Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), echo_length);
    let addr = server.listen("127.0.0.1:0").unwrap();
    let req = post_of_exactly(64 * 1024);
    let body_len = req.len() - (req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    let client = half_closed_client(addr, &req);
    let raw = read_all_while_serving(&mut reactor, client);
    let responses = parse_all(&raw);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].body_str(), format!("{body_len} bytes\n"));
    assert!(responses[0].closes(), "no keep-alive after end-of-file");
    run_while(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}

#[test]
fn pipelined_requests_before_a_half_close_are_all_answered() {
    // 64 requests of 1 KiB: the first read pass takes them all and finds end-of-file
    // before any is parsed.
    let mut reactor = Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), |req: Request, resp: Responder| {
        resp.send(req.path().to_string());
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let mut req = Vec::new();
    for i in 0..64 {
        let head = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        let pad = 1024 - head.len() - 4;
        req.extend_from_slice(head.as_bytes());
        req.extend(std::iter::repeat_n(b'p', pad));
        req.extend_from_slice(b"\r\n\r\n");
    }
    assert_eq!(req.len(), 64 * 1024);
    let client = half_closed_client(addr, &req);
    let raw = read_all_while_serving(&mut reactor, client);
    let paths: Vec<String> = parse_all(&raw).iter().map(|r| r.body_str()).collect();
    let expected: Vec<String> = (0..64).map(|i| format!("/{i}")).collect();
    assert_eq!(paths, expected);
    run_while(&mut reactor, "the connection to be forgotten", || {
        server.connection_count() == 0
    });
}
