//! The `fetch` example (`examples/fetch.rs`) as a user runs it: built with cargo, run
//! against a squall `HttpServer` on its own reactor in a background thread. The body goes
//! to stdout byte for byte, `-i` puts the head on stderr, `-X`/`-d`/`-H` shape the
//! request, and failures exit non-zero with one line on stderr (curl's codes).

mod support;

use std::cell::RefCell;
use std::process::{Command, Output};

use http::StatusCode;
use squall::http::{HttpServer, Request, Responder};
use support::process::{assert_one_line_failure, example_binary};
use support::ServerThread;

/// A payload with every byte value and no trailing newline.
fn binary_body() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 300 + 17).collect()
}

fn route(req: Request, mut resp: Responder, held: &RefCell<Vec<Responder>>) {
    match req.path() {
        "/" => resp.send("Hello, world"),
        "/bytes" => {
            resp.set_header("content-type", "application/octet-stream");
            resp.send(binary_body())
        }
        "/echo" => {
            let mut out =
                format!("{} {}\n", req.method, req.header("x-test").unwrap_or("-")).into_bytes();
            out.extend_from_slice(&req.body);
            resp.send(out)
        }
        "/redirect" => {
            resp.set_status(StatusCode::FOUND)
                .set_header("location", "/bytes");
            resp.send("")
        }
        "/big" => resp.send(vec![b'b'; 100_000]),
        "/never" => held.borrow_mut().push(resp),
        _ => resp.respond(StatusCode::NOT_FOUND, "nope"),
    }
}

/// A squall server on its own reactor in a background thread; stopped when dropped.
fn start() -> ServerThread {
    ServerThread::http(|h| {
        let held = RefCell::new(Vec::new());
        HttpServer::new(h, move |req, resp| route(req, resp, &held))
    })
}

fn fetch(args: &[&str]) -> Output {
    Command::new(example_binary("fetch"))
        .args(args)
        .output()
        .expect("run fetch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure: non-zero `code`, nothing on stdout, exactly one line on stderr.
#[track_caller]
fn assert_fails_with(o: &Output, code: i32) -> String {
    let err = assert_one_line_failure(o, code, "fetch: ");
    assert!(o.stdout.is_empty(), "stdout: {:?}", o.stdout);
    err
}

#[test]
fn body_goes_to_stdout_byte_for_byte() {
    let s = start();
    let o = fetch(&[&s.url("/bytes")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == binary_body(), "stdout differs from the body");
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // Redirects are followed by default.
    let o = fetch(&[&s.url("/redirect")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == binary_body());
}

#[test]
fn include_puts_status_and_headers_on_stderr_only() {
    let s = start();
    let o = fetch(&["-i", &s.url("/")]);
    assert!(o.status.success());
    assert_eq!(o.stdout, b"Hello, world");
    let err = stderr(&o);
    assert!(err.starts_with("HTTP/1.1 200 OK\r\n"), "{err:?}");
    assert!(
        err.to_ascii_lowercase().contains("content-length: 12\r\n"),
        "{err:?}"
    );
    assert!(err.ends_with("\r\n\r\n"), "{err:?}");
}

#[test]
fn method_data_and_headers_are_sent() {
    let s = start();
    let o = fetch(&["-X", "POST", "-d", "some data", &s.url("/echo")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "POST -\nsome data");
    // -d alone means POST; -H adds a field.
    let o = fetch(&["-d", "x=1", "-H", "X-Test: hello there", &s.url("/echo")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "POST hello there\nx=1");
    let o = fetch(&["-X", "PUT", "-d", "p", &s.url("/echo")]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "PUT -\np");
    let o = fetch(&["-H", "X-Test: g", &s.url("/echo")]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "GET g\n");
}

#[test]
fn head_prints_nothing() {
    let s = start();
    let o = fetch(&["-X", "HEAD", &s.url("/bytes")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "{} bytes on stdout", o.stdout.len());
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // With -i the head still goes to stderr, announcing the length it did not send.
    let o = fetch(&["-i", "-X", "HEAD", &s.url("/bytes")]);
    assert!(o.stdout.is_empty());
    let len = binary_body().len();
    assert!(
        stderr(&o)
            .to_ascii_lowercase()
            .contains(&format!("content-length: {len}\r\n")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn not_found_exits_zero_unless_fail_is_given() {
    let s = start();
    let o = fetch(&[&s.url("/missing")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"nope");
    let o = fetch(&["--fail", &s.url("/missing")]);
    assert_eq!(o.status.code(), Some(22), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("404"), "{err}");
    // --fail does not touch successful responses.
    let o = fetch(&["--fail", &s.url("/")]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, b"Hello, world");
}

#[test]
fn refused_connection_exits_7_with_one_line() {
    let closed = support::ReservedPort::closed();
    let port = closed.port();
    let o = fetch(&[&format!("http://127.0.0.1:{port}/")]);
    let err = assert_fails_with(&o, 7);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn body_over_max_body_size_exits_63_with_one_line() {
    let s = start();
    let o = fetch(&["--max-body-size", "1000", &s.url("/big")]);
    let err = assert_fails_with(&o, 63);
    assert!(err.contains("max_body_size"), "{err}");
    // At the limit it is fine.
    let o = fetch(&["--max-body-size", "100000", &s.url("/big")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout.len(), 100_000);
}

#[test]
fn server_that_never_answers_times_out_with_exit_28() {
    let s = start();
    let start = std::time::Instant::now();
    let o = fetch(&["--timeout", "0.3", &s.url("/never")]);
    let err = assert_fails_with(&o, 28);
    assert!(err.contains("Timeout during request"), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn bad_usage_exits_2() {
    let o = fetch(&["--bogus", "http://127.0.0.1:1/"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let o = fetch(&[]);
    assert_eq!(o.status.code(), Some(2));
}
