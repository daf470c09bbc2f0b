//! [`Context`]: one request and the means to answer it (Tornado's `RequestHandler`).

pub(super) mod hooks;

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};

use self::hooks::{Finished, Shared};
use super::args::Arguments;
use super::cookie::{self, CookieOptions};
use super::multipart::UploadedFile;
use super::outcome::error_status;
use super::xsrf::{self, RawToken, XSRF_COOKIE};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::http::server::{Request, Responder};
use crate::reactor::Handle;

/// Days a signed cookie is valid for when read ([`Context::signed_cookie`]), as Tornado.
pub const SIGNED_COOKIE_MAX_AGE_DAYS: u64 = 31;
/// Days a signed cookie is kept by the browser ([`Context::set_signed_cookie`]).
pub const SIGNED_COOKIE_EXPIRES_DAYS: u64 = 30;

/// One request being handled: its decoded arguments, path parameters and cookies, and
/// the response being built.
///
/// A handler answers with one of the `send*` methods, streams with
/// [`write`](Self::write) + [`finish`](Self::finish), or returns an error for an error
/// page. If it returns `Ok` without answering, an empty 200 (or the status set) is sent.
/// To answer later (long polling), [`detach`](Self::detach) the context and keep it.
#[doc(alias = "RequestHandler")]
pub struct Context {
    /// The settings only, not the routes: a parked context kept in a route's state
    /// must not keep that route alive (an `Rc` cycle).
    app: Rc<Shared>,
    request: Request,
    responder: Option<Responder>,
    status: StatusCode,
    params: Vec<(String, String)>,
    args: Arguments,
    start: Instant,
    /// The loop's clock (request timing, cookie and XSRF timestamps).
    pub(super) clock: crate::reactor::Handle,
    spare: HeaderMap,
    /// This request's XSRF token (from the cookie, or new) and its masked form.
    xsrf: Option<(RawToken, String)>,
    /// The `current_user` hook's answer, asked once.
    current_user: std::cell::OnceCell<Option<String>>,
    /// The `write_error` hook is running (an error inside it gets the default page).
    in_write_error: bool,
    /// Between a context detached during its handler and the husk the handler still
    /// holds: a detached context dropped unanswered before the handler returned leaves
    /// its responder here, so the handler's error is still sent with its status.
    slot: Option<Rc<RefCell<Option<Responder>>>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("method", &self.request.method)
            .field("uri", &self.request.uri)
            .field("status", &self.status)
            .field("answered", &self.responder.is_none())
            .finish()
    }
}

impl Context {
    pub(crate) fn new(
        app: Rc<Shared>,
        request: Request,
        responder: Responder,
        start: Instant,
    ) -> Self {
        let mut responder = responder;
        let clock = responder.handle();
        for (name, value) in &app.default_headers {
            responder.headers_mut().append(name, value.clone());
        }
        Context {
            app,
            request,
            responder: Some(responder),
            status: StatusCode::OK,
            params: Vec::new(),
            args: Arguments::default(),
            start,
            clock,
            spare: HeaderMap::new(),
            xsrf: None,
            current_user: std::cell::OnceCell::new(),
            in_write_error: false,
            slot: None,
        }
    }

    /// Decodes arguments and keeps the path parameters.
    pub(crate) fn prepare(&mut self, params: Vec<(String, String)>) -> Result<()> {
        self.params = params;
        self.args = Arguments::decode(
            self.request.query(),
            self.request.header("content-type"),
            &self.request.body,
            &self.app.options.forms,
        )?;
        Ok(())
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The path of the application's route named `name` with its parameters set to
    /// `args` (Tornado's `reverse_url`; see [`Application::name`](super::Application::name)).
    ///
    /// # Errors
    /// [`Error::InvalidState`] for an unknown name or the wrong number of arguments.
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String> {
        self.app.reverse_url(name, args)
    }

    /// The URL of static file `path` (relative to
    /// [`WebOptions::static_path`](super::WebOptions::static_path)) with a hash of its
    /// content, `/static/app.css?v=…` (Tornado's `static_url`): served with a ten-year
    /// cache lifetime, and a new URL whenever the file changes (hashes are computed once
    /// per path and kept, up to [`STATIC_URL_CACHE_ENTRIES`](super::STATIC_URL_CACHE_ENTRIES)).
    /// `path` should name one of the application's files, not come from the request.
    /// Without a static path, `path` as given.
    pub fn static_url(&self, path: &str) -> String {
        match &self.app.static_urls {
            Some(u) => u.url(path),
            None => path.to_string(),
        }
    }

    /// Renders template `name` with `values` (any `Serialize`, typically
    /// `minijinja::context!` or a struct) and sends it as HTML (Tornado's `render`). See
    /// [`render_string`](Self::render_string).
    ///
    /// ```no_run
    /// use squall::web::{Application, Context, WebOptions};
    /// #[derive(serde::Serialize)]
    /// struct Page<'a> { title: &'a str, items: Vec<&'a str> }
    /// // templates/list.html: {% extends "base.html" %}{% block body %}
    /// //   <h1>{{ title }}</h1>{% for i in items %}<li>{{ i }}</li>{% endfor %}
    /// //   <form method="post">{{ xsrf_form_html }}<button>Add</button></form>
    /// // {% endblock %}
    /// let app = Application::with_options(
    ///         WebOptions::default().template_path("templates").xsrf_cookies(true))
    ///     .get("/", |ctx: &mut Context| {
    ///         ctx.render("list.html", Page { title: "<Todo>", items: vec!["a & b"] })
    ///     });
    /// # let _ = app;
    /// ```
    ///
    /// # Errors
    /// As [`render_string`](Self::render_string); nothing is sent then (returned from a
    /// handler: a 500 page, the cause logged).
    #[cfg(feature = "templates")]
    pub fn render<T: serde::Serialize>(&mut self, name: &str, values: T) -> Result<()> {
        let html = self.render_string(name, values)?;
        self.send_html(html);
        Ok(())
    }

    /// Renders template `name` from [`WebOptions::template_path`](super::WebOptions::template_path)
    /// with `values` and the per-request globals `current_user`, `request_path`, and
    /// with XSRF protection on, `xsrf_token` and `xsrf_form_html` (`values` win over
    /// them). `.html`, `.htm` and `.xml` templates escape every `{{ value }}` for HTML
    /// (`|safe` opts out). Templates are compiled at first use and kept.
    ///
    /// # Errors
    /// [`Error::InvalidState`] without a template path, for a missing template, a
    /// syntax error or a failed render (the message names the template and line).
    #[cfg(feature = "templates")]
    pub fn render_string<T: serde::Serialize>(&mut self, name: &str, values: T) -> Result<String> {
        use minijinja::Value;
        let dir = self
            .app
            .options
            .template_path
            .clone()
            .ok_or_else(|| Error::invalid_state("render needs WebOptions::template_path"))?;
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(
            "current_user",
            Value::from(self.current_user().map(str::to_string)),
        );
        extra.insert(
            "request_path",
            Value::from(self.request.uri.path().to_string()),
        );
        if self.app.options.xsrf_cookies {
            extra.insert("xsrf_token", Value::from(self.xsrf_token()));
            extra.insert(
                "xsrf_form_html",
                Value::from_safe_string(self.xsrf_form_html()),
            );
        }
        let app = self.app.clone();
        let templates = app.templates.get_or_init(|| {
            super::templates::Templates::new(dir, app.static_urls.clone(), app.names.clone())
        });
        templates.render(name, Value::from_serialize(&values), Value::from(extra))
    }

    /// The signed-in user, as the application's
    /// [`current_user`](super::Application::current_user) hook says (asked once per
    /// request, then remembered); `None` without a hook.
    pub fn current_user(&self) -> Option<&str> {
        self.current_user
            .get_or_init(|| self.app.current_user.clone().and_then(|hook| hook(self)))
            .as_deref()
    }

    /// Sets the signed-in user for the rest of this request (after a login form, say),
    /// in place of what the hook would say.
    pub fn set_current_user(&mut self, user: Option<String>) {
        self.current_user = std::cell::OnceCell::from(user);
    }

    /// [`WebOptions::login_url`](super::WebOptions::login_url).
    pub fn login_url(&self) -> Option<&str> {
        self.app.options.login_url.as_deref()
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }

    /// A path parameter of the route (`{id}` in `/users/{id}`), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded arguments (query and form body).
    pub fn arguments_all(&self) -> &Arguments {
        &self.args
    }

    /// Argument `name` from the query or a form body (the last value if repeated), as
    /// sent (not trimmed).
    ///
    /// # Errors
    /// [`Error::Http`] 400 "missing argument NAME" when absent: return it with `?`.
    pub fn argument(&self, name: &str) -> Result<&str> {
        self.args
            .last(name)
            .ok_or_else(|| Error::http(400, format!("missing argument {name}")))
    }

    /// Argument `name`, or `default` when absent.
    pub fn argument_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.args.last(name).unwrap_or(default)
    }

    /// Every value of argument `name`, query first.
    pub fn arguments(&self, name: &str) -> Vec<&str> {
        self.args.all(name).collect()
    }

    /// Argument `name` from the query string only.
    pub fn query_argument(&self, name: &str) -> Option<&str> {
        self.args
            .query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of argument `name` from the query string, in order (Tornado's
    /// `get_query_arguments`).
    ///
    /// ```
    /// # use squall::web::{Application, Context};
    /// let app = Application::new().get("/search", |ctx: &mut Context| {
    ///     let tags = ctx.query_arguments("tag").join(","); // ?tag=a&tag=b → "a,b"
    ///     ctx.send_text(tags);
    ///     Ok(())
    /// });
    /// # let _ = app;
    /// ```
    pub fn query_arguments(&self, name: &str) -> Vec<&str> {
        self.args
            .query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value of argument `name` from the form body, in order (Tornado's
    /// `get_body_arguments`).
    pub fn body_arguments(&self, name: &str) -> Vec<&str> {
        self.args
            .body
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Argument `name` from the form body only.
    pub fn body_argument(&self, name: &str) -> Option<&str> {
        self.args
            .body
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The files uploaded under field `name` (a `multipart/form-data` body).
    pub fn files(&self, name: &str) -> Vec<&UploadedFile> {
        self.args
            .files
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, f)| f)
            .collect()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// [`Error::Http`] 400 when it is not valid JSON for `T`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.request.body)
            .map_err(|e| Error::http(400, format!("invalid JSON body: {e}")))
    }

    /// A cookie of the request.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        let mut found = None;
        for v in self.request.headers.get_all(http::header::COOKIE) {
            if let Ok(v) = v.to_str()
                && let Some((_, value)) = cookie::parse_cookies(v)
                    .into_iter()
                    .find(|(k, _)| *k == name)
            {
                found = Some(value);
            }
        }
        found
    }

    /// Sets a cookie with `options` (a `Set-Cookie` header each).
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a name or value a cookie cannot carry.
    pub fn set_cookie(&mut self, name: &str, value: &str, options: &CookieOptions) -> Result<()> {
        let header = options.to_header(name, value)?;
        let v =
            HeaderValue::from_str(&header).map_err(|_| Error::invalid_state("invalid cookie"))?;
        self.headers_mut().append(SET_COOKIE, v);
        Ok(())
    }

    /// Deletes a cookie (an empty value that expired in the past), for `Path=/`.
    pub fn clear_cookie(&mut self, name: &str) -> Result<()> {
        let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        self.set_cookie(
            name,
            "",
            &CookieOptions::default()
                .expires(past)
                .max_age(std::time::Duration::ZERO),
        )
    }

    /// A signed cookie's value if its signature (with [`WebOptions::cookie_secret`](super::WebOptions))
    /// and name match and it is at most 31 days old (Tornado's `get_signed_cookie`).
    pub fn signed_cookie(&self, name: &str) -> Option<Vec<u8>> {
        let secret = self.app.options.cookie_secret.as_deref()?;
        cookie::verify_now(
            secret,
            name,
            self.cookie(name)?,
            SIGNED_COOKIE_MAX_AGE_DAYS,
            self.unix_now(),
        )
    }

    /// Sets a cookie signed with the application's secret and the current time, expiring
    /// in 30 days (Tornado's `set_signed_cookie`), with `Path=/`.
    ///
    /// # Errors
    /// [`Error::InvalidState`] when no `cookie_secret` is configured or the name is
    /// invalid.
    pub fn set_signed_cookie(&mut self, name: &str, value: &[u8]) -> Result<()> {
        let secret = self.app.options.cookie_secret.as_deref().ok_or_else(|| {
            Error::invalid_state("set_signed_cookie needs WebOptions::cookie_secret")
        })?;
        let signed = cookie::sign_now(secret, name, value, self.unix_now());
        let days = std::time::Duration::from_secs(SIGNED_COOKIE_EXPIRES_DAYS * 86_400);
        let opts = CookieOptions::default().expires(self.clock.wall_time() + days);
        self.set_cookie(name, &signed, &opts)
    }

    /// The loop's wall-clock time in whole seconds since the Unix epoch.
    fn unix_now(&self) -> u64 {
        cookie::unix_secs(self.clock.wall_time())
    }

    /// The raw XSRF token of this request: the `_xsrf` cookie's, or a new one.
    fn raw_xsrf_token(&self) -> Option<RawToken> {
        let now = self.unix_now();
        self.cookie(XSRF_COOKIE)
            .filter(|c| !c.is_empty())
            .and_then(|c| xsrf::decode(c, now))
    }

    /// The XSRF token for this request's pages (Tornado's `xsrf_token`): the token of the
    /// `_xsrf` cookie masked afresh (so it is safe in compressed pages), in Tornado's
    /// version-2 form. Without a valid cookie a new token is made and the cookie set
    /// with this response. Put it in every form as the `_xsrf` field
    /// ([`xsrf_form_html`](Self::xsrf_form_html)) or send it as an `X-XSRFToken` header;
    /// with [`WebOptions::xsrf_cookies`](super::WebOptions::xsrf_cookies) a `POST`,
    /// `PUT`, `PATCH` or `DELETE` without it is refused with 403.
    ///
    /// ```
    /// use squall::web::{Application, Context, WebOptions};
    /// let app = Application::with_options(WebOptions::default().xsrf_cookies(true))
    ///     .get("/form", |ctx: &mut Context| {
    ///         let field = ctx.xsrf_form_html();
    ///         ctx.send_html(format!("<form method=post>{field}<button>Go</button></form>"));
    ///         Ok(())
    ///     })
    ///     .post("/form", |ctx: &mut Context| { // only reached with a matching token
    ///         ctx.send_text("done");
    ///         Ok(())
    ///     });
    /// # let _ = app;
    /// ```
    pub fn xsrf_token(&mut self) -> String {
        if let Some((_, masked)) = &self.xsrf {
            return masked.clone();
        }
        let (raw, new) = match self.raw_xsrf_token() {
            Some(raw) if !raw.token.is_empty() => (raw, false),
            _ => (xsrf::new_token(self.unix_now()), true),
        };
        let masked = xsrf::mask(&raw);
        if new {
            let opts = self.app.options.xsrf_cookie_options.clone();
            if let Err(e) = self.set_cookie(XSRF_COOKIE, &masked, &opts) {
                log::error!("cannot set the _xsrf cookie: {e}");
            }
        }
        self.xsrf = Some((raw, masked.clone()));
        masked
    }

    /// A hidden form field carrying [`xsrf_token`](Self::xsrf_token):
    /// `<input type="hidden" name="_xsrf" value="…"/>`, to put in every `POST` form.
    pub fn xsrf_form_html(&mut self) -> String {
        let token = super::escape_html(&self.xsrf_token());
        format!("<input type=\"hidden\" name=\"_xsrf\" value=\"{token}\"/>")
    }

    /// Checks the submitted XSRF token (the `_xsrf` argument, else the `X-XSRFToken` or
    /// `X-CSRFToken` header) against the `_xsrf` cookie, as Tornado's
    /// `check_xsrf_cookie`. The application calls it for every request but `GET`, `HEAD`
    /// and `OPTIONS` when [`WebOptions::xsrf_cookies`](super::WebOptions::xsrf_cookies)
    /// is on; a handler may call it itself otherwise.
    ///
    /// # Errors
    /// [`Error::Http`] 403 when the token is missing, malformed or does not match.
    pub fn check_xsrf_cookie(&self) -> Result<()> {
        let submitted = self
            .args
            .last(XSRF_COOKIE)
            .filter(|s| !s.is_empty())
            .or_else(|| self.header("x-xsrftoken").filter(|s| !s.is_empty()))
            .or_else(|| self.header("x-csrftoken"));
        let expected = match &self.xsrf {
            Some((raw, _)) => Some(raw.clone()),
            None => self.raw_xsrf_token(),
        };
        let Some(expected) = expected.filter(|r| !r.token.is_empty()) else {
            // No cookie: Tornado compares with a new random token, which never matches.
            return match submitted {
                None | Some("") => Err(Error::http(403, "'_xsrf' argument missing from POST")),
                Some(_) => Err(Error::http(403, "XSRF cookie does not match POST argument")),
            };
        };
        xsrf::check(submitted, &expected, self.unix_now())
    }

    /// Sets the response status (default 200).
    pub fn set_status(&mut self, status: StatusCode) -> &mut Self {
        self.status = status;
        self
    }

    /// The response status so far.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets a response header (invalid names or values are skipped with a warning).
    pub fn set_header(&mut self, name: &str, value: &str) -> &mut Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers_mut().insert(n, v);
            }
            _ => log::warn!("invalid response header {name:?}; skipped"),
        }
        self
    }

    /// The response headers, to fill before the response goes out (an empty map once it
    /// went out).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        match self.responder.as_mut() {
            Some(r) => r.headers_mut(),
            None => {
                // A scratch map: writing headers after answering has no effect.
                self.spare.clear();
                &mut self.spare
            }
        }
    }

    /// Takes the responder away for a protocol upgrade (`accept_websocket`):
    /// the answer is then the taker's.
    pub(crate) fn take_responder(&mut self) -> Option<crate::http::server::Responder> {
        self.responder.take()
    }

    /// True once the response was sent or finished (or handed to a detached context).
    pub fn is_finished(&self) -> bool {
        self.responder.is_none()
    }

    /// The handle of the reactor the connection runs on; `None` once answered.
    pub(crate) fn handle(&self) -> Option<Handle> {
        self.responder.as_ref().map(Responder::handle)
    }

    /// True once the client is gone.
    pub fn is_closed(&self) -> bool {
        self.responder.as_ref().is_none_or(Responder::is_closed)
    }

    /// Calls `f` once, from the loop, if the client's connection closes before the
    /// response finished (Tornado's `on_connection_close`): how a parked long-poll
    /// learns that its client left, to cancel its wait and free it. Dropped unrun once
    /// the response is sent. No effect once answered.
    pub fn on_connection_close(&mut self, f: impl FnOnce() + 'static) {
        if let Some(r) = self.responder.as_mut() {
            r.on_connection_close(f);
        }
    }

    /// Takes the request and the response away from the handler, for an answer later
    /// (long polling): the handler returns `Ok(())` and no response is sent then; the
    /// returned context answers when it is ready. Dropping it unanswered sends a 500.
    ///
    /// The request moves to the returned context (this one keeps its method and URI
    /// only): a parked long-poll holds one copy of it, not two.
    pub fn detach(&mut self) -> Context {
        let r = &self.request;
        let husk = Request {
            method: r.method.clone(),
            uri: r.uri.clone(),
            version: r.version,
            headers: Default::default(),
            body: Bytes::new(),
            trailers: None,
            remote_addr: r.remote_addr,
            remote_ip: r.remote_ip,
            protocol: r.protocol,
        };
        Context {
            app: self.app.clone(),
            request: std::mem::replace(&mut self.request, husk),
            responder: self.responder.take(),
            status: self.status,
            params: std::mem::take(&mut self.params),
            args: std::mem::take(&mut self.args),
            start: self.start,
            clock: self.clock.clone(),
            spare: HeaderMap::new(),
            xsrf: self.xsrf.take(),
            current_user: std::mem::take(&mut self.current_user),
            in_write_error: false,
            slot: Some(self.slot.get_or_insert_with(Default::default).clone()),
        }
    }

    /// Sends `body` as the whole response, with the status and headers set so far
    /// (compressed when enabled and worthwhile). Has no effect once answered.
    pub fn send(&mut self, body: impl Into<Bytes>) {
        let Some(mut resp) = self.responder.take() else {
            log::error!(
                "{} {}: response already sent",
                self.request.method,
                self.request.uri
            );
            return;
        };
        let mut body = body.into();
        if self.app.options.etag
            && self.status == StatusCode::OK
            && matches!(self.request.method, http::Method::GET | http::Method::HEAD)
            && super::etag::not_modified(&self.request, resp.headers_mut(), &body)
        {
            self.status = StatusCode::NOT_MODIFIED;
            body = Bytes::new();
        }
        if self.app.options.compress_response && self.status == StatusCode::OK {
            body = super::compress::maybe_gzip(
                &self.request,
                resp.headers_mut(),
                body,
                &self.app.options,
            );
        }
        resp.set_status(self.status);
        let handle = resp.handle();
        resp.send(body);
        self.finished(&handle);
    }

    /// Sends `text` as `text/plain; charset=utf-8`.
    pub fn send_text(&mut self, text: impl Into<Bytes>) {
        self.set_content_type("text/plain; charset=utf-8");
        self.send(text);
    }

    /// Sends `html` as `text/html; charset=utf-8`.
    pub fn send_html(&mut self, html: impl Into<Bytes>) {
        self.set_content_type("text/html; charset=utf-8");
        self.send(html);
    }

    /// Sends `value` serialized as JSON (`application/json; charset=utf-8`).
    ///
    /// # Errors
    /// When `value` cannot be serialized ([`Error::InvalidState`]); nothing is sent then.
    #[cfg(feature = "json")]
    pub fn send_json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::invalid_state(format!("cannot serialize JSON: {e}")))?;
        self.set_content_type("application/json; charset=utf-8");
        self.send(body);
        Ok(())
    }

    /// Redirects to `url` (302 unless a 3xx status was set).
    pub fn redirect(&mut self, url: &str) {
        if !self.status.is_redirection() {
            self.status = StatusCode::FOUND;
        }
        self.set_header(LOCATION.as_str(), url);
        self.send(Bytes::new());
    }

    fn set_content_type(&mut self, ct: &'static str) {
        let headers = self.headers_mut();
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    }

    /// Streams a body chunk (sending the status and headers first); the future resolves
    /// when it reached the kernel (backpressure), or fails once the client is gone.
    pub fn write(&mut self, chunk: impl Into<Bytes>) -> Future<()> {
        match self.responder.as_mut() {
            Some(r) => {
                r.set_status(self.status);
                r.write(chunk)
            }
            None => Future::failed(Error::invalid_state("response already finished")),
        }
    }

    /// Finishes a streamed response (or sends an empty one).
    pub fn finish(&mut self) -> Future<()> {
        match self.responder.take() {
            Some(mut r) => {
                r.set_status(self.status);
                let handle = r.handle();
                let f = r.finish();
                self.finished(&handle);
                f
            }
            None => Future::failed(Error::invalid_state("response already finished")),
        }
    }

    /// After the handler returned: takes back the responder of a context it detached and
    /// dropped unanswered. True if there was one.
    pub(crate) fn reclaim_detached(&mut self) -> bool {
        let Some(slot) = self.slot.take() else {
            return false;
        };
        let back = slot.borrow_mut().take();
        match back {
            Some(r) if self.responder.is_none() => {
                self.responder = Some(r);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn finish_if_pending(&mut self) {
        if self.responder.is_some() {
            let _ = self.finish();
        }
    }

    /// Sends an error page for `e` with its status (500 for errors that are not
    /// [`Error::Http`], whose text is not shown). Headers set so far are dropped (but the
    /// application's default headers and `Allow`). The page is the application's
    /// [`write_error`](super::Application::write_error) hook's if it has one (run inside
    /// this call); else JSON `{"status", "message"}` when the client accepts
    /// `application/json` or [`WebOptions::json_errors`](super::WebOptions::json_errors)
    /// is on, plain text otherwise.
    pub fn send_error(&mut self, e: &Error) {
        let Some(resp) = self.responder.as_mut() else {
            return;
        };
        // Keep Allow (405); drop the handler's other headers, cookies included.
        let allow = resp.headers_mut().remove(http::header::ALLOW);
        resp.headers_mut().clear();
        for (name, value) in &self.app.default_headers {
            resp.headers_mut().append(name, value.clone());
        }
        if let Some(allow) = allow {
            resp.headers_mut().insert(http::header::ALLOW, allow);
        }
        self.status = error_status(e);
        if let Some(hook) = self.app.write_error.clone()
            && !self.in_write_error
        {
            self.in_write_error = true;
            let r = catch_unwind(AssertUnwindSafe(|| hook(self, e)));
            self.in_write_error = false;
            match r {
                Ok(Ok(())) if self.is_finished() => return,
                Ok(Ok(())) => {}
                Ok(Err(e2)) => log::error!("write_error hook failed: {e2}"),
                Err(p) => log::error!(
                    "write_error hook panicked: {}",
                    crate::error::panic_message(&*p)
                ),
            }
            self.status = error_status(e);
        }
        self.send_default_error_page(e);
    }

    /// squall's own error page for `e` (see [`send_error`](Self::send_error)).
    pub fn send_default_error_page(&mut self, e: &Error) {
        let status = error_status(e);
        let message = match e {
            Error::Http { message, .. } => message.to_string(),
            _ => "Internal Server Error".to_string(),
        };
        let wants_json = self.app.options.json_errors
            || self
                .request
                .header("accept")
                .is_some_and(|a| a.contains("application/json"));
        self.status = status;
        if let Some(r) = self.responder.as_mut() {
            r.headers_mut().remove(CONTENT_TYPE);
        }
        if wants_json {
            self.set_content_type("application/json; charset=utf-8");
            let body = format!(
                "{{\"status\":{},\"message\":{}}}\n",
                status.as_u16(),
                json_string(&message)
            );
            self.send(body);
        } else {
            self.set_content_type("text/plain; charset=utf-8");
            let reason = status.canonical_reason().unwrap_or("Error");
            let body = if message == reason {
                format!("{} {reason}\n", status.as_u16())
            } else {
                format!("{} {reason}: {message}\n", status.as_u16())
            };
            self.send(body);
        }
    }

    /// The response went out: the access log line, and the `on_finish` hook from the loop.
    fn finished(&self, handle: &crate::reactor::Handle) {
        self.log_access();
        if let Some(hook) = self.app.on_finish.clone() {
            let done = Finished {
                method: self.request.method.clone(),
                uri: self.request.uri.clone(),
                status: self.status,
                remote_ip: self.request.remote_ip,
                duration: self.clock.now().saturating_duration_since(self.start),
            };
            handle.add_callback(move || hook(&done));
        }
    }

    fn log_access(&self) {
        self.log_line(self.status.as_u16(), "");
    }

    /// An access-log line for this request with `status` and a `note`.
    pub(crate) fn log_line(&self, status: u16, note: &str) {
        if self.app.options.access_log {
            access_line(
                &self.request.method,
                &self.request.uri,
                self.request.remote_ip,
                self.clock.now().saturating_duration_since(self.start),
                status,
                note,
            );
        }
    }

    /// A function writing this request's access-log line later (when an upgraded
    /// connection ends), the duration counted from the request's arrival.
    pub(crate) fn log_later(&self) -> impl FnOnce(u16, &str) + 'static + use<> {
        let on = self.app.options.access_log;
        let (method, uri, ip, start, clock) = (
            self.request.method.clone(),
            self.request.uri.clone(),
            self.request.remote_ip,
            self.start,
            self.clock.clone(),
        );
        move |status, note| {
            if on {
                let took = clock.now().saturating_duration_since(start);
                access_line(&method, &uri, ip, took, status, note);
            }
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // A detached context dropped unanswered while its handler runs: hand the
        // responder back to the handler's context (see `reclaim_detached`). Otherwise the
        // responder's own drop sends a 500.
        if let (Some(slot), Some(r)) = (&self.slot, self.responder.take()) {
            if Rc::strong_count(slot) > 1 {
                *slot.borrow_mut() = Some(r);
                return;
            }
            self.responder = Some(r);
        }
        // Dropped unanswered: the responder sends a 500, or the client is gone.
        if let Some(r) = &self.responder {
            if r.is_closed() {
                self.log_line(499, "client left");
            } else {
                self.log_line(500, "dropped unanswered");
            }
        }
    }
}

/// Writes one access-log line (target `squall::web::access`).
fn access_line(
    method: &http::Method,
    uri: &http::Uri,
    ip: std::net::IpAddr,
    took: std::time::Duration,
    status: u16,
    note: &str,
) {
    let ms = took.as_secs_f64() * 1000.0;
    let level = match status {
        500.. => log::Level::Error,
        400.. => log::Level::Warn,
        _ => log::Level::Info,
    };
    if note.is_empty() {
        log::log!(target: "squall::web::access", level, "{status} {method} {uri} ({ip}) {ms:.2}ms");
    } else {
        log::log!(target: "squall::web::access", level, "{status} {method} {uri} ({ip}) {ms:.2}ms ({note})");
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
