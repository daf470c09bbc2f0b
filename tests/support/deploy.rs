//! nginx in front of squall backends, as `docs/deployment.md` documents it: the nginx
//! configuration is read from that page (its first ```nginx block), with only the
//! ports, the listen address and the file paths changed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::process::{listening_addr, Running};
use super::ReservedPort;

/// Longest a process may take to start before the test fails.
pub const START_LIMIT: Duration = Duration::from_secs(60);

/// nginx on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH).
pub fn nginx_binary() -> Option<PathBuf> {
    ["nginx", "/usr/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .arg("-v")
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

pub fn nginx_available(test: &str) -> bool {
    let ok = nginx_binary().is_some();
    if !ok {
        eprintln!("{test}: skipped: nginx is not installed (.ci/run installs it)");
    }
    ok
}

/// A squall example process that prints `listening on http://HOST:PORT` when ready.
#[derive(Debug)]
pub struct Backend {
    pub process: Running,
    pub addr: SocketAddr,
    /// Every line it wrote to stderr (its log), collected by a thread.
    pub log: Arc<Mutex<Vec<String>>>,
    lines: Mutex<mpsc::Receiver<String>>,
}

impl Backend {
    pub fn start(binary: &Path, args: &[&str]) -> Backend {
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped());
        let (mut process, line) = Running::spawn(&mut cmd, START_LIMIT);
        let (line_tx, lines) = mpsc::channel();
        let log = collect(process.child().stderr.take().unwrap(), None, Some(line_tx));
        Backend {
            process,
            addr: listening_addr(&line, "http://"),
            log,
            lines: Mutex::new(lines),
        }
    }

    /// Waits up to `timeout` for the backend's next log line.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.lock().unwrap().recv_timeout(timeout).ok()
    }

    /// Waits (bounded) until the backend logs a line containing `text`.
    pub fn wait_log(&self, text: &str) {
        if self.log_text().contains(text) {
            return;
        }
        let lines = self.lines.lock().unwrap();
        loop {
            match lines.recv_timeout(START_LIMIT) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("no log line with {text:?} in:\n{}", self.log_text()),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn signal(&mut self, signal: i32) {
        self.process.signal(signal);
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// Collects `pipe`'s lines; with `ready`, signals the first line containing that text.
fn collect(
    pipe: impl Read + Send + 'static,
    ready: Option<(&'static str, mpsc::Sender<()>)>,
    each: Option<mpsc::Sender<String>>,
) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some((text, tx)) = &ready
                && line.contains(text)
            {
                let _ = tx.send(());
                ready = None;
            }
            sink.lock().unwrap().push(line.clone());
            if let Some(tx) = &each {
                let _ = tx.send(line);
            }
        }
    });
    log
}

/// The nginx block of docs/deployment.md.
pub fn documented_config() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deployment.md"))
        .expect("read docs/deployment.md");
    let start = doc.find("```nginx\n").expect("an ```nginx block") + "```nginx\n".len();
    let end = start + doc[start..].find("```").expect("end of the block");
    doc[start..end].to_string()
}

/// nginx running the documented configuration in a temporary prefix, in front of
/// `backends`.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    pub port: u16,
    _reserved: ReservedPort,
    pub prefix: PathBuf,
    /// nginx's error log (stderr), line by line.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Nginx {
    pub fn start(backends: &[u16]) -> Nginx {
        // nginx cannot report a port it picked: it listens on one held for it.
        let reserved = ReservedPort::for_child();
        let port = reserved.port();
        let prefix =
            std::env::temp_dir().join(format!("squall-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let mut site = documented_config();
        // The documented upstream lists ports 8001, 8002, ...: point them at the backends.
        let servers = site.matches("server 127.0.0.1:80").count();
        assert_eq!(
            servers,
            backends.len(),
            "the documented upstream has {servers} servers"
        );
        for (i, p) in backends.iter().enumerate() {
            let documented = format!("server 127.0.0.1:{};", 8001 + i);
            let documented_opts = format!("server 127.0.0.1:{} ", 8001 + i);
            assert!(
                site.contains(&documented) || site.contains(&documented_opts),
                "the documented upstream lists 127.0.0.1:{}",
                8001 + i
            );
            site = site.replacen(
                &format!("127.0.0.1:{}", 8001 + i),
                &format!("127.0.0.1:{p}"),
                1,
            );
        }
        assert!(
            site.contains("listen 80;"),
            "the documented server listens on 80"
        );
        site = site.replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(prefix.join("squall.conf"), site).unwrap();
        let p = prefix.display();
        // What Debian's nginx.conf provides around conf.d/*.conf, with paths in the prefix.
        let main = format!(
            "worker_processes 1;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             access_log off;\n\
             client_body_temp_path {p}/body;\n\
             proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi;\n\
             uwsgi_temp_path {p}/uwsgi;\n\
             scgi_temp_path {p}/scgi;\n\
             include {p}/squall.conf;\n\
             }}\n"
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        let mut child = Command::new(nginx_binary().expect("nginx"))
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg("stderr")
            .arg("-g")
            .arg(format!(
                "daemon off; pid {p}/nginx.pid; error_log stderr notice;"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nginx");
        // The master opens its listening sockets before it starts a worker.
        let (tx, rx) = mpsc::channel();
        let log = collect(
            child.stderr.take().unwrap(),
            Some(("start worker process", tx)),
            None,
        );
        if rx.recv_timeout(START_LIMIT).is_err() {
            let _ = child.kill();
            panic!("nginx did not start: {}", log.lock().unwrap().join("\n"));
        }
        Nginx {
            child,
            port,
            _reserved: reserved,
            prefix,
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers, then exits.
        // (SIGKILL would leave the workers running, orphaned, on the port; SIGQUIT would
        // wait for open connections.)
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// A response read until the server closed the connection.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends one request with `Connection: close` (from `source` if given) and reads the whole
/// response. Network failures are returned, not panicked on.
pub fn request(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
    method: &str,
    target: &str,
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut s = match source {
        None => TcpStream::connect_timeout(&addr, Duration::from_secs(10))?,
        Some(ip) => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            sock.bind(&SocketAddr::new(ip, 0).into())?;
            sock.connect_timeout(&addr.into(), Duration::from_secs(10))?;
            sock.into()
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: chat.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!("no head in {:?}", String::from_utf8_lossy(&raw)))
        })?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Reply { status, head, body })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || raw.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
    out
}
