//! HTTP/1.x over blocking sockets, for the HTTP server tests: a server on a reactor in the
//! test thread, a client in another thread, and raw responses read and parsed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use squall::http::HttpServer;
use squall::{Handle, Reactor};

use super::with_peer;

/// How long a client read may block before the test fails (instead of hanging).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a server with `setup` on a fresh reactor in this thread, listens on
/// 127.0.0.1:0, runs `client(addr)` in another thread and the loop here until the client
/// returns ([`with_peer`]). Returns the client's result; a client panic fails the test.
/// The server is dropped before the result is returned, so state its handler recorded
/// can be checked.
pub fn run<T: Send + 'static>(
    setup: impl FnOnce(&Handle) -> HttpServer,
    client: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> T {
    let mut reactor = Reactor::new().expect("reactor");
    let server = setup(&reactor.handle());
    let addr = server.listen("127.0.0.1:0").expect("listen");
    let result = with_peer(&mut reactor, move || client(addr));
    drop(server);
    result
}

/// A blocking client connection with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until the peer closes; fails the test on a timeout (the server did not close).
/// A connection reset after data counts as the end.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !out.is_empty() => return out,
            Err(e) => panic!(
                "read failed before EOF ({e}); got so far: {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// A GET request for `path` with the header lines `extra` (each ending in CRLF).
pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes()
}

/// Sends `req` on a fresh connection and reads everything until the server closes.
pub fn exchange_to_eof(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = connect(addr);
    s.write_all(req).unwrap();
    String::from_utf8_lossy(&read_to_eof(&mut s)).into_owned()
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub version: String,
    pub reason: String,
    /// Header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body was chunked-encoded.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads HTTP/1.x responses from a blocking stream, keeping bytes that arrived early.
pub struct Reader {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(stream: TcpStream) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn connect(addr: SocketAddr) -> Self {
        Reader::new(connect(addr))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends each of `requests` and reads its response, in turn.
    pub fn responses(&mut self, requests: impl IntoIterator<Item = Vec<u8>>) -> Vec<Response> {
        requests
            .into_iter()
            .map(|req| {
                self.send(&req);
                self.response()
            })
            .collect()
    }

    /// As [`responses`](Self::responses), their statuses and bodies.
    pub fn statuses_and_bodies(
        &mut self,
        requests: impl IntoIterator<Item = Vec<u8>>,
    ) -> Vec<(u16, String)> {
        let responses = self.responses(requests);
        responses.iter().map(|r| (r.status, r.body_str())).collect()
    }

    /// Reads more; returns false at EOF.
    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16384];
        match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!(
                "read failed ({e}); buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(
                self.fill(),
                "EOF inside a line; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "EOF inside a body ({} of {n})", self.buf.len());
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response head (status line and fields).
    pub fn head(&mut self) -> Response {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let reason = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (n, v) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {line:?}"));
            headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        Response {
            status,
            version,
            reason,
            headers,
            body: Vec::new(),
            chunked: false,
        }
    }

    /// Reads one complete response to a request with method `method`.
    pub fn response_to(&mut self, method: &str) -> Response {
        loop {
            let mut r = self.head();
            if (100..200).contains(&r.status) {
                continue; // interim responses carry no body
            }
            let bodiless = method == "HEAD" || r.status == 204 || r.status == 304;
            if bodiless {
                return r;
            }
            if r.header("transfer-encoding")
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
            {
                r.chunked = true;
                r.body = self.chunked_body();
            } else if let Some(n) = r.header("content-length") {
                let n: usize = n.parse().expect("content-length");
                r.body = self.exact(n);
            } else {
                while self.fill() {}
                r.body = std::mem::take(&mut self.buf);
            }
            return r;
        }
    }

    /// Reads one complete response to a GET.
    pub fn response(&mut self) -> Response {
        self.response_to("GET")
    }

    fn chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.line();
            let size = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                while !self.line().is_empty() {}
                return body;
            }
            body.extend(self.exact(size));
            assert_eq!(self.line(), "", "chunk not followed by CRLF");
        }
    }

    /// Asserts the server closes the connection with nothing more sent.
    pub fn expect_eof(&mut self) {
        let more = self.fill();
        assert!(
            !more && self.buf.is_empty(),
            "expected EOF, got {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Bytes received but not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Parses every response in `raw` (a whole connection's output, read to EOF).
pub fn parse_all(raw: &[u8]) -> Vec<Response> {
    // Reuse Reader's logic over an in-memory buffer by feeding a socket pair.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut w = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (r, _) = listener.accept().unwrap();
    let raw = raw.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&raw);
    });
    let mut reader = Reader::new(r);
    reader.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut out = Vec::new();
    loop {
        if reader.buf.is_empty() && !reader.fill() {
            writer.join().unwrap();
            return out;
        }
        out.push(reader.response());
    }
}

/// A status code from the first line of `raw`.
pub fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"))
}

/// A temporary file path unique to this process and `name`.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("squall-{}-{name}", std::process::id()))
}
