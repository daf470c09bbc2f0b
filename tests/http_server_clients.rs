//! Interoperability of the HTTP server with real clients: `curl`, Python's `http.client`
//! and `wrk`. A client that is not installed is skipped with a printed message.

mod support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::rc::Rc;

use http::Version;
use squall::http::{HttpServer, Request, Responder};
use squall::Handle;
use support::http::{run, temp_path};

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    port: u16,
    version: Version,
    te: Option<String>,
    expect: Option<String>,
    body_len: usize,
}

type Log = Rc<RefCell<Vec<Seen>>>;

fn route(req: Request, mut resp: Responder) {
    match req.path() {
        "/" => resp.send("hello"),
        "/echo" => resp.send(req.body),
        "/stream" => {
            let _ = resp.write("one,");
            let _ = resp.write("two,");
            let _ = resp.write("three");
            let _ = resp.finish();
        }
        p => {
            let p = p.to_string();
            resp.send(p)
        }
    }
}

fn logging_server(log: Log) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| {
        HttpServer::new(h, move |req, resp| {
            log.borrow_mut().push(Seen {
                port: req.remote_addr.port(),
                version: req.version,
                te: req.header("transfer-encoding").map(str::to_string),
                expect: req.header("expect").map(str::to_string),
                body_len: req.body.len(),
            });
            route(req, resp)
        })
    }
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("{tool} not installed: skipping");
    }
    found
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn curl(args: &[&str]) -> Output {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn curl_reuses_one_connection_for_two_urls() {
    if !have("curl") {
        return;
    }
    let log = Log::default();
    let out = run(logging_server(log.clone()), |addr| {
        curl(&[&url(addr, "/"), &url(addr, "/second")])
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello/second");
    let log = log.borrow();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].port, log[1].port, "curl had to reconnect: {log:?}");
    assert_eq!(log[0].version, Version::HTTP_11);
}

#[test]
fn curl_http10_is_served_and_closed() {
    if !have("curl") {
        return;
    }
    let log = Log::default();
    let out = run(logging_server(log.clone()), |addr| {
        curl(&["-v", "--http1.0", &url(addr, "/"), &url(addr, "/stream")])
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout), "helloone,two,three");
    let log = log.borrow();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|s| s.version == Version::HTTP_10), "{log:?}");
    assert_ne!(
        log[0].port, log[1].port,
        "an HTTP/1.0 connection without keep-alive was reused"
    );
}

#[test]
fn curl_chunked_upload_is_echoed() {
    if !have("curl") {
        return;
    }
    let data = payload(300_000);
    let path = temp_path("curl-chunked");
    std::fs::write(&path, &data).unwrap();
    let log = Log::default();
    let p = path.clone();
    let out = run(logging_server(log.clone()), move |addr| {
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{}", p.display()),
            &url(addr, "/echo"),
        ])
    });
    std::fs::remove_file(&path).ok();
    assert!(
        out.stdout == data,
        "echo differs ({} bytes)",
        out.stdout.len()
    );
    let log = log.borrow();
    assert_eq!(log[0].te.as_deref(), Some("chunked"));
    assert_eq!(log[0].body_len, data.len());
}

#[test]
fn curl_expect_100_continue_gets_100_then_the_response() {
    if !have("curl") {
        return;
    }
    let data = payload(50_000);
    let path = temp_path("curl-expect");
    std::fs::write(&path, &data).unwrap();
    let log = Log::default();
    let p = path.clone();
    let out = run(logging_server(log.clone()), move |addr| {
        curl(&[
            "-v",
            "--expect100-timeout",
            "15",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", p.display()),
            &url(addr, "/echo"),
        ])
    });
    std::fs::remove_file(&path).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("< HTTP/1.1 100 Continue"),
        "no 100 Continue seen by curl:\n{stderr}"
    );
    assert!(out.stdout == data);
    assert_eq!(log.borrow()[0].expect.as_deref(), Some("100-continue"));
}

const PYTHON_CLIENT: &str = r#"
import http.client, sys
host, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(host, port, timeout=10)
c.request("GET", "/")
r = c.getresponse(); print(r.status, r.read().decode())
c.request("POST", "/echo", body=b"x" * 100000)
r = c.getresponse(); print(r.status, len(r.read()))
c.request("POST", "/echo", body=iter([b"ab", b"cd", b"ef"]), encode_chunked=True)
r = c.getresponse(); print(r.status, r.read().decode())
c.request("HEAD", "/")
r = c.getresponse(); print(r.status, r.getheader("Content-Length"), r.read())
c.request("GET", "/stream")
r = c.getresponse(); print(r.status, r.getheader("Transfer-Encoding"), r.read().decode())
c.request("GET", "/missing")
r = c.getresponse(); print(r.status, r.read().decode(), r.getheader("Date") is not None)
c.close()
"#;

#[test]
fn python_http_client_keeps_one_connection_for_six_requests() {
    if !have("python3") {
        return;
    }
    let log = Log::default();
    let out = run(logging_server(log.clone()), |addr| {
        Command::new("python3")
            .args([
                "-c",
                PYTHON_CLIENT,
                &addr.ip().to_string(),
                &addr.port().to_string(),
            ])
            .output()
            .expect("run python3")
    });
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "200 hello\n200 100000\n200 abcdef\n200 5 b''\n200 chunked one,two,three\n200 /missing True\n"
    );
    let log = log.borrow();
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(log.iter().all(|s| s.port == log[0].port), "{log:?}");
    assert_eq!(log[2].te.as_deref(), Some("chunked"));
}

#[test]
fn wrk_smoke_test_has_no_errors() {
    if !have("wrk") {
        return;
    }
    let log = Log::default();
    let out = run(logging_server(log.clone()), |addr| {
        Command::new("wrk")
            .args(["-t1", "-c20", "-d1s", &url(addr, "/")])
            .output()
            .expect("run wrk")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {stdout}");
    assert!(!stdout.contains("Non-2xx"), "{stdout}");
    assert!(!stdout.contains("Socket errors"), "{stdout}");
    let served = log.borrow().len();
    let reported: usize = stdout
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {stdout}"));
    assert!(reported > 100, "{stdout}");
    // wrk counts completed responses; the server may have handled a few more that
    // wrk abandoned when its time ran out.
    assert!(served >= reported, "server saw {served}, wrk {reported}");
    let conns: std::collections::HashSet<u16> = log.borrow().iter().map(|s| s.port).collect();
    assert!(
        conns.len() <= 20,
        "wrk's 20 connections were not kept alive: {}",
        conns.len()
    );
}
