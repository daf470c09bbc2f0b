//! HTTP server write limits and vanishing clients: `max_write_buffer_size` bounds what a
//! streamed or fixed-length response may queue for a client that does not read (writes
//! fail or the connection closes, and the bytes that do arrive are never corrupted), and
//! a client that disconnects mid-stream closes its `Responder` so that writes fail with
//! `Error::StreamClosed`.

mod support;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use squall::http::{HttpServer, HttpServerOptions, Request, Responder};
use squall::{Error, Future, Handle};
use support::http::{connect, run};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const LIMIT: usize = 256 * 1024;
const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 64;

fn limited_options() -> HttpServerOptions {
    HttpServerOptions::default().max_write_buffer_size(Some(LIMIT))
}

/// Splits a raw response into its head and body.
fn split_head(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    (
        String::from_utf8_lossy(&raw[..end + 4]).into_owned(),
        &raw[end + 4..],
    )
}

/// Decodes a chunked body strictly. Returns the chunks and whether the terminating zero
/// chunk arrived; a body cut short between chunks is allowed, malformed framing fails
/// the test.
fn dechunk(mut body: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut chunks = Vec::new();
    loop {
        if body.is_empty() {
            return (chunks, false);
        }
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            // A size line cut short by the close.
            return (chunks, false);
        };
        let line = std::str::from_utf8(&body[..eol]).expect("chunk size line is ASCII");
        let size = usize::from_str_radix(line, 16)
            .unwrap_or_else(|_| panic!("malformed chunk size line {line:?}"));
        body = &body[eol + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "bytes after the last chunk");
            return (chunks, true);
        }
        if body.len() < size + 2 {
            // The connection closed inside this chunk.
            return (chunks, false);
        }
        assert_eq!(&body[size..size + 2], b"\r\n", "chunk not followed by CRLF");
        chunks.push(body[..size].to_vec());
        body = &body[size + 2..];
    }
}

type Outcomes = Rc<RefCell<Vec<Option<squall::Result<()>>>>>;

/// A handler that writes `CHUNKS` chunks of `CHUNK` bytes at once, without waiting for
/// any write future (chunk `i` is filled with byte `i`), tells the client through `go`
/// as soon as one write fails, and finishes the response when every future is done.
fn burst_server(outcomes: Outcomes, go: mpsc::Sender<()>) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| {
        HttpServer::with_options(
            h,
            limited_options(),
            move |_req: Request, resp: Responder| {
                let resp = Rc::new(RefCell::new(Some(resp)));
                let left = Rc::new(std::cell::Cell::new(CHUNKS));
                outcomes.borrow_mut().clear();
                outcomes.borrow_mut().resize(CHUNKS, None);
                let futures: Vec<Future<()>> = (0..CHUNKS)
                    .map(|i| {
                        resp.borrow_mut()
                            .as_mut()
                            .unwrap()
                            .write(vec![i as u8; CHUNK])
                    })
                    .collect();
                for (i, f) in futures.into_iter().enumerate() {
                    let (outcomes, resp, left, go) =
                        (outcomes.clone(), resp.clone(), left.clone(), go.clone());
                    f.add_done_callback(move |f| {
                        let r = f.take_result().expect("done");
                        if r.is_err() {
                            let _ = go.send(());
                        }
                        outcomes.borrow_mut()[i] = Some(r);
                        left.set(left.get() - 1);
                        if left.get() == 0
                            && let Some(resp) = resp.borrow_mut().take()
                        {
                            // May fail if the connection was closed; either is fine.
                            let _ = resp.finish();
                        }
                    });
                }
            },
        )
    }
}

#[test]
fn streamed_writes_to_a_client_that_does_not_read_fail_and_never_corrupt_the_body() {
    let outcomes: Outcomes = Rc::default();
    let (go_tx, go_rx) = mpsc::channel();
    let raw = run(burst_server(outcomes.clone(), go_tx), move |addr| {
        let mut s = connect(addr);
        s.write_all(GET).unwrap();
        // Do not read until the server has seen a write refused.
        go_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no write failed although the client never read");
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
        raw
    });
    let outcomes: Vec<squall::Result<()>> = outcomes
        .borrow_mut()
        .drain(..)
        .map(|o| o.expect("every write future resolved"))
        .collect();
    let failed: Vec<usize> = (0..CHUNKS).filter(|&i| outcomes[i].is_err()).collect();
    assert!(!failed.is_empty(), "no write was refused");
    for i in &failed {
        assert!(
            matches!(
                outcomes[*i],
                Err(Error::StreamBufferFull) | Err(Error::StreamClosed)
            ),
            "chunk {i}: {:?}",
            outcomes[*i]
        );
    }
    // The memory bound: far fewer bytes than were offered were ever accepted.
    let ok = CHUNKS - failed.len();
    assert!(
        ok * CHUNK < CHUNKS * CHUNK / 2,
        "{ok} of {CHUNKS} chunks of {CHUNK} bytes accepted with a {LIMIT}-byte limit"
    );
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (chunks, _complete) = dechunk(body);
    let received: Vec<u8> = chunks
        .iter()
        .flat_map(|c| {
            assert!(c.iter().all(|b| *b == c[0]), "a chunk mixes payloads");
            std::iter::once(c[0])
        })
        .collect();
    let succeeded: Vec<u8> = (0..CHUNKS)
        .filter(|&i| outcomes[i].is_ok())
        .map(|i| i as u8)
        .collect();
    assert_eq!(
        received, succeeded,
        "the chunks received are not exactly the writes reported as successful"
    );
    for c in &chunks {
        assert_eq!(c.len(), CHUNK, "a chunk arrived truncated");
    }
}

#[test]
fn fixed_length_response_over_the_write_limit_is_not_left_hanging() {
    // A client that has not read yet: the body does not fit under the limit. The server
    // must either deliver it whole or close the connection, never announce a
    // Content-Length it then leaves unsent on an open connection.
    let body_len = 4 * LIMIT;
    let raw = run(
        move |h| {
            HttpServer::with_options(h, limited_options(), move |_req, resp: Responder| {
                resp.send(vec![b'z'; body_len])
            })
        },
        move |addr| {
            let mut s = connect(addr);
            s.write_all(GET).unwrap();
            // Read until the announced body is complete or the server closes; a read
            // timeout (the server neither sends nor closes) fails the test.
            let mut raw = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n")
                    && raw.len() >= end + 4 + body_len
                {
                    break;
                }
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => panic!(
                        "the connection neither delivered the body nor closed ({e}); \
                         {} bytes so far",
                        raw.len()
                    ),
                }
            }
            raw
        },
    );
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {body_len}\r\n")),
        "{head}"
    );
    assert!(body.len() <= body_len, "more body than announced");
    assert!(body.iter().all(|b| *b == b'z'));
}

/// Writes chunk after chunk, each once the previous reached the kernel, until one
/// fails; resolves with that failure.
fn write_until_failure(resp: Rc<RefCell<Responder>>, done: Future<Error>) {
    let f = resp.borrow_mut().write(vec![b'd'; 16 * 1024]);
    f.add_done_callback(move |f| match f.take_result().expect("done") {
        Ok(()) => write_until_failure(resp, done),
        Err(e) => done.set_result(e),
    });
}

#[test]
fn client_disconnecting_mid_stream_closes_the_responder_and_fails_writes() {
    type Slot = Rc<RefCell<Option<Rc<RefCell<Responder>>>>>;
    let slot: Slot = Rc::default();
    let (got_tx, got_rx) = mpsc::channel::<()>();
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let mut reactor = squall::Reactor::new().unwrap();
    let handle = reactor.handle();
    let s2 = slot.clone();
    let server = HttpServer::new(&handle, move |_req, mut resp: Responder| {
        let _ = resp.write("first chunk");
        *s2.borrow_mut() = Some(Rc::new(RefCell::new(resp)));
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(GET).unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while !raw.ends_with(b"first chunk\r\n") {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed before the first chunk");
            raw.extend_from_slice(&buf[..n]);
        }
        got_tx.send(()).unwrap();
        drop(s); // gone mid-stream
        closed_tx.send(()).unwrap();
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Wait until the client has the first chunk and has hung up.
    loop {
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
        if closed_rx.try_recv().is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "client never hung up");
    }
    got_rx.recv().unwrap();
    client.join().unwrap();
    let resp = slot.borrow().clone().expect("handler ran");
    // Keep streaming: the dead peer makes a write fail and the stream close.
    let failure = Future::new();
    write_until_failure(resp.clone(), failure.clone());
    while !failure.is_done() {
        assert!(
            std::time::Instant::now() < deadline,
            "writes to a disconnected client kept succeeding"
        );
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let e = failure.take_result().unwrap().unwrap();
    assert!(
        matches!(e, Error::StreamClosed | Error::Io(_)),
        "write failed with {e:?}"
    );
    assert!(resp.borrow().is_closed(), "responder not closed");
    // Every later write fails with StreamClosed.
    let later = resp.borrow_mut().write("more");
    while !later.is_done() {
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let r = later.take_result().unwrap();
    assert!(matches!(r, Err(Error::StreamClosed)), "{r:?}");
    // The server forgot the connection.
    while server.connection_count() != 0 {
        assert!(std::time::Instant::now() < deadline, "connection kept");
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    drop(resp);
    slot.borrow_mut().take();
}

#[test]
fn client_disconnecting_while_a_responder_waits_is_noticed_without_writing() {
    // Long polling: the handler keeps the responder without writing; when the client
    // hangs up, is_closed() must turn true so the application can drop it.
    let slot: Rc<RefCell<Option<Responder>>> = Rc::default();
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let mut reactor = squall::Reactor::new().unwrap();
    let handle = reactor.handle();
    let s2 = slot.clone();
    let server = HttpServer::new(&handle, move |_req, resp: Responder| {
        *s2.borrow_mut() = Some(resp);
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(GET).unwrap();
        // The request is complete; hang up without waiting for an answer.
        s.shutdown(std::net::Shutdown::Write).unwrap();
        drop(s);
        closed_tx.send(()).unwrap();
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
        if slot.borrow().is_some() && closed_rx.try_recv().is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request never arrived"
        );
    }
    client.join().unwrap();
    while !slot.borrow().as_ref().unwrap().is_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "a waiting responder never noticed its client hung up"
        );
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let mut resp = slot.borrow_mut().take().unwrap();
    let f = resp.write("late");
    while !f.is_done() {
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    assert!(matches!(f.take_result().unwrap(), Err(Error::StreamClosed)));
    drop(resp);
}
