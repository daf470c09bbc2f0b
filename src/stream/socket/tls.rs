//! [`TlsSocket`]: a rustls session over a TCP or Unix socket, the [`Socket`] of a TLS
//! stream. Reading takes plaintext out of rustls and feeds it ciphertext from the socket
//! beneath; writing puts plaintext in and flushes ciphertext out. The stream's side of
//! TLS (the handshake's driving, `start_tls`) is in `stream/tls.rs`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::rc::Rc;

use bytes::BytesMut;
use rustls::Connection;

use super::Socket;
use crate::error::Result;
use crate::future::Future;
use crate::reactor::{Interest, TimerId};
use crate::stream::IoStream;
use crate::tls::{TlsError, TlsErrorKind, TlsInfo};

/// A TLS session over a TCP or Unix socket: what [`Socket::Tls`] holds.
pub struct TlsSocket {
    pub(in crate::stream) io: Rc<Socket>,
    pub(in crate::stream) conn: RefCell<Connection>,
    /// Set while the handshake runs: resolved when it finishes, failed when the stream
    /// closes first (error, peer gone, timeout).
    pub(in crate::stream) handshake: RefCell<Option<Handshake>>,
    /// rustls reported a fatal error: reads and writes fail from now on.
    pub(in crate::stream) failed: Cell<bool>,
    /// The name a client verified and sent as SNI.
    pub(in crate::stream) server_name: Option<String>,
}

/// A running handshake. The stream itself is kept alive by the timer's closure (owned
/// by the reactor, so dropping the reactor frees it), not from in here: no cycle.
pub(in crate::stream) struct Handshake {
    pub(in crate::stream) done: Future<IoStream>,
    pub(in crate::stream) timer: TimerId,
}

impl fmt::Debug for TlsSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSocket")
            .field("io", &self.io)
            .field("handshaking", &self.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// `Write` over a shared socket, for rustls' `write_tls` (reads go through [`SocketIn`]).
struct Io<'a>(&'a Socket);

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `Read` over the socket for rustls' `read_tls`, remembering whether the last read
/// filled what rustls offered. If it did not, the socket is drained (as the stream
/// assumes of a plain socket after a short read) and one more read would only say
/// `WouldBlock`: a system call saved per read. Readiness is level-triggered, so a
/// socket that does still hold bytes is reported again.
struct SocketIn<'a> {
    io: &'a Socket,
    /// No read yet, or the last one filled its buffer: the socket may hold more.
    more: bool,
}

impl<'a> SocketIn<'a> {
    fn new(io: &'a Socket) -> Self {
        SocketIn { io, more: true }
    }
}

impl Read for SocketIn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.io.read(buf);
        self.more = match &r {
            Ok(n) => *n == buf.len(),
            Err(e) => e.kind() == io::ErrorKind::Interrupted,
        };
        r
    }
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn failed_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "TLS session failed")
}

impl TlsSocket {
    pub(in crate::stream) fn new(
        io: Rc<Socket>,
        conn: Connection,
        server_name: Option<String>,
    ) -> Self {
        TlsSocket {
            io,
            conn: RefCell::new(conn),
            handshake: RefCell::new(None),
            failed: Cell::new(false),
            server_name,
        }
    }

    /// The socket beneath the session.
    pub fn inner(&self) -> &Socket {
        &self.io
    }

    /// True until the handshake has finished.
    pub fn is_handshaking(&self) -> bool {
        self.handshake.borrow().is_some()
    }

    /// What the handshake agreed on (meaningful once it has finished).
    pub fn info(&self) -> TlsInfo {
        let conn = self.conn.borrow();
        let server_name = match &*conn {
            Connection::Server(c) => c.server_name().map(str::to_owned),
            Connection::Client(_) => self.server_name.clone(),
        };
        TlsInfo {
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: conn
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            server_name,
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        }
    }

    /// Reads plaintext: first what rustls holds, then more ciphertext from the socket,
    /// until `buf` is full or the socket has nothing more. So a short read means rustls
    /// holds no plaintext (the socket's readiness then tells the whole story).
    pub(in crate::stream) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        self.read_with(buf.len(), |chunk| {
            buf[filled..filled + chunk.len()].copy_from_slice(chunk);
            filled += chunk.len();
        })
    }

    /// [`read`](Self::read) of at most `n` bytes appended to `buf`: rustls' plaintext is
    /// copied once, straight onto the end of the buffer (no zeroed room to read into).
    pub(in crate::stream) fn read_into(&self, buf: &mut BytesMut, n: usize) -> io::Result<usize> {
        self.read_with(n, |chunk| buf.extend_from_slice(chunk))
    }

    /// The loop of [`read`](Self::read): hands `put` up to `n` bytes of plaintext in
    /// the chunks rustls holds them in; returns how many.
    fn read_with(&self, n: usize, mut put: impl FnMut(&[u8])) -> io::Result<usize> {
        if self.failed.get() {
            return Err(failed_error());
        }
        if self.is_handshaking() {
            return Err(would_block());
        }
        if n == 0 {
            return Ok(0);
        }
        let mut conn = self.conn.borrow_mut();
        let mut filled = 0;
        let mut input = SocketIn::new(&self.io);
        // Plaintext rustls already held is enough for a short read: the socket is read
        // for more only when that is needed or the last read filled its buffer.
        let mut read_yet = false;
        loop {
            let mut reader = conn.reader();
            match reader.fill_buf() {
                Ok([]) => return Ok(filled), // close_notify received
                Ok(chunk) => {
                    let k = chunk.len().min(n - filled);
                    put(&chunk[..k]);
                    reader.consume(k);
                    filled += k;
                    if filled == n {
                        return Ok(filled);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP EOF without close_notify: an end of stream all the same (the
                // protocol above decides whether the message was complete).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                Err(e) => return if filled > 0 { Ok(filled) } else { Err(e) },
            }
            if !input.more || (filled > 0 && !read_yet) {
                return if filled > 0 {
                    Ok(filled)
                } else {
                    Err(would_block())
                };
            }
            read_yet = true;
            match conn.read_tls(&mut input) {
                Ok(_) => {
                    // Ok(0) is EOF: the reader reports it on the next turn.
                    if let Err(e) = conn.process_new_packets() {
                        self.failed.set(true);
                        let _ = conn.write_tls(&mut Io(&self.io)); // the alert, if it fits
                        return if filled > 0 {
                            Ok(filled)
                        } else {
                            Err(io::Error::new(io::ErrorKind::InvalidData, e))
                        };
                    }
                    if conn.wants_write() {
                        // A key update or similar: best effort now, WRITABLE does the rest.
                        let _ = flush(&mut conn, &self.io);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if filled > 0 && e.kind() == io::ErrorKind::WouldBlock => return Ok(filled),
                Err(e) => return if filled > 0 { Ok(filled) } else { Err(e) },
            }
        }
    }

    /// Encrypts as much of `buf` as rustls takes, once the ciphertext of earlier writes
    /// has left; so at most one buffer of ciphertext waits in rustls.
    pub(in crate::stream) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    pub(in crate::stream) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.failed.get() {
            return Err(failed_error());
        }
        if self.is_handshaking() {
            return Err(would_block());
        }
        let mut conn = self.conn.borrow_mut();
        flush(&mut conn, &self.io)?;
        if conn.wants_write() {
            return Err(would_block());
        }
        let n = conn.writer().write_vectored(bufs)?;
        match flush(&mut conn, &self.io) {
            Ok(()) => {}
            // The plaintext is taken: the error surfaces on the next write or read.
            Err(e) => log::debug!("TLS flush: {e}"),
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(would_block());
        }
        Ok(n)
    }

    /// True while rustls holds ciphertext the socket did not take yet.
    pub(in crate::stream) fn wants_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// True if rustls holds decrypted plaintext (which no readiness will announce).
    pub(in crate::stream) fn plaintext_pending(&self) -> bool {
        if self.failed.get() || self.is_handshaking() {
            return false;
        }
        let mut conn = self.conn.borrow_mut();
        match conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0,
            Err(_) => false,
        }
    }

    /// Sends `close_notify` (best effort: the socket is non-blocking and about to close).
    pub(in crate::stream) fn close_notify(&self) {
        if self.failed.get() || self.is_handshaking() {
            return;
        }
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        let _ = flush(&mut conn, &self.io);
    }

    pub(in crate::stream) fn shutdown_write(&self) -> io::Result<()> {
        self.close_notify();
        self.io.shutdown_write()
    }

    pub(in crate::stream) fn handshake_interest(&self) -> Interest {
        let conn = self.conn.borrow();
        let mut i = Interest::NONE;
        if conn.wants_read() {
            i |= Interest::READABLE;
        }
        if conn.wants_write() {
            i |= Interest::WRITABLE;
        }
        i
    }

    /// Moves the handshake on as far as the socket allows: `Ok(true)` once it is done.
    pub(in crate::stream) fn step_handshake(&self) -> Result<bool> {
        let mut conn = self.conn.borrow_mut();
        let server = matches!(&*conn, Connection::Server(_));
        let mut input = SocketIn::new(&self.io);
        loop {
            flush(&mut conn, &self.io)?;
            if !conn.is_handshaking() {
                return Ok(true);
            }
            // After a short read the peer's next flight is not there yet (it answers
            // ours): wait for readiness instead of a read that would block.
            if conn.wants_write() || !conn.wants_read() || !input.more {
                return Ok(false);
            }
            match conn.read_tls(&mut input) {
                Ok(0) => {
                    let who = if server { "client" } else { "server" };
                    return Err(TlsError::new(
                        TlsErrorKind::HandshakeFailure,
                        format!("the {who} closed the connection during the handshake"),
                    )
                    .into());
                }
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        self.failed.set(true);
                        let mut err = TlsError::from_rustls(&e);
                        if err.kind() == TlsErrorKind::NotTls {
                            // Answer a peer that does not speak TLS with nothing at all.
                            if !server {
                                err = TlsError::new(
                                    TlsErrorKind::NotTls,
                                    format!("server does not speak TLS: {e}"),
                                );
                            }
                        } else {
                            // Tell the peer why (the alert), if the socket takes it now.
                            let _ = flush(&mut conn, &self.io);
                        }
                        return Err(err.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Writes rustls' pending ciphertext until it is all out or the socket would block.
pub(in crate::stream) fn flush(conn: &mut Connection, io: &Socket) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(&mut Io(io)) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
