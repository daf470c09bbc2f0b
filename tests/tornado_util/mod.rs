//! A Tornado app run as a child process beside a squall one (skipped, with a message,
//! when no Python with `tornado` is found).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed (by its own handle) when dropped.
pub struct Peer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import tornado"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs `script` (which must print `port N` once listening) with `python`.
pub fn spawn_tornado(python: &str, name: &str, script: &str) -> Peer {
    let dir = std::env::temp_dir().join(format!("squall-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), script).unwrap();
    let mut child = Command::new(python)
        .args(["-u", "app.py"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn python");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("python exited before printing its port")
            .unwrap();
        if let Some(rest) = line.strip_prefix("port ") {
            break rest.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {}); // keep the pipe drained
    Peer { child, port, dir }
}

/// The head of a Tornado app script: imports and `serve(app)`, which listens on
/// 127.0.0.1:0 and prints `port N`.
pub const PRELUDE: &str = r#"
import tornado.ioloop, tornado.web, tornado.netutil, tornado.httpserver
def serve(app):
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print("port %d" % sockets[0].getsockname()[1], flush=True)
    tornado.ioloop.IOLoop.current().start()
"#;
