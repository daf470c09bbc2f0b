//! WebSocket peers for the WebSocket tests: a squall echo server that records how its
//! connections closed, and a blocking raw peer (client or server) that sends and reads
//! hand-made frames.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;

use bytes::Bytes;
use squall::http::server::HttpServer;
use squall::websocket::frame::{apply_mask, Opcode};
use squall::websocket::handshake::accept_key;
use squall::websocket::{accept, Message, WebSocket, WebSocketOptions};
use squall::{Future, Reactor};

use super::WAIT_LIMIT as LIMIT;

/// Close codes and reasons the server's connections reported, in order, and a future
/// resolved with the first.
#[derive(Clone, Default)]
pub struct Closes {
    pub log: Rc<RefCell<Vec<(u16, String)>>>,
    pub first: Future<(u16, String)>,
}

impl Closes {
    pub fn record(&self, code: u16, reason: String) {
        self.log.borrow_mut().push((code, reason.clone()));
        let _ = self.first.try_set_result((code, reason));
    }

    pub fn all(&self) -> Vec<(u16, String)> {
        self.log.borrow().clone()
    }
}

/// A squall server echoing every message; returns its address and the close log.
pub fn echo_server(
    reactor: &Reactor,
    options: WebSocketOptions,
) -> (HttpServer, SocketAddr, Closes) {
    let closes = Closes::default();
    let c = closes.clone();
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        if let Ok(ws) = accept(&req, resp, &options) {
            let c = c.clone();
            ws.on_close(move |code, reason| c.record(code, reason));
            ws.on_message(|ws: &WebSocket, msg| ws.send(msg));
        }
    });
    let addr = server.listen("127.0.0.1:0").expect("listen");
    (server, addr, closes)
}

/// A blocking WebSocket peer speaking raw frames.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Mask outgoing frames (a client) or not (a server).
    pub masked: bool,
}

/// A frame as the raw peer read it.
#[derive(Debug, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl Raw {
    /// Connects and sends `request` as is; returns the peer and the response head.
    pub fn request(addr: SocketAddr, request: impl AsRef<[u8]>) -> (Raw, String) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        stream.set_write_timeout(Some(LIMIT)).unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            masked: true,
        };
        raw.stream.write_all(request.as_ref()).unwrap();
        let head = raw.read_head();
        (raw, head)
    }

    /// An upgrade request with `extra` header lines (each ending in `\r\n`).
    pub fn upgrade_request(extra: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    /// Connects and completes the handshake (panics unless 101).
    pub fn connect(addr: SocketAddr, extra: &str) -> (Raw, String) {
        let (raw, head) = Raw::request(addr, Raw::upgrade_request(extra));
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.contains(&accept_key(KEY)), "{head}");
        (raw, head)
    }

    /// Accepts one connection on `listener` and answers its upgrade with 101 plus
    /// `extra` header lines (a raw server).
    pub fn accept(listener: &TcpListener, extra: &str) -> Raw {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            masked: false,
        };
        let head = raw.read_head();
        let key = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .expect("a key");
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
            accept_key(&key)
        );
        raw.stream.write_all(answer.as_bytes()).unwrap();
        raw
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(self.fill(), "connection closed in the head");
        }
    }

    /// Reads the rest of an HTTP response body (until the peer closes).
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Sends raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Encodes a frame (masked when `self.masked`).
    pub fn frame(&self, opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
        encode(self.masked, opcode, fin, rsv1, payload)
    }

    /// Sends one frame.
    pub fn send(&mut self, opcode: Opcode, fin: bool, payload: &[u8]) {
        let f = self.frame(opcode.bits(), fin, false, payload);
        self.send_bytes(&f);
    }

    /// Reads the next frame, or `None` at EOF.
    pub fn read_frame(&mut self) -> Option<RawFrame> {
        loop {
            if self.buf.len() >= 2 {
                let (b0, b1) = (self.buf[0], self.buf[1]);
                let masked = b1 & 0x80 != 0;
                let (len, mut at) = match b1 & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(a) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                let need = at + if masked { 4 } else { 0 };
                if len != usize::MAX && self.buf.len() >= need + len {
                    let key = masked.then(|| {
                        [
                            self.buf[at],
                            self.buf[at + 1],
                            self.buf[at + 2],
                            self.buf[at + 3],
                        ]
                    });
                    if masked {
                        at += 4;
                    }
                    let mut payload = self.buf[at..at + len].to_vec();
                    if let Some(k) = key {
                        apply_mask(&mut payload, k, 0);
                    }
                    self.buf.drain(..at + len);
                    return Some(RawFrame {
                        fin: b0 & 0x80 != 0,
                        rsv1: b0 & 0x40 != 0,
                        opcode: b0 & 0x0f,
                        masked,
                        payload,
                    });
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads frames until a close frame; returns it (skipping data and pongs).
    pub fn read_close(&mut self) -> RawFrame {
        loop {
            match self.read_frame() {
                Some(f) if f.opcode == 8 => return f,
                Some(_) => continue,
                None => panic!("connection closed without a close frame"),
            }
        }
    }

    /// True once the peer closed TCP (after any frames it still sends).
    pub fn reaches_eof(&mut self) -> bool {
        while self.read_frame().is_some() {}
        true
    }
}

/// Encodes a frame by hand (any bits, any opcode), masked with a fixed key if `masked`.
pub fn encode(masked: bool, opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let m = if masked { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    if masked {
        out.extend_from_slice(&key);
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if masked {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// A client frame (masked).
pub fn cf(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    encode(true, opcode, fin, false, payload)
}

/// Sends `m` on `ws` and checks that the same message comes back (an echo), and that the
/// send succeeded.
pub fn round_trip(reactor: &mut Reactor, ws: &WebSocket, m: Message) {
    let sent = ws.send(m.clone());
    let got = reactor.run_until(&ws.read_message()).unwrap();
    assert!(
        got.as_ref() == Some(&m),
        "sent {} bytes, got {:?} bytes",
        m.len(),
        got.map(|g| g.len())
    );
    reactor.run_until(&sent).unwrap();
}

/// Options that ping every `interval` and close a peer whose pong is `timeout` late.
pub fn pinging(interval: std::time::Duration, timeout: std::time::Duration) -> WebSocketOptions {
    WebSocketOptions::default()
        .ping_interval(Some(interval))
        .ping_timeout(Some(timeout))
}

/// Sends the text `sent` on `ws`; the next message must be the text `answer`.
#[track_caller]
pub fn assert_answers(reactor: &mut Reactor, ws: &WebSocket, sent: &str, answer: &str) {
    ws.send_text(sent);
    assert_eq!(
        reactor.run_until(&ws.read_message()).unwrap(),
        Some(Message::Text(answer.into()))
    );
}

/// After the peer closed `ws`: no message is left to read, the close carried `code` and
/// `reason`, and it was clean.
#[track_caller]
pub fn assert_closed_by_peer(reactor: &mut Reactor, ws: &WebSocket, code: u16, reason: &str) {
    assert_eq!(reactor.run_until(&ws.read_message()).unwrap(), None);
    assert_eq!(
        reactor.run_until(&ws.closed()).unwrap(),
        (code, reason.to_string())
    );
    assert!(ws.is_clean_close());
}

/// `len` bytes counting up modulo `modulo`: a large message whose misplaced or lost
/// piece shows.
pub fn patterned(len: usize, modulo: usize) -> Bytes {
    (0..len)
        .map(|i| (i % modulo) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A client connected to `url` with the default options.
pub fn connect_default(reactor: &mut Reactor, url: &str) -> WebSocket {
    let options = WebSocketOptions::default();
    reactor
        .run_until(&squall::websocket::connect(&reactor.handle(), url, options))
        .unwrap()
}
