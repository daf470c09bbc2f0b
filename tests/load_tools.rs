//! The load tools (`load`, `echo_load`, `chat_load`, `chat_ws_load`) run against real
//! servers started as processes: each prints a `LATENCY` line whose count matches the run
//! and whose quantiles never decrease, keeps its other lines, draws no progress line when
//! stderr is not a terminal, and `load --plot` writes a two-panel SVG.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::process::{example_binary, listening_on, run_example, Running};

/// An example server process, killed when dropped.
struct Server {
    _process: Running,
    /// `HOST:PORT` from its `listening on ...` line.
    addr: String,
}

impl Server {
    fn start(example: &str, args: &[&str]) -> Server {
        let mut cmd = Command::new(example_binary(example));
        cmd.args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        let (process, line) = Running::spawn(&mut cmd, Duration::from_secs(60));
        let rest = listening_on(&line);
        let rest = rest.strip_prefix("http://").unwrap_or(rest);
        let addr = rest.split(' ').next().unwrap().to_string();
        Server {
            _process: process,
            addr,
        }
    }

    fn port(&self) -> String {
        self.addr.rsplit(':').next().unwrap().to_string()
    }
}

/// Runs an example with piped (not terminal) output; killed, and the test fails, after
/// 120 s.
fn run(example: &str, args: &[&str]) -> Output {
    run_example(example, args, Duration::from_secs(120))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `key=value` fields of a line.
fn fields(line: &str) -> Vec<(&str, &str)> {
    line.split(' ').filter_map(|f| f.split_once('=')).collect()
}

fn field(line: &str, key: &str) -> String {
    fields(line)
        .into_iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .1
        .to_string()
}

/// Checks the `LATENCY` line of `stdout`: the documented keys in order, quantiles never
/// decreasing, non-negative; returns (count, p50_ms).
#[track_caller]
fn check_latency(stdout: &str) -> (u64, f64) {
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("LATENCY "))
        .collect();
    assert_eq!(lines.len(), 1, "one LATENCY line: {stdout}");
    let f = fields(lines[0]);
    let keys: Vec<&str> = f.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        ["count", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms"],
        "{}",
        lines[0]
    );
    let count: u64 = f[0].1.parse().expect("count is a number");
    let ms: Vec<f64> = f[1..]
        .iter()
        .map(|(k, v)| v.parse().unwrap_or_else(|e| panic!("{k}={v}: {e}")))
        .collect();
    assert!(ms[0] >= 0.0, "{}", lines[0]);
    for w in ms.windows(2) {
        assert!(w[0] <= w[1], "quantiles decrease: {}", lines[0]);
    }
    (count, ms[0])
}

#[track_caller]
fn assert_no_progress(o: &Output) {
    for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !bytes.contains(&b'\r') && !bytes.contains(&0x1b),
            "progress drawn on a {name} that is not a terminal: {:?}",
            text(bytes)
        );
    }
}

/// A minimal well-formedness check: every element closes, in order, and the root is `svg`.
/// Returns the element names seen.
fn svg_elements(svg: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = svg.trim();
    assert!(rest.starts_with("<svg "), "{}", &svg[..svg.len().min(200)]);
    while let Some(i) = rest.find('<') {
        let j = rest[i..].find('>').expect("unclosed tag") + i;
        let tag = &rest[i + 1..j];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split([' ', '/', '\n']).next().unwrap().to_string();
            assert!(!name.is_empty(), "empty tag name");
            seen.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[j + 1..];
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(seen.first().map(String::as_str), Some("svg"));
    seen
}

#[test]
fn load_reports_percentiles_and_plots_against_http_server() {
    let server = Server::start("http_server", &["--port", "0"]);
    let dir = std::env::temp_dir().join(format!("squall-load-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg_path = dir.join("load.svg");
    let url = format!("http://{}/", server.addr);
    let o = run(
        "load",
        &[
            "-c",
            "4",
            "-n",
            "300",
            "--plot",
            svg_path.to_str().unwrap(),
            &url,
        ],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out} {}", text(&o.stderr));
    assert_no_progress(&o);

    let (count, p50) = check_latency(&out);
    assert_eq!(count, 300, "{out}");
    // The summary stays the last line, and agrees with the histogram.
    let summary = out.lines().last().unwrap();
    assert!(summary.starts_with("requests=300 errors=0 "), "{summary}");
    assert!(summary.ends_with(" bad_status=0"), "{summary}");
    let summary_p50: f64 = field(summary, "p50_ms").parse().unwrap();
    assert!((summary_p50 - p50).abs() < 0.0015, "{out}");

    let svg = std::fs::read_to_string(&svg_path).expect("the plot was written");
    let elements = svg_elements(&svg);
    // Two panels, each with its caption and at least one line.
    assert!(svg.contains("latency over the run"), "{svg}");
    assert!(svg.contains("latency by percentile"), "{svg}");
    let lines = elements.iter().filter(|e| *e == "polyline").count();
    assert!(
        lines >= 4,
        "p50, p99, max and the distribution: {lines} polylines"
    );
    assert!(svg.contains("99%"), "percentile axis labels");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_fails_when_the_plot_cannot_be_written() {
    let server = Server::start("http_server", &["--port", "0"]);
    let url = format!("http://{}/", server.addr);
    let o = run(
        "load",
        &["-n", "5", "--plot", "/nonexistent-dir/sub/x.svg", &url],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("load: cannot write the plot: /nonexistent-dir/sub/x.svg"),
        "{}",
        text(&o.stderr)
    );
    // The figures are still reported.
    assert_eq!(check_latency(&text(&o.stdout)).0, 5);
}

#[test]
fn echo_load_reports_round_trip_percentiles() {
    let server = Server::start("echo_server", &["--port", "0"]);
    let port = server.port();
    let o = run(
        "echo_load",
        &[
            "--port", &port, "--conns", "2", "--secs", "0.3", "--warmup", "0",
        ],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_no_progress(&o);
    assert!(out.starts_with("RESULT conns=2 size=64 msgs="), "{out}");
    let msgs: u64 = field(out.lines().next().unwrap(), "msgs").parse().unwrap();
    let (count, _) = check_latency(&out);
    assert!(msgs > 0, "{out}");
    assert_eq!(
        count, msgs,
        "every measured message is in the histogram: {out}"
    );
}

#[test]
fn chat_load_reports_delivery_percentiles() {
    let server = Server::start("chat", &["--port", "0"]);
    let port = server.port();
    let o = run(
        "chat_load",
        &["--port", &port, "--clients", "20", "--timeout", "60"],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out} {}", text(&o.stderr));
    assert_no_progress(&o);
    assert!(out.starts_with("RESULT clients=20 delivered=20 "), "{out}");
    assert_eq!(check_latency(&out).0, 20, "{out}");
}

#[test]
fn chat_ws_load_reports_delivery_percentiles() {
    let server = Server::start("chat", &["--port", "0"]);
    let port = server.port();
    let o = run(
        "chat_ws_load",
        &["--ports", &port, "--clients", "10", "--rounds", "2"],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out} {}", text(&o.stderr));
    assert_no_progress(&o);
    assert!(out.starts_with("RESULT clients=10 rounds=2 "), "{out}");
    assert!(out.contains(" missed=0"), "{out}");
    assert_eq!(check_latency(&out).0, 20, "10 users × 2 rounds: {out}");
}
