//! Behaviour tests for the HTTP/1.1 server over real sockets: keep-alive, pipelining,
//! 100-continue, chunked uploads, bodiless responses, Date.
//!
//! The server runs on a reactor in the test thread; the client is a raw `TcpStream` in
//! another thread (exact bytes in, exact bytes out).

mod support;

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::StatusCode;
use squall::http::{HttpServer, HttpServerOptions, Request, Responder};
use squall::Handle;
use support::http::{connect, exchange_to_eof, read_to_eof, run, Reader};

/// The routes the tests below talk to.
fn route(req: Request, mut resp: Responder) {
    resp.set_header("x-version", &format!("{:?}", req.version));
    match req.path() {
        "/" => resp.send("hello"),
        "/echo" => {
            if let Some(te) = req.header("transfer-encoding") {
                resp.set_header("x-request-te", te);
            }
            if let Some(t) = &req.trailers {
                let names: Vec<String> = t
                    .iter()
                    .map(|(n, v)| format!("{n}={}", v.to_str().unwrap_or("?")))
                    .collect();
                resp.set_header("x-trailers", &names.join(","));
            }
            resp.send(req.body)
        }
        "/path" => {
            let p = req.uri.to_string();
            resp.send(p)
        }
        "/no-content" => resp.respond(StatusCode::NO_CONTENT, "should not be sent"),
        "/not-modified" => resp.respond(StatusCode::NOT_MODIFIED, "should not be sent"),
        "/stream-204" => {
            resp.set_status(StatusCode::NO_CONTENT);
            let _ = resp.write("should not be sent");
            let _ = resp.finish();
        }
        _ => resp.respond(StatusCode::NOT_FOUND, "not found"),
    }
}

fn server_with(options: HttpServerOptions) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| HttpServer::with_options(h, options, route)
}

fn server() -> impl FnOnce(&Handle) -> HttpServer {
    server_with(HttpServerOptions::default())
}

/// A server that records the peer port of every request it sees.
fn port_recording_server(ports: Rc<RefCell<Vec<u16>>>) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| {
        HttpServer::new(h, move |req, resp| {
            ports.borrow_mut().push(req.remote_addr.port());
            route(req, resp)
        })
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let ports = Rc::new(RefCell::new(Vec::new()));
    let (a, b) = run(port_recording_server(ports.clone()), |addr| {
        let mut r = Reader::connect(addr);
        r.send(GET);
        let a = r.response();
        r.send(b"GET /path?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        let b = r.response();
        (a, b)
    });
    assert_eq!((a.status, a.body_str().as_str()), (200, "hello"));
    assert!(!a.closes(), "1.1 response must not close: {a:?}");
    assert_eq!(a.header("content-length"), Some("5"));
    assert_eq!((b.status, b.body_str().as_str()), (200, "/path?x=1"));
    let ports = ports.borrow();
    assert_eq!(ports.len(), 2);
    assert_eq!(
        ports[0], ports[1],
        "second request came on a new connection"
    );
}

#[test]
fn connection_close_is_honoured() {
    let raw = run(server(), |addr| {
        exchange_to_eof(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1, "{raw}");
    assert_eq!(rs[0].status, 200);
    assert!(rs[0].closes(), "{raw}");
}

#[test]
fn connection_close_stops_a_pipeline() {
    // Requests after one with `Connection: close` are not answered.
    let raw = run(server(), |addr| {
        exchange_to_eof(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /path HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    });
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1, "{raw}");
    assert_eq!(rs[0].body_str(), "hello");
}

#[test]
fn http10_closes_by_default() {
    let raw = run(server(), |addr| {
        exchange_to_eof(addr, b"GET / HTTP/1.0\r\n\r\n")
    });
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1);
    assert!(raw.starts_with("HTTP/1.0 200 OK\r\n"), "{raw}");
    assert_eq!(rs[0].body_str(), "hello");
    assert_eq!(rs[0].header("x-version"), Some("HTTP/1.0"));
}

#[test]
fn http10_keeps_alive_when_asked() {
    let ports = Rc::new(RefCell::new(Vec::new()));
    let (a, b) = run(port_recording_server(ports.clone()), |addr| {
        let mut r = Reader::connect(addr);
        r.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let a = r.response();
        r.send(b"GET /path HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let b = r.response();
        (a, b)
    });
    assert_eq!(a.header("connection"), Some("keep-alive"), "{a:?}");
    assert_eq!(a.body_str(), "hello");
    assert_eq!(b.body_str(), "/path");
    let ports = ports.borrow();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[0], ports[1]);
}

#[test]
fn no_keep_alive_option_closes_after_each_response() {
    let options = HttpServerOptions::default().no_keep_alive(true);
    let raw = run(server_with(options), |addr| exchange_to_eof(addr, GET));
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1);
    assert!(rs[0].closes(), "{raw}");
}

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    let rs = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(
            b"GET /path?n=1 HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo\
              GET /path?n=3 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let rs: Vec<_> = (0..3).map(|_| r.response()).collect();
        // Nothing more: the connection stays open and idle.
        assert!(r.pending().is_empty());
        rs
    });
    let bodies: Vec<String> = rs.iter().map(|r| r.body_str()).collect();
    assert_eq!(bodies, ["/path?n=1", "two", "/path?n=3"]);
}

#[test]
fn pipelined_requests_wait_for_a_deferred_response() {
    // The first response is finished from a timer; the second must still come after it.
    let rs = run(
        |h| {
            let h2 = h.clone();
            HttpServer::new(h, move |req, resp| {
                if req.path() == "/slow" {
                    h2.call_later(std::time::Duration::from_millis(30), move || {
                        resp.send("slow")
                    });
                } else {
                    route(req, resp)
                }
            })
        },
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
            vec![r.response(), r.response()]
        },
    );
    assert_eq!(rs[0].body_str(), "slow");
    assert_eq!(rs[1].body_str(), "hello");
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let (interim, resp) = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        );
        // The body is withheld until the server says to go on.
        let interim = r.head();
        r.send(b"hello");
        (interim, r.response())
    });
    assert_eq!(interim.status, 100, "{interim:?}");
    assert!(interim.headers.is_empty(), "{interim:?}");
    assert_eq!((resp.status, resp.body_str().as_str()), (200, "hello"));
}

#[test]
fn expect_100_continue_is_not_sent_when_the_body_is_refused() {
    let options = HttpServerOptions::default().max_body_size(10);
    let raw = run(server_with(options), |addr| {
        exchange_to_eof(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
        )
    });
    assert!(raw.starts_with("HTTP/1.1 413 "), "{raw}");
    assert!(!raw.contains("100 Continue"), "{raw}");
}

#[test]
fn expect_100_continue_is_ignored_for_http10() {
    let raw = run(server(), |addr| {
        exchange_to_eof(
            addr,
            b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
        )
    });
    assert!(raw.starts_with("HTTP/1.0 200 OK\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nhi"), "{raw}");
}

#[test]
fn chunked_upload_with_extensions_and_trailers() {
    let (a, b) = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=value\r\nhello\r\n\
              1;a;b=\"q s\"\r\n \r\n\
              A\r\n0123456789\r\n\
              0;last=1\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n",
        );
        let a = r.response();
        // The connection is still in sync after the trailers.
        r.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        (a, r.response())
    });
    assert_eq!(a.status, 200);
    assert_eq!(a.body_str(), "hello 0123456789");
    assert_eq!(a.header("x-request-te"), Some("chunked"));
    assert_eq!(a.header("x-trailers"), Some("x-sum=42,x-other=y"));
    assert_eq!(b.body_str(), "abc");
    assert_eq!(b.header("x-trailers"), None);
}

#[test]
fn chunked_upload_trickled_byte_by_byte() {
    let resp = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        let req: &[u8] = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;ext\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n";
        for b in req {
            r.send(std::slice::from_ref(b));
        }
        r.response()
    });
    assert_eq!(resp.body_str(), "wikipedia");
    assert_eq!(resp.header("x-trailers"), Some("t=1"));
}

#[test]
fn head_response_has_content_length_but_no_body() {
    let (head, get) = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = r.response_to("HEAD");
        // If HEAD had sent a body, this would parse "hello" as a status line.
        let get = r.response();
        (head, get)
    });
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("5"));
    assert_eq!(get.body_str(), "hello");
}

#[test]
fn no_content_and_not_modified_send_no_body() {
    let raw = run(server(), |addr| {
        exchange_to_eof(
            addr,
            b"GET /no-content HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /stream-204 HTTP/1.1\r\nHost: x\r\n\r\n\
              GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    assert!(!raw.contains("should not be sent"), "{raw}");
    let rs = support::http::parse_all(raw.as_bytes());
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [204, 304, 204, 200], "{raw}");
    assert_eq!(rs[0].header("content-length"), None, "{raw}");
    assert_eq!(rs[0].header("transfer-encoding"), None, "{raw}");
    assert_eq!(rs[2].header("transfer-encoding"), None, "{raw}");
    assert_eq!(rs[3].body_str(), "hello");
}

#[test]
fn responses_carry_a_date_header() {
    let resp = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(GET);
        r.response()
    });
    let dates = resp.headers_named("date");
    assert_eq!(dates.len(), 1, "{resp:?}");
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    let d = dates[0];
    assert_eq!(d.len(), 29, "{d}");
    assert!(d.ends_with(" GMT"), "{d}");
    let day = &d[..4];
    assert!(
        ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(&day),
        "{d}"
    );
    let year: u32 = d[12..16].parse().expect("year");
    assert!(year >= 2024, "{d}");
}

#[test]
fn server_header_is_sent_when_configured() {
    let options = HttpServerOptions::default().server_header(Some("squall-test".into()));
    let resp = run(server_with(options), |addr| {
        let mut r = Reader::connect(addr);
        r.send(GET);
        r.response()
    });
    assert_eq!(resp.header("server"), Some("squall-test"));
}

#[test]
fn unknown_path_gets_404_and_the_connection_stays_usable() {
    let (a, b) = run(server(), |addr| {
        let mut r = Reader::connect(addr);
        r.send(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
        let a = r.response();
        r.send(GET);
        (a, r.response())
    });
    assert_eq!(a.status, 404);
    assert_eq!(b.status, 200);
}

#[test]
fn large_fixed_length_upload_is_echoed() {
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let resp = run(server(), move |addr: SocketAddr| {
        let mut s = connect(addr);
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(head.as_bytes()).unwrap();
            w.write_all(&body).unwrap();
        });
        let raw = read_to_eof(&mut s);
        writer.join().unwrap();
        raw
    });
    let rs = support::http::parse_all(&resp);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].body.len(), expected.len());
    assert!(rs[0].body == expected, "echoed body differs");
}

#[test]
fn request_is_not_answered_after_the_client_half_closes_mid_head() {
    // A client that sends half a head and shuts down its write side gets a close, not a
    // hang and not a response.
    let raw = run(server(), |addr| {
        let mut s = connect(addr);
        s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        read_to_eof(&mut s)
    });
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("hello"), "{text}");
}

#[test]
fn responder_bytes_and_headers_round_trip() {
    // A handler-set header survives and a binary body is sent byte for byte.
    let resp = run(
        |h| {
            HttpServer::new(h, |_req, mut resp| {
                resp.set_header("x-custom", "v1");
                resp.headers_mut().append("x-multi", "a".parse().unwrap());
                resp.headers_mut().append("x-multi", "b".parse().unwrap());
                resp.send(Bytes::from_static(&[0, 1, 2, 255, b'\r', b'\n']));
            })
        },
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(GET);
            r.response()
        },
    );
    assert_eq!(resp.header("x-custom"), Some("v1"));
    assert_eq!(resp.headers_named("x-multi"), ["a", "b"]);
    assert_eq!(resp.body, [0, 1, 2, 255, b'\r', b'\n']);
}

/// The handler's view of a request's header fields, in order.
fn fields(req: &Request) -> String {
    let mut out = String::new();
    for (name, value) in &req.headers {
        out.push_str(&format!("{name}={};", value.to_str().unwrap_or("?")));
    }
    out
}

/// Request header storage is reused from request to request: each request sees only its
/// own fields, and a request kept by the application keeps its fields while later
/// requests (on this connection and others) are parsed.
#[test]
fn each_request_sees_only_its_own_header_fields() {
    let kept: Rc<RefCell<Vec<Request>>> = Rc::default();
    let k = kept.clone();
    let bodies = run(
        move |h| {
            HttpServer::new(h, move |req, resp| {
                let seen = fields(&req);
                if req.path() == "/keep" {
                    k.borrow_mut().push(req);
                } else {
                    drop(req);
                }
                let earlier: Vec<String> = k.borrow().iter().map(fields).collect();
                resp.send(format!("{seen}|{}", earlier.join(",")));
            })
        },
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(b"GET /keep HTTP/1.1\r\nHost: x\r\nX-Secret: 1\r\nX-Other: 2\r\n\r\n");
            let mut bodies = vec![r.response().body_str()];
            r.send(b"GET / HTTP/1.1\r\nHost: y\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\nX-B: 3\r\n\r\n");
            bodies.push(r.response().body_str());
            bodies.push(r.response().body_str());
            let mut other = Reader::connect(addr);
            other.send(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n");
            bodies.push(other.response().body_str());
            bodies
        },
    );
    let first = "host=x;x-secret=1;x-other=2;";
    assert_eq!(
        bodies,
        [
            format!("{first}|{first}"),
            format!("host=y;|{first}"),
            format!("host=z;x-b=3;|{first}"),
            format!("host=w;|{first}"),
        ]
    );
    assert_eq!(fields(&kept.borrow()[0]), first);
}
