//! [`WebOptions`]: the settings of an [`Application`](super::Application).

use std::path::PathBuf;

use super::args::FormLimits;
use super::cookie::CookieOptions;
use crate::http::server::HttpServerOptions;

/// Settings of an [`Application`](super::Application).
///
/// ```
/// let o = squall::web::WebOptions::default().cookie_secret("s3cret").compress_response(true);
/// assert!(o.compress_response);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebOptions {
    /// Key of signed cookies ([`Context::set_signed_cookie`](super::Context::set_signed_cookie));
    /// none by default. Needed by
    /// [`Application::current_user_cookie`](super::Application::current_user_cookie); a
    /// missing or empty one is reported by
    /// [`Application::validate`](super::Application::validate) before the application
    /// serves.
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
    /// Options of the [`HttpServer`](crate::http::server::HttpServer) made by [`Application::server`](super::Application::server).
    pub server: HttpServerOptions,
    /// Cross-site request forgery protection (Tornado's `xsrf_cookies`; default off):
    /// every request but `GET`, `HEAD` and `OPTIONS` must carry the token of the `_xsrf`
    /// cookie ([`Context::xsrf_token`](super::Context::xsrf_token)) or is refused with
    /// 403; a route may be exempted with
    /// [`Application::xsrf_exempt`](super::Application::xsrf_exempt). Needs no
    /// `cookie_secret`: the cookie holds a random token that is compared, not signed (as
    /// Tornado's).
    pub xsrf_cookies: bool,
    /// Attributes of the `_xsrf` cookie (default `Path=/` only, as Tornado's).
    pub xsrf_cookie_options: CookieOptions,
    /// Where [`authenticated`](super::authenticated) sends a `GET` from a visitor who is
    /// not signed in (Tornado's `login_url`); none by default (then: 403).
    pub login_url: Option<String>,
    /// Error pages as JSON `{"status", "message"}` whatever the client accepts (default
    /// off: JSON only for clients that accept `application/json`, plain text otherwise).
    pub json_errors: bool,
    /// An `ETag` (a SHA-1 of the body) on every whole `200` answer to a `GET` or
    /// `HEAD` that has none, and `304 Not Modified` without a body when it matches the
    /// request's `If-None-Match` (Tornado's `compute_etag`; default off).
    pub etag: bool,
    /// Directory of the templates of [`Context::render`](super::Context::render) (Tornado's `template_path`;
    /// needs the `templates` feature).
    pub template_path: Option<PathBuf>,
    /// Directory of static files (Tornado's `static_path`): served under
    /// [`static_url_prefix`](Self::static_url_prefix) by a [`StaticFiles`](super::StaticFiles) route the
    /// application adds, with content-hashed URLs from [`Context::static_url`](super::Context::static_url).
    pub static_path: Option<PathBuf>,
    /// URL prefix of the static files (default `/static/`).
    pub static_url_prefix: String,
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
            xsrf_cookies: false,
            xsrf_cookie_options: CookieOptions::default(),
            login_url: None,
            json_errors: false,
            etag: false,
            template_path: None,
            static_path: None,
            static_url_prefix: "/static/".to_string(),
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
    /// Turns XSRF protection on or off.
    pub fn xsrf_cookies(mut self, on: bool) -> Self {
        self.xsrf_cookies = on;
        self
    }
    /// Sets the attributes of the `_xsrf` cookie.
    pub fn xsrf_cookie_options(mut self, options: CookieOptions) -> Self {
        self.xsrf_cookie_options = options;
        self
    }
    /// Turns JSON error pages for every client on or off.
    pub fn json_errors(mut self, on: bool) -> Self {
        self.json_errors = on;
        self
    }
    /// Turns automatic `ETag`s and `304`s on or off.
    pub fn etag(mut self, on: bool) -> Self {
        self.etag = on;
        self
    }
    /// Sets the template directory.
    pub fn template_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.template_path = Some(dir.into());
        self
    }
    /// Sets the static file directory.
    pub fn static_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_path = Some(dir.into());
        self
    }
    /// Sets the static files' URL prefix (ends with `/`).
    pub fn static_url_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.static_url_prefix = prefix.into();
        self
    }
    /// Sets the login page's URL.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }
    /// Sets the server options.
    pub fn server(mut self, server: HttpServerOptions) -> Self {
        self.server = server;
        self
    }
}
