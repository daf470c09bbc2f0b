//! [`TcpServer`]: accepts connections and hands each to a callback as an [`IoStream`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::rc::{Rc, Weak};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::SocketFlags;

use super::bind::{bind_sockets, BindOptions};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, Interest, Token};
use crate::stream::{IoStream, StreamOptions};
use crate::tls::TlsConfig;

/// Connections accepted per readiness event at most (Tornado's figure), so one busy
/// listener cannot starve the rest of the loop.
const ACCEPTS_PER_EVENT: usize = 128;
/// How long accepting pauses when the process is out of descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(100);

type OnStream = Box<dyn FnMut(IoStream, SocketAddr)>;

struct Inner {
    handle: Handle,
    on_stream: RefCell<OnStream>,
    listeners: RefCell<Vec<Token>>,
    stream_options: RefCell<StreamOptions>,
    /// True while an out-of-descriptors episode lasts (logged once per episode).
    starved: Cell<bool>,
    /// With TLS, each connection is handed over once its handshake has finished.
    tls: RefCell<Option<TlsConfig>>,
}

/// A TCP server (Tornado's `TCPServer`): `on_stream` is called with each accepted
/// connection and the peer's address.
///
/// On `EMFILE`/`ENFILE` (out of descriptors) the server neither spins nor drops the
/// listener: it pauses accepting for 100 ms, logs once per episode, and resumes.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::{net::TcpServer, Reactor};
/// let mut reactor = Reactor::new()?;
/// let server = TcpServer::new(&reactor.handle(), |stream, _peer| {
///     let s = stream.clone();
///     stream.read_until(b"\n", Some(1024)).add_done_callback(move |line| {
///         if let Some(Ok(line)) = line.take_result() {
///             s.write(line); // echo one line
///         }
///     });
/// });
/// let addr = server.listen("127.0.0.1:0")?;
/// assert_ne!(addr.port(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[doc(alias = "TCPServer")]
pub struct TcpServer {
    inner: Rc<Inner>,
}

impl fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("listeners", &self.inner.listeners.borrow().len())
            .finish()
    }
}

impl TcpServer {
    /// A server that calls `on_stream` for each connection; call [`listen`](Self::listen).
    pub fn new(handle: &Handle, on_stream: impl FnMut(IoStream, SocketAddr) + 'static) -> Self {
        TcpServer {
            inner: Rc::new(Inner {
                handle: handle.clone(),
                on_stream: RefCell::new(Box::new(on_stream)),
                listeners: RefCell::new(Vec::new()),
                stream_options: RefCell::new(StreamOptions::default()),
                starved: Cell::new(false),
                tls: RefCell::new(None),
            }),
        }
    }

    /// Options applied to each accepted stream (buffer limits, idle timeout).
    pub fn set_stream_options(&self, options: StreamOptions) {
        *self.inner.stream_options.borrow_mut() = options;
    }

    /// Serves TLS with `config` (a server configuration): each accepted connection is
    /// handed to `on_stream` once its handshake has finished. A handshake that fails or
    /// times out (the configuration's handshake timeout) closes that connection only,
    /// logged at debug level; others are accepted and served meanwhile.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `config` is a client configuration.
    pub fn set_tls(&self, config: Option<TlsConfig>) -> Result<()> {
        if config.as_ref().is_some_and(|c| !c.is_server()) {
            return Err(Error::invalid_state(
                "TcpServer::set_tls needs a server configuration",
            ));
        }
        *self.inner.tls.borrow_mut() = config;
        Ok(())
    }

    /// Binds `addr` (port 0 picks a free port) and starts accepting. Returns the actual
    /// address of the first socket bound.
    ///
    /// # Errors
    /// [`Error::Io`] from bind/listen (e.g. address in use).
    pub fn listen(&self, addr: impl ToSocketAddrs) -> Result<SocketAddr> {
        self.listen_with(addr, &BindOptions::default())
    }

    /// As [`listen`](Self::listen), with [`BindOptions`] (backlog, `SO_REUSEPORT`).
    ///
    /// # Errors
    /// As [`listen`](Self::listen).
    pub fn listen_with(
        &self,
        addr: impl ToSocketAddrs,
        options: &BindOptions,
    ) -> Result<SocketAddr> {
        let mut first = None;
        for listener in bind_sockets(addr, options)? {
            let local = listener.local_addr()?;
            first.get_or_insert(local);
            self.add_listener(listener)?;
        }
        first.ok_or_else(|| Error::invalid_state("no socket bound"))
    }

    /// Starts accepting on an already bound and listening socket.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be made non-blocking or registered.
    pub fn add_listener(&self, listener: TcpListener) -> Result<()> {
        listener.set_nonblocking(true)?;
        let weak = Rc::downgrade(&self.inner);
        let me: Rc<Cell<Option<Token>>> = Rc::new(Cell::new(None));
        let me2 = me.clone();
        let token = self.inner.handle.add_handler(
            listener,
            Interest::READABLE,
            move |l: &mut TcpListener, _ev| {
                if let (Some(inner), Some(token)) = (weak.upgrade(), me2.get()) {
                    accept_some(&inner, l, token);
                }
            },
        )?;
        me.set(Some(token));
        self.inner.listeners.borrow_mut().push(token);
        Ok(())
    }

    /// Stops accepting at once and closes the listening sockets: called from the
    /// stream callback, no further connection of the batch being accepted is handed
    /// over (those still queued in the kernel are refused). Open streams go on.
    /// Idempotent.
    pub fn stop(&self) {
        let tokens = std::mem::take(&mut *self.inner.listeners.borrow_mut());
        for t in tokens {
            let _ = self.inner.handle.remove_handler(t);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A listener left registered without its server would stay readable forever.
        for t in self.listeners.get_mut().drain(..) {
            let _ = self.handle.remove_handler(t);
        }
    }
}

fn accept_some(inner: &Rc<Inner>, listener: &mut TcpListener, token: Token) {
    for _ in 0..ACCEPTS_PER_EVENT {
        // `stop()` (e.g. from the stream callback) ends the batch at once: nothing more
        // is accepted, and the connections still queued are refused when the listener
        // closes.
        if !inner.listeners.borrow().contains(&token) {
            return;
        }
        match accept_nonblocking(listener) {
            Ok((sock, peer)) => {
                inner.starved.set(false);
                let options = inner.stream_options.borrow().clone();
                let tls = inner.tls.borrow().clone();
                let set_up = match tls {
                    Some(config) => {
                        IoStream::accept_tls(&inner.handle, sock.into(), options, &config)
                            .map(|handshake| handshake_then_deliver(inner, handshake, peer))
                    }
                    None => IoStream::from_nonblocking(
                        &inner.handle,
                        Rc::new(sock.into()),
                        options,
                        Interest::NONE,
                    )
                    .map(|stream| deliver(inner, stream, peer)),
                };
                if let Err(e) = set_up {
                    log::warn!("could not set up accepted connection from {peer}: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if is_transient(&e) => continue,
            Err(e) if is_out_of_descriptors(&e) => {
                if !inner.starved.replace(true) {
                    log::warn!("accept failed: {e}; pausing accepts for {EMFILE_BACKOFF:?} until descriptors free up");
                }
                pause(inner, token);
                return;
            }
            Err(e) => {
                log::error!("accept failed: {e}");
                pause(inner, token);
                return;
            }
        }
    }
}

fn deliver(inner: &Inner, stream: IoStream, peer: SocketAddr) {
    match inner.on_stream.try_borrow_mut() {
        Ok(mut cb) => cb(stream, peer),
        Err(_) => log::error!("TcpServer callback re-entered; connection dropped"),
    }
}

fn handshake_then_deliver(inner: &Rc<Inner>, handshake: Future<IoStream>, peer: SocketAddr) {
    let weak = Rc::downgrade(inner);
    handshake.add_done_callback(move |f| match f.take_result() {
        Some(Ok(stream)) => match weak.upgrade() {
            Some(inner) => deliver(&inner, stream, peer),
            None => stream.close(),
        },
        Some(Err(e)) => log::debug!("TLS handshake with {peer} failed: {e}"),
        None => {}
    });
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the connection comes non-blocking,
/// with no further system call to make it so.
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (fd, addr) = rustix::net::acceptfrom_with(listener, flags)?;
    let peer = addr
        .and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::other("accepted a connection without an IP peer address"))?;
    Ok((TcpStream::from(fd), peer))
}

/// Stops watching the listener for a while (a level-triggered listener with a pending
/// connection we cannot accept would otherwise spin the loop).
fn pause(inner: &Rc<Inner>, token: Token) {
    if inner.handle.update_handler(token, Interest::NONE).is_err() {
        return;
    }
    let weak: Weak<Inner> = Rc::downgrade(inner);
    inner.handle.call_later(EMFILE_BACKOFF, move || {
        if let Some(inner) = weak.upgrade()
            && inner.listeners.borrow().contains(&token)
        {
            let _ = inner.handle.update_handler(token, Interest::READABLE);
        }
    });
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
    ) || Errno::from_io_error(e) == Some(Errno::PROTO)
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}
