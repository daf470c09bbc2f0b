//! The demo server (`examples/http_server.rs`) as a user runs it: built, spawned with
//! `--port 0`, its routes exercised over a socket, and SIGTERM stopping it cleanly.

mod support;

use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use support::http::{read_to_eof, Reader};
use support::process::{example_binary, Running};

/// The running demo; killed if the test fails before it exits.
struct Demo {
    process: Option<Running>,
    addr: SocketAddr,
}

impl Demo {
    fn start() -> Demo {
        let mut cmd = Command::new(example_binary("http_server"));
        cmd.args(["--port", "0", "--bind", "127.0.0.1"])
            .stderr(Stdio::inherit());
        let (process, addr) = Running::serving(&mut cmd, Duration::from_secs(30), "http://");
        assert_ne!(
            addr.port(),
            0,
            "port 0 was printed instead of the bound port"
        );
        Demo {
            process: Some(process),
            addr,
        }
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let mut process = self.process.take().expect("running");
        process.signal(libc::SIGTERM);
        process.output_within(Duration::from_secs(20)).status
    }
}

#[test]
fn demo_serves_every_route_and_stops_cleanly_on_sigterm() {
    let mut demo = Demo::start();
    let mut r = Reader::connect(demo.addr);

    r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let root = r.response();
    assert_eq!(
        (root.status, root.body_str().as_str()),
        (200, "Hello, world")
    );
    assert_eq!(root.header("content-type"), Some("text/plain"));

    r.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello there");
    let echo = r.response();
    assert_eq!(
        (echo.status, echo.body_str().as_str()),
        (200, "hello there")
    );

    r.send(
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nput\r\n0\r\n\r\n",
    );
    assert_eq!(r.response().body_str(), "put");

    r.send(b"GET /stream?chunks=3&size=5 HTTP/1.1\r\nHost: x\r\n\r\n");
    let stream = r.response();
    assert_eq!(stream.status, 200);
    assert!(stream.chunked, "{:?}", stream.headers);
    assert_eq!(stream.body_str(), "x".repeat(15));

    r.send(b"GET /sleep?ms=20 HTTP/1.1\r\nHost: x\r\n\r\n");
    let sleep = r.response();
    assert_eq!((sleep.status, sleep.body_str().as_str()), (200, "slept 20"));

    r.send(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.response().status, 404);
    r.send(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.response().status, 404);

    // The connection is idle: SIGTERM closes it and the process exits with status 0.
    let status = demo.terminate();
    assert!(status.success(), "demo exited with {status:?}");
    assert!(
        read_to_eof(&mut r.stream).is_empty(),
        "idle connection got data"
    );
}

#[test]
fn demo_finishes_an_in_flight_request_on_sigterm() {
    let mut demo = Demo::start();
    let mut sleeper = Reader::connect(demo.addr);
    sleeper.send(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n");
    // A second connection, accepted after the sleeper's: once it is answered, the
    // sleeper's request (readable no later than this one's) has been read.
    let mut other = Reader::connect(demo.addr);
    other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(other.response().status, 200);

    let status = demo.terminate();
    assert!(status.success(), "demo exited with {status:?}");
    let resp = sleeper.response();
    assert_eq!((resp.status, resp.body_str().as_str()), (200, "slept 300"));
    assert!(
        resp.closes(),
        "in-flight response during shutdown must close"
    );
    sleeper.expect_eof();
}
