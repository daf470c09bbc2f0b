//! rustls beneath an [`IoStream`]'s buffers (Tornado's `SSLIOStream`).
//!
//! A TLS stream is an ordinary `IoStream` whose [`Socket`] is [`Socket::Tls`]: reads take
//! plaintext out of rustls (feeding it ciphertext from the socket as needed), writes put
//! plaintext in and flush ciphertext out. The stream's buffers, reads, writes and
//! interest logic are the same as for plain sockets; this file adds the handshake
//! (driven by readiness, bounded by a timer), the ciphertext rustls still has to send
//! (kept as write interest), and the plaintext rustls may hold that no socket readiness
//! will announce (drained when a read starts, or on the next iteration).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::rc::Rc;

use rustls::{ClientConnection, Connection, ServerConnection};

use super::state::{Finish, State};
use super::{IoStream, Socket};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Interest, TimerId};
use crate::tls::{self, Side, TlsConfig, TlsError, TlsErrorKind, TlsInfo};

/// A TLS session over a TCP or Unix socket: what [`Socket::Tls`] holds.
pub struct TlsSocket {
    io: Rc<Socket>,
    conn: RefCell<Connection>,
    /// Set while the handshake runs: resolved when it finishes, failed when the stream
    /// closes first (error, peer gone, timeout).
    handshake: RefCell<Option<Handshake>>,
    /// rustls reported a fatal error: reads and writes fail from now on.
    failed: Cell<bool>,
    /// The name a client verified and sent as SNI.
    server_name: Option<String>,
}

/// A running handshake. The stream itself is kept alive by the timer's closure (owned
/// by the reactor, so dropping the reactor frees it), not from in here: no cycle.
struct Handshake {
    done: Future<IoStream>,
    timer: TimerId,
}

impl fmt::Debug for TlsSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSocket")
            .field("io", &self.io)
            .field("handshaking", &self.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// `Read`/`Write` over a shared socket, for rustls' `read_tls`/`write_tls`.
struct Io<'a>(&'a Socket);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

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

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn failed_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "TLS session failed")
}

impl TlsSocket {
    fn new(io: Rc<Socket>, conn: Connection, server_name: Option<String>) -> Self {
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
    pub(super) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.get() {
            return Err(failed_error());
        }
        if self.is_handshaking() {
            return Err(would_block());
        }
        let mut conn = self.conn.borrow_mut();
        let mut filled = 0;
        loop {
            match conn.reader().read(&mut buf[filled..]) {
                Ok(0) => return Ok(filled), // buffer full, or close_notify received
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
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
            match conn.read_tls(&mut Io(&self.io)) {
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
    pub(super) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    pub(super) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
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
    pub(super) fn wants_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// True if rustls holds decrypted plaintext (which no readiness will announce).
    pub(super) fn plaintext_pending(&self) -> bool {
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
    fn close_notify(&self) {
        if self.failed.get() || self.is_handshaking() {
            return;
        }
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        let _ = flush(&mut conn, &self.io);
    }

    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        self.close_notify();
        self.io.shutdown_write()
    }

    fn handshake_interest(&self) -> Interest {
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
    fn step_handshake(&self) -> Result<bool> {
        let mut conn = self.conn.borrow_mut();
        let server = matches!(&*conn, Connection::Server(_));
        loop {
            flush(&mut conn, &self.io)?;
            if !conn.is_handshaking() {
                return Ok(true);
            }
            if conn.wants_write() || !conn.wants_read() {
                return Ok(false);
            }
            match conn.read_tls(&mut Io(&self.io)) {
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
fn flush(conn: &mut Connection, io: &Socket) -> io::Result<()> {
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

/// The stream's TLS hooks, called with the state borrowed.
impl State {
    fn tls(&self) -> Option<&TlsSocket> {
        match self.socket.as_deref() {
            Some(Socket::Tls(t)) => Some(t),
            _ => None,
        }
    }

    /// During the handshake the session alone decides what to wait for.
    pub(super) fn tls_interest(&self) -> Option<Interest> {
        self.tls()
            .filter(|t| t.is_handshaking())
            .map(TlsSocket::handshake_interest)
    }

    /// rustls holds ciphertext still to be written.
    pub(super) fn tls_wants_write(&self) -> bool {
        self.tls().is_some_and(TlsSocket::wants_write)
    }

    /// Flushes pending ciphertext before the queue is written; `false` if that closed
    /// the stream.
    pub(super) fn tls_flush(&mut self, finish: &mut Finish) -> bool {
        let r = match self.tls() {
            Some(t) if !t.is_handshaking() && !t.failed.get() => {
                flush(&mut t.conn.borrow_mut(), &t.io)
            }
            _ => Ok(()),
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                self.close(Some(e.into()), finish);
                false
            }
        }
    }

    /// A read is pending and rustls holds plaintext: read it now.
    #[inline]
    pub(super) fn tls_read_buffered(&mut self, finish: &mut Finish) {
        if !self.closed
            && self.read.is_some()
            && self.tls().is_some_and(TlsSocket::plaintext_pending)
        {
            self.handle_read(finish);
        }
    }

    /// On close: a pending handshake fails with the error (from the loop: the state is
    /// borrowed here); an established session sends `close_notify`.
    pub(super) fn tls_on_close(&mut self, error: Option<&Error>) {
        let Some(t) = self.tls() else { return };
        let pending = t.handshake.borrow_mut().take();
        match pending {
            Some(h) => {
                let e = error.cloned().unwrap_or(Error::StreamClosed);
                crate::metrics::hooks::tls_handshake(Some(&e));
                self.handle.add_callback(move || h.done.set_error(e));
                // Last: this drops the timer's reference to the stream.
                self.handle.cancel_timer(h.timer);
            }
            None => t.close_notify(),
        }
    }

    /// Drives a running handshake on a readiness event: `None` if there is none (the
    /// event is the stream's as usual), else whether it finished (with its future).
    fn tls_handshake_event(&mut self, finish: &mut Finish) -> Option<Option<Future<IoStream>>> {
        let t = self.tls().filter(|t| t.is_handshaking())?;
        match t.step_handshake() {
            Ok(true) => {
                crate::metrics::hooks::tls_handshake(None);
                let h = t.handshake.borrow_mut().take();
                self.touch();
                self.update_interest();
                Some(h.map(|h| {
                    self.handle.cancel_timer(h.timer);
                    h.done
                }))
            }
            Ok(false) => {
                self.update_interest();
                Some(None)
            }
            Err(e) => {
                self.close(Some(e), finish);
                Some(None)
            }
        }
    }
}

impl IoStream {
    /// Upgrades this plain stream to TLS in place (Tornado's `start_tls`): the result
    /// resolves with the TLS stream once the handshake has finished, and this handle is
    /// spent (it reads as closed; its close callback moves to the new stream).
    ///
    /// `server_side` must match `config` (a server or a client configuration); a client
    /// needs `server_hostname`, which it sends as SNI and verifies the certificate
    /// against. The stream must have no read pending, nothing buffered and nothing
    /// queued for writing (data that arrived before the upgrade would otherwise be lost
    /// or misread).
    ///
    /// The handshake fails with [`Error::Tls`] naming the cause, with [`Error::Timeout`]
    /// after the configuration's handshake timeout, or with the error that closed the
    /// stream. Afterwards [`tls_info`](Self::tls_info) tells what was negotiated.
    ///
    /// ```no_run
    /// # fn main() -> squall::Result<()> {
    /// use squall::{net::TcpClient, tls::{ClientTlsOptions, TlsConfig}, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let client = TcpClient::new(&reactor.handle());
    /// let plain = reactor.run_until(&client.connect("example.com", 443, None))?;
    /// let config = TlsConfig::client(&ClientTlsOptions::default())?;
    /// let tls = reactor.run_until(&plain.start_tls(false, &config, Some("example.com")))?;
    /// println!("{:?}", tls.tls_info().unwrap().version);
    /// # Ok(()) }
    /// ```
    pub fn start_tls(
        &self,
        server_side: bool,
        config: &TlsConfig,
        server_hostname: Option<&str>,
    ) -> Future<IoStream> {
        match self.start_tls_inner(server_side, config, server_hostname) {
            Ok(f) => f,
            Err(e) => Future::failed(e),
        }
    }

    fn start_tls_inner(
        &self,
        server_side: bool,
        config: &TlsConfig,
        server_hostname: Option<&str>,
    ) -> Result<Future<IoStream>> {
        if server_side != config.is_server() {
            return Err(Error::invalid_state(
                "start_tls: server_side does not match the configuration's side",
            ));
        }
        let conn: Connection = match &config.side {
            Side::Server(c) => ServerConnection::new(c.clone())
                .map_err(|e| TlsError::new(TlsErrorKind::Config, e.to_string()))?
                .into(),
            Side::Client(c) => {
                let host = server_hostname.ok_or_else(|| {
                    Error::invalid_state("start_tls: a client needs the server's host name")
                })?;
                ClientConnection::new(c.clone(), tls::server_name(host)?)
                    .map_err(|e| TlsError::new(TlsErrorKind::Config, e.to_string()))?
                    .into()
            }
        };
        let (socket, handle, options, close_callback) = {
            let mut s = self.shared.state.borrow_mut();
            if s.closed {
                return Err(Error::StreamClosed);
            }
            if s.tls().is_some() {
                return Err(Error::invalid_state(
                    "start_tls: the stream already uses TLS",
                ));
            }
            if s.read.is_some()
                || !s.read_buf.is_empty()
                || !s.write_queue.is_empty()
                || s.in_read_callback
            {
                return Err(Error::invalid_state(
                    "start_tls: the stream has a pending read, buffered data or queued writes",
                ));
            }
            let Some(socket) = s.socket.take() else {
                return Err(Error::StreamClosed);
            };
            if let Some(token) = s.token.take() {
                // Deregisters at once: the new stream registers the same descriptor.
                let _ = s.handle.remove_handler(token);
            }
            if let Some(id) = s.idle().and_then(|i| i.timer.take()) {
                s.handle.cancel_timer(id);
            }
            s.closed = true;
            (
                socket,
                s.handle.clone(),
                s.options(),
                s.close_callback.take(),
            )
        };
        let tls = TlsSocket::new(
            socket,
            conn,
            server_hostname.filter(|_| !server_side).map(str::to_owned),
        );
        let stream =
            IoStream::from_shared_socket(&handle, Rc::new(Socket::Tls(Box::new(tls))), options)?;
        let done = Future::new();
        // The timer keeps the stream alive until the handshake ends (and ends it).
        let keeper = stream.clone();
        let timer = handle.call_later(config.handshake_timeout, move || {
            keeper.close_with(Some(Error::Timeout));
        });
        {
            let s = stream.shared.state.borrow();
            if let Some(t) = s.tls() {
                *t.handshake.borrow_mut() = Some(Handshake {
                    done: done.clone(),
                    timer,
                });
            }
        }
        if let Some(cb) = close_callback {
            stream.set_close_callback(cb);
        }
        // A client's hello goes out now; a server waits for it.
        stream.tls_on_event();
        Ok(done)
    }

    /// The stream's readiness hook while a handshake runs: `true` if the event was the
    /// handshake's.
    pub(super) fn tls_on_event(&self) -> bool {
        let mut finish = Finish::default();
        let step = {
            let mut s = self.shared.state.borrow_mut();
            if s.closed {
                return false;
            }
            s.tls_handshake_event(&mut finish)
        };
        finish.run();
        match step {
            None => false,
            Some(done) => {
                if let Some(done) = done {
                    done.set_result(self.clone());
                }
                true
            }
        }
    }

    /// What the TLS handshake negotiated (version, ALPN, peer certificates, SNI name);
    /// `None` for a plain stream or while the handshake runs.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let s = self.shared.state.borrow();
        s.tls().filter(|t| !t.is_handshaking()).map(TlsSocket::info)
    }

    /// True if the stream runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.shared.state.borrow().tls().is_some()
    }

    /// After reads: rustls may still hold plaintext (a read stops after a bounded number
    /// of chunks). No readiness will announce it, so read it on the next iteration if
    /// someone wants it.
    pub(super) fn tls_after_read(&self) {
        let again = {
            let s = self.shared.state.borrow();
            s.tls().is_some()
                && !s.closed
                && s.desired_interest().is_readable()
                && s.tls().is_some_and(TlsSocket::plaintext_pending)
        };
        if again {
            let weak = Rc::downgrade(&self.shared);
            let handle = self.shared.state.borrow().handle.clone();
            handle.add_callback(move || {
                if let Some(shared) = weak.upgrade() {
                    IoStream { shared }.tls_read_again();
                }
            });
        }
    }

    fn tls_read_again(&self) {
        let mut finish = Finish::default();
        {
            let mut s = self.shared.state.borrow_mut();
            if s.closed || s.in_read_callback || !s.desired_interest().is_readable() {
                return;
            }
            s.handle_read(&mut finish);
            s.update_interest();
        }
        self.complete(finish);
        self.tls_after_read();
    }
}
