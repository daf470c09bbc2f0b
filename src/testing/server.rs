//! A server under test on its own reactor (Tornado's `AsyncHTTPTestCase`).

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::http::client::AsyncHttpClient;
use crate::http::server::{HttpServer, HttpServerOptions, Request, Responder};
use crate::http::{HttpRequest, HttpResponse};
use crate::reactor::{real_now, Handle, Reactor};
use crate::web::Application;
use crate::websocket::{connect, WebSocket, WebSocketOptions};

/// The default real-time bound on [`TestServer::fetch`], [`TestServer::websocket`] and
/// [`TestServer::run_until`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a [`TestServer`] is built: its reactor's clock, the real-time bound on waits, the
/// server's options. From [`TestServer::builder`].
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::time::Duration;
/// use squall::http::HttpServerOptions;
/// use squall::testing::TestServer;
/// let options = HttpServerOptions::default().idle_connection_timeout(Some(Duration::from_secs(30)));
/// let server = TestServer::builder()
///     .virtual_clock(true)
///     .timeout(Duration::from_secs(5))
///     .server_options(options)
///     .handler(|_req, resp| resp.send("ok"))?;
/// # drop(server);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestServerBuilder {
    virtual_clock: bool,
    auto_advance: bool,
    timeout: Duration,
    server_options: Option<HttpServerOptions>,
}

impl Default for TestServerBuilder {
    fn default() -> Self {
        TestServerBuilder {
            virtual_clock: false,
            auto_advance: false,
            timeout: DEFAULT_TIMEOUT,
            server_options: None,
        }
    }
}

impl TestServerBuilder {
    /// Builds the reactor with a virtual clock
    /// ([`Builder::virtual_clock`](crate::reactor::Builder::virtual_clock)).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let builder = squall::testing::TestServer::builder().virtual_clock(true);
    /// let server = builder.handler(|_, resp| resp.send(""))?;
    /// assert!(server.handle().is_virtual_clock());
    /// # Ok(()) }
    /// ```
    pub fn virtual_clock(mut self, yes: bool) -> Self {
        self.virtual_clock = yes;
        self
    }

    /// Builds the reactor with a virtual clock that jumps to the next timer whenever the
    /// loop is idle ([`Builder::auto_advance`](crate::reactor::Builder::auto_advance)).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let mut server = squall::testing::TestServer::builder()
    ///     .auto_advance(true)
    ///     .handler(|_, resp| resp.send(""))?;
    /// let (h, t0) = (server.handle(), server.handle().now());
    /// let day = squall::Future::new();
    /// let d = day.clone();
    /// h.call_later(Duration::from_secs(86_400), move || d.set_result(()));
    /// server.run_until(&day)?; // at once
    /// assert_eq!(h.now() - t0, Duration::from_secs(86_400));
    /// # Ok(()) }
    /// ```
    pub fn auto_advance(mut self, yes: bool) -> Self {
        self.auto_advance = yes;
        self
    }

    /// The longest real time [`fetch`](TestServer::fetch),
    /// [`websocket`](TestServer::websocket) and [`run_until`](TestServer::run_until)
    /// wait before failing with [`Error::Timeout`] (default 30 s). Real, not virtual: a
    /// virtual clock does not move while the loop waits.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// use std::{cell::RefCell, rc::Rc};
    /// let parked = Rc::new(RefCell::new(Vec::new())); // responders kept, never answered
    /// let p = parked.clone();
    /// let mut server = squall::testing::TestServer::builder()
    ///     .timeout(Duration::from_millis(20))
    ///     .handler(move |_req, resp| p.borrow_mut().push(resp))?;
    /// assert!(matches!(server.fetch("/"), Err(squall::Error::Timeout)));
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Options for the `HttpServer` (an application's own server options are used when
    /// not set).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::http::HttpServerOptions;
    /// let options = HttpServerOptions::default().server_header(Some("test".into()));
    /// let mut server = squall::testing::TestServer::builder()
    ///     .server_options(options)
    ///     .handler(|_, resp| resp.send(""))?;
    /// assert_eq!(server.fetch("/")?.headers["server"], "test");
    /// # Ok(()) }
    /// ```
    pub fn server_options(mut self, options: HttpServerOptions) -> Self {
        self.server_options = Some(options);
        self
    }

    /// Serves `app`.
    ///
    /// # Errors
    /// [`Error::Io`] if the reactor or the listening socket cannot be created.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::web::Application;
    /// let app = Application::new().get("/", |ctx| { ctx.send("home"); Ok(()) });
    /// let mut server = squall::testing::TestServer::builder().virtual_clock(true).app(app)?;
    /// assert_eq!(&server.fetch("/")?.body[..], b"home");
    /// # Ok(()) }
    /// ```
    pub fn app(self, app: Application) -> Result<TestServer> {
        let options = self.server_options.clone();
        self.start(move |handle| match options {
            Some(o) => HttpServer::with_options(handle, o, app.handler()),
            None => app.server(handle),
        })
    }

    /// Serves `handler` (an [`HttpServer`] handler).
    ///
    /// # Errors
    /// As [`app`](Self::app).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut server = squall::testing::TestServer::builder()
    ///     .virtual_clock(true)
    ///     .handler(|_, resp| resp.send("ok"))?;
    /// assert_eq!(&server.fetch("/")?.body[..], b"ok");
    /// # Ok(()) }
    /// ```
    pub fn handler(self, handler: impl FnMut(Request, Responder) + 'static) -> Result<TestServer> {
        let options = self.server_options.clone().unwrap_or_default();
        self.start(move |handle| HttpServer::with_options(handle, options, handler))
    }

    fn start(self, server: impl FnOnce(&Handle) -> HttpServer) -> Result<TestServer> {
        let reactor = Reactor::builder()
            .virtual_clock(self.virtual_clock)
            .auto_advance(self.auto_advance)
            .build()?;
        let handle = reactor.handle();
        let server = server(&handle);
        let (listener, _) = super::bind_unused_port()?;
        let addr = listener.local_addr()?;
        server.add_listener(listener)?;
        let client = AsyncHttpClient::new(&handle);
        Ok(TestServer {
            reactor,
            handle,
            server,
            client,
            addr,
            timeout: self.timeout,
        })
    }
}

/// An [`Application`] or an [`HttpServer`] handler listening on `127.0.0.1` (a free
/// port) on its own reactor, with a client: [`fetch`](Self::fetch) and
/// [`websocket`](Self::websocket) run the loop until the answer arrives, bounded in real
/// time. Build it with a virtual clock to test timeouts without waiting.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::testing::TestServer;
/// use squall::web::Application;
///
/// let app = Application::new().get("/hello/{name}", |ctx| {
///     let name = ctx.param("name").unwrap_or("").to_string();
///     ctx.send(format!("hello {name}"));
///     Ok(())
/// });
/// let mut server = TestServer::app(app)?;
/// let response = server.fetch("/hello/world")?;
/// assert_eq!(response.status, 200);
/// assert_eq!(&response.body[..], b"hello world");
/// assert_eq!(server.fetch("/nowhere")?.status, 404);
/// # Ok(()) }
/// ```
pub struct TestServer {
    reactor: Reactor,
    handle: Handle,
    server: HttpServer,
    client: AsyncHttpClient,
    addr: SocketAddr,
    timeout: Duration,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Options: clock, wait bound, server options.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let server = squall::testing::TestServer::builder().handler(|_, resp| resp.send(""))?;
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// Serves `app` on a real clock with the default options.
    ///
    /// # Errors
    /// [`Error::Io`] if the reactor or the listening socket cannot be created.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let app = squall::web::Application::new();
    /// let mut server = squall::testing::TestServer::app(app)?;
    /// assert_eq!(server.fetch("/")?.status, 404);
    /// # Ok(()) }
    /// ```
    pub fn app(app: Application) -> Result<TestServer> {
        Self::builder().app(app)
    }

    /// Serves an [`HttpServer`] handler on a real clock with the default options.
    ///
    /// # Errors
    /// As [`app`](Self::app).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut server = squall::testing::TestServer::handler(|req, resp| {
    ///     resp.send(format!("you asked for {}", req.path()));
    /// })?;
    /// assert_eq!(&server.fetch("/x")?.body[..], b"you asked for /x");
    /// # Ok(()) }
    /// ```
    pub fn handler(handler: impl FnMut(Request, Responder) + 'static) -> Result<TestServer> {
        Self::builder().handler(handler)
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let server = squall::testing::TestServer::handler(|_, resp| resp.send(""))?;
    /// assert!(server.url("/a").starts_with("http://127.0.0.1:"));
    /// assert!(server.url("/a").ends_with("/a"));
    /// # Ok(()) }
    /// ```
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The listening address.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let server = squall::testing::TestServer::handler(|_, resp| resp.send(""))?;
    /// assert!(server.addr().ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let server = squall::testing::TestServer::handler(|_, resp| resp.send(""))?;
    /// assert_eq!(server.port(), server.addr().port());
    /// # Ok(()) }
    /// ```
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The reactor everything runs on (to run it yourself, e.g. `run_once`).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut server = squall::testing::TestServer::handler(|_, resp| resp.send("ok"))?;
    /// server.reactor().run_once(Some(std::time::Duration::ZERO))?;
    /// # Ok(()) }
    /// ```
    pub fn reactor(&mut self) -> &mut Reactor {
        &mut self.reactor
    }

    /// A handle to the reactor (timers, [`advance`](Handle::advance), [`now`](Handle::now)).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let server = squall::testing::TestServer::builder()
    ///     .virtual_clock(true)
    ///     .handler(|_, resp| resp.send(""))?;
    /// assert!(server.handle().is_virtual_clock());
    /// # Ok(()) }
    /// ```
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The server under test (connection count, `close_all_connections`).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut server = squall::testing::TestServer::handler(|_, resp| resp.send("ok"))?;
    /// server.fetch("/")?;
    /// assert_eq!(server.server().connection_count(), 1); // kept alive
    /// # Ok(()) }
    /// ```
    pub fn server(&self) -> &HttpServer {
        &self.server
    }

    /// The client [`fetch`](Self::fetch) uses (its connections are pooled).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut server = squall::testing::TestServer::handler(|_, resp| resp.send("ok"))?;
    /// server.fetch("/")?;
    /// assert_eq!(server.client().idle_connections(), 1); // pooled
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &AsyncHttpClient {
        &self.client
    }

    /// Fetches `request` and runs the loop until the response arrives. A request whose
    /// URL is a path (`"/x"`, or `HttpRequest::post("/x", body)`) goes to this server.
    /// Any status is `Ok` (see [`HttpResponse::error_for_status`]).
    ///
    /// # Errors
    /// [`Error::Timeout`] when no response came within the real-time bound (see
    /// [`TestServerBuilder::timeout`]); the client's errors otherwise.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::http::HttpRequest;
    /// let mut server = squall::testing::TestServer::handler(|req, resp| {
    ///     resp.send(req.method.to_string());
    /// })?;
    /// let response = server.fetch(HttpRequest::post("/", "body"))?;
    /// assert_eq!(&response.body[..], b"POST");
    /// # Ok(()) }
    /// ```
    pub fn fetch(&mut self, request: impl Into<HttpRequest>) -> Result<HttpResponse> {
        let mut request = request.into();
        if let Err((raw, _)) = &request.url
            && raw.starts_with('/')
        {
            let full = self.url(raw);
            request.url = url::Url::parse(&full).map_err(|e| (full, e));
        }
        let response = self.client.fetch(request);
        self.run_until(&response)
    }

    /// Opens a WebSocket to `path` on this server and runs the loop until it is
    /// connected.
    ///
    /// # Errors
    /// [`Error::Timeout`] past the real-time bound; the handshake's errors otherwise
    /// (e.g. [`Error::Http`] when the server answered without upgrading).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::websocket::Message;
    /// use squall::web::Application;
    /// use squall::websocket::WebSocketOptions;
    /// let app = Application::new().websocket("/echo", WebSocketOptions::default(), |_ctx, ws| {
    ///     ws.on_message(|ws, msg| ws.send(msg));
    ///     Ok(())
    /// });
    /// let mut server = squall::testing::TestServer::app(app)?;
    /// let ws = server.websocket("/echo")?;
    /// ws.send_text("hi");
    /// let reply = server.run_until(&ws.read_message())?;
    /// assert_eq!(reply, Some(Message::Text("hi".into())));
    /// # Ok(()) }
    /// ```
    pub fn websocket(&mut self, path: &str) -> Result<WebSocket> {
        self.websocket_with(path, WebSocketOptions::default())
    }

    /// As [`websocket`](Self::websocket), with client options.
    ///
    /// # Errors
    /// As [`websocket`](Self::websocket).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::websocket::WebSocketOptions;
    /// let mut server = squall::testing::TestServer::handler(|_, resp| resp.send("no upgrade"))?;
    /// let r = server.websocket_with("/", WebSocketOptions::default());
    /// assert!(matches!(r, Err(squall::Error::Http { status: 200, .. })));
    /// # Ok(()) }
    /// ```
    pub fn websocket_with(&mut self, path: &str, options: WebSocketOptions) -> Result<WebSocket> {
        let url = format!("ws://{}{path}", self.addr);
        let ws = connect(&self.handle, &url, options);
        self.run_until(&ws)
    }

    /// Runs the loop until `future` is done and returns its result, failing with
    /// [`Error::Timeout`] after the real-time bound.
    ///
    /// # Errors
    /// [`Error::Timeout`] past the bound; the future's error otherwise.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let mut server = squall::testing::TestServer::builder()
    ///     .timeout(Duration::from_millis(50))
    ///     .handler(|_, resp| resp.send(""))?;
    /// let never: squall::Future<()> = squall::Future::new();
    /// assert!(matches!(server.run_until(&never), Err(squall::Error::Timeout)));
    /// # Ok(()) }
    /// ```
    pub fn run_until<T: 'static>(&mut self, future: &Future<T>) -> Result<T> {
        let deadline = real_now() + self.timeout;
        while !future.is_done() {
            let left = deadline.saturating_duration_since(real_now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.reactor
                .run_once(Some(left.min(Duration::from_millis(100))))?;
        }
        self.reactor.run_until(future)
    }

    /// Runs the loop until nothing is left to do now: no callback queued, no timer due,
    /// and two iterations in a row polled no I/O event and ran nothing. Bounded by the
    /// real-time bound.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the loop stays busy past the bound.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::{cell::Cell, rc::Rc};
    /// let mut server = squall::testing::TestServer::handler(|_, resp| resp.send("ok"))?;
    /// let ran = Rc::new(Cell::new(false));
    /// let r = ran.clone();
    /// server.handle().add_callback(move || r.set(true));
    /// server.run_until_idle()?;
    /// assert!(ran.get());
    /// # Ok(()) }
    /// ```
    pub fn run_until_idle(&mut self) -> Result<()> {
        let deadline = real_now() + self.timeout;
        let mut quiet = 0;
        while quiet < 2 {
            if real_now() >= deadline {
                return Err(Error::Timeout);
            }
            let inner = &self.handle.inner;
            let before = (
                inner.counters.events.get(),
                inner.counters.callbacks_run.get(),
            );
            self.reactor.run_once(Some(Duration::ZERO))?;
            let after = (
                inner.counters.events.get(),
                inner.counters.callbacks_run.get(),
            );
            if before == after && inner.quiet() {
                quiet += 1;
            } else {
                quiet = 0;
            }
        }
        Ok(())
    }

    /// Moves the virtual clock forward by `by` (see [`Handle::advance`]), then runs the
    /// loop until idle ([`run_until_idle`](Self::run_until_idle)): the timers now due
    /// have fired, and what they started (a close, a reply) has run.
    ///
    /// # Panics
    /// If the server was not built with a virtual clock, or the loop stays busy past the
    /// real-time bound.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let mut server = squall::testing::TestServer::builder()
    ///     .virtual_clock(true)
    ///     .handler(|_, resp| resp.send(""))?;
    /// let fired = Rc::new(Cell::new(false));
    /// let f = fired.clone();
    /// server.handle().call_later(Duration::from_secs(60), move || f.set(true));
    /// server.advance(Duration::from_secs(59));
    /// assert!(!fired.get());
    /// server.advance(Duration::from_secs(1));
    /// assert!(fired.get());
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn advance(&mut self, by: Duration) {
        self.handle.advance(by);
        self.run_until_idle()
            .expect("the loop kept busy after advancing the clock");
    }
}
