//! [`Application`]: routes requests to handlers, turns errors and panics into error pages.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use http::{HeaderValue, Method};

use super::context::hooks::Shared;
use super::context::Context;
use super::options::WebOptions;
use super::outcome::HandlerResult;
use super::route::Pattern;
use super::static_files::StaticFiles;
use super::static_url::StaticUrls;
use crate::error::{panic_message, Error, Result};
use crate::http::server::{HttpServer, Request, Responder};
use crate::reactor::Handle;

type Handler = Rc<dyn Fn(&mut Context) -> HandlerResult>;

struct Route {
    pattern: Pattern,
    methods: Vec<Method>,
    handler: Handler,
    /// Not subject to [`WebOptions::xsrf_cookies`] ([`Application::xsrf_exempt`]).
    xsrf_exempt: bool,
}

pub(crate) struct AppInner {
    routes: Vec<Route>,
    shared: Rc<Shared>,
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
    ///
    /// With [`WebOptions::static_path`] set, a route serving it under
    /// [`WebOptions::static_url_prefix`] comes first.
    pub fn with_options(options: WebOptions) -> Self {
        let statics = options.static_path.clone();
        let prefix = options.static_url_prefix.clone();
        let static_urls = statics
            .clone()
            .map(|dir| Arc::new(StaticUrls::new(dir, &prefix)));
        let app = Application {
            inner: Rc::new(AppInner {
                routes: Vec::new(),
                shared: Rc::new(Shared {
                    options,
                    static_urls,
                    ..Shared::default()
                }),
            }),
        };
        match statics {
            Some(dir) => app.static_files(&prefix, dir),
            None => app,
        }
    }

    fn inner_mut(&mut self) -> &mut AppInner {
        Rc::get_mut(&mut self.inner).expect("routes are added before the application is shared")
    }

    pub(crate) fn shared_mut(&mut self) -> &mut Shared {
        Rc::get_mut(&mut self.inner_mut().shared)
            .expect("settings are made before the application is shared")
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
            xsrf_exempt: false,
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

    /// A `PUT` route.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn put(
        self,
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        self.route(&[Method::PUT], pattern, handler)
    }

    /// A `DELETE` route.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn delete(
        self,
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        self.route(&[Method::DELETE], pattern, handler)
    }

    /// A `PATCH` route.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn patch(
        self,
        pattern: &str,
        handler: impl Fn(&mut Context) -> HandlerResult + 'static,
    ) -> Self {
        self.route(&[Method::PATCH], pattern, handler)
    }

    /// Names the route added last, for [`reverse_url`](Self::reverse_url) and
    /// [`Context::reverse_url`] (Tornado's `url(..., name=...)`). Several routes of one
    /// pattern (a `GET` and a `POST`) may share a name.
    ///
    /// ```
    /// use squall::web::{Application, Context};
    /// let app = Application::new()
    ///     .get("/entry/{slug}", |ctx: &mut Context| Ok(()))
    ///     .name("entry");
    /// assert_eq!(app.reverse_url("entry", &["hello world"]).unwrap(), "/entry/hello%20world");
    /// ```
    ///
    /// # Panics
    /// With no route added yet, or when another pattern already has this name (programming
    /// errors, caught at start-up), or once the application serves.
    pub fn name(mut self, name: &str) -> Self {
        let pattern = self
            .inner
            .routes
            .last()
            .unwrap_or_else(|| panic!("name({name:?}) before any route"))
            .pattern
            .clone();
        let names = &mut self.shared_mut().names;
        match names.iter().find(|(n, _)| n == name) {
            Some((_, p)) if *p == pattern => {}
            Some((_, p)) => panic!("route name {name:?} already names {}", p.as_str()),
            None => names.push((name.to_string(), pattern)),
        }
        self
    }

    /// Exempts the route added last from the XSRF check of
    /// [`WebOptions::xsrf_cookies`] (in Tornado, a handler overriding
    /// `check_xsrf_cookie` to do nothing): for an endpoint other sites call by design — a
    /// webhook, an API authenticated by a header rather than a cookie. Other routes,
    /// those of the same path for other methods included, keep the check. The route
    /// must protect itself otherwise (a signature, a token header): a browser's cookies
    /// go with a cross-site POST to it.
    ///
    /// ```
    /// use squall::web::{Application, Context, WebOptions};
    /// let app = Application::with_options(WebOptions::default().xsrf_cookies(true))
    ///     .post("/hooks/push", |ctx: &mut Context| {
    ///         // check the sender's signature header here
    ///         ctx.send_text("thanks");
    ///         Ok(())
    ///     })
    ///     .xsrf_exempt();
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// With no route added yet, or once the application serves.
    pub fn xsrf_exempt(mut self) -> Self {
        self.inner_mut()
            .routes
            .last_mut()
            .expect("xsrf_exempt() before any route")
            .xsrf_exempt = true;
        self
    }

    /// The path of the route named `name` with its parameters set to `args` in order,
    /// each percent-encoded (Tornado's `reverse_url`; see [`Pattern::reverse`]).
    ///
    /// # Errors
    /// [`Error::InvalidState`] for an unknown name or the wrong number of arguments.
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String> {
        self.inner.shared.reverse_url(name, args)
    }

    /// Sets the hook telling who is signed in (Tornado's `get_current_user`), read by
    /// [`Context::current_user`] and the [`authenticated`](super::authenticated) guard:
    /// typically a signed cookie set at login. It runs at most once per request, when
    /// first asked.
    ///
    /// # Panics
    /// Once the application serves.
    pub fn current_user(mut self, hook: impl Fn(&Context) -> Option<String> + 'static) -> Self {
        self.shared_mut().current_user = Some(Rc::new(hook));
        self
    }

    /// Sets a hook run before every handler, after the XSRF check (Tornado's `prepare`):
    /// it may answer the request itself (then the handler does not run), return an error
    /// for an error page, or return `Ok` to let the handler run.
    ///
    /// ```
    /// use squall::web::{Application, Context};
    /// let app = Application::new()
    ///     .prepare(|ctx: &mut Context| {
    ///         if ctx.header("x-maintenance").is_some() {
    ///             ctx.set_status(squall::web::StatusCode::SERVICE_UNAVAILABLE);
    ///             ctx.send_text("back soon");
    ///         }
    ///         Ok(())
    ///     })
    ///     .get("/", |ctx: &mut Context| { ctx.send_text("hi"); Ok(()) });
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// Once the application serves.
    pub fn prepare(mut self, hook: impl Fn(&mut Context) -> HandlerResult + 'static) -> Self {
        self.shared_mut().prepare = Some(Rc::new(hook));
        self
    }

    /// Sets a hook run, from the loop, after every response went out — error pages and
    /// answers of detached contexts included (Tornado's `on_finish`): for metrics or
    /// clean-up.
    ///
    /// # Panics
    /// Once the application serves.
    pub fn on_finish(mut self, hook: impl Fn(&super::Finished) + 'static) -> Self {
        self.shared_mut().on_finish = Some(Rc::new(hook));
        self
    }

    /// Sets headers every response starts with, error pages included (Tornado's
    /// `set_default_headers`); a handler may replace or remove them.
    ///
    /// ```
    /// use squall::web::{header, Application, HeaderMap, HeaderValue};
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::SERVER, HeaderValue::from_static("squall"));
    /// headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    /// let app = Application::new().default_headers(headers);
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// Once the application serves.
    pub fn default_headers(mut self, headers: http::HeaderMap) -> Self {
        self.shared_mut().default_headers = headers;
        self
    }

    /// Sets the hook that renders error pages (Tornado's `write_error`): it gets the
    /// context — status already set from the error, handler headers dropped — and the
    /// error, and answers (with [`Context::send_html`], say). If it does not answer, or
    /// fails, squall's own page is sent. Errors that are not [`Error::Http`] carry
    /// internals: show their status only.
    ///
    /// ```
    /// use squall::web::{escape_html, Application, Context};
    /// use squall::Error;
    /// let app = Application::new().write_error(|ctx: &mut Context, e: &Error| {
    ///     let status = ctx.status();
    ///     let text = match e {
    ///         Error::Http { message, .. } => escape_html(message),
    ///         _ => "Something went wrong".to_string(),
    ///     };
    ///     ctx.send_html(format!("<h1>{}</h1><p>{text}</p>", status.as_u16()));
    ///     Ok(())
    /// });
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// Once the application serves.
    pub fn write_error(
        mut self,
        hook: impl Fn(&mut Context, &Error) -> HandlerResult + 'static,
    ) -> Self {
        self.shared_mut().write_error = Some(Rc::new(hook));
        self
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
        &self.inner.shared.options
    }

    /// The request handler for an [`HttpServer`] of your own (with
    /// [`HttpServer::new`]).
    ///
    /// # Panics
    /// When [`validate`](Self::validate) fails (a misconfiguration, caught at start-up
    /// rather than as a 500 on the first request).
    pub fn handler(&self) -> impl FnMut(Request, Responder) + 'static + use<> {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let inner = self.inner.clone();
        move |req, resp| dispatch(&inner, req, resp)
    }

    /// Checks the settings before serving: a [`WebOptions::cookie_secret`], if set, is
    /// not empty (an empty key signs cookies anyone can forge), and a
    /// [`current_user_cookie`](Self::current_user_cookie) has one.
    /// [`server`](Self::server) and [`handler`](Self::handler) call it and panic on an
    /// error; call it first to report the error your own way.
    ///
    /// Signed cookies a handler sets or reads itself ([`Context::set_signed_cookie`],
    /// [`Context::signed_cookie`]) cannot be seen here: without a secret, setting one
    /// fails ([`Error::InvalidState`] naming the setting, a 500 page with the cause
    /// logged) and reading one finds none. XSRF protection needs no secret.
    ///
    /// ```
    /// use squall::web::{Application, WebOptions};
    /// assert!(Application::new().current_user_cookie("user").validate().is_err());
    /// let app = Application::with_options(WebOptions::default().cookie_secret("k"))
    ///     .current_user_cookie("user");
    /// assert!(app.validate().is_ok());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidState`] naming the missing setting.
    pub fn validate(&self) -> Result<()> {
        let shared = &self.inner.shared;
        let secret = shared.options.cookie_secret.as_deref();
        if secret.is_some_and(<[u8]>::is_empty) {
            return Err(Error::invalid_state(
                "WebOptions::cookie_secret is empty: signed cookies would be forgeable",
            ));
        }
        if shared.signed_cookies && secret.is_none() {
            return Err(Error::invalid_state(
                "signed cookies are used (current_user_cookie) but WebOptions::cookie_secret is not set",
            ));
        }
        Ok(())
    }

    /// Reads the signed-in user from the signed cookie `name` (set at login with
    /// [`Context::set_signed_cookie`]): a [`current_user`](Self::current_user) hook
    /// for the common case. Needs [`WebOptions::cookie_secret`], checked by
    /// [`validate`](Self::validate).
    ///
    /// # Panics
    /// Once the application serves.
    pub fn current_user_cookie(mut self, name: &str) -> Self {
        let name = name.to_string();
        self.shared_mut().signed_cookies = true;
        self.current_user(move |ctx: &Context| {
            ctx.signed_cookie(&name)
                .and_then(|v| String::from_utf8(v).ok())
        })
    }

    /// An [`HttpServer`] on `handle` serving this application with
    /// [`WebOptions::server`]; call [`HttpServer::listen`] on it.
    ///
    /// # Panics
    /// As [`handler`](Self::handler).
    pub fn server(&self, handle: &Handle) -> HttpServer {
        HttpServer::with_options(
            handle,
            self.inner.shared.options.server.clone(),
            self.handler(),
        )
    }
}

fn dispatch(app: &Rc<AppInner>, req: Request, resp: Responder) {
    let start = resp.handle().now();
    let mut allowed: Vec<Method> = Vec::new();
    let mut found = None;
    for route in &app.routes {
        let Some(params) = route.pattern.matches(req.path()) else {
            continue;
        };
        let head_as_get = req.method == Method::HEAD && route.methods.contains(&Method::GET);
        if route.methods.contains(&req.method) || head_as_get {
            found = Some((route.handler.clone(), params, route.xsrf_exempt));
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
    let mut ctx = Context::new(app.shared.clone(), req, resp, start);
    let Some((handler, params, xsrf_exempt)) = found else {
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
    let safe = matches!(
        ctx.request().method,
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if app.shared.options.xsrf_cookies
        && !safe
        && !xsrf_exempt
        && let Err(e) = ctx.check_xsrf_cookie()
    {
        ctx.send_error(&e);
        return;
    }
    if let Some(prepare) = app.shared.prepare.clone() {
        match catch_unwind(AssertUnwindSafe(|| prepare(&mut ctx))) {
            Ok(Ok(())) if ctx.is_finished() => return,
            Ok(Ok(())) => {}
            Ok(Err(e)) => return handler_failed(&mut ctx, e),
            Err(payload) => handler_panicked(ctx, payload),
        }
    }
    let result = catch_unwind(AssertUnwindSafe(|| handler(&mut ctx)));
    let reclaimed = ctx.reclaim_detached();
    match result {
        Ok(Ok(())) if reclaimed => {
            log::error!(
                "handler for {} {} dropped its detached context unanswered",
                ctx.request().method,
                ctx.request().uri
            );
            ctx.send_error(&Error::http(500, "Internal Server Error"));
        }
        Ok(Ok(())) => ctx.finish_if_pending(),
        Ok(Err(e)) => handler_failed(&mut ctx, e),
        Err(payload) => handler_panicked(ctx, payload),
    }
}

/// A handler (or hook) returned `e`: the error page, logged unless it is an HTTP error.
pub(crate) fn handler_failed(ctx: &mut Context, e: Error) {
    if !matches!(e, Error::Http { .. }) {
        log::error!(
            "handler for {} {} failed: {e}",
            ctx.request().method,
            ctx.request().uri
        );
    }
    ctx.send_error(&e);
}

/// A handler (or hook) panicked: a 500 page, then the panic goes on.
fn handler_panicked(mut ctx: Context, payload: Box<dyn std::any::Any + Send>) -> ! {
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
