//! Command-line conventions of the examples, run as a user runs them: `--help` prints
//! usage and exits 0, bad arguments print usage and exit 2 (never a silent default), a
//! failed run (a busy port, an unreachable server) exits 1 with one clear line, `load`
//! exits non-zero when requests failed, and `fetch`'s exit codes are the documented ones.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use http::StatusCode;
use squall::http::HttpServer;
use squall::testing::bind_unused_port;
use support::process::{assert_one_line_failure, example_binary, run_example, Running};
use support::{ReservedPort, ServerThread};

/// Failure bound for an example that should have ended (or printed its first line).
const LIMIT: Duration = Duration::from_secs(60);

fn run(example: &str, args: &[&str]) -> Output {
    Command::new(example_binary(example))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run example")
}

/// Like `run`, for commands that might not end (a server that started although it
/// should not have): killed, and the test fails, after 60 s.
fn run_bounded(example: &str, args: &[&str]) -> Output {
    run_example(example, args, LIMIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_usage_error(example: &str, args: &[&str]) {
    let o = run_bounded(example, args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{example} {args:?}: {err}");
    assert!(err.starts_with(&format!("{example}: ")), "{err}");
    assert!(err.contains("usage:"), "{err}");
    assert!(o.stdout.is_empty(), "{example} {args:?} wrote to stdout");
}

#[track_caller]
fn assert_help(example: &str) {
    for flag in ["--help", "-h"] {
        let o = run_bounded(example, &[flag]);
        assert_eq!(o.status.code(), Some(0), "{example} {flag}");
        assert!(text(&o.stdout).starts_with("usage:"), "{}", text(&o.stdout));
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    }
}

/// The URL of `port`, where nothing listens.
fn closed_port_url(port: &ReservedPort) -> String {
    format!("http://{}/", port.addr())
}

/// An HTTP server on its own reactor in a background thread: `/` answers 200, anything
/// else 404. Stopped when dropped.
fn hello_server() -> ServerThread {
    ServerThread::http(|h| {
        HttpServer::new(h, |req, resp| {
            if req.path() == "/" {
                resp.send("Hello, world");
            } else {
                resp.respond(StatusCode::NOT_FOUND, "nope");
            }
        })
    })
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
    let server = hello_server();
    let o = run("load", &["-c", "2", "-n", "6", &server.url("/")]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let summary = out.lines().last().unwrap();
    assert!(summary.starts_with("requests=6 errors=0 "), "{summary}");
    assert!(summary.ends_with(" bad_status=0"), "{summary}");
}

#[test]
fn load_exits_1_when_requests_fail() {
    let closed = ReservedPort::closed();
    let o = run("load", &["-c", "2", "-n", "4", &closed_port_url(&closed)]);
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
    let server = hello_server();
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

    let closed = ReservedPort::closed();
    let o = run("async_fetch_manual", &[&closed_port_url(&closed)]);
    assert_one_line_failure(&o, 1, "async_fetch_manual: ");

    let server = hello_server();
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
fn ws_examples_help_and_usage_errors() {
    assert_help("ws_echo");
    assert_usage_error("ws_echo", &["--port", "99999"]);
    assert_usage_error("ws_echo", &["--port", "abc"]);
    assert_usage_error("ws_echo", &["--tls-cert", "cert.pem"]);
    assert_help("ws_client");
    assert_usage_error("ws_client", &[]);
    assert_usage_error("ws_client", &["--bogus", "ws://127.0.0.1:1/"]);
}

#[test]
fn alloc_count_help_and_usage_errors() {
    assert_help("alloc_count");
    assert_usage_error("alloc_count", &["--n", "abc"]);
    assert_usage_error("alloc_count", &["--pipeline", "0"]);
    assert_usage_error("alloc_count", &["--idle"]);
    assert_usage_error("alloc_count", &["--bogus"]);
}

#[test]
fn static_server_help_usage_errors_and_busy_port() {
    assert_help("static_server");
    let root = std::env::temp_dir().to_string_lossy().into_owned();
    assert_usage_error("static_server", &[]);
    assert_usage_error("static_server", &["--root", &root, "--port", "99999"]);
    assert_usage_error("static_server", &["--root", &root, "--port", "abc"]);
    assert_usage_error("static_server", &["--root", &root, "--bogus"]);
    assert_usage_error("static_server", &["--root", &root, "extra"]);
    let (_busy, port) = bind_unused_port().unwrap();
    let port = port.to_string();
    assert_start_fails(
        "static_server",
        &["--root", &root, "--port", &port],
        "Address already in use",
    );
}

/// `example args` failed to start its server: exit 1, one line on stderr naming the
/// problem, nothing on stdout (no `listening on` line).
#[track_caller]
fn assert_start_fails(example: &str, args: &[&str], needle: &str) {
    let o = run_bounded(example, args);
    let err = assert_one_line_failure(&o, 1, &format!("{example}: "));
    assert!(err.contains(needle), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{example} {args:?}: {}",
        text(&o.stdout)
    );
}

/// A listener on 127.0.0.1 with `SO_REUSEPORT` set, as another server using the option
/// (e.g. a second copy of the example with `--threads 2`) holds its port.
fn reuse_port_listener() -> socket2::Socket {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.listen(16).unwrap();
    s
}

#[track_caller]
fn assert_server_conventions(example: &str) {
    assert_help(example);
    for args in [
        &["--port", "99999"][..],
        &["--port", "abc"],
        &["--port", "-1"],
        &["--port"],
        &["--threads", "0"],
        &["--threads", "x"],
        &["--bogus"],
        &["extra"],
    ] {
        assert_usage_error(example, args);
    }
    // A busy port: one line, exit 1; with --threads 2 too (no fallback to another port).
    let (_busy, port) = bind_unused_port().unwrap();
    let port = port.to_string();
    for threads in ["1", "2", "3"] {
        assert_start_fails(
            example,
            &["--port", &port, "--threads", threads],
            "Address already in use",
        );
    }
    // A port held by a SO_REUSEPORT listener of another process: --threads N sets the
    // option too, yet must not join it and take half its connections.
    let shared = reuse_port_listener();
    let port = shared
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .port()
        .to_string();
    assert_start_fails(
        example,
        &["--port", &port, "--threads", "2"],
        "Address already in use",
    );
}

/// A running example server; its first stdout line was `listening on ...`.
struct Example {
    process: Running,
    line: String,
}

impl Example {
    fn start(example: &str, args: &[&str], rust_log: Option<&str>) -> Example {
        let mut cmd = Command::new(example_binary(example));
        cmd.args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let (process, line) = Running::spawn(&mut cmd, LIMIT);
        Example { process, line }
    }

    fn addr(&self, prefix: &str) -> SocketAddr {
        let rest = self.line.trim().strip_prefix(prefix);
        let hostport = rest.unwrap_or_else(|| panic!("unexpected first line {:?}", self.line));
        let hostport = hostport.split(' ').next().unwrap();
        hostport.parse().expect("HOST:PORT")
    }

    /// SIGTERM, then the exit status and stderr (at most 60 s).
    fn terminate(mut self) -> Output {
        self.process.signal(libc::SIGTERM);
        self.process.output_within(LIMIT)
    }
}

/// Sends a request line the server rejects and reads until it closes.
fn send_garbage(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", text(&answer));
}

// ---- http_server ----

#[test]
fn http_server_help_usage_errors_and_busy_port() {
    assert_server_conventions("http_server");
    assert_usage_error("http_server", &["--tls-cert", "only-the-cert.pem"]);
    assert_usage_error("http_server", &["--tls-key", "only-the-key.pem"]);
}

#[test]
fn http_server_with_threads_serves_on_the_port_it_prints() {
    let server = Example::start("http_server", &["--port", "0", "--threads", "2"], None);
    let addr = server.addr("listening on http://");
    assert_ne!(addr.port(), 0);
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert!(
            answer.ends_with(b"\r\n\r\nHello, world"),
            "{}",
            text(&answer)
        );
    }
    let o = server.terminate();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn http_server_logs_through_env_logger_as_rust_log_says() {
    // RUST_LOG=squall=debug: squall's own debug line about the bad request reaches stderr.
    let server = Example::start("http_server", &["--port", "0"], Some("squall=debug"));
    send_garbage(server.addr("listening on http://"));
    let o = server.terminate();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("bad request from"),
        "{}",
        text(&o.stderr)
    );
    // By default (warn), that debug line stays out.
    let server = Example::start("http_server", &["--port", "0"], None);
    send_garbage(server.addr("listening on http://"));
    let o = server.terminate();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
}

// ---- echo_server ----

#[test]
fn echo_server_help_usage_errors_and_busy_port() {
    assert_server_conventions("echo_server");
}

#[test]
fn echo_server_with_threads_echoes_on_the_port_it_prints() {
    let server = Example::start("echo_server", &["--port", "0", "--threads", "2"], None);
    assert!(
        server.line.trim_end().ends_with(" (2 threads)"),
        "{}",
        server.line
    );
    let addr = server.addr("listening on ");
    assert_ne!(addr.port(), 0);
    for i in 0..4u8 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(&[i; 100]).unwrap();
        let mut back = [0u8; 100];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, [i; 100]);
    }
    let o = server.terminate();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

// ---- echo_load ----

#[test]
fn echo_load_help_usage_errors_and_unreachable_server() {
    assert_help("echo_load");
    for args in [
        &["--port", "99999"][..],
        &["--port", "abc"],
        &["--conns", "0"],
        &["--secs", "-1"],
        &["--secs", "nan"],
        &["--secs", "1e30"],
        &["--warmup", "inf"],
        &["--size", "0"],
        &["--size", "1000000"],
        &["--server-pid", "x"],
        &["--bogus"],
        &["extra"],
    ] {
        assert_usage_error("echo_load", args);
    }
    let closed = ReservedPort::closed();
    let port = &closed.port().to_string();
    let o = run_bounded(
        "echo_load",
        &["--port", port, "--conns", "1", "--secs", "1"],
    );
    assert_one_line_failure(&o, 1, "echo_load: cannot connect to 127.0.0.1:");
}

#[test]
fn echo_load_measures_against_echo_server() {
    let server = Example::start("echo_server", &["--port", "0"], None);
    let port = server.addr("listening on ").port().to_string();
    let o = run_bounded(
        "echo_load",
        &[
            "--port", &port, "--conns", "2", "--secs", "0.3", "--warmup", "0",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let line = text(&o.stdout);
    assert!(line.starts_with("RESULT conns=2 size=64 msgs="), "{line}");
    let msgs: u64 = line["RESULT conns=2 size=64 msgs=".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(msgs > 0, "{line}");
    let o = server.terminate();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

// ---- fetch ----

#[test]
fn fetch_help_and_usage_errors() {
    assert_help("fetch");
    for args in [
        &["--timeout", "-1", "http://127.0.0.1:1/"][..],
        &["--timeout", "nan", "http://127.0.0.1:1/"],
        &["--timeout", "NaN", "http://127.0.0.1:1/"],
        &["--timeout", "1e30", "http://127.0.0.1:1/"],
        &["--timeout", "inf", "http://127.0.0.1:1/"],
        &["--timeout", "0", "http://127.0.0.1:1/"],
        &["--timeout", "abc", "http://127.0.0.1:1/"],
        &["--max-redirects", "4294967297", "http://127.0.0.1:1/"],
        &["--max-body-size", "-1", "http://127.0.0.1:1/"],
        &["-X", "NOT A METHOD", "http://127.0.0.1:1/"],
        &["-H", "no colon", "http://127.0.0.1:1/"],
        &["--cert", "c.pem", "http://127.0.0.1:1/"],
        &["--port", "99999"],
        &["--bogus", "http://127.0.0.1:1/"],
        &["http://127.0.0.1:1/", "http://127.0.0.1:2/"],
        &[],
    ] {
        assert_usage_error("fetch", args);
    }
}

/// The exit codes of the header's table, from the source.
fn documented_fetch_codes() -> Vec<u8> {
    let source = include_str!("../examples/fetch.rs");
    source
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn fetch_exit_codes_are_the_documented_ones() {
    let documented = documented_fetch_codes();
    // Every code the program can return is in the table.
    let source = include_str!("../examples/fetch.rs");
    let mut returned: Vec<u8> = Vec::new();
    for piece in source.split("ExitCode::from(").skip(1) {
        if let Ok(n) = piece.split(')').next().unwrap().parse() {
            returned.push(n);
        }
    }
    let body = &source[source.find("fn exit_code(").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    for arm in body.split("=>").skip(1) {
        let token = arm.trim_start().split([',', '\n']).next().unwrap().trim();
        if let Ok(n) = token.parse() {
            returned.push(n);
        }
    }
    assert!(returned.len() > 10, "parsed {returned:?}");
    for code in &returned {
        assert!(
            documented.contains(code),
            "{code} is not documented: {documented:?}"
        );
    }
    // And the table matches what a user sees, for the cases that need no special peer
    // (tests/fetch_cli.rs and tests/tls_http_client.rs cover 7, 28, 63 and the TLS codes).
    let check = |args: &[&str], code: u8| {
        assert!(documented.contains(&code), "{code} undocumented");
        let o = run("fetch", args);
        assert_eq!(
            o.status.code(),
            Some(i32::from(code)),
            "{args:?}: {}",
            text(&o.stderr)
        );
    };
    check(&["ftp://127.0.0.1/"], 1);
    check(&["--timeout", "-1", "http://127.0.0.1:1/"], 2);
    check(&["http://[bad"], 3);
    check(&["not a url"], 3);
    check(&["http://name.invalid/"], 6);
    let closed = ReservedPort::closed();
    check(&[&closed_port_url(&closed)], 7);
    let server = hello_server();
    check(&[&server.url("/")], 0);
    check(&[&server.url("/missing")], 0);
    check(&["--fail", &server.url("/missing")], 22);
}
