//! Python peers: servers and clients in Python run beside squall (Tornado, `http.server`,
//! `ssl`, `websockets`), and a browser driven by Playwright. A test whose peer is missing
//! skips, saying so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::process::{output_within, Running};
use super::WAIT_LIMIT;

/// A Python server on 127.0.0.1, killed when dropped (and its directory removed, when it
/// was given one of its own).
#[derive(Debug)]
pub struct PythonPeer {
    _process: Running,
    /// The port it printed.
    pub port: u16,
    dir: Option<PathBuf>,
}

impl PythonPeer {
    /// Spawns `cmd`; its port is the number after the first `marker` it prints on stdout
    /// (`""`: a line that is just the port).
    pub fn spawn(cmd: &mut Command, marker: &str) -> PythonPeer {
        let marker = marker.to_string();
        let (process, port) = Running::spawn_until(cmd, WAIT_LIMIT, move |line| {
            let (_, rest) = line.split_once(marker.as_str())?;
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        });
        PythonPeer {
            _process: process,
            port,
            dir: None,
        }
    }

    /// Runs `script` (with `args`) under `python` in a fresh directory of its own, named
    /// after `name` and removed when dropped; the script prints `port N` once it
    /// listens.
    pub fn script(python: &str, name: &str, script: &str, args: &[&str]) -> PythonPeer {
        let dir = temp_dir(name);
        std::fs::write(dir.join("app.py"), script).unwrap();
        let mut cmd = Command::new(python);
        cmd.args(["-u", "app.py"])
            .args(args)
            .current_dir(&dir)
            .stderr(Stdio::null());
        let mut peer = Self::spawn(&mut cmd, "port ");
        peer.dir = Some(dir);
        peer
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh directory `squall-NAME-PID` under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether `python` can `import module`.
pub fn can_import(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python that can import tornado: `$SQUALL_TORNADO_PYTHON`, `python3`, or the
/// benchmark venv beside the checkout.
pub fn tornado_python() -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("SQUALL_TORNADO_PYTHON") {
        candidates.push(p);
    }
    candidates.push("python3".into());
    let root = env!("CARGO_MANIFEST_DIR");
    candidates.push(format!("{root}/benches/peers/.venv/bin/python"));
    candidates.push("/tmp/squall-bench/.venv/bin/python".into());
    candidates.into_iter().find(|p| can_import(p, "tornado"))
}

/// [`tornado_python`], or `None` after saying that `test` skips.
pub fn tornado_or_skip(test: &str) -> Option<String> {
    let python = tornado_python();
    if python.is_none() {
        println!(
            "SKIPPED {test}: no python3 with `tornado` (pip install tornado, or set \
             SQUALL_TORNADO_PYTHON)"
        );
    }
    python
}

/// Without Tornado: None (`test` skips, saying so). Else `app` (a script that ends in
/// `serve(...)`) running after [`TORNADO_PRELUDE`] in a directory named after `name`,
/// and the address it serves on.
pub fn tornado_app(test: &str, name: &str, app: &str) -> Option<(PythonPeer, SocketAddr)> {
    let python = tornado_or_skip(test)?;
    let script = format!("{TORNADO_PRELUDE}{app}");
    let peer = PythonPeer::script(&python, name, &script, &[]);
    let addr = ([127, 0, 0, 1], peer.port).into();
    Some((peer, addr))
}

/// The head of a Tornado app script: imports and `serve(app)`, which listens on
/// 127.0.0.1:0 and prints `port N`.
pub const TORNADO_PRELUDE: &str = r#"
import tornado.ioloop, tornado.web, tornado.netutil, tornado.httpserver
def serve(app):
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print("port %d" % sockets[0].getsockname()[1], flush=True)
    tornado.ioloop.IOLoop.current().start()
"#;

/// Whether `python3` has the `websockets` package (the WebSocket interop peer); says so
/// when not.
pub fn have_websockets() -> bool {
    let ok = can_import("python3", "websockets.asyncio.client");
    if !ok {
        eprintln!(
            "SKIP: python3 with the websockets package is not installed (.ci/run installs it)"
        );
    }
    ok
}

/// Without the `websockets` package: None (the test skips, saying so). Else the running
/// `python3 -c script args...`, a server that prints its port first.
pub fn websockets_server<S: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: impl IntoIterator<Item = S>,
) -> Option<PythonPeer> {
    if !have_websockets() {
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    Some(PythonPeer::spawn(&mut cmd, ""))
}

/// Runs `python3 -c script args...` in a thread while `reactor` serves it
/// ([`with_peer`](super::with_peer)); fails the test unless it exits 0 having printed `OK`.
pub fn run_client_ok<S: AsRef<std::ffi::OsStr>>(
    reactor: &mut squall::Reactor,
    script: &'static str,
    args: impl IntoIterator<Item = S>,
) {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).args(args);
    let out = super::with_peer(reactor, move || cmd.output().expect("run python3"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
}

/// Debian's Chromium, which Playwright drives (no browser download).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Why the browser tests cannot run here (`None`: they can): Chromium or Python's
/// `playwright` missing.
pub fn browser_missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    (!playwright).then(|| "the Python playwright package is not installed".to_string())
}

/// Whether the browser tests can run here; if not, says that `test` skips and why.
pub fn browser_or_skip(test: &str) -> bool {
    let missing = browser_missing();
    if let Some(why) = &missing {
        eprintln!("{test}: skipped: {why} (.ci/run installs it)");
    }
    missing.is_none()
}

/// Runs the Playwright script `tests/browser/NAME.py` with `args`, then `--screenshots`
/// (`target/tmp/NAME_browser/`) and `--chromium`, and returns its output. A failure
/// bound: every wait in the script has its own, this catches a hung browser (300 s).
pub fn browse<S: AsRef<std::ffi::OsStr>>(name: &str, args: impl IntoIterator<Item = S>) -> Output {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}_browser"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/browser/{name}.py"));
    let child = Command::new("python3")
        .arg(&script)
        .args(args)
        .arg("--screenshots")
        .arg(&shots)
        .arg("--chromium")
        .arg(CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    output_within(child, Duration::from_secs(300))
}
