//! The demo server (`examples/http_server.rs`) as a user runs it: built, spawned with
//! `--port 0`, its routes exercised over a socket, and SIGTERM stopping it cleanly.

mod http_util;

mod util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use http_util::{read_to_eof, Reader};

fn demo_binary() -> PathBuf {
    util::example_binary("http_server")
}

/// The running demo; killed if the test fails before it exits.
struct Demo {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(demo_binary())
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn demo");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut demo = Demo {
            child: Some(child),
            addr: ([0, 0, 0, 0], 0).into(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("demo printed nothing");
        let hostport = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        demo.addr = hostport.parse().expect("HOST:PORT");
        assert_ne!(
            demo.addr.port(),
            0,
            "port 0 was printed instead of the bound port"
        );
        demo
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(());
            (child, status)
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            // Leave the waiter blocked; kill through the pid so the test ends.
            // SAFETY: as above; the child is not yet reaped because wait() has not returned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = waiter.join();
            panic!("demo did not exit within 20 s of SIGTERM");
        }
        let (_, status) = waiter.join().unwrap();
        status.expect("wait")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
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
