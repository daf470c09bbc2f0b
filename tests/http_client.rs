//! `AsyncHttpClient` and `HttpClient` against raw-socket servers on 127.0.0.1 that
//! behave (and misbehave) exactly as each test needs.

mod support;

use std::cell::RefCell;
use std::io::{BufReader, Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use squall::http::client::{AsyncHttpClient, ClientOptions, HttpClient, HttpRequest, TimeoutStage};
use squall::{Error, Future, Reactor};
use support::raw_server::{raw_server, read_request, response, serve, Req};

fn blocking() -> HttpClient {
    HttpClient::new().unwrap()
}

fn is_599(r: &squall::Result<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(Error::HttpFetch { .. }))
}

#[test]
fn pool_reuses_one_connection_for_100_sequential_requests() {
    let srv = serve(|req| response("200 OK", "", req.path.as_bytes()));
    let mut client = blocking();
    for i in 0..100 {
        let r = client.fetch(srv.url(&format!("/{i}"))).unwrap();
        assert_eq!(r.body, format!("/{i}").as_bytes());
    }
    assert_eq!(srv.connections(), 1, "server saw more than one connection");
    assert_eq!(client.async_client().idle_connections(), 1);
}

#[test]
fn host_content_length_user_agent_and_auth_are_sent() {
    let seen = Arc::new(Mutex::new(None::<Req>));
    let s = seen.clone();
    let srv = serve(move |req| {
        *s.lock().unwrap() = Some(req.clone());
        response("201 Created", "", b"")
    });
    let req = HttpRequest::post(&srv.url("/p?q=1"), "hello")
        .basic_auth("Aladdin", "open sesame")
        .header("x-custom", "yes");
    let r = blocking().fetch(req).unwrap();
    assert_eq!(r.status, 201);
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/p?q=1"));
    assert_eq!(
        req.header("host").unwrap(),
        format!("127.0.0.1:{}", srv.port)
    );
    assert_eq!(req.header("content-length").as_deref(), Some("5"));
    assert_eq!(req.body, b"hello");
    assert!(req.header("user-agent").unwrap().starts_with("squall/"));
    assert_eq!(
        req.header("authorization").unwrap(),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(req.header("x-custom").as_deref(), Some("yes"));
}

#[test]
fn chunked_body_with_trailers_and_interim_responses() {
    let srv = serve(|_| {
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Checksum: 42\r\n\r\n"
            .to_vec()
    });
    let mut client = blocking();
    for _ in 0..2 {
        let r = client.fetch(srv.url("/")).unwrap();
        assert_eq!(
            (r.status.as_u16(), &r.body[..]),
            (200, &b"hello, world"[..])
        );
        assert_eq!(r.trailers.as_ref().unwrap()["x-checksum"], "42");
    }
    assert_eq!(srv.connections(), 1);
}

#[test]
fn close_delimited_body_and_connection_close_are_not_reused() {
    let srv = raw_server(|mut s, _| {
        let _ = read_request(&mut BufReader::new(s.try_clone().unwrap()));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
    });
    let mut client = blocking();
    for _ in 0..3 {
        assert_eq!(client.fetch(srv.url("/")).unwrap().body, "until the end");
    }
    assert_eq!(srv.connections(), 3);
    assert_eq!(client.async_client().idle_connections(), 0);
}

#[test]
fn head_204_304_have_no_body_and_keep_the_connection() {
    let srv = serve(|req| match req.path.as_str() {
        "/204" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
        "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n".to_vec(),
        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(), // HEAD
    });
    let mut client = blocking();
    let r = client
        .fetch(HttpRequest::new(&srv.url("/")).method(Method::HEAD))
        .unwrap();
    assert!(r.body.is_empty() && r.headers["content-length"] == "100");
    assert!(client.fetch(srv.url("/204")).unwrap().body.is_empty());
    assert_eq!(client.fetch(srv.url("/304")).unwrap().status, 304);
    assert_eq!(srv.connections(), 1);
}

#[test]
fn truncated_bodies_are_errors() {
    let srv = raw_server(|mut s, n| {
        let _ = read_request(&mut BufReader::new(s.try_clone().unwrap()));
        let r: &[u8] = if n == 0 {
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
        } else {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"
        };
        let _ = s.write_all(r);
    });
    let mut client = blocking();
    let r = client.fetch(srv.url("/"));
    assert!(is_599(&r), "{r:?}");
    let r = client.fetch(srv.url("/"));
    assert!(is_599(&r), "{r:?}");
}

#[test]
fn any_complete_status_is_ok_and_error_for_status_turns_it_into_an_error() {
    let srv = serve(|_| response("503 Busy Now", "", b"later"));
    let r = blocking().fetch(srv.url("/")).unwrap();
    assert_eq!(
        (r.status.as_u16(), r.reason.as_str(), &r.body[..]),
        (503, "Busy Now", &b"later"[..])
    );
    match r.error_for_status() {
        Err(Error::HttpResponse {
            status: 503,
            message,
            response,
        }) => {
            assert_eq!(message, "Busy Now");
            // The whole response stays reachable (Tornado's HTTPClientError.response).
            assert_eq!(
                (response.status.as_u16(), &response.body[..]),
                (503, &b"later"[..])
            );
            assert_eq!(response.headers["content-length"], "5");
        }
        other => panic!("{other:?}"),
    }
}

/// A server that redirects `/r/<code>/<n>` n times with `code`, then echoes the method
/// and body of the final request.
fn redirect_server() -> support::raw_server::RawServer {
    serve(|req| {
        let parts: Vec<&str> = req.path.split('/').collect();
        match parts.as_slice() {
            ["", "r", code, n] => {
                let n: u32 = n.parse().unwrap();
                let loc = if n > 1 {
                    format!("../{code}/{}", n - 1)
                } else {
                    "/final?x=1".into()
                };
                let status = format!("{code} Redirect");
                response(&status, &format!("Location: {loc}\r\n"), b"redirect body")
            }
            ["", "loop"] => response("302 Found", "Location: /loop\r\n", b"loop body"),
            ["", "ftp"] => response("302 Found", "Location: ftp://example.com/\r\n", b""),
            _ => {
                let body = format!(
                    "{} {} {}",
                    req.method,
                    req.path,
                    String::from_utf8_lossy(&req.body)
                );
                response("200 OK", "", body.as_bytes())
            }
        }
    })
}

#[test]
fn redirects_303_becomes_get_307_keeps_method_and_body() {
    let srv = redirect_server();
    let mut client = blocking();
    for code in [301, 302, 303] {
        let r = client
            .fetch(HttpRequest::post(&srv.url(&format!("/r/{code}/2")), "data"))
            .unwrap();
        assert_eq!(r.body, "GET /final?x=1 ", "{code}");
        assert_eq!(r.effective_url.path(), "/final");
    }
    for code in [307, 308] {
        let r = client
            .fetch(HttpRequest::post(&srv.url(&format!("/r/{code}/3")), "data"))
            .unwrap();
        assert_eq!(r.body, "POST /final?x=1 data", "{code}");
    }
    let r = client
        .fetch(HttpRequest::new(&srv.url("/r/302/1")).follow_redirects(false))
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), &r.body[..]),
        (302, &b"redirect body"[..])
    );
}

#[test]
fn redirect_loops_stop_at_max_redirects_and_only_http_targets() {
    let srv = redirect_server();
    let mut client = blocking();
    let r = client.fetch(srv.url("/loop"));
    match &r {
        Err(Error::HttpResponse {
            status: 302,
            message,
            response,
        }) => {
            assert!(message.contains("too many redirects"), "{message}");
            // The last 3xx stays reachable, body included.
            assert_eq!(response.headers["location"], "/loop");
            assert_eq!(&response.body[..], b"loop body");
            assert_eq!(response.effective_url.path(), "/loop");
        }
        other => panic!("{other:?}"),
    }
    assert!(client
        .fetch(HttpRequest::new(&srv.url("/r/302/3")).max_redirects(3))
        .is_ok());
    assert!(matches!(
        client.fetch(HttpRequest::new(&srv.url("/r/302/3")).max_redirects(2)),
        Err(Error::HttpResponse { status: 302, .. })
    ));
    assert!(is_599(&client.fetch(srv.url("/ftp"))));
}

#[test]
fn https_to_a_closed_port_fails_to_connect() {
    // https is supported (tests/tls_http_client.rs); a refused connect is an I/O error.
    let closed = support::ReservedPort::closed();
    match blocking().fetch(format!("https://{}/", closed.addr())) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
}

#[test]
fn max_clients_queues_in_fifo_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let srv = serve(move |req| {
        o.lock().unwrap().push(req.path.clone());
        response("200 OK", "", b"")
    });
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let futures: Vec<_> = (0..6)
        .map(|i| client.fetch(srv.url(&format!("/{i}"))))
        .collect();
    assert_eq!((client.active(), client.queued()), (1, 5));
    reactor.run_until(&squall::join_all(futures)).unwrap();
    let expected: Vec<String> = (0..6).map(|i| format!("/{i}")).collect();
    assert_eq!(*order.lock().unwrap(), expected);
    assert_eq!(srv.connections(), 1);
}

#[test]
fn request_timeout_counts_time_spent_queued() {
    let srv = raw_server(|s, _| {
        std::thread::sleep(Duration::from_secs(3)); // never answers in time
        drop(s);
    });
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let slow =
        client.fetch(HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_secs(2)));
    let queued =
        client.fetch(HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_millis(200)));
    let t = std::time::Instant::now();
    let r = reactor.run_until(&queued);
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: TimeoutStage::Queue
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().to_string(), "Timeout in request queue");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(
        !slow.is_done(),
        "the queued request timed out, not the running one"
    );
    let r = reactor.run_until(&slow);
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: TimeoutStage::Request
            })
        ),
        "{r:?}"
    );
    assert_eq!(
        srv.connections(),
        1,
        "the timed-out queued request never connected"
    );
}

#[test]
fn connect_timeout_against_a_full_backlog() {
    // A listener that never accepts, with its backlog filled: further SYNs are dropped.
    let sock = support::bound_loopback_socket();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50)); // let the handshakes settle
    let req =
        HttpRequest::new(&format!("http://{addr}/")).connect_timeout(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let r = blocking().fetch(req);
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: TimeoutStage::Connecting
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().to_string(), "Timeout while connecting");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn request_timeout_when_the_server_never_answers_and_the_connection_is_dropped() {
    let srv = raw_server(|s, _| {
        let mut r = BufReader::new(s);
        let _ = read_request(&mut r);
        let _ = r.read(&mut [0; 1]); // until the client gives up
    });
    let mut client = blocking();
    let r =
        client.fetch(HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_millis(200)));
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: TimeoutStage::Request
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().to_string(), "Timeout during request");
    assert_eq!(client.async_client().idle_connections(), 0);
}

#[test]
fn request_timeout_on_a_reused_connection_keeps_its_own_deadline() {
    // A request with a long timeout on a reused connection, answered; the next one on
    // it, with a short timeout, is never answered and times out by its own deadline.
    let srv = raw_server(|mut s, _| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        for _ in 0..2 {
            if read_request(&mut r).is_some() {
                let _ = s.write_all(&response("200 OK", "", b"answered"));
            }
        }
        let _ = read_request(&mut r);
        let _ = r.read(&mut [0; 1]); // the third is never answered
    });
    let mut client = blocking();
    for _ in 0..2 {
        let long = HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_secs(120));
        assert_eq!(client.fetch(long).unwrap().body, "answered");
    }
    let start = std::time::Instant::now();
    let short = HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_millis(200));
    let r = client.fetch(short);
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: TimeoutStage::Request
            })
        ),
        "{r:?}"
    );
    // Well before the first request's deadline would have passed.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(srv.connections(), 1);
    assert_eq!(client.async_client().idle_connections(), 0);
}

#[test]
fn a_closed_pooled_connection_leaves_no_request_timer_behind() {
    // The second request runs on the reused connection, bounded by the connection's own
    // timer (a long request timeout); closing the idle connection must take that timer
    // with it rather than leave it pending until the timeout.
    let srv = serve(|req| response("200 OK", "", req.path.as_bytes()));
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let client = AsyncHttpClient::new(&handle);
    let fetch = |reactor: &mut Reactor| {
        let req = HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_secs(600));
        reactor.run_until(&client.fetch(req)).unwrap()
    };
    assert_eq!(fetch(&mut reactor).body, "/");
    let before = handle.stats().timers_pending;
    assert_eq!(fetch(&mut reactor).body, "/");
    assert_eq!(
        srv.connections(),
        1,
        "the second request did not reuse the connection"
    );
    client.close_idle();
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(handle.stats().timers_pending, before);
}

#[test]
fn a_response_not_read_to_the_end_never_goes_back_to_the_pool() {
    // Body trickles: the first request times out mid-body; the second must use a new
    // connection and get its own complete response.
    let srv = raw_server(|mut s, n| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        while read_request(&mut r).is_some() {
            if n == 0 {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            } else {
                let _ = s.write_all(&response("200 OK", "", b"second"));
            }
        }
    });
    let mut client = blocking();
    let r =
        client.fetch(HttpRequest::new(&srv.url("/")).request_timeout(Duration::from_millis(200)));
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    assert_eq!(client.fetch(srv.url("/")).unwrap().body, "second");
    assert_eq!(srv.connections(), 2);
}

#[test]
fn a_pooled_connection_closed_by_the_server_is_replaced() {
    // Keep-alive advertised, but the server closes after each response.
    let srv = raw_server(|mut s, _| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        if read_request(&mut r).is_some() {
            let _ = s.write_all(&response("200 OK", "", b"once"));
        }
    });
    let mut client = blocking();
    for _ in 0..5 {
        assert_eq!(client.fetch(srv.url("/")).unwrap().body, "once");
    }
    assert_eq!(srv.connections(), 5);
}

#[test]
fn streaming_callback_receives_every_byte() {
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let srv = raw_server(move |mut s, _| {
        let _ = read_request(&mut BufReader::new(s.try_clone().unwrap()));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for c in body.chunks(70_000) {
            let _ = write!(s, "{:x}\r\n", c.len());
            let _ = s.write_all(c);
            let _ = s.write_all(b"\r\n");
        }
        let _ = s.write_all(b"0\r\n\r\n");
    });
    let got = Rc::new(RefCell::new(Vec::new()));
    let pieces = Rc::new(AtomicUsize::new(0));
    let (g, p) = (got.clone(), pieces.clone());
    let req = HttpRequest::new(&srv.url("/")).streaming_callback(move |b: Bytes| {
        p.fetch_add(1, Ordering::SeqCst);
        g.borrow_mut().extend_from_slice(&b);
    });
    let r = blocking().fetch(req).unwrap();
    assert!(r.body.is_empty());
    assert!(pieces.load(Ordering::SeqCst) > 1);
    assert!(*got.borrow() == expected, "streamed bytes differ");
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_bodies_are_decompressed() {
    use flate2::{write::GzEncoder, Compression};
    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    let srv = serve(move |req| {
        *s.lock().unwrap() = req.header("accept-encoding").unwrap_or_default();
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(&b"squall ".repeat(1000)).unwrap();
        response("200 OK", "Content-Encoding: gzip\r\n", &e.finish().unwrap())
    });
    let mut client = blocking();
    let r = client.fetch(srv.url("/")).unwrap();
    assert_eq!(*seen.lock().unwrap(), "gzip");
    assert_eq!(r.body, b"squall ".repeat(1000));
    assert_eq!(r.headers["x-consumed-content-encoding"], "gzip");
    let raw = client
        .fetch(HttpRequest::new(&srv.url("/")).decompress_response(false))
        .unwrap();
    assert_eq!(&raw.body[..2], b"\x1f\x8b");
    // A gzip bomb is bounded by max_body_size after decompression.
    let r = client.fetch(HttpRequest::new(&srv.url("/")).max_body_size(1000));
    assert!(is_599(&r), "{r:?}");
}

#[test]
fn header_and_body_limits_are_599() {
    let srv = serve(|req| match req.path.as_str() {
        "/big-head" => response("200 OK", &format!("X-Big: {}\r\n", "a".repeat(10_000)), b""),
        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"
            .iter()
            .copied()
            .chain([b'x'; 1024])
            .chain(*b"\r\n0\r\n\r\n")
            .collect(),
        _ => response("200 OK", "", &[b'x'; 5000]),
    });
    let mut client = blocking();
    assert!(is_599(&client.fetch(
        HttpRequest::new(&srv.url("/big-head")).max_header_size(4096)
    )));
    assert!(client
        .fetch(HttpRequest::new(&srv.url("/big-head")).max_header_size(20_000))
        .is_ok());
    assert!(is_599(
        &client.fetch(HttpRequest::new(&srv.url("/")).max_body_size(4999))
    ));
    assert!(is_599(&client.fetch(
        HttpRequest::new(&srv.url("/chunked")).max_body_size(1000)
    )));
    assert_eq!(
        client
            .fetch(HttpRequest::new(&srv.url("/")).max_body_size(5000))
            .unwrap()
            .body
            .len(),
        5000
    );
}

#[test]
fn malformed_responses_are_599() {
    let srv = raw_server(|mut s, n| {
        let _ = read_request(&mut BufReader::new(s.try_clone().unwrap()));
        let r: &[u8] = match n {
            0 => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            1 => b"SMTP ready\r\n\r\n",
            _ => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        };
        let _ = s.write_all(r);
    });
    let mut client = blocking();
    for _ in 0..3 {
        let r = client.fetch(srv.url("/"));
        assert!(is_599(&r), "{r:?}");
    }
}

#[test]
fn header_callback_sees_each_line() {
    let srv = serve(|_| response("200 OK", "X-A: 1\r\n", b"b"));
    let lines = Rc::new(RefCell::new(Vec::new()));
    let l = lines.clone();
    let req = HttpRequest::new(&srv.url("/"))
        .header_callback(move |line| l.borrow_mut().push(line.to_string()));
    blocking().fetch(req).unwrap();
    assert_eq!(
        *lines.borrow(),
        [
            "HTTP/1.1 200 OK\r\n",
            "x-a: 1\r\n",
            "content-length: 1\r\n",
            "\r\n"
        ]
    );
}

#[test]
fn expect_100_continue_waits_for_the_interim_response() {
    let srv = raw_server(|mut s, _| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let req = read_request(&mut r).unwrap();
        assert_eq!(req.header("expect").as_deref(), Some("100-continue"));
        assert_eq!(r.buffer().len(), 0, "body sent before 100 Continue");
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        let n: usize = req.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; n];
        r.read_exact(&mut body).unwrap();
        s.write_all(&response("200 OK", "", &body)).unwrap();
    });
    let req = HttpRequest::post(&srv.url("/"), "the body").expect_100_continue(true);
    assert_eq!(blocking().fetch(req).unwrap().body, "the body");
}

#[test]
fn max_connections_per_host_bounds_parallel_connections() {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (l, p) = (live.clone(), peak.clone());
    let srv = serve(move |_| {
        let now = l.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        l.fetch_sub(1, Ordering::SeqCst);
        response("200 OK", "", b"ok")
    });
    let mut reactor = Reactor::new().unwrap();
    let options = ClientOptions::default()
        .max_clients(8)
        .max_connections_per_host(Some(2));
    let client = AsyncHttpClient::with_options(&reactor.handle(), options);
    let all: Vec<Future<_>> = (0..8).map(|_| client.fetch(srv.url("/"))).collect();
    let results = reactor.run_until(&squall::join_all(all)).unwrap();
    assert_eq!(results.len(), 8);
    assert_eq!(srv.connections(), 2);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn resolver_override_and_time_info() {
    let srv = serve(|req| response("200 OK", "", req.header("host").unwrap().as_bytes()));
    let resolver = squall::net::OverrideResolver::new().with_addr(
        "api.test",
        srv.port,
        format!("127.0.0.1:{}", srv.port).parse().unwrap(),
    );
    let options = ClientOptions::default().resolver(Rc::new(resolver));
    let mut client = HttpClient::with_options(options).unwrap();
    let r = client
        .fetch(format!("http://api.test:{}/", srv.port))
        .unwrap();
    assert_eq!(r.body, format!("api.test:{}", srv.port).as_bytes());
    let t = r.time_info;
    assert!(t.connect > Duration::ZERO && t.first_byte >= t.connect && t.total >= t.first_byte);
    assert!(r.request_time >= t.total);
    let again = client
        .fetch(format!("http://api.test:{}/", srv.port))
        .unwrap();
    assert_eq!(again.time_info.connect, Duration::ZERO, "pooled connection");
}

#[test]
fn connection_refused_is_an_io_error() {
    let closed = support::ReservedPort::closed();
    let r = blocking().fetch(format!("http://{}/", closed.addr()));
    assert_eq!(
        r.unwrap_err().io_kind(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn async_fetch_manual_from_the_issue() {
    fn async_fetch_manual(client: &AsyncHttpClient, url: &str) -> Future<Bytes> {
        let my_future = Future::new();
        let fetch_future = client.fetch(url);
        let out = my_future.clone();
        fetch_future.add_done_callback(move |f| match f.take_result().unwrap() {
            Ok(response) => out.set_result(response.body),
            Err(e) => out.set_error(e),
        });
        my_future
    }
    let srv = serve(|_| response("200 OK", "", b"manual"));
    let mut reactor = Reactor::new().unwrap();
    let client = AsyncHttpClient::new(&reactor.handle());
    let body = reactor
        .run_until(&async_fetch_manual(&client, &srv.url("/")))
        .unwrap();
    assert_eq!(body, "manual");
}
