//! A real `redis-server` for tests: started on a 127.0.0.1 port held for it with no persistence,
//! ready once it says so on stdout, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ReservedPort;

/// Longest a server may take to start before the test fails.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    pub port: u16,
    /// The port held for the server's lifetime when [`RedisServer::start`] chose it.
    _reserved: Option<ReservedPort>,
}

/// True if `redis-server` can run here; prints why a test skips otherwise.
pub fn available(test: &str) -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("{test}: skipped: redis-server is not installed (.ci/run installs it)");
    }
    ok
}

impl RedisServer {
    /// Starts a server on a port held for its lifetime.
    pub fn start() -> RedisServer {
        let reserved = ReservedPort::for_child();
        let mut server = Self::start_on(&reserved, &[]);
        server._reserved = Some(reserved);
        server
    }

    /// Starts a server on `port` (held by the caller, so a restarted server gets it back)
    /// with extra arguments (e.g. `--requirepass x`). `redis-server --port 0` would not
    /// listen on TCP at all, hence the reservation.
    pub fn start_on(port: &ReservedPort, extra: &[&str]) -> RedisServer {
        let port = port.port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn redis-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(START_LIMIT).is_err() {
            let _ = child.kill();
            panic!("redis-server on port {port} did not become ready");
        }
        RedisServer {
            child,
            port,
            _reserved: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
