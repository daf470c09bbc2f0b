//! rustls beneath an [`IoStream`]'s buffers (Tornado's `SSLIOStream`).
//!
//! A TLS stream is an ordinary `IoStream` whose [`Socket`] is [`Socket::Tls`]: reads take
//! plaintext out of rustls (feeding it ciphertext from the socket as needed), writes put
//! plaintext in and flush ciphertext out. The stream's buffers, reads, writes and
//! interest logic are the same as for plain sockets; this file adds the handshake
//! (driven by readiness, bounded by a timer), the ciphertext rustls still has to send
//! (kept as write interest), and the plaintext rustls may hold that no socket readiness
//! will announce (drained when a read starts, or on the next iteration).

use std::rc::Rc;

use rustls::{ClientConnection, Connection, ServerConnection};

use super::socket::{flush, Handshake, TlsSocket};
use super::state::{Finish, State};
use super::{IoStream, Socket, StreamOptions};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, Interest};
use crate::tls::{self, Side, TlsConfig, TlsError, TlsErrorKind, TlsInfo};

/// The stream's TLS hooks, called with the state borrowed.
impl State {
    #[inline]
    pub(super) fn tls(&self) -> Option<&TlsSocket> {
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
                crate::telemetry::hooks::tls_handshake(Some(&e));
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
                crate::telemetry::hooks::tls_handshake(None);
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
        let conn = new_connection(config, server_hostname)?;
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
        let tls = Rc::new(Socket::Tls(Box::new(tls)));
        let stream = IoStream::from_shared_socket(&handle, tls, options)?;
        if let Some(cb) = close_callback {
            stream.set_close_callback(cb);
        }
        Ok(stream.begin_handshake(config))
    }

    /// The server side of a TLS connection just accepted: `socket` is a connected,
    /// non-blocking socket. Unlike [`start_tls`](Self::start_tls) on a plain stream,
    /// the descriptor is registered once, waiting for the client's hello from the start.
    pub(crate) fn accept_tls(
        handle: &Handle,
        socket: Socket,
        options: StreamOptions,
        config: &TlsConfig,
    ) -> Result<Future<IoStream>> {
        let conn = new_connection(config, None)?;
        let tls = TlsSocket::new(Rc::new(socket), conn, None);
        let tls = Rc::new(Socket::Tls(Box::new(tls)));
        let stream = IoStream::from_nonblocking(handle, tls, options, Interest::READABLE)?;
        Ok(stream.begin_handshake(config))
    }

    /// Arms the handshake timeout and takes the first handshake step: a client's hello
    /// goes out now, a server reads the client's hello if it is there.
    fn begin_handshake(&self, config: &TlsConfig) -> Future<IoStream> {
        let done = Future::new();
        let handle = self.shared.state.borrow().handle.clone();
        // The timer keeps the stream alive until the handshake ends (and ends it).
        let keeper = self.clone();
        let timer = handle.call_later(config.handshake_timeout, move || {
            keeper.close_with(Some(Error::Timeout));
        });
        {
            let s = self.shared.state.borrow();
            if let Some(t) = s.tls() {
                *t.handshake.borrow_mut() = Some(Handshake {
                    done: done.clone(),
                    timer,
                });
            }
        }
        self.tls_on_event();
        done
    }

    /// The stream's readiness hook while a handshake runs: `true` if the event was the
    /// handshake's.
    #[inline]
    pub(super) fn tls_on_event(&self) -> bool {
        let handshaking = {
            let s = self.shared.state.borrow();
            s.tls().is_some_and(TlsSocket::is_handshaking)
        };
        // A plain stream, or one past its handshake: every other event.
        handshaking && self.tls_handshake_step()
    }

    #[inline(never)]
    fn tls_handshake_step(&self) -> bool {
        let mut finish = Finish::default();
        let step = self
            .shared
            .state
            .borrow_mut()
            .tls_handshake_event(&mut finish);
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
    #[inline]
    pub(super) fn tls_after_read(&self) {
        if self.shared.state.borrow().tls().is_some() {
            self.tls_read_later();
        }
    }

    #[inline(never)]
    fn tls_read_later(&self) {
        let again = {
            let s = self.shared.state.borrow();
            !s.closed
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
        self.complete(&mut finish);
        self.tls_after_read();
    }
}

/// A rustls session for `config`'s side (a client verifies and sends `server_hostname`).
fn new_connection(config: &TlsConfig, server_hostname: Option<&str>) -> Result<Connection> {
    Ok(match &config.side {
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
    })
}
