//! [`Context`]: one request and the means to answer it (Tornado's `RequestHandler`).

use std::fmt;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE, LOCATION, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::app::{error_status, WebOptions};
use super::args::Arguments;
use super::cookie::{self, CookieOptions};
use super::multipart::UploadedFile;
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
pub struct Context {
    /// The settings only, not the routes: a parked context kept in a route's state
    /// must not keep that route alive (an `Rc` cycle).
    options: Rc<WebOptions>,
    request: Request,
    responder: Option<Responder>,
    status: StatusCode,
    params: Vec<(String, String)>,
    args: Arguments,
    start: Instant,
    spare: HeaderMap,
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
        options: Rc<WebOptions>,
        request: Request,
        responder: Responder,
        start: Instant,
    ) -> Self {
        Context {
            options,
            request,
            responder: Some(responder),
            status: StatusCode::OK,
            params: Vec::new(),
            args: Arguments::default(),
            start,
            spare: HeaderMap::new(),
        }
    }

    /// Decodes arguments and keeps the path parameters.
    pub(crate) fn prepare(&mut self, params: Vec<(String, String)>) -> Result<()> {
        self.params = params;
        self.args = Arguments::decode(
            self.request.query(),
            self.request.header("content-type"),
            &self.request.body,
            &self.options.forms,
        )?;
        Ok(())
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
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
            if let Ok(v) = v.to_str() {
                if let Some((_, value)) = cookie::parse_cookies(v)
                    .into_iter()
                    .find(|(k, _)| *k == name)
                {
                    found = Some(value);
                }
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
        let secret = self.options.cookie_secret.as_deref()?;
        cookie::verify_now(secret, name, self.cookie(name)?, SIGNED_COOKIE_MAX_AGE_DAYS)
    }

    /// Sets a cookie signed with the application's secret and the current time, expiring
    /// in 30 days (Tornado's `set_signed_cookie`), with `Path=/`.
    ///
    /// # Errors
    /// [`Error::InvalidState`] when no `cookie_secret` is configured or the name is
    /// invalid.
    pub fn set_signed_cookie(&mut self, name: &str, value: &[u8]) -> Result<()> {
        let secret = self.options.cookie_secret.as_deref().ok_or_else(|| {
            Error::invalid_state("set_signed_cookie needs WebOptions::cookie_secret")
        })?;
        let signed = cookie::sign_now(secret, name, value);
        let days = std::time::Duration::from_secs(SIGNED_COOKIE_EXPIRES_DAYS * 86_400);
        let opts = CookieOptions::default().expires(std::time::SystemTime::now() + days);
        self.set_cookie(name, &signed, &opts)
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

    /// Takes the responder away for a protocol upgrade (`websocket::accept_context`):
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
            headers: HeaderMap::new(),
            body: Bytes::new(),
            trailers: None,
            remote_addr: r.remote_addr,
            remote_ip: r.remote_ip,
            protocol: r.protocol,
        };
        Context {
            options: self.options.clone(),
            request: std::mem::replace(&mut self.request, husk),
            responder: self.responder.take(),
            status: self.status,
            params: std::mem::take(&mut self.params),
            args: std::mem::take(&mut self.args),
            start: self.start,
            spare: HeaderMap::new(),
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
        if self.options.compress_response && self.status == StatusCode::OK {
            body =
                super::compress::maybe_gzip(&self.request, resp.headers_mut(), body, &self.options);
        }
        resp.set_status(self.status);
        resp.send(body);
        self.log_access();
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
                let f = r.finish();
                self.log_access();
                f
            }
            None => Future::failed(Error::invalid_state("response already finished")),
        }
    }

    pub(crate) fn finish_if_pending(&mut self) {
        if self.responder.is_some() {
            let _ = self.finish();
        }
    }

    /// Sends an error page for `e`: its status (500 for errors that are not
    /// [`Error::Http`], whose text is not shown), as JSON `{"status", "message"}` when the
    /// client accepts `application/json`, else plain text. Headers set so far are dropped.
    pub fn send_error(&mut self, e: &Error) {
        let Some(resp) = self.responder.as_mut() else {
            return;
        };
        let status = error_status(e);
        let message = match e {
            Error::Http { message, .. } => message.to_string(),
            _ => "Internal Server Error".to_string(),
        };
        // Keep Allow (405); drop the handler's other headers, cookies included.
        let allow = resp.headers_mut().remove(http::header::ALLOW);
        resp.headers_mut().clear();
        if let Some(allow) = allow {
            resp.headers_mut().insert(http::header::ALLOW, allow);
        }
        let wants_json = self
            .request
            .header("accept")
            .is_some_and(|a| a.contains("application/json"));
        self.status = status;
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

    fn log_access(&self) {
        if !self.options.access_log {
            return;
        }
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let (method, uri, ip, status) = (
            &self.request.method,
            &self.request.uri,
            self.request.remote_ip,
            self.status.as_u16(),
        );
        let level = match status {
            500.. => log::Level::Error,
            400.. => log::Level::Warn,
            _ => log::Level::Info,
        };
        log::log!(target: "squall::web::access", level, "{status} {method} {uri} ({ip}) {ms:.2}ms");
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

/// Marks the response as varying with `Accept-Encoding`.
pub(crate) fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
}
