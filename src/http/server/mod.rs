//! The HTTP/1.1 server (Tornado's `HTTPServer`): [`HttpServer`], [`Request`],
//! [`Responder`].
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::http::server::HttpServer;
//! use squall::Reactor;
//!
//! let mut reactor = Reactor::new()?;
//! let server = HttpServer::new(&reactor.handle(), |req, mut resp| {
//!     resp.set_header("content-type", "text/plain");
//!     resp.send(format!("you asked for {}\n", req.path()));
//! });
//! let addr = server.listen("127.0.0.1:0")?;
//! # let _ = addr;
//! // reactor.run()?;
//! # Ok(()) }
//! ```

mod conn;
mod fields;
mod link;
mod request;
mod responder;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use slab::Slab;

use self::conn::Conn;
pub use self::fields::StaticHeaderName;
pub use self::request::Request;
pub use self::responder::Responder;
use crate::error::Result;
use crate::future::Future;
pub use crate::http::h1::Headers;
use crate::http::h1::{HeadLimits, ReadLimits};
use crate::net::{BindOptions, TcpServer};
use crate::reactor::Handle;
use crate::stream::StreamOptions;

/// Limits, timeouts and behaviour of an [`HttpServer`]: start from `Default` and chain
/// the setters (new settings may be added in later versions).
///
/// ```
/// use std::time::Duration;
/// use squall::http::HttpServerOptions;
///
/// let options = HttpServerOptions::default()
///     .max_body_size(1024 * 1024)
///     .header_timeout(Some(Duration::from_secs(5)))
///     .no_keep_alive(true);
/// assert_eq!(options.max_body_size, 1024 * 1024);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpServerOptions {
    /// Largest request head (default 64 KiB); beyond it: 431.
    pub max_header_size: usize,
    /// Most header fields (default 100); beyond it: 431.
    pub max_headers: usize,
    /// Largest request body (default 100 MiB); beyond it: 413.
    pub max_body_size: usize,
    /// Close a keep-alive connection idle this long (default 1 hour, as Tornado); also
    /// how long a client that does not read its responses may make no progress, and
    /// (with `header_timeout`, whichever is shorter) how long a new connection may stay
    /// silent before its first request.
    pub idle_connection_timeout: Option<Duration>,
    /// A request head must be complete this long after the connection was accepted or
    /// after the first byte of a later request (default 30 s); then 408 and close (or
    /// a quiet close if nothing arrived, also after a shorter `idle_connection_timeout`).
    /// Cuts off slowloris clients.
    pub header_timeout: Option<Duration>,
    /// A request body must be complete this long after its head (default 5 min).
    pub body_timeout: Option<Duration>,
    /// Close every connection after one response.
    pub no_keep_alive: bool,
    /// Trust `X-Real-Ip` / `X-Forwarded-For` and `X-Scheme` / `X-Forwarded-Proto` (behind
    /// a proxy).
    pub xheaders: bool,
    /// Decompress `Content-Encoding: gzip` request bodies (needs the `gzip` feature).
    pub decompress_request: bool,
    /// A `Server` header value to send, if any.
    pub server_header: Option<Rc<str>>,
    /// Most bytes queued for a slow client before writes fail (default 64 MiB).
    pub max_write_buffer_size: Option<usize>,
    /// Keep a connection open for writing when the client shuts down its writing side
    /// after a complete request, until the owed response went out (hyper's
    /// `http1_half_close`; default `false`). The connection closes after that response:
    /// no keep-alive after end-of-file.
    ///
    /// Either way, a client that half-closes gets every response the handler gives
    /// *at once* (within its call), also to the pipelined requests that arrived before
    /// its end-of-file. The option decides what happens to a response that is still
    /// owed when end-of-file arrives (a parked long-poll, an answer from a timer), and
    /// so to the pipelined requests behind it:
    ///
    /// - `false`: a half-close is taken for a client that left (on the wire both are
    ///   the same FIN). The connection closes at once and a parked responder is told
    ///   through [`Responder::on_connection_close`]; its late response is dropped.
    /// - `true`: the late response is delivered. The trade-off: a parked responder
    ///   whose client really left learns it only when a write to it fails (the client's
    ///   kernel answers the first write with a reset), not at the FIN; until then the
    ///   connection is held. Use it when clients half-close on purpose and responses
    ///   are never parked for long.
    pub half_close: bool,
    /// Count this server's connections, requests and bytes in [`crate::metrics`]
    /// (default `true`; the server of [`metrics::serve`](crate::metrics) is not counted,
    /// so scrapes do not count themselves).
    pub metrics: bool,
}

impl Default for HttpServerOptions {
    fn default() -> Self {
        HttpServerOptions {
            max_header_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 100 * 1024 * 1024,
            idle_connection_timeout: Some(Duration::from_secs(3600)),
            header_timeout: Some(Duration::from_secs(30)),
            body_timeout: Some(Duration::from_secs(300)),
            no_keep_alive: false,
            xheaders: false,
            decompress_request: false,
            server_header: None,
            max_write_buffer_size: Some(64 * 1024 * 1024),
            half_close: false,
            metrics: true,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl HttpServerOptions {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`max_header_size`](Self::max_header_size).
    max_header_size: usize;
    /// Sets [`max_headers`](Self::max_headers).
    max_headers: usize;
    /// Sets [`max_body_size`](Self::max_body_size).
    max_body_size: usize;
    /// Sets [`idle_connection_timeout`](Self::idle_connection_timeout).
    idle_connection_timeout: Option<Duration>;
    /// Sets [`header_timeout`](Self::header_timeout).
    header_timeout: Option<Duration>;
    /// Sets [`body_timeout`](Self::body_timeout).
    body_timeout: Option<Duration>;
    /// Sets [`no_keep_alive`](Self::no_keep_alive).
    no_keep_alive: bool;
    /// Sets [`xheaders`](Self::xheaders).
    xheaders: bool;
    /// Sets [`decompress_request`](Self::decompress_request).
    decompress_request: bool;
    /// Sets [`server_header`](Self::server_header).
    server_header: Option<Rc<str>>;
    /// Sets [`max_write_buffer_size`](Self::max_write_buffer_size).
    max_write_buffer_size: Option<usize>;
    /// Sets [`half_close`](Self::half_close).
    half_close: bool;
    /// Sets [`metrics`](Self::metrics).
    metrics: bool;
}

/// Receives a request body piece by piece instead of buffering it (Tornado's
/// `HTTPMessageDelegate`), for large uploads. Install a factory with
/// [`HttpServer::set_body_delegate_factory`].
pub trait BodyDelegate {
    /// A piece of the (de-chunked) body.
    fn data_received(&mut self, chunk: Bytes);
    /// The body is complete: answer. `request.body` is empty.
    fn finish(self: Box<Self>, request: Request, responder: Responder);
}

type Handler = Box<dyn FnMut(Request, Responder)>;
type DelegateFactory = Box<dyn FnMut(&Request) -> Option<Box<dyn BodyDelegate>>>;

pub(crate) struct Shared {
    handle: Handle,
    options: HttpServerOptions,
    /// The bounds every connection reads within.
    limits: ReadLimits,
    handler: RefCell<Handler>,
    delegate_factory: RefCell<Option<DelegateFactory>>,
    conns: RefCell<Slab<Rc<Conn>>>,
    closing: Cell<bool>,
    waiters: RefCell<Vec<Future<()>>>,
}

impl Shared {
    fn remove_conn(&self, key: usize) {
        let conn = self.conns.borrow_mut().try_remove(key);
        crate::telemetry::hooks::http_connection(self.options.metrics && conn.is_some(), false);
        drop(conn);
        if self.closing.get() && self.conns.borrow().is_empty() {
            for f in self.waiters.borrow_mut().drain(..) {
                f.set_result(());
            }
        }
    }

    /// Runs the handler (or the body delegate). If the handler is already running
    /// (a response finished from inside a handler let a pipelined request through),
    /// the call waits for the next loop iteration.
    #[inline(always)]
    fn call_handler(
        this: &Rc<Shared>,
        req: Request,
        responder: Responder,
        delegate: Option<Box<dyn BodyDelegate>>,
    ) {
        let outcome = if let Some(d) = delegate {
            catch_unwind(AssertUnwindSafe(|| d.finish(req, responder)))
        } else {
            match this.handler.try_borrow_mut() {
                Ok(mut handler) => catch_unwind(AssertUnwindSafe(|| handler(req, responder))),
                Err(_) => {
                    let me = this.clone();
                    this.handle
                        .add_callback(move || Shared::call_handler(&me, req, responder, None));
                    return;
                }
            }
        };
        if let Err(payload) = outcome {
            this.report_panic(payload);
        }
    }

    /// A handler (or body delegate) panicked. The panic was caught where it happened, so
    /// the connection's state stays consistent: the responder, dropped while unwinding,
    /// answered 500 and closes the connection. The panic is raised again from a fresh
    /// loop callback, so the reactor's policy applies (logged, or propagated from `run`).
    pub(crate) fn report_panic(&self, payload: Box<dyn Any + Send>) {
        self.handle
            .add_callback(move || std::panic::resume_unwind(payload));
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Connections a parked responder keeps alive must not keep their timers pending.
        for (_, conn) in self.conns.get_mut().iter() {
            conn.cancel_timer_on(&self.handle);
        }
    }
}

/// An HTTP/1.1 server. Keep it alive while it serves: dropping the last clone stops it
/// and closes its connections.
///
/// The handler gets each complete request and a [`Responder`]; it may answer at once or
/// keep the responder and answer later.
#[derive(Clone)]
#[doc(alias = "HTTPServer")]
pub struct HttpServer {
    shared: Rc<Shared>,
    tcp: TcpServer,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("connections", &self.shared.conns.borrow().len())
            .finish()
    }
}

impl HttpServer {
    /// A server with default [`HttpServerOptions`].
    pub fn new(handle: &Handle, handler: impl FnMut(Request, Responder) + 'static) -> Self {
        Self::with_options(handle, HttpServerOptions::default(), handler)
    }

    /// A server with `options`.
    pub fn with_options(
        handle: &Handle,
        options: HttpServerOptions,
        handler: impl FnMut(Request, Responder) + 'static,
    ) -> Self {
        let limits = HeadLimits {
            max_header_size: options.max_header_size,
            max_headers: options.max_headers,
        };
        let stream_options = StreamOptions {
            max_buffer_size: options
                .max_body_size
                .saturating_add(options.max_header_size)
                .saturating_add(64 * 1024),
            max_write_buffer_size: options.max_write_buffer_size,
            idle_timeout: None,
        };
        let shared = Rc::new(Shared {
            handle: handle.clone(),
            limits: ReadLimits::new(limits, options.max_body_size as u64),
            options,
            handler: RefCell::new(Box::new(handler)),
            delegate_factory: RefCell::new(None),
            conns: RefCell::new(Slab::new()),
            closing: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
        });
        let weak: Weak<Shared> = Rc::downgrade(&shared);
        let tcp = TcpServer::new(handle, move |stream, peer| {
            if let Some(shared) = weak.upgrade() {
                if shared.closing.get() {
                    stream.close();
                } else {
                    // Responses are whole messages written at once: Nagle would only
                    // hold back the second of two pipelined responses for a delayed ACK.
                    let _ = stream.set_nodelay(true);
                    crate::telemetry::hooks::http_connection(shared.options.metrics, true);
                    Conn::start(&shared, stream, peer);
                }
            }
        });
        tcp.set_stream_options(stream_options);
        HttpServer { shared, tcp }
    }

    /// Streams request bodies to delegates: `factory` sees each request head (body
    /// empty) and may return a [`BodyDelegate`] for it; `None` buffers as usual.
    pub fn set_body_delegate_factory(
        &self,
        factory: impl FnMut(&Request) -> Option<Box<dyn BodyDelegate>> + 'static,
    ) {
        *self.shared.delegate_factory.borrow_mut() = Some(Box::new(factory));
    }

    /// Serves HTTPS: connections are handed to the HTTP layer once their TLS handshake
    /// has finished, and requests report [`Request::scheme`] `"https"`. Build `config`
    /// from PEM files with [`TlsConfig::server_from_pem_files`](crate::tls::TlsConfig::server_from_pem_files)
    /// (which offers ALPN `http/1.1`) or from a `rustls::ServerConfig` with
    /// [`TlsConfig::server`](crate::tls::TlsConfig::server).
    ///
    /// # Errors
    /// [`Error::InvalidState`](crate::Error::InvalidState) for a client configuration.
    pub fn set_tls(&self, config: crate::tls::TlsConfig) -> Result<()> {
        self.tcp.set_tls(Some(config))
    }

    /// Binds `addr` (port 0 picks one) and starts accepting; returns the bound address.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) from bind/listen.
    pub fn listen(&self, addr: impl ToSocketAddrs) -> Result<SocketAddr> {
        self.tcp.listen(addr)
    }

    /// As [`listen`](Self::listen) with [`BindOptions`] (backlog, `SO_REUSEPORT`).
    ///
    /// # Errors
    /// As [`listen`](Self::listen).
    pub fn listen_with(
        &self,
        addr: impl ToSocketAddrs,
        options: &BindOptions,
    ) -> Result<SocketAddr> {
        self.tcp.listen_with(addr, options)
    }

    /// Serves on an already listening socket.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if it cannot be registered.
    pub fn add_listener(&self, listener: TcpListener) -> Result<()> {
        self.tcp.add_listener(listener)
    }

    /// Stops accepting new connections; in-flight requests finish.
    pub fn stop(&self) {
        self.tcp.stop();
    }

    /// Graceful shutdown: stops accepting, closes idle connections now and busy ones
    /// after their current response. The future resolves when none is left.
    pub fn close_all_connections(&self) -> Future<()> {
        self.stop();
        self.shared.closing.set(true);
        let done = Future::new();
        if self.shared.conns.borrow().is_empty() {
            done.set_result(());
            return done;
        }
        self.shared.waiters.borrow_mut().push(done.clone());
        let conns: Vec<Rc<Conn>> = self
            .shared
            .conns
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for c in conns {
            Conn::shut_down(&c);
        }
        done
    }

    /// Open connections right now.
    pub fn connection_count(&self) -> usize {
        self.shared.conns.borrow().len()
    }
}
