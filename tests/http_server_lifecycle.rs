//! HTTP server behaviour over time: timeouts (slowloris, idle, body), deferred and
//! dropped responders, streamed responses with backpressure, graceful shutdown, body
//! delegates, xheaders and gzip request bodies.

mod support;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use squall::http::server::BodyDelegate;
use squall::http::{HttpServer, HttpServerOptions, Request, Responder};
use squall::{Future, Handle, PeriodicCallback};
use support::http::{connect, exchange_to_eof, read_to_eof, run, status_of, Reader};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

fn hello(_req: Request, resp: Responder) {
    resp.send("hello")
}

#[test]
fn slowloris_is_cut_off_by_header_timeout_while_others_are_served() {
    let options = HttpServerOptions::default().header_timeout(Some(Duration::from_millis(300)));
    let (slow, normal_served_while_slow_open, sent, elapsed) = run(
        move |h| HttpServer::with_options(h, options, hello),
        |addr| {
            let head = format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
                "p".repeat(200)
            );
            let mut slow = connect(addr);
            let mut slow_reader = slow.try_clone().unwrap();
            let cut_off = Arc::new(AtomicBool::new(false));
            let flag = cut_off.clone();
            let start = Instant::now();
            let reader = std::thread::spawn(move || {
                let raw = read_to_eof(&mut slow_reader);
                flag.store(true, Ordering::SeqCst);
                (raw, start.elapsed())
            });
            let mut sent = 0;
            let mut normal = None;
            for b in head.as_bytes() {
                if cut_off.load(Ordering::SeqCst) || slow.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
                if sent == 3 {
                    // The slow client has started its head: serve a normal one meanwhile.
                    let mut r = Reader::connect(addr);
                    r.send(GET);
                    let resp = r.response();
                    normal = Some((resp.status, !cut_off.load(Ordering::SeqCst)));
                }
                // Pacing, not synchronisation: one byte every 50 ms.
                std::thread::sleep(Duration::from_millis(50));
            }
            let (raw, elapsed) = reader.join().unwrap();
            (raw, normal, sent, elapsed)
        },
    );
    let raw = String::from_utf8_lossy(&slow);
    assert_eq!(
        normal_served_while_slow_open,
        Some((200, true)),
        "normal client not served while the slow one was open"
    );
    assert_eq!(status_of(&raw), 408, "{raw}");
    assert!(raw.contains("onnection: close"), "{raw}");
    assert!(sent < 100, "slow client was allowed to send {sent} bytes");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?}"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let options =
        HttpServerOptions::default().idle_connection_timeout(Some(Duration::from_millis(200)));
    let (resp, after, idle_for) = run(
        move |h| HttpServer::with_options(h, options, hello),
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(GET);
            let resp = r.response();
            let t = Instant::now();
            let after = read_to_eof(&mut r.stream);
            (resp, after, t.elapsed())
        },
    );
    assert_eq!(resp.status, 200);
    assert!(!resp.closes());
    assert!(
        after.is_empty(),
        "idle close must be silent: {:?}",
        String::from_utf8_lossy(&after)
    );
    assert!(
        idle_for >= Duration::from_millis(150),
        "closed after {idle_for:?}"
    );
}

#[test]
fn body_timeout_answers_408_and_closes() {
    let options = HttpServerOptions::default().body_timeout(Some(Duration::from_millis(200)));
    let raw = run(
        move |h| HttpServer::with_options(h, options, hello),
        |addr| {
            exchange_to_eof(
                addr,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
            )
        },
    );
    assert_eq!(status_of(&raw), 408, "{raw}");
}

#[test]
fn deferred_responder_is_finished_from_a_timer_while_others_are_served() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let (slow, fast) = run(
        move |h| {
            let h2 = h.clone();
            HttpServer::new(h, move |req, resp| {
                let o = o.clone();
                if req.path() == "/poll" {
                    // Long polling: keep the responder, answer when the "event" happens.
                    h2.call_later(Duration::from_millis(100), move || {
                        o.borrow_mut().push("poll");
                        resp.send("event!");
                    });
                } else {
                    o.borrow_mut().push("fast");
                    resp.send("fast");
                }
            })
        },
        |addr| {
            let mut slow = Reader::connect(addr);
            slow.send(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut fast = Reader::connect(addr);
            fast.send(GET);
            let fast = fast.response();
            (slow.response(), fast)
        },
    );
    assert_eq!((slow.status, slow.body_str().as_str()), (200, "event!"));
    assert_eq!(fast.body_str(), "fast");
    assert_eq!(*order.borrow(), ["fast", "poll"]);
}

/// Serves the handler `make` builds (given the loop's handle) and sends `request` on a
/// fresh connection: all the server sent until it closed.
fn answer_to<H: FnMut(Request, Responder) + 'static>(
    request: &'static [u8],
    make: impl FnOnce(&Handle) -> H,
) -> String {
    run(
        move |h| HttpServer::new(h, make(h)),
        move |addr| exchange_to_eof(addr, request),
    )
}

#[test]
fn dropped_responder_sends_500_and_closes() {
    let raw = answer_to(GET, |_| |_req, resp| drop(resp));
    assert!(raw.starts_with("HTTP/1.1 500 "), "{raw}");
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1);
    assert!(rs[0].closes(), "{raw}");
}

#[test]
fn responder_dropped_from_a_timer_sends_500() {
    let raw = answer_to(GET, |h| {
        let h = h.clone();
        move |_req, resp| {
            h.call_later(Duration::from_millis(10), move || drop(resp));
        }
    });
    assert!(raw.starts_with("HTTP/1.1 500 "), "{raw}");
}

#[test]
fn responder_dropped_mid_stream_closes_without_terminating_the_body() {
    let raw = answer_to(GET, |_| {
        |_req, mut resp: Responder| {
            let _ = resp.write("part");
            drop(resp);
        }
    });
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    assert!(raw.contains("\r\n4\r\npart\r\n"), "{raw}");
    assert!(
        !raw.ends_with("0\r\n\r\n"),
        "a truncated body looked complete: {raw}"
    );
}

/// What the streaming handler reports to the client thread.
#[derive(Debug)]
enum StreamReport {
    /// No chunk completed for a while: the client's reading is the bottleneck.
    Stalled { completed: usize },
    /// Every chunk completed without the client reading: no backpressure.
    FinishedWithoutStall,
}

const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 400; // 25 MiB: more than loopback socket buffers can hold

/// Writes the next chunk only after the previous write's future resolved.
fn stream_chunks(mut resp: Responder, left: usize, completed: Rc<Cell<usize>>) {
    if left == 0 {
        let _ = resp.finish();
        return;
    }
    let chunk = Bytes::from(vec![b'a' + (left % 26) as u8; CHUNK]);
    resp.write(chunk).add_done_callback(move |f| {
        if let Some(Ok(())) = f.take_result() {
            completed.set(completed.get() + 1);
            stream_chunks(resp, left - 1, completed);
        }
    });
}

fn expected_stream() -> Vec<u8> {
    let mut v = Vec::with_capacity(CHUNK * CHUNKS);
    for left in (1..=CHUNKS).rev() {
        v.resize(v.len() + CHUNK, b'a' + (left % 26) as u8);
    }
    v
}

#[test]
fn streamed_response_respects_backpressure_from_a_slow_reader() {
    let (tx, rx) = mpsc::channel::<StreamReport>();
    let (resp, report) = run(
        move |h| {
            let completed = Rc::new(Cell::new(0usize));
            let c = completed.clone();
            let last = Cell::new(usize::MAX);
            let reported = Cell::new(false);
            // Watchdog: reports once the chunk count stops moving.
            let watchdog = PeriodicCallback::new(h, Duration::from_millis(100), move || {
                let n = c.get();
                if reported.get() || n == 0 {
                    return;
                }
                if n == CHUNKS {
                    reported.set(true);
                    let _ = tx.send(StreamReport::FinishedWithoutStall);
                } else if n == last.get() {
                    reported.set(true);
                    let _ = tx.send(StreamReport::Stalled { completed: n });
                }
                last.set(n);
            });
            watchdog.start();
            HttpServer::new(h, move |_req, resp| {
                let _keep = &watchdog;
                stream_chunks(resp, CHUNKS, completed.clone());
            })
        },
        move |addr| {
            let mut r = Reader::connect(addr);
            r.send(GET);
            // Do not read until the server says its writes are stuck.
            let report = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("no report from the streaming handler");
            (r.response(), report)
        },
    );
    match report {
        StreamReport::Stalled { completed } => assert!(
            completed < CHUNKS / 2,
            "{completed} of {CHUNKS} chunk writes completed before the client read anything"
        ),
        other => panic!("streaming never waited for the client: {other:?}"),
    }
    assert!(
        resp.chunked,
        "HTTP/1.1 stream must be chunked: {:?}",
        resp.headers
    );
    assert_eq!(resp.body.len(), CHUNK * CHUNKS);
    assert!(resp.body == expected_stream(), "streamed body differs");
}

#[test]
fn streamed_response_to_http10_is_close_delimited() {
    let http10 = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let raw = answer_to(http10, |_| {
        |_req, mut resp: Responder| {
            let _ = resp.write("one,");
            let _ = resp.write("two,");
            let _ = resp.write("three");
            let _ = resp.finish();
        }
    });
    let (head, body) = raw.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.0 200 OK"), "{raw}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("transfer-encoding"), "{raw}");
    assert!(!lower.contains("content-length"), "{raw}");
    assert!(lower.contains("connection: close"), "{raw}");
    assert_eq!(body, "one,two,three");
}

#[test]
fn streamed_response_with_own_content_length_keeps_alive() {
    let (a, b) = run(
        |h| {
            HttpServer::new(h, |req, mut resp| {
                if req.path() == "/" {
                    return resp.send("next");
                }
                resp.set_header("content-length", "6");
                let _ = resp.write("abc");
                let _ = resp.write("def");
                let _ = resp.finish();
            })
        },
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
            let a = r.response();
            r.send(GET);
            (a, r.response())
        },
    );
    assert!(!a.chunked);
    assert_eq!(a.body_str(), "abcdef");
    assert_eq!(b.body_str(), "next");
}

type Slot<T> = Rc<RefCell<Option<T>>>;

#[test]
fn close_all_connections_finishes_in_flight_requests_and_closes_idle_ones() {
    let server_slot: Slot<HttpServer> = Rc::new(RefCell::new(None));
    let closed: Slot<Future<()>> = Rc::new(RefCell::new(None));
    let conns_at_finish = Rc::new(Cell::new(usize::MAX));
    let (s, c, n) = (server_slot.clone(), closed.clone(), conns_at_finish.clone());
    let (idle_rest, busy, connect_after) = run(
        move |h| {
            let h2 = h.clone();
            let server = HttpServer::new(h, move |req, resp| {
                if req.path() != "/deferred" {
                    return resp.send("hello");
                }
                let server = s.borrow_mut().take().expect("server");
                *c.borrow_mut() = Some(server.close_all_connections());
                let n = n.clone();
                h2.call_later(Duration::from_millis(50), move || {
                    n.set(server.connection_count());
                    resp.send("finished late");
                });
            });
            *server_slot.borrow_mut() = Some(server.clone());
            server
        },
        |addr| {
            let mut idle = Reader::connect(addr);
            idle.send(GET);
            assert_eq!(idle.response().status, 200);
            let mut busy = Reader::connect(addr);
            busy.send(b"GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n");
            let resp = busy.response();
            busy.expect_eof();
            let idle_rest = read_to_eof(&mut idle.stream);
            let connect_after = TcpStream::connect(addr).map(|_| ()).map_err(|e| e.kind());
            (idle_rest, resp, connect_after)
        },
    );
    assert!(idle_rest.is_empty(), "idle connection got {idle_rest:?}");
    assert_eq!(busy.body_str(), "finished late");
    assert!(
        busy.closes(),
        "in-flight response must say Connection: close"
    );
    assert_eq!(
        conns_at_finish.get(),
        1,
        "idle connection not closed at once"
    );
    assert_eq!(
        connect_after,
        Err(std::io::ErrorKind::ConnectionRefused),
        "still accepting after close_all_connections"
    );
    let closed = closed
        .borrow_mut()
        .take()
        .expect("close_all_connections called");
    assert!(
        closed.is_done(),
        "close_all_connections future never resolved"
    );
}

#[test]
fn close_all_connections_with_no_connections_resolves_at_once() {
    let mut reactor = squall::Reactor::new().unwrap();
    let server = HttpServer::new(&reactor.handle(), hello);
    server.listen("127.0.0.1:0").unwrap();
    let f = server.close_all_connections();
    reactor.run_until(&f).expect("resolves");
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn stop_refuses_new_connections_but_serves_open_ones() {
    let server_slot: Slot<HttpServer> = Rc::new(RefCell::new(None));
    let s = server_slot.clone();
    let (after_stop, refused) = run(
        move |h| {
            let server = HttpServer::new(h, move |req, resp| {
                if req.path() == "/stop"
                    && let Some(server) = s.borrow_mut().take()
                {
                    server.stop();
                }
                resp.send(req.path().to_string())
            });
            *server_slot.borrow_mut() = Some(server.clone());
            server
        },
        |addr: SocketAddr| {
            let mut r = Reader::connect(addr);
            r.send(b"GET /stop HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(r.response().body_str(), "/stop");
            let refused = TcpStream::connect(addr).map(|_| ()).map_err(|e| e.kind());
            r.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
            (r.response(), refused)
        },
    );
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(after_stop.body_str(), "/after");
}

/// Counts what it receives and answers with the totals.
struct Counting {
    chunks: usize,
    bytes: usize,
    sum: u64,
}

impl BodyDelegate for Counting {
    fn data_received(&mut self, chunk: Bytes) {
        self.chunks += 1;
        self.bytes += chunk.len();
        self.sum = chunk.iter().fold(self.sum, |s, &b| {
            s.wrapping_mul(31).wrapping_add(u64::from(b))
        });
    }
    fn finish(self: Box<Self>, request: Request, responder: Responder) {
        responder.send(format!(
            "chunks={} bytes={} sum={} buffered={}",
            self.chunks,
            self.bytes,
            self.sum,
            request.body.len()
        ));
    }
}

fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)))
}

fn delegate_server(h: &squall::Handle) -> HttpServer {
    let server = HttpServer::new(h, |req, resp| {
        let n = req.body.len();
        resp.send(format!("buffered {n}"))
    });
    server.set_body_delegate_factory(|req| {
        (req.path() == "/upload").then(|| {
            Box::new(Counting {
                chunks: 0,
                bytes: 0,
                sum: 0,
            }) as Box<dyn BodyDelegate>
        })
    });
    server
}

fn upload_data() -> Vec<u8> {
    (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn parse_counts(body: &str) -> (usize, usize, u64, usize) {
    let v: Vec<&str> = body
        .split(' ')
        .map(|kv| kv.split_once('=').expect("k=v").1)
        .collect();
    (
        v[0].parse().unwrap(),
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
        v[3].parse().unwrap(),
    )
}

#[test]
fn body_delegate_receives_every_chunk_of_a_large_upload() {
    let data = upload_data();
    let (len, sum) = (data.len(), checksum(&data));
    let (resp, other) = run(delegate_server, move |addr| {
        let mut r = Reader::connect(addr);
        let mut w = r.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            write!(
                w,
                "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )
            .unwrap();
            for piece in data.chunks(100_000) {
                w.write_all(piece).unwrap();
            }
        });
        let resp = r.response();
        writer.join().unwrap();
        r.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
        (resp, r.response())
    });
    let (chunks, bytes, got_sum, buffered) = parse_counts(&resp.body_str());
    assert_eq!((bytes, got_sum, buffered), (len, sum, 0));
    assert!(chunks > 1, "the upload arrived in one piece: not streamed");
    assert_eq!(other.body_str(), "buffered 3", "factory's None must buffer");
}

#[test]
fn body_delegate_receives_a_chunked_upload_dechunked() {
    let data = upload_data();
    let (len, sum) = (data.len(), checksum(&data));
    let resp = run(delegate_server, move |addr| {
        let mut r = Reader::connect(addr);
        let mut w = r.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            for piece in data.chunks(70_000) {
                write!(w, "{:x};ext=1\r\n", piece.len()).unwrap();
                w.write_all(piece).unwrap();
                w.write_all(b"\r\n").unwrap();
            }
            w.write_all(b"0\r\nX-T: 1\r\n\r\n").unwrap();
        });
        let resp = r.response();
        writer.join().unwrap();
        resp
    });
    let (chunks, bytes, got_sum, _) = parse_counts(&resp.body_str());
    assert_eq!((bytes, got_sum), (len, sum));
    assert!(chunks > 1);
}

fn ip_proto_server(xheaders: bool) -> impl FnOnce(&squall::Handle) -> HttpServer {
    let options = HttpServerOptions::default().xheaders(xheaders);
    move |h| {
        HttpServer::with_options(h, options, |req, resp| {
            let s = format!("{} {}", req.remote_ip, req.protocol);
            resp.send(s)
        })
    }
}

fn ask(addr: SocketAddr, headers: &str) -> String {
    let mut r = Reader::connect(addr);
    r.send(format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes());
    r.response().body_str()
}

#[test]
fn xheaders_set_remote_ip_and_protocol() {
    let got = run(ip_proto_server(true), |addr| {
        [
            ask(addr, "X-Real-Ip: 10.0.0.7\r\nX-Forwarded-Proto: https\r\n"),
            ask(
                addr,
                "X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nX-Scheme: http\r\n",
            ),
            ask(
                addr,
                "X-Real-Ip: not-an-ip\r\nX-Forwarded-Proto: gopher\r\n",
            ),
            ask(addr, ""),
        ]
    });
    assert_eq!(
        got,
        [
            "10.0.0.7 https",
            "5.6.7.8 http",
            "127.0.0.1 http",
            "127.0.0.1 http"
        ]
    );
}

#[test]
fn xheaders_are_ignored_unless_enabled() {
    let got = run(ip_proto_server(false), |addr| {
        ask(addr, "X-Real-Ip: 10.0.0.7\r\nX-Forwarded-Proto: https\r\n")
    });
    assert_eq!(got, "127.0.0.1 http");
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn echo_server(decompress: bool) -> impl FnOnce(&squall::Handle) -> HttpServer {
        let options = HttpServerOptions::default()
            .decompress_request(decompress)
            .max_body_size(100_000);
        move |h| HttpServer::with_options(h, options, |req, resp| resp.send(req.body))
    }

    fn post_gzip(addr: SocketAddr, body: &[u8]) -> String {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        exchange_to_eof(addr, &req)
    }

    #[test]
    fn gzip_request_body_is_decompressed_when_enabled() {
        let plain = "hello gzip ".repeat(500);
        let packed = gzip(plain.as_bytes());
        assert!(packed.len() < plain.len());
        let raw = run(echo_server(true), move |addr| post_gzip(addr, &packed));
        let rs = support::http::parse_all(raw.as_bytes());
        assert_eq!(rs[0].body_str(), plain);
    }

    #[test]
    fn decompressed_request_headers_describe_the_decompressed_body() {
        let plain = "abc".repeat(1000);
        let packed = gzip(plain.as_bytes());
        let options = HttpServerOptions::default().decompress_request(true);
        let server = move |h: &squall::Handle| {
            HttpServer::with_options(h, options, |req, resp| {
                let seen = format!(
                    "{:?} {:?} {:?} {}",
                    req.header("content-encoding"),
                    req.header("content-length"),
                    req.header("x-consumed-content-encoding"),
                    req.body.len()
                );
                resp.send(seen)
            })
        };
        let raw = run(server, move |addr| post_gzip(addr, &packed));
        let rs = support::http::parse_all(raw.as_bytes());
        assert_eq!(
            rs[0].body_str(),
            format!("None Some(\"3000\") Some(\"gzip\") {}", plain.len())
        );
    }

    #[test]
    fn gzip_request_body_is_left_alone_when_disabled() {
        let packed = gzip(b"hello");
        let expected = packed.clone();
        let raw = run(echo_server(false), move |addr| {
            let mut r = Reader::connect(addr);
            let mut req = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                packed.len()
            )
            .into_bytes();
            req.extend_from_slice(&packed);
            r.send(&req);
            r.response()
        });
        assert_eq!(raw.body, expected);
    }

    #[test]
    fn corrupt_gzip_request_body_gets_400() {
        let raw = run(echo_server(true), |addr| {
            post_gzip(addr, b"not gzip at all")
        });
        assert_eq!(status_of(&raw), 400, "{raw}");
    }

    /// With `decompress_request`, a body delegate gets the decompressed bytes (the same
    /// body a buffered handler sees), and its headers already describe them.
    #[test]
    fn body_delegate_receives_decompressed_bytes() {
        let plain = upload_data()[..300_000].to_vec();
        let packed = gzip(&plain);
        let (len, sum) = (plain.len(), checksum(&plain));
        let server = |h: &squall::Handle| {
            let options = HttpServerOptions::default()
                .decompress_request(true)
                .max_body_size(1_000_000);
            let server = HttpServer::with_options(h, options, |_req, resp| resp.send("buffered"));
            server.set_body_delegate_factory(|req| {
                assert_eq!(req.header("x-consumed-content-encoding"), Some("gzip"));
                assert_eq!(req.header("content-encoding"), None);
                Some(Box::new(Counting {
                    chunks: 0,
                    bytes: 0,
                    sum: 0,
                }) as Box<dyn BodyDelegate>)
            });
            server
        };
        let raw = run(server, move |addr| post_gzip(addr, &packed));
        let rs = support::http::parse_all(raw.as_bytes());
        let (chunks, bytes, got_sum, buffered) = parse_counts(&rs[0].body_str());
        assert!(chunks >= 1);
        assert_eq!((bytes, got_sum, buffered), (len, sum, 0));
    }

    #[test]
    fn gzip_bomb_over_max_body_size_gets_413() {
        let packed = gzip(&vec![0u8; 1_000_000]);
        assert!(packed.len() < 100_000);
        let raw = run(echo_server(true), move |addr| post_gzip(addr, &packed));
        assert_eq!(status_of(&raw), 413, "{raw}");
    }
}

#[test]
fn handler_can_answer_with_any_status() {
    let raw = run(
        |h| HttpServer::new(h, |_req, resp| resp.respond(StatusCode::IM_A_TEAPOT, "tea")),
        |addr| {
            exchange_to_eof(
                addr,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        },
    );
    assert!(raw.starts_with("HTTP/1.1 418 "), "{raw}");
    assert!(raw.ends_with("\r\n\r\ntea"), "{raw}");
}
