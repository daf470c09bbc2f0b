//! Bad input over real sockets: each request-smuggling defence, the head and body limits
//! and unsupported versions get a 4xx/5xx and the connection closed (read to EOF), and a
//! request smuggled behind the bad one is never answered.

mod support;

use squall::http::{HttpServer, HttpServerOptions};
use squall::Handle;
use support::http::{exchange_to_eof, run, status_of};

fn server_with(options: HttpServerOptions) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| {
        HttpServer::with_options(h, options, |req, resp| {
            let answer = format!("handled {} body={}", req.path(), req.body.len());
            resp.send(answer)
        })
    }
}

/// A request the server must not answer if it stays in sync with a smuggler.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends `req` followed by a smuggled request, and checks: exactly one response, whose
/// status is one of `expected`, with `Connection: close`, then EOF.
fn rejected_with(options: HttpServerOptions, req: &str, expected: &[u16]) {
    let wire = format!("{req}{SMUGGLED}");
    let raw = run(server_with(options), move |addr| {
        exchange_to_eof(addr, wire.as_bytes())
    });
    let status = status_of(&raw);
    assert!(
        expected.contains(&status),
        "expected one of {expected:?} for {req:?}, got:\n{raw}"
    );
    assert!(
        !raw.contains("handled"),
        "the request reached the handler:\n{raw}"
    );
    assert_eq!(
        raw.matches("HTTP/1.1 ").count(),
        1,
        "more than one response:\n{raw}"
    );
    let rs = support::http::parse_all(raw.as_bytes());
    assert_eq!(rs.len(), 1, "{raw}");
    assert!(
        rs[0].closes(),
        "error response without Connection: close:\n{raw}"
    );
}

fn rejected(req: &str, expected: &[u16]) {
    rejected_with(HttpServerOptions::default(), req, expected);
}

macro_rules! rejects {
    ($($name:ident: $req:expr => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            rejected($req, &$expected);
        }
    )*};
}

rejects! {
    rejects_content_length_with_transfer_encoding:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => [400];
    rejects_transfer_encoding_with_content_length:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" => [400];
    rejects_conflicting_content_lengths:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" => [400];
    rejects_conflicting_content_length_list:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd" => [400];
    rejects_negative_content_length:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" => [400];
    rejects_content_length_with_letters:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\n" => [400];
    rejects_content_length_with_plus_sign:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello" => [400];
    rejects_empty_content_length:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n" => [400];
    rejects_hex_content_length:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello" => [400];
    rejects_overflowing_content_length:
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n" => [400, 413];
    rejects_transfer_encoding_gzip:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" => [400, 501];
    rejects_chunked_then_gzip:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" => [400, 501];
    rejects_gzip_then_chunked_as_unsupported:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" => [400, 501];
    rejects_chunked_twice:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => [400];
    rejects_unknown_transfer_encoding_token:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" => [400, 501];
    rejects_transfer_encoding_in_http10:
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => [400];
    rejects_non_hex_chunk_size:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" => [400];
    rejects_negative_chunk_size:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" => [400];
    rejects_overflowing_chunk_size:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n" => [400, 413];
    rejects_chunk_size_with_space_before_digits:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n" => [400];
    rejects_chunk_without_crlf_after_data:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" => [400];
    rejects_bare_lf_in_chunk_line:
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" => [400];
    rejects_bare_cr_in_header_value:
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" => [400];
    rejects_bare_cr_line_ending:
        "GET / HTTP/1.1\rHost: x\r\n\r\n" => [400];
    rejects_whitespace_before_colon:
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello" => [400];
    rejects_tab_before_colon:
        "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n" => [400];
    rejects_obs_fold:
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n" => [400];
    rejects_obs_fold_with_tab:
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n" => [400];
    rejects_nul_in_header_value:
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n" => [400];
    rejects_invalid_byte_in_header_name:
        "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n" => [400];
    rejects_empty_header_name:
        "GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n" => [400];
    rejects_missing_host_in_http11:
        "GET / HTTP/1.1\r\n\r\n" => [400];
    rejects_duplicate_host:
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" => [400];
    rejects_space_in_request_target:
        "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" => [400];
    rejects_garbage_request_line:
        "HELLO\r\n\r\n" => [400];
    rejects_http2_request_line_with_505:
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n" => [505];
    rejects_http12_request_line_with_505:
        "GET / HTTP/1.2\r\nHost: x\r\n\r\n" => [505];
}

#[test]
fn http10_without_host_is_accepted() {
    let raw = run(server_with(HttpServerOptions::default()), |addr| {
        exchange_to_eof(addr, b"GET /ok HTTP/1.0\r\n\r\n")
    });
    assert!(raw.starts_with("HTTP/1.0 200 OK\r\n"), "{raw}");
    assert!(raw.ends_with("handled /ok body=0"), "{raw}");
}

#[test]
fn content_length_list_of_equal_values_is_accepted_or_rejected_without_desync() {
    // RFC 9112 §6.3 allows a list of identical values to be treated as one; rejecting it
    // is allowed too. Either way the next request must be parsed where it starts.
    let raw = run(server_with(HttpServerOptions::default()), |addr| {
        exchange_to_eof(
            addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc\
              GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    let rs = support::http::parse_all(raw.as_bytes());
    let got: Vec<(u16, String)> = rs.iter().map(|r| (r.status, r.body_str())).collect();
    match status_of(&raw) {
        200 => assert_eq!(
            got,
            [
                (200, "handled / body=3".to_string()),
                (200, "handled /next body=0".to_string())
            ]
        ),
        400 => assert_eq!(rs.len(), 1, "{raw}"),
        s => panic!("unexpected {s}:\n{raw}"),
    }
}

fn small_limits() -> HttpServerOptions {
    HttpServerOptions::default()
        .max_header_size(1024)
        .max_headers(8)
        .max_body_size(100)
}

#[test]
fn head_over_max_header_size_gets_431() {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    rejected_with(small_limits(), &req, &[431]);
}

#[test]
fn head_over_max_header_size_without_end_gets_431() {
    // The head never ends: the limit must trip on the bytes seen so far, not wait.
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}", "a".repeat(1500));
    let raw = run(server_with(small_limits()), move |addr| {
        exchange_to_eof(addr, req.as_bytes())
    });
    assert_eq!(status_of(&raw), 431, "{raw}");
}

#[test]
fn head_just_under_max_header_size_is_served() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    let pad = 1024 - req.len() - 4;
    req.push_str(&"a".repeat(pad));
    req.push_str("\r\n\r\n");
    assert_eq!(req.len(), 1024);
    let raw = run(server_with(small_limits()), move |addr| {
        let mut r = support::http::Reader::connect(addr);
        r.send(req.as_bytes());
        r.response()
    });
    assert_eq!(raw.status, 200, "{raw:?}");
}

#[test]
fn too_many_headers_gets_431() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10 {
        req.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    rejected_with(small_limits(), &req, &[431]);
}

#[test]
fn body_over_max_body_size_by_content_length_gets_413() {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n{}",
        "b".repeat(101)
    );
    rejected_with(small_limits(), &req, &[413]);
}

#[test]
fn body_at_max_body_size_is_served() {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
        "b".repeat(100)
    );
    let raw = run(server_with(small_limits()), move |addr| {
        exchange_to_eof(addr, req.as_bytes())
    });
    assert!(raw.ends_with("handled / body=100"), "{raw}");
}

#[test]
fn chunked_body_over_max_body_size_gets_413() {
    // Each chunk is under the limit; together they are over it.
    let chunk = format!("32\r\n{}\r\n", "c".repeat(50));
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
    );
    rejected_with(small_limits(), &req, &[413]);
}

#[test]
fn single_chunk_over_max_body_size_gets_413() {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n96\r\n{}\r\n0\r\n\r\n",
        "c".repeat(150)
    );
    rejected_with(small_limits(), &req, &[413]);
}
