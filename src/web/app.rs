//! [`Application`]: routes requests to handlers, turns errors and panics into error pages.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use http::{HeaderValue, Method, StatusCode};

use super::args::FormLimits;
use super::context::Context;
use super::route::Pattern;
use super::static_files::StaticFiles;
use crate::error::{panic_message, Error, Result};
use crate::http::server::{HttpServer, HttpServerOptions, Request, Responder};
use crate::reactor::Handle;

/// What a handler returns: `Err(Error::http(404, "no such user"))` becomes an error page
/// with that status; any other error becomes a 500 page that does not show it.
pub type HandlerResult = Result<()>;

type Handler = Rc<dyn Fn(&mut Context) -> HandlerResult>;

/// Settings of an [`Application`].
///
/// ```
/// let o = squall::web::WebOptions::default().cookie_secret("s3cret").compress_response(true);
/// assert!(o.compress_response);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebOptions {
    /// Key of signed cookies ([`Context::set_signed_cookie`]); none by default.
    pub cookie_secret: Option<Vec<u8>>,
    /// Gzip responses of compressible types for clients that accept it (default off,
    /// as Tornado's `compress_response`; needs the `gzip` feature).
    pub compress_response: bool,
    /// Smallest body worth compressing (default 1 024 bytes).
    pub compress_min_length: usize,
    /// Log one line per request through `log` (target `squall::web::access`; default on).
    pub access_log: bool,
    /// Limits of decoded arguments and form bodies.
    pub forms: FormLimits,
    /// Options of the [`HttpServer`] made by [`Application::server`].
    pub server: HttpServerOptions,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            cookie_secret: None,
            compress_response: false,
            compress_min_length: 1024,
            access_log: true,
            forms: FormLimits::default(),
            server: HttpServerOptions::default(),
        }
    }
}

impl WebOptions {
    /// Sets the signed-cookie key.
    pub fn cookie_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.cookie_secret = Some(secret.as_ref().to_vec());
        self
    }
    /// Turns response compression on or off.
    pub fn compress_response(mut self, on: bool) -> Self {
        self.compress_response = on;
        self
    }
    /// Sets the smallest body worth compressing.
    pub fn compress_min_length(mut self, bytes: usize) -> Self {
        self.compress_min_length = bytes;
        self
    }
    /// Turns the access log on or off.
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }
    /// Sets the form limits.
    pub fn forms(mut self, forms: FormLimits) -> Self {
        self.forms = forms;
        self
    }
    /// Sets the server options.
    pub fn server(mut self, server: HttpServerOptions) -> Self {
        self.server = server;
        self
    }
}

struct Route {
    pattern: Pattern,
    methods: Vec<Method>,
    handler: Handler,
}

pub(crate) struct AppInner {
    routes: Vec<Route>,
    options: Rc<WebOptions>,
}

/// A web application (Tornado's `Application`): routes of method + path pattern to
/// handlers, on an [`HttpServer`].
///
/// Handlers are closures `Fn(&mut Context) -> HandlerResult`; state is whatever they
/// capture (an `Rc<RefCell<_>>` to share it). A `GET` route also answers `HEAD`. A path no
/// route matches is 404; a path matched only for other methods is 405 with `Allow`.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::web::{Application, Context};
/// use squall::{Error, Reactor};
///
/// let mut reactor = Reactor::new()?;
/// let app = Application::new()
///     .get("/", |ctx: &mut Context| {
///         ctx.send_text("hello\n");
///         Ok(())
///     })
///     .get("/users/{id}", |ctx: &mut Context| {
///         let id: u32 = ctx.param("id").unwrap_or("").parse()
///             .map_err(|_| Error::http(400, "id must be a number"))?;
///         let greeting = ctx.argument_or("greeting", "hi").to_string();
///         ctx.send_text(format!("{greeting}, user {id}\n"));
///         Ok(())
///     });
/// let server = app.server(&reactor.handle());
/// let addr = server.listen("127.0.0.1:0")?;
/// # let _ = addr;
/// // reactor.run()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Application {
    inner: Rc<AppInner>,
}

impl fmt::Debug for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<String> = self
            .inner
            .routes
            .iter()
            .map(|r| format!("{:?} {}", r.methods, r.pattern.as_str()))
            .collect();
        f.debug_struct("Application")
            .field("routes", &routes)
            .finish()
    }
}

impl Default for Application {
    fn default() -> Self {
        Self::new()
    }
}

impl Application {
    /// An application with no routes and default [`WebOptions`].
    pub fn new() -> Self {
        Self::with_options(WebOptions::default())
    }

    /// An application with `options`.
    pub fn with_options(options: WebOptions) -> Self {
        Application {
            inner: Rc::new(AppInner {
                routes: Vec::new(),
                options: Rc::new(options),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut AppInner {
        Rc::get_mut(&mut self.inner).expect("routes are added before the application is shared")
    }

    /// Adds a route for `methods` and `pattern` (see [`Pattern`]). Routes are tried in the
    /// order added.
    ///
    /// # Panics
    /// If `pattern` is malformed (a programming error, caught at start-up), or once the
    /// application serves (after [`server`](Self::server) or [`handler`](Self::handler)
    /// cloned it).
    pub fn route(
        mut self,
        methods: &[Method],
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        let pattern = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
        self.inner_mut().routes.push(Route {
            pattern,
            methods: methods.to_vec(),
            handler: Rc::new(handler),
        });
        self
    }

    /// A `GET` (and `HEAD`) route.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        self.route(&[Method::GET], pattern, handler)
    }

    /// A `POST` route.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        self.route(&[Method::POST], pattern, handler)
    }

    /// Serves the files under directory `root` at `prefix/...` with a [`StaticFiles`]
    /// handler (`GET` and `HEAD`).
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn static_files(self, prefix: &str, root: impl Into<PathBuf>) -> Self {
        let files = StaticFiles::new(root);
        let pattern = format!("{}/{{*path}}", prefix.trim_end_matches('/'));
        self.get(&pattern, move |ctx| {
            let path = ctx.param("path").unwrap_or("").to_string();
            files.serve(ctx, &path)
        })
    }

    /// The options.
    pub fn options(&self) -> &WebOptions {
        &self.inner.options
    }

    /// The request handler for an [`HttpServer`] of your own (with
    /// [`HttpServer::new`]).
    pub fn handler(&self) -> impl FnMut(Request, Responder) + 'static {
        let inner = self.inner.clone();
        move |req, resp| dispatch(&inner, req, resp)
    }

    /// An [`HttpServer`] on `handle` serving this application with
    /// [`WebOptions::server`]; call [`HttpServer::listen`] on it.
    pub fn server(&self, handle: &Handle) -> HttpServer {
        HttpServer::with_options(handle, self.inner.options.server.clone(), self.handler())
    }
}

fn dispatch(app: &Rc<AppInner>, req: Request, resp: Responder) {
    let start = Instant::now();
    let mut allowed: Vec<Method> = Vec::new();
    let mut found = None;
    for route in &app.routes {
        let Some(params) = route.pattern.matches(req.path()) else {
            continue;
        };
        let head_as_get = req.method == Method::HEAD && route.methods.contains(&Method::GET);
        if route.methods.contains(&req.method) || head_as_get {
            found = Some((route.handler.clone(), params));
            break;
        }
        for m in &route.methods {
            if !allowed.contains(m) {
                allowed.push(m.clone());
            }
            if *m == Method::GET && !allowed.contains(&Method::HEAD) {
                allowed.push(Method::HEAD);
            }
        }
    }
    let mut ctx = Context::new(app.options.clone(), req, resp, start);
    let Some((handler, params)) = found else {
        if allowed.is_empty() {
            ctx.send_error(&Error::http(404, "Not Found"));
        } else {
            let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                ctx.headers_mut().insert(http::header::ALLOW, v);
            }
            ctx.send_error(&Error::http(405, "Method Not Allowed"));
        }
        return;
    };
    if let Err(e) = ctx.prepare(params) {
        ctx.send_error(&e);
        return;
    }
    match catch_unwind(AssertUnwindSafe(|| handler(&mut ctx))) {
        Ok(Ok(())) => ctx.finish_if_pending(),
        Ok(Err(e)) => {
            if !matches!(e, Error::Http { .. }) {
                log::error!(
                    "handler for {} {} failed: {e}",
                    ctx.request().method,
                    ctx.request().uri
                );
            }
            ctx.send_error(&e);
        }
        Err(payload) => {
            log::error!(
                "handler for {} {} panicked: {}",
                ctx.request().method,
                ctx.request().uri,
                panic_message(&*payload)
            );
            ctx.send_error(&Error::http(500, "Internal Server Error"));
            // The page is out; the panic goes on to the server, which raises it again
            // from a loop callback so the reactor's panic policy applies.
            drop(ctx);
            std::panic::resume_unwind(payload);
        }
    }
}

/// The status an error page gets for `e`.
pub(crate) fn error_status(e: &Error) -> StatusCode {
    match e {
        Error::Http { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
