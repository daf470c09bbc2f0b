//! squall's HTTP client against squall's own HTTP server, both on one reactor in one
//! thread (and the blocking client in another thread): keep-alive pool reuse counted on
//! the server side, streamed chunked responses, large uploads, 100-continue, HEAD and
//! 204, redirect chains, gzip, `max_clients` queueing against deferred responses, and a
//! request timeout beating the 500 of a dropped responder.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use squall::http::client::{AsyncHttpClient, ClientOptions, HttpClient, HttpRequest};
use squall::http::{HttpServer, Request, Responder};
use squall::{Error, Reactor};
use support::{run_until, wait};

/// A reactor with a server running `handler` on 127.0.0.1:0 and a client on the same
/// loop; returns them with the server's base URL (`http://127.0.0.1:PORT`).
fn setup(
    options: ClientOptions,
    handler: impl FnMut(Request, Responder) + 'static,
) -> (Reactor, HttpServer, AsyncHttpClient, String) {
    let reactor = Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), handler);
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = AsyncHttpClient::with_options(&reactor.handle(), options);
    (reactor, server, client, format!("http://{addr}"))
}

/// The remote address of each request a server saw, in order.
type Peers = Rc<RefCell<Vec<SocketAddr>>>;

/// `handler` (given also how many requests came so far, this one included), recording
/// each request's remote address in the list returned with it.
fn recording_peers(
    mut handler: impl FnMut(Request, Responder, usize) + 'static,
) -> (Peers, impl FnMut(Request, Responder) + 'static) {
    let peers = Peers::default();
    let p = peers.clone();
    let recording = move |req: Request, resp| {
        p.borrow_mut().push(req.remote_addr);
        let n = p.borrow().len();
        handler(req, resp, n)
    };
    (peers, recording)
}

/// A payload of `n` bytes that is not periodic in small strides.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Answers each request with its method, a space and its body.
fn echo(req: Request, resp: Responder) {
    let mut out = req.method.as_str().as_bytes().to_vec();
    out.push(b' ');
    out.extend_from_slice(&req.body);
    resp.send(out)
}

#[test]
fn pool_reuses_one_connection_for_100_sequential_requests_counted_by_the_server() {
    let (peers, handler) = recording_peers(|_req, resp, n| resp.send(format!("n={n}")));
    let (mut reactor, server, client, base) = setup(ClientOptions::default(), handler);
    for i in 1..=100 {
        let r = wait(&mut reactor, &client.fetch(format!("{base}/n"))).unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), format!("n={i}"));
    }
    let peers = peers.borrow();
    assert_eq!(peers.len(), 100);
    let distinct: HashSet<_> = peers.iter().collect();
    assert_eq!(
        distinct.len(),
        1,
        "100 sequential requests used {} connections",
        distinct.len()
    );
    assert_eq!(server.connection_count(), 1);
}

const STREAM_CHUNKS: usize = 50;

fn stream_piece(i: usize) -> Vec<u8> {
    format!("chunk {i:03} ")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(1000 + i)
        .collect()
}

fn expected_stream() -> Vec<u8> {
    (0..STREAM_CHUNKS).flat_map(stream_piece).collect()
}

/// Writes the pieces one after another, each once the previous reached the kernel,
/// then finishes.
fn write_loop(mut resp: Responder, i: usize) {
    if i == STREAM_CHUNKS {
        let _ = resp.finish();
        return;
    }
    let f = resp.write(stream_piece(i));
    f.add_done_callback(move |f| {
        if f.take_result().unwrap().is_ok() {
            write_loop(resp, i + 1);
        }
    });
}

#[test]
fn chunked_streamed_response_arrives_whole_and_through_streaming_callback() {
    let (mut reactor, _server, client, base) =
        setup(ClientOptions::default(), |_req, resp| write_loop(resp, 0));
    let r = wait(&mut reactor, &client.fetch(format!("{base}/s"))).unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["transfer-encoding"], "chunked");
    assert!(r.body == expected_stream(), "buffered body differs");

    let got = Rc::new(RefCell::new(Vec::new()));
    let pieces = Rc::new(Cell::new(0));
    let (g, n) = (got.clone(), pieces.clone());
    let req = HttpRequest::new(&format!("{base}/s")).streaming_callback(move |b: Bytes| {
        n.set(n.get() + 1);
        g.borrow_mut().extend_from_slice(&b);
    });
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty(), "streamed body was also buffered");
    assert!(*got.borrow() == expected_stream(), "streamed body differs");
    assert!(pieces.get() >= 1);
}

#[test]
fn post_of_one_mib_is_echoed() {
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), echo);
    let body = payload(1 << 20);
    let r = wait(
        &mut reactor,
        &client.fetch(HttpRequest::post(&format!("{base}/echo"), body.clone())),
    )
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..5], b"POST ");
    assert!(r.body[5..] == body[..], "echoed body differs");
}

#[test]
fn expect_100_continue_upload_is_answered() {
    let expects: Rc<RefCell<Vec<Option<String>>>> = Rc::default();
    let e = expects.clone();
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), move |req, resp| {
        e.borrow_mut()
            .push(req.header("expect").map(str::to_string));
        echo(req, resp)
    });
    let body = payload(200_000);
    let req = HttpRequest::post(&format!("{base}/echo"), body.clone())
        .expect_100_continue(true)
        .request_timeout(Duration::from_secs(10));
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[5..] == body[..]);
    assert_eq!(*expects.borrow(), vec![Some("100-continue".to_string())]);
}

#[test]
fn head_and_204_have_no_body_and_keep_the_connection() {
    let (peers, handler) = recording_peers(|req, resp, _| match req.path() {
        "/empty" => resp.respond(StatusCode::NO_CONTENT, "not sent"),
        _ => resp.send("hello world"),
    });
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), handler);
    let head = HttpRequest::new(&format!("{base}/")).method(Method::HEAD);
    let r = wait(&mut reactor, &client.fetch(head)).unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-length"], "11");
    assert!(r.body.is_empty());
    let r = wait(&mut reactor, &client.fetch(format!("{base}/empty"))).unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    // A following GET gets its own body, on the same connection.
    let r = wait(&mut reactor, &client.fetch(format!("{base}/"))).unwrap();
    assert_eq!(r.text(), "hello world");
    let peers = peers.borrow();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|a| *a == peers[0]), "{peers:?}");
}

fn redirect(resp: Responder, status: StatusCode, to: &str) {
    let mut resp = resp;
    resp.set_status(status).set_header("location", to);
    resp.send("moved")
}

#[test]
fn redirect_chain_301_302_200_is_followed() {
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let s = seen.clone();
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), move |req, resp| {
        s.borrow_mut().push(format!("{} {}", req.method, req.uri));
        match req.path() {
            "/a" => redirect(resp, StatusCode::MOVED_PERMANENTLY, "/b"),
            "/b" => redirect(resp, StatusCode::FOUND, "c?x=1"),
            _ => echo(req, resp),
        }
    });
    let r = wait(&mut reactor, &client.fetch(format!("{base}/a"))).unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "GET ");
    assert_eq!(r.effective_url.as_str(), format!("{base}/c?x=1"));
    assert_eq!(*seen.borrow(), vec!["GET /a", "GET /b", "GET /c?x=1"]);
}

#[test]
fn redirect_307_keeps_method_and_body() {
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let s = seen.clone();
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), move |req, resp| {
        s.borrow_mut().push(format!(
            "{} {} {}",
            req.method,
            req.path(),
            String::from_utf8_lossy(&req.body)
        ));
        match req.path() {
            "/old" => redirect(resp, StatusCode::TEMPORARY_REDIRECT, "/new"),
            _ => echo(req, resp),
        }
    });
    let r = wait(
        &mut reactor,
        &client.fetch(HttpRequest::post(&format!("{base}/old"), "payload")),
    )
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "POST payload");
    assert_eq!(r.effective_url.path(), "/new");
    assert_eq!(
        *seen.borrow(),
        vec!["POST /old payload", "POST /new payload"]
    );
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_response_compressed_by_the_server_is_decompressed() {
    use std::io::Write;
    let text: Vec<u8> = b"squall says hello. ".repeat(5000);
    let compressed = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&text).unwrap();
        enc.finish().unwrap()
    };
    assert!(compressed.len() < text.len() / 10);
    let asked: Rc<RefCell<Vec<Option<String>>>> = Rc::default();
    let (a, gz) = (asked.clone(), compressed.clone());
    let (mut reactor, _server, client, base) =
        setup(ClientOptions::default(), move |req, mut resp| {
            a.borrow_mut()
                .push(req.header("accept-encoding").map(str::to_string));
            resp.set_header("content-encoding", "gzip");
            resp.send(gz.clone())
        });
    let req = HttpRequest::new(&format!("{base}/z")).decompress_response(true);
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert!(r.body == text, "decompressed body differs");
    // The headers describe the body handed over (as on the server side).
    assert_eq!(r.headers["content-length"], text.len().to_string());
    assert!(r.headers.get("content-encoding").is_none());
    assert_eq!(r.headers["x-consumed-content-encoding"], "gzip");
    assert!(asked.borrow()[0].as_deref().unwrap_or("").contains("gzip"));
    // Without decompression the compressed bytes come through untouched.
    let req = HttpRequest::new(&format!("{base}/z")).decompress_response(false);
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert!(r.body[..] == compressed[..]);
    assert_eq!(r.headers["content-encoding"], "gzip");
}

#[test]
fn max_clients_queues_requests_behind_deferred_responses() {
    const N: usize = 2;
    const TOTAL: usize = 6;
    let arrivals: Rc<RefCell<Vec<String>>> = Rc::default();
    let seen_at_release: Rc<Cell<Option<usize>>> = Rc::default();
    let held: Rc<RefCell<Vec<Responder>>> = Rc::default();
    let (a, s, h) = (arrivals.clone(), seen_at_release.clone(), held.clone());
    let options = ClientOptions::default().max_clients(N);
    let reactor_handle: Rc<RefCell<Option<squall::Handle>>> = Rc::default();
    let rh = reactor_handle.clone();
    let (mut reactor, _server, client, base) = setup(options, move |req, resp| {
        a.borrow_mut().push(req.query_arg("i").unwrap().to_string());
        if a.borrow().len() > N {
            resp.send("direct");
            return;
        }
        // Long polling: hold the first N, release them together from a timer.
        h.borrow_mut().push(resp);
        if h.borrow().len() == N {
            let (a, s, h) = (a.clone(), s.clone(), h.clone());
            let handle = rh.borrow().clone().unwrap();
            handle.call_later(Duration::from_millis(200), move || {
                s.set(Some(a.borrow().len()));
                for resp in h.borrow_mut().drain(..) {
                    resp.send("held");
                }
            });
        }
    });
    *reactor_handle.borrow_mut() = Some(reactor.handle());
    let futures: Vec<_> = (0..TOTAL)
        .map(|i| client.fetch(format!("{base}/poll?i={i}")))
        .collect();
    let responses: Vec<_> = futures
        .iter()
        .map(|f| wait(&mut reactor, f).unwrap())
        .collect();
    assert_eq!(
        seen_at_release.get(),
        Some(N),
        "requests beyond max_clients reached the server while {N} were in flight"
    );
    let order: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(*arrivals.borrow(), order, "queue is not FIFO");
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r.text(), if i < N { "held" } else { "direct" }, "{i}");
        if i >= N {
            assert!(
                r.time_info.queue >= Duration::from_millis(150),
                "request {i} queued only {:?}",
                r.time_info.queue
            );
        }
    }
}

#[test]
fn request_timeout_is_reported_before_the_dropped_responders_500() {
    let held: Rc<RefCell<Option<Responder>>> = Rc::default();
    let dropped = Rc::new(Cell::new(false));
    let peers = Peers::default();
    let handle_slot: Rc<RefCell<Option<squall::Handle>>> = Rc::default();
    let (h, d, p, hs) = (
        held.clone(),
        dropped.clone(),
        peers.clone(),
        handle_slot.clone(),
    );
    let (mut reactor, _server, client, base) = setup(ClientOptions::default(), move |req, resp| {
        p.borrow_mut().push(req.remote_addr);
        if req.path() == "/ok" {
            resp.send("fine");
            return;
        }
        // Never answer; drop the responder (which sends 500) well after the timeout.
        *h.borrow_mut() = Some(resp);
        let (h, d) = (h.clone(), d.clone());
        hs.borrow()
            .clone()
            .unwrap()
            .call_later(Duration::from_millis(600), move || {
                drop(h.borrow_mut().take());
                d.set(true);
            });
    });
    *handle_slot.borrow_mut() = Some(reactor.handle());
    let req =
        HttpRequest::new(&format!("{base}/never")).request_timeout(Duration::from_millis(200));
    let r = wait(&mut reactor, &client.fetch(req));
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: squall::http::client::TimeoutStage::Request
            })
        ),
        "{:?}",
        r.map(|r| r.status)
    );
    assert!(!dropped.get(), "the 500 was due before the timeout fired");
    // Let the responder drop and its 500 go wherever it goes.
    run_until(&mut reactor, "the handler to be dropped", || dropped.get());
    let r = wait(&mut reactor, &client.fetch(format!("{base}/ok"))).unwrap();
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a stale response leaked into the next fetch"
    );
    assert_eq!(r.text(), "fine");
    let peers = peers.borrow();
    assert_ne!(peers[0], peers[1], "the timed-out connection was reused");
}

#[test]
fn blocking_client_in_another_thread_against_the_server_in_this_one() {
    let (peers, handler) = recording_peers(|req, resp, _| echo(req, resp));
    let results = support::http::run(
        move |h| HttpServer::new(h, handler),
        |addr| {
            let mut c = HttpClient::new().unwrap();
            let url = format!("http://{addr}/echo");
            let mut out = Vec::new();
            for i in 0..5 {
                let r = c
                    .fetch(HttpRequest::post(&url, format!("body {i}")))
                    .unwrap();
                out.push((r.status, r.text()));
            }
            let r = c.fetch(url.as_str()).unwrap();
            out.push((r.status, r.text()));
            out
        },
    );
    let mut expected: Vec<_> = (0..5)
        .map(|i| (StatusCode::OK, format!("POST body {i}")))
        .collect();
    expected.push((StatusCode::OK, "GET ".to_string()));
    assert_eq!(results, expected);
    let peers = peers.borrow();
    assert_eq!(peers.len(), 6);
    assert!(
        peers.iter().all(|a| *a == peers[0]),
        "the blocking client did not keep its connection: {peers:?}"
    );
}
