//! Command-line conventions of the `load`, `async_fetch_manual`, `embed` and
//! `alloc_count` examples, run as a user runs them: `--help` prints usage and exits 0,
//! bad arguments print usage and exit 2 (never a silent default), a failed run exits 1
//! with one clear line, and `load` exits non-zero when requests failed.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread::JoinHandle;

use http::StatusCode;
use squall::http::HttpServer;
use squall::{Reactor, Remote};

fn run(example: &str, args: &[&str]) -> Output {
    Command::new(util::example_binary(example))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run example")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_usage_error(example: &str, args: &[&str]) {
    let o = run(example, args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{example} {args:?}: {err}");
    assert!(err.starts_with(&format!("{example}: ")), "{err}");
    assert!(err.contains("usage:"), "{err}");
    assert!(o.stdout.is_empty(), "{example} {args:?} wrote to stdout");
}

#[track_caller]
fn assert_help(example: &str) {
    for flag in ["--help", "-h"] {
        let o = run(example, &[flag]);
        assert_eq!(o.status.code(), Some(0), "{example} {flag}");
        assert!(text(&o.stdout).starts_with("usage:"), "{}", text(&o.stdout));
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    }
}

/// A port nothing listens on (bound, then closed).
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/")
}

/// An HTTP server on its own reactor in a background thread: `/` answers 200, anything
/// else 404. Stopped when dropped.
struct Server {
    addr: SocketAddr,
    remote: Remote,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut reactor = Reactor::new().unwrap();
            let server = HttpServer::new(&reactor.handle(), |req, resp| {
                if req.path() == "/" {
                    resp.send("Hello, world");
                } else {
                    resp.respond(StatusCode::NOT_FOUND, "nope");
                }
            });
            let addr = server.listen("127.0.0.1:0").unwrap();
            tx.send((addr, reactor.handle().remote())).unwrap();
            reactor.run().unwrap();
        });
        let (addr, remote) = rx.recv().expect("server thread started");
        Server {
            addr,
            remote,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.remote.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- load ----

#[test]
fn load_help_and_usage_errors() {
    assert_help("load");
    for args in [
        &["-c", "abc", "http://127.0.0.1:1/"][..],
        &["-c", "0", "http://127.0.0.1:1/"],
        &["-n", "-5", "http://127.0.0.1:1/"],
        &["--port", "99999"],
        &[],
        &["ftp://example.org/"],
        &["not a url"],
        &["http://127.0.0.1:1/", "extra"],
    ] {
        assert_usage_error("load", args);
    }
}

#[test]
fn load_exits_0_when_every_request_succeeds() {
    let server = Server::start();
    let o = run("load", &["-c", "2", "-n", "6", &server.url("/")]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let summary = out.lines().last().unwrap();
    assert!(summary.starts_with("requests=6 errors=0 "), "{summary}");
    assert!(summary.ends_with(" bad_status=0"), "{summary}");
}

#[test]
fn load_exits_1_when_requests_fail() {
    let o = run("load", &["-c", "2", "-n", "4", &closed_port_url()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("errors=4 "), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("first error"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn load_exits_1_when_responses_are_errors() {
    let server = Server::start();
    let o = run("load", &["-n", "3", &server.url("/missing")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("bad_status=3"),
        "{}",
        text(&o.stdout)
    );
}

// ---- async_fetch_manual ----

#[test]
fn async_fetch_manual_help_usage_errors_and_exit_codes() {
    assert_help("async_fetch_manual");
    assert_usage_error("async_fetch_manual", &["--bogus"]);
    assert_usage_error("async_fetch_manual", &["http://[bad"]);
    assert_usage_error("async_fetch_manual", &["http://a/", "http://b/"]);

    let o = run("async_fetch_manual", &[&closed_port_url()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.starts_with("async_fetch_manual: "), "{err}");

    let server = Server::start();
    let o = run("async_fetch_manual", &[&server.url("/")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "12 bytes: Hello, world\n");
}

// ---- embed, alloc_count ----

#[test]
fn embed_help_and_usage_errors() {
    assert_help("embed");
    assert_usage_error("embed", &["--port", "1"]);
    assert_usage_error("embed", &["extra"]);
}

#[test]
fn alloc_count_help_and_usage_errors() {
    assert_help("alloc_count");
    assert_usage_error("alloc_count", &["--n", "abc"]);
    assert_usage_error("alloc_count", &["--pipeline", "0"]);
    assert_usage_error("alloc_count", &["--idle"]);
    assert_usage_error("alloc_count", &["--bogus"]);
}
