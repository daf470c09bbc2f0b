//! The HTTP client against servers that probe it: credentials never leak to another
//! origin, a cancelled fetch lets go of everything at once, responses that bend the wire
//! rules are read safely, memory stays bounded while inflating.

mod support;

use std::io::{BufReader, Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall::http::client::{AsyncHttpClient, ClientOptions, HttpClient, HttpRequest};
use squall::net::OverrideResolver;
use squall::{Error, Reactor};
use support::log::{install_logger, warnings_mentioning};
use support::raw_server::{raw_server, read_request, response, serve, Req};
use support::{run_until, wait};

/// "Never retrieved" warnings about cancelled futures (tests run in parallel: other
/// warnings belong to other tests).
fn cancelled_never_retrieved() -> Vec<String> {
    warnings_mentioning("never retrieved")
        .into_iter()
        .filter(|w| w.contains("cancelled"))
        .collect()
}

/// A server that records every request it gets and answers `respond(&req)`.
fn recording(
    respond: impl Fn(&Req) -> Vec<u8> + Send + Sync + 'static,
) -> (support::raw_server::RawServer, Arc<Mutex<Vec<Req>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let srv = serve(move |req| {
        s.lock().unwrap().push(req.clone());
        respond(req)
    });
    (srv, seen)
}

const CREDENTIALS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

fn credentialed(url: &str) -> HttpRequest {
    HttpRequest::new(url)
        .basic_auth("user", "secret")
        .header("cookie", "session=s3cr3t")
        .header("proxy-authorization", "Basic cHJveHk6cGFzcw==")
}

#[test]
fn a_redirect_to_another_port_drops_authorization_cookie_and_proxy_authorization() {
    let (other, other_seen) = recording(|_| response("200 OK", "", b"other"));
    let target = other.url("/landed");
    let (origin, origin_seen) = recording(move |req| match req.path.as_str() {
        "/away" => response("302 Found", &format!("Location: {target}\r\n"), b""),
        "/here" => response("307 Temporary", "Location: /stay\r\n", b""),
        _ => response("200 OK", "", b"same"),
    });
    let mut client = HttpClient::new().unwrap();
    let r = client.fetch(credentialed(&origin.url("/away"))).unwrap();
    assert_eq!(r.body, "other");
    let landed = other_seen.lock().unwrap()[0].clone();
    for h in CREDENTIALS {
        assert_eq!(landed.header(h), None, "{h} leaked to another origin");
    }
    // The same origin keeps them.
    let r = client.fetch(credentialed(&origin.url("/here"))).unwrap();
    assert_eq!(r.body, "same");
    let stayed = origin_seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(stayed.path, "/stay");
    for h in CREDENTIALS {
        assert!(
            stayed.header(h).is_some(),
            "{h} dropped on a same-origin redirect"
        );
    }
}

#[test]
fn a_redirect_to_another_host_name_on_the_same_port_drops_credentials() {
    // Two names for one server: same address and port, still another origin.
    let (srv, seen) = recording(|req| match req.path.as_str() {
        "/away" => response("301 Moved", "Location: http://other.test/x\r\n", b""),
        _ => response("200 OK", "", b"landed"),
    });
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", srv.port).parse().unwrap();
    let resolver = OverrideResolver::new()
        .with_addr("first.test", 80, addr)
        .with_addr("other.test", 80, addr);
    let mut client =
        HttpClient::with_options(ClientOptions::default().resolver(Rc::new(resolver))).unwrap();
    let r = client
        .fetch(credentialed("http://first.test/away"))
        .unwrap();
    assert_eq!(r.body, "landed");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].header("cookie").is_some());
    assert_eq!(seen[1].header("host").as_deref(), Some("other.test"));
    for h in CREDENTIALS {
        assert_eq!(seen[1].header(h), None, "{h} leaked to another host");
    }
}

#[test]
fn url_credentials_become_basic_auth_and_never_reach_host_or_the_request_line() {
    let (srv, seen) = recording(|_| response("200 OK", "", b"ok"));
    let url = format!("http://us%40er:p%3As%20s@127.0.0.1:{}/x?q=1", srv.port);
    let r = HttpClient::new().unwrap().fetch(url.as_str()).unwrap();
    let req = seen.lock().unwrap()[0].clone();
    assert!(
        req.head.starts_with("GET /x?q=1 HTTP/1.1\r\n"),
        "{}",
        req.head
    );
    assert_eq!(
        req.header("host").unwrap(),
        format!("127.0.0.1:{}", srv.port)
    );
    // base64("us@er:p:s s")
    assert_eq!(
        req.header("authorization").unwrap(),
        "Basic dXNAZXI6cDpzIHM="
    );
    assert!(!req.head.contains("secret") && !req.head.contains("us%40er"));
    assert_eq!(r.effective_url.username(), "");
    assert_eq!(r.effective_url.password(), None);
}

/// A server whose connections read one request, then report it and wait for the client
/// to close; `closed` receives each connection's index once the client closed it.
fn silent_server() -> (
    support::raw_server::RawServer,
    mpsc::Receiver<usize>,
    mpsc::Receiver<usize>,
) {
    let (got_tx, got) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let (got_tx, closed_tx) = (Mutex::new(got_tx), Mutex::new(closed_tx));
    let srv = raw_server(move |s, n| {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(s);
        if read_request(&mut r).is_some() {
            let _ = got_tx.lock().unwrap().send(n);
        }
        if let Ok(0) = r.read(&mut [0; 1]) {
            let _ = closed_tx.lock().unwrap().send(n);
        }
    });
    (srv, got, closed)
}

#[test]
fn cancelling_a_running_fetch_closes_its_connection_and_frees_its_slot() {
    install_logger();
    let (silent, got, closed) = silent_server();
    let ok = serve(|_| response("200 OK", "", b"next"));
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let stuck = client.fetch(silent.url("/stuck"));
    let next = client.fetch(ok.url("/next"));
    assert_eq!((client.active(), client.queued()), (1, 1));
    run_until(&mut reactor, "the server to get the request", || {
        got.try_recv().is_ok()
    });
    assert!(stuck.cancel());
    drop(stuck);
    // The queued fetch gets the slot and completes long before any timeout (20 s).
    let t = std::time::Instant::now();
    assert_eq!(wait(&mut reactor, &next).unwrap().body, "next");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The server of the cancelled fetch sees its connection closed.
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok(0));
    assert_eq!((client.active(), client.queued()), (0, 0));
    assert!(
        cancelled_never_retrieved().is_empty(),
        "{:?}",
        cancelled_never_retrieved()
    );
}

#[test]
fn cancelling_a_queued_fetch_leaves_the_queue_and_never_connects() {
    install_logger();
    let (silent, got, _closed) = silent_server();
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let first = client.fetch(HttpRequest::new(&silent.url("/1")));
    let queued = client.fetch(silent.url("/2"));
    assert!(queued.cancel());
    run_until(&mut reactor, "the queue to empty", || client.queued() == 0);
    assert!(matches!(queued.take_result(), Some(Err(Error::Cancelled))));
    run_until(&mut reactor, "the server to get the request", || {
        got.try_recv().is_ok()
    });
    assert!(first.cancel());
    run_until(&mut reactor, "no active request", || client.active() == 0);
    assert_eq!(
        silent.connections(),
        1,
        "the cancelled queued fetch connected"
    );
    assert!(cancelled_never_retrieved().is_empty());
}

#[test]
fn cancelling_while_connecting_frees_the_slot() {
    let (_listener, addr, _fillers) =
        support::net::unanswered_listener("127.0.0.1:0").expect("IPv4 loopback");
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let f = client.fetch(format!("http://{addr}/"));
    let ok = serve(|_| response("200 OK", "", b"fine"));
    let next = client.fetch(ok.url("/"));
    f.cancel();
    assert_eq!(wait(&mut reactor, &next).unwrap().body, "fine");
}

#[test]
fn a_failed_fetch_nobody_looked_at_is_still_reported() {
    // Watching its own future for cancellation must not hide errors.
    install_logger();
    let mut reactor = Reactor::new().unwrap();
    let client = AsyncHttpClient::new(&reactor.handle());
    let done = Arc::new(AtomicBool::new(false));
    {
        let f = client.fetch("ftp://example.com/unfetchable");
        let d = done.clone();
        // Observe completion without retrieving the result.
        let probe = f.clone();
        reactor
            .handle()
            .add_callback(move || d.store(probe.is_done(), Ordering::SeqCst));
        drop(f);
    }
    run_until(&mut reactor, "the fetch done-probe to run", || {
        done.load(Ordering::SeqCst)
    });
    drop(client);
    drop(reactor);
    assert!(
        warnings_mentioning("unsupported URL scheme")
            .iter()
            .any(|w| w.contains("never retrieved")),
        "{:?}",
        support::log::records()
    );
}

#[test]
fn a_folded_response_header_is_read_as_one_line() {
    let srv = serve(|_| {
        b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\n\tthree\r\nContent-Length: 2\r\n\r\nok"
            .to_vec()
    });
    let r = HttpClient::new().unwrap().fetch(srv.url("/")).unwrap();
    assert_eq!(r.headers["x-folded"], "one two three");
    assert_eq!(r.body, "ok");
}

#[test]
fn a_response_with_content_length_and_transfer_encoding_fails_the_fetch() {
    // RFC 9112 §6.3: such a message "ought to be handled as an error" (it is how a
    // response is split or smuggled); Tornado fails the fetch, and so does the client.
    // Its connection is never reused: the next fetch opens a new one.
    let srv = serve(|req| {
        match req.path.as_str() {
        "/both" => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
        _ => response("200 OK", "", b"clean"),
    }
    });
    let mut client = HttpClient::new().unwrap();
    let r = client.fetch(srv.url("/both"));
    let Err(Error::HttpFetch { message, .. }) = &r else {
        panic!("expected the fetch to fail, got {r:?}");
    };
    assert!(
        message.contains("Content-Length") && message.contains("Transfer-Encoding"),
        "{message}"
    );
    assert_eq!(client.async_client().idle_connections(), 0);
    assert_eq!(client.fetch(srv.url("/next")).unwrap().body, "clean");
    assert_eq!(srv.connections(), 2, "the suspect connection was reused");
}

#[test]
fn a_chunk_size_followed_by_whitespace_fails_the_fetch() {
    // The client reads chunked bodies with the server's decoder: the same wire rule.
    let srv = serve(|req| match req.path.as_str() {
        "/space" => {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"
                .to_vec()
        }
        _ => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nhello\r\n0\r\n\r\n"
            .to_vec(),
    });
    let mut client = HttpClient::new().unwrap();
    let r = client.fetch(srv.url("/space"));
    let Err(Error::HttpFetch { message, .. }) = &r else {
        panic!("expected the fetch to fail, got {r:?}");
    };
    assert!(message.contains("chunk"), "{message}");
    // Whitespace before an extension is allowed.
    assert_eq!(client.fetch(srv.url("/ext")).unwrap().body, "hello");
}

/// Waits until the peer's kernel acknowledged everything written on `s` (so it sits in
/// the peer's receive queue), bounded by 20 s.
fn wait_until_acked(s: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut unacked: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one c_int through the pointer, which is valid.
        let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut unacked) };
        if r != 0 || unacked == 0 || std::time::Instant::now() > deadline {
            return;
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_pooled_connection_with_unsolicited_bytes_is_never_reused() {
    // The server answers the first request, then (once told) sends an extra response
    // nobody asked for. The blocking client's loop does not run between fetches, so
    // only a check before reuse can see those bytes.
    let (send_stray, stray) = mpsc::channel::<()>();
    let (sent_tx, sent) = mpsc::channel::<()>();
    let stray = Mutex::new(Some(stray));
    let sent_tx = Mutex::new(sent_tx);
    let srv = raw_server(move |mut s, n| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut first = true;
        while read_request(&mut r).is_some() {
            let body = format!("conn {n}");
            if s.write_all(&response("200 OK", "", body.as_bytes()))
                .is_err()
            {
                return;
            }
            if n == 0 && first {
                first = false;
                let wait = stray.lock().unwrap().take().unwrap();
                let _ = wait.recv_timeout(Duration::from_secs(20));
                let _ = s.write_all(&response("200 OK", "", b"stray"));
                wait_until_acked(&s);
                let _ = sent_tx.lock().unwrap().send(());
            }
        }
    });
    let mut client = HttpClient::new().unwrap();
    assert_eq!(client.fetch(srv.url("/")).unwrap().body, "conn 0");
    assert_eq!(client.async_client().idle_connections(), 1);
    send_stray.send(()).unwrap();
    sent.recv_timeout(Duration::from_secs(20)).unwrap();
    let r = client.fetch(srv.url("/")).unwrap();
    assert_eq!(
        r.body, "conn 1",
        "the stray response was taken for this one"
    );
    assert_eq!(srv.connections(), 2);
}

#[test]
fn a_get_on_a_connection_closed_as_it_went_idle_is_sent_again_on_a_new_one() {
    // Each connection answers one request as keep-alive, then the server closes it. The
    // next GET starts from the first one's done-callback, in the loop iteration that put
    // the connection back in the pool: it is reused without a look at the socket (its
    // response was just read), finds it closed, and goes out again on a new connection.
    let srv = raw_server(|mut s, n| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        if read_request(&mut r).is_some() {
            let _ = s.write_all(&response("200 OK", "", format!("conn {n}").as_bytes()));
        }
    });
    let mut reactor = Reactor::new().unwrap();
    let client = AsyncHttpClient::new(&reactor.handle());
    let (c, url) = (client.clone(), srv.url("/second"));
    let second = client.fetch(srv.url("/first")).and_then(move |first| {
        assert_eq!(first.body, "conn 0");
        c.fetch(url)
    });
    assert_eq!(wait(&mut reactor, &second).unwrap().body, "conn 1");
    assert_eq!(srv.connections(), 2);
}

#[test]
fn an_early_413_during_an_upload_is_reported_as_that_response() {
    // The server refuses the upload after its head, answers and closes without reading
    // the body: the client's writes then fail (EPIPE/ECONNRESET), but the 413 is there.
    let srv = raw_server(|mut s, _| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let _ = s.write_all(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo much",
        );
        // Closing with the body unread makes the kernel send a reset.
    });
    let body = vec![b'x'; 32 * 1024 * 1024];
    let mut client = HttpClient::new().unwrap();
    let r = client.fetch(HttpRequest::post(&srv.url("/upload"), body));
    match r {
        Ok(r) => assert_eq!((r.status.as_u16(), &r.body[..]), (413, &b"too much"[..])),
        Err(e) => panic!("the early response was lost: {e}"),
    }
}

#[test]
fn waiting_in_the_queue_counts_against_the_connect_timeout_too() {
    // Tornado's rule: a queued fetch waits at most min(connect_timeout, request_timeout).
    let (silent, _got, _closed) = silent_server();
    let mut reactor = Reactor::new().unwrap();
    let client =
        AsyncHttpClient::with_options(&reactor.handle(), ClientOptions::default().max_clients(1));
    let running = client.fetch(silent.url("/busy"));
    let queued = client.fetch(
        HttpRequest::new(&silent.url("/queued"))
            .connect_timeout(Duration::from_millis(200))
            .request_timeout(Duration::from_secs(30)),
    );
    let t = std::time::Instant::now();
    let r = wait(&mut reactor, &queued);
    assert!(
        matches!(
            r,
            Err(Error::HttpTimeout {
                stage: squall::http::client::TimeoutStage::Queue
            })
        ),
        "{r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(!running.is_done());
    running.cancel();
}
