//! `/metrics` over real sockets: a squall server on its own thread, requests from this
//! one, then the counters read back through a scrape, and through a real Prometheus
//! (skipped, saying so, when `prometheus` is not installed).
#![cfg(all(feature = "metrics", feature = "json"))]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use squall::http::HttpServer;
use support::process::{example_binary, Running};
use support::{ReservedPort, ServerThread};

/// A squall server answering `GET /` (200) and anything else (404), with `/metrics` on a
/// port of its own (`addr`: the app's, then the metrics'), run on a thread of its own
/// until dropped.
fn start() -> ServerThread<(SocketAddr, SocketAddr)> {
    ServerThread::start(|handle| {
        let app = HttpServer::new(handle, |req, resp| {
            if req.path() == "/" {
                resp.send("hello");
            } else {
                resp.respond(http::StatusCode::NOT_FOUND, "no");
            }
        });
        let app_addr = app.listen("127.0.0.1:0").unwrap();
        let (metrics, metrics_addr) = squall::metrics::serve(handle, "127.0.0.1:0").unwrap();
        ((app, metrics), (app_addr, metrics_addr))
    })
}

/// Sends `n` keep-alive `GET path` requests on one connection; returns the bytes read.
fn get_n(addr: SocketAddr, path: &str, n: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    for _ in 0..n {
        write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        // One response: head, then Content-Length bytes.
        buf.clear();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
    }
}

/// One `GET` with `Connection: close`: the whole response as text.
fn fetch(addr: SocketAddr, target: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of the sample `series` in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[test]
fn a_scrape_counts_every_request_sent() {
    const N: usize = 37;
    const MISSING: usize = 5;
    let server = start();
    get_n(server.addr.0, "/", N);
    get_n(server.addr.0, "/missing", MISSING);
    // Scraped twice: the scrapes themselves are not counted.
    let _ = fetch(server.addr.1, "/metrics");
    let scrape = fetch(server.addr.1, "/metrics");
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    assert!(
        scrape
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{scrape}"
    );
    let ok = r#"squall_http_requests_total{method="GET",status="200"}"#;
    let missing = r#"squall_http_requests_total{method="GET",status="404"}"#;
    assert_eq!(sample(&scrape, ok), Some(N as f64), "{scrape}");
    assert_eq!(sample(&scrape, missing), Some(MISSING as f64));
    assert_eq!(
        sample(
            &scrape,
            r#"squall_http_request_duration_seconds_count{method="GET",status="200"}"#
        ),
        Some(N as f64)
    );
    assert_eq!(sample(&scrape, "squall_http_connections_total"), Some(2.0));
    // Both client connections were closed by this side once done; the server may not
    // have seen the second close yet: at most one is open.
    let open = sample(&scrape, "squall_http_open_connections").unwrap();
    assert!((0.0..=1.0).contains(&open), "{open}");
    // Every request was `GET / HTTP/1.1\r\nHost: t\r\n\r\n` or its /missing twin.
    let received = N * "GET / HTTP/1.1\r\nHost: t\r\n\r\n".len()
        + MISSING * "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n".len();
    assert_eq!(
        sample(&scrape, "squall_http_received_bytes_total"),
        Some(received as f64)
    );
    assert!(sample(&scrape, "squall_loop_iterations_total").unwrap() > 0.0);
}

/// A `prometheus` process scraping `target` every second, killed (and its data removed)
/// on drop.
struct Prometheus {
    process: Option<Running>,
    addr: SocketAddr,
    dir: std::path::PathBuf,
    _port: ReservedPort,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "squall-prometheus-{}-{}",
            std::process::id(),
            target.port()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: squall\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = ReservedPort::for_child();
        let addr = port.addr();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus");
        Prometheus {
            process: Some(Running::new(child)),
            addr,
            dir,
            _port: port,
        }
    }

    /// The value of an instant PromQL query returning one sample, if it returned one.
    fn query(&self, promql: &str) -> Option<f64> {
        let q: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let mut s = TcpStream::connect(self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET /api/v1/query?query={q} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let body = &out[out.find("\r\n\r\n")? + 4..];
        // The body may be chunked: the JSON object is between the first `{` and last `}`.
        let json = &body[body.find('{')?..=body.rfind('}')?];
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        let result = v["data"]["result"].as_array()?;
        let value = result.first()?["value"][1].as_str()?;
        value.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        drop(self.process.take()); // killed before its data goes
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn prometheus_available() -> bool {
    let ok = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "prometheus_scrapes_the_request_counter: skipped: prometheus is not installed \
             (.ci/run installs Debian's package)"
        );
    }
    ok
}

#[test]
fn prometheus_scrapes_the_request_counter() {
    if !prometheus_available() {
        return;
    }
    const N: usize = 123;
    let server = start();
    let prometheus = Prometheus::start(server.addr.1);
    get_n(server.addr.0, "/", N);
    let promql = r#"squall_http_requests_total{job="squall",method="GET",status="200"}"#;
    // Prometheus starts, then scrapes every second: generous, bounded, polled.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        last = prometheus.query(promql);
        if last == Some(N as f64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(last, Some(N as f64), "PromQL {promql} never returned {N}");
    let up = prometheus.query(r#"up{job="squall"}"#);
    assert_eq!(up, Some(1.0));
}

/// The demo server with `--metrics-port 0`: its `listening on` line is unchanged and
/// first, a `metrics on` line follows, and a scrape counts the requests it served.
#[test]
fn demo_server_serves_metrics_on_its_own_port() {
    const N: usize = 9;
    let mut cmd = Command::new(example_binary("http_server"));
    cmd.args(["--port", "0", "--metrics-port", "0"])
        .stderr(Stdio::inherit());
    let (process, lines) = Running::spawn_lines(&mut cmd, 2, Duration::from_secs(60));
    let (first, second) = (lines[0].trim_end(), lines[1].trim_end());
    let (Some(app), Some(metrics)) = (
        first.strip_prefix("listening on http://"),
        second
            .strip_prefix("metrics on http://")
            .and_then(|s| s.strip_suffix("/metrics")),
    ) else {
        panic!("unexpected lines {first:?} {second:?}");
    };
    let (app, metrics): (SocketAddr, SocketAddr) = (app.parse().unwrap(), metrics.parse().unwrap());
    get_n(app, "/", N);
    let scrape = fetch(metrics, "/metrics");
    drop(process);
    assert_eq!(
        sample(
            &scrape,
            r#"squall_http_requests_total{method="GET",status="200"}"#
        ),
        Some(N as f64),
        "{scrape}"
    );
}
