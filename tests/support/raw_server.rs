//! A raw-socket HTTP server for the HTTP client tests, on 127.0.0.1, running a handler per
//! connection on its own thread (so it can misbehave freely).

use squall::testing::bind_unused_port;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A request as the raw server read it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Request line and header lines, CRLFs included, up to the empty line.
    pub head: String,
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

impl Req {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A server on a free port; `connections` counts accepted connections.
pub struct RawServer {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
}

impl RawServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Runs `handler(stream, connection index)` on a thread per accepted connection.
pub fn raw_server<F>(handler: F) -> RawServer
where
    F: Fn(TcpStream, usize) + Send + Sync + 'static,
{
    let (listener, port) = bind_unused_port().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let h = handler.clone();
            std::thread::spawn(move || h(s, n));
        }
    });
    RawServer { port, connections }
}

/// A keep-alive server answering each request with `respond(&req)` (raw bytes), until
/// the client closes.
pub fn serve<F>(respond: F) -> RawServer
where
    F: Fn(&Req) -> Vec<u8> + Send + Sync + 'static,
{
    raw_server(move |s, _| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        while let Some(req) = read_request(&mut r) {
            if w.write_all(&respond(&req)).is_err() {
                return;
            }
        }
    })
}

/// Reads one request (head and `Content-Length` body); `None` at EOF.
pub fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut first = head.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut req = Req {
        head,
        method,
        path,
        body: Vec::new(),
    };
    if req.header("expect").is_none() {
        let n: usize = req
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        req.body = vec![0; n];
        r.read_exact(&mut req.body).ok()?;
    }
    Some(req)
}

/// A `Content-Length` response.
pub fn response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
