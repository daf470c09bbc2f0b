//! Child processes: the examples built and run as a user runs them, their `listening on`
//! line, and waits on a child that end the test (killing the child) instead of hanging.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Builds example `name` with the profile this test was built with (once per test
/// binary) and returns the path of its executable.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, std::path::PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    // Tests run from <target>/<profile>/deps/; examples are in <target>/<profile>/examples/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Without the variables cargo sets for a test process: the inner cargo compares them
    // with a build script's `rerun-if-env-changed` (ring's names CARGO_MANIFEST_DIR and
    // CARGO_PKG_*), finds them changed since the outer `cargo test` (which runs without
    // them), and rebuilds ring, rustls, rcgen and squall; the next `cargo test` rebuilds
    // them back.
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if is_set_by_cargo_for_tests(k) {
            cmd.env_remove(k);
        }
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build --example");
    assert!(status.success(), "building example {name} failed");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} not found", path.display());
    built.push((name.to_string(), path.clone()));
    path
}

/// Asserts that run `o` failed with exit status `code` and said why in one line of
/// stderr starting with `prefix`; returns that stderr.
#[track_caller]
pub fn assert_one_line_failure(o: &Output, code: i32, prefix: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr is not one line: {err:?}");
    assert!(err.starts_with(prefix), "{err}");
    err
}

/// An example server run as a user runs it: its process (killed when dropped) and the
/// address of its `listening on http://…` line.
#[derive(Debug)]
pub struct ExampleServer {
    _process: Running,
    pub addr: SocketAddr,
}

/// Starts example `name` with `args`, its warnings and errors on the test's stderr, and
/// waits at most `limit` for the address it serves HTTP on.
pub fn serve_example<S: AsRef<std::ffi::OsStr>>(
    name: &str,
    args: impl IntoIterator<Item = S>,
    limit: Duration,
) -> ExampleServer {
    let mut cmd = Command::new(example_binary(name));
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit());
    let (process, addr) = Running::serving(&mut cmd, limit, "http://");
    ExampleServer {
        _process: process,
        addr,
    }
}

/// Whether cargo sets variable `k` for a test process (and not for itself).
fn is_set_by_cargo_for_tests(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || k.starts_with("CARGO_MANIFEST_")
        || k.starts_with("CARGO_BIN_EXE_")
        || matches!(
            k,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// A child process, killed and reaped when dropped (so a failing test leaves no server
/// behind).
#[derive(Debug)]
pub struct Running {
    child: Option<Child>,
}

impl Running {
    /// Holds `child` (killed when dropped).
    pub fn new(child: Child) -> Running {
        Running { child: Some(child) }
    }

    /// Spawns `cmd` with stdout piped and waits at most `limit` for its first line on
    /// stdout (newline included); the rest of stdout is read (and dropped) by a thread,
    /// so the child never blocks on a full pipe. Panics, naming the command, if no line
    /// came.
    pub fn spawn(cmd: &mut Command, limit: Duration) -> (Running, String) {
        Self::spawn_until(cmd, limit, |line| Some(line.to_string()))
    }

    /// As [`spawn`](Self::spawn), for a server whose first line is `listening on
    /// PREFIXHOST:PORT` (e.g. prefix `http://`): the address it printed.
    pub fn serving(cmd: &mut Command, limit: Duration, prefix: &str) -> (Running, SocketAddr) {
        let (running, line) = Self::spawn(cmd, limit);
        (running, listening_addr(&line, prefix))
    }

    /// As [`spawn`](Self::spawn), for the first `n` lines.
    pub fn spawn_lines(cmd: &mut Command, n: usize, limit: Duration) -> (Running, Vec<String>) {
        let mut lines = Vec::new();
        Self::spawn_until(cmd, limit, move |line| {
            lines.push(line.to_string());
            (lines.len() == n).then(|| std::mem::take(&mut lines))
        })
    }

    /// As [`spawn`](Self::spawn), reading lines until `find` makes something of one
    /// (`Some`); panics if stdout ends or `limit` passes first.
    pub fn spawn_until<T: Send + 'static>(
        cmd: &mut Command,
        limit: Duration,
        mut find: impl FnMut(&str) -> Option<T> + Send + 'static,
    ) -> (Running, T) {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| {
            panic!("spawn {:?}: {e}", cmd.get_program());
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let running = Running { child: Some(child) };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            while matches!(stdout.read_line(&mut line), Ok(n) if n > 0) {
                if let Some(found) = find(&line) {
                    let _ = tx.send(found);
                    break;
                }
                line.clear();
            }
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let found = rx.recv_timeout(limit).unwrap_or_else(|_| {
            panic!(
                "{:?} did not print what was expected within {limit:?}",
                cmd.get_program()
            )
        });
        (running, found)
    }

    /// The child (for its other pipes, or `try_wait`).
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("still running")
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("still running").id()
    }

    /// Sends `signal` to the child.
    pub fn signal(&mut self, signal: i32) {
        let pid = self.child().id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped
        // (`self.child` is still held, so nothing waited on it yet).
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// Waits at most `limit` for the child to exit, with what it wrote to the pipes not
    /// taken yet; kills it and fails the test after that.
    pub fn output_within(mut self, limit: Duration) -> Output {
        output_within(self.child.take().expect("still running"), limit)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs example `name` with `args` (no `RUST_LOG`, nothing on stdin, stdout and stderr
/// collected) and returns its output; kills it, and fails the test, after `limit`.
pub fn run_example(name: &str, args: &[&str], limit: Duration) -> Output {
    let child = Command::new(example_binary(name))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run example");
    output_within(child, limit)
}

/// Runs `cmd` with `input` on its stdin (then closed) and returns its output; kills it,
/// and fails the test, after `limit`.
pub fn output_with_input(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    child.stdin.take().unwrap().write_all(input).unwrap();
    output_within(child, limit)
}

/// Waits at most `limit` for `child` to exit and collects its output (pipe what should
/// be collected); kills it and fails the test after that.
pub fn output_within(child: Child, limit: Duration) -> Output {
    within(child, limit, Child::wait_with_output).expect("wait for the child")
}

/// Runs `wait(child)` on a thread; if it has not returned after `limit`, kills the
/// child (which ends the wait) and panics.
fn within<T: Send + 'static>(
    child: Child,
    limit: Duration,
    wait: impl FnOnce(Child) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(wait(child));
    });
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: kill(2) on a child this test spawned and has not reaped: the wait
            // on it has not returned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = waiter.join();
            panic!("child {pid} still running after {limit:?}");
        }
    }
}

/// What follows `listening on ` in `line` (trimmed); panics when the line is not of that
/// shape.
pub fn listening_on(line: &str) -> &str {
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
}

/// The address of a `listening on PREFIXHOST:PORT` line (e.g. prefix `http://`); panics
/// when the line is not of that shape.
pub fn listening_addr(line: &str, prefix: &str) -> SocketAddr {
    listening_on(line)
        .strip_prefix(prefix)
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
}

/// Field `field` (e.g. `VmRSS`, `VmSize`) of `/proc/PID/status`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Resident memory of process `pid` (`std::process::id()` for this one), in KiB.
pub fn rss_kib(pid: u32) -> usize {
    status_kib(pid, "VmRSS")
}
