//! The application layer (the thin part of Tornado's `tornado.web`), on
//! [`HttpServer`](crate::http::HttpServer):
//!
//! - [`Application`]: routes of method + path pattern (`/users/{id}`, `/static/{*path}`)
//!   to handler closures (`get`, `post`, `put`, `delete`, `patch`, any method with
//!   `route`), named routes and `reverse_url`, WebSocket routes
//!   ([`Application::websocket`]); 404 / 405 with `Allow`; handler errors and panics
//!   become error pages (plain text, JSON, or your own with
//!   [`Application::write_error`]) that never show internals; `prepare` / `on_finish`
//!   hooks and default headers.
//! - Security as Tornado's: XSRF cookies ([`WebOptions::xsrf_cookies`],
//!   [`Context::xsrf_form_html`], per-route exemption with
//!   [`Application::xsrf_exempt`]), a `current_user` hook and the [`authenticated`]
//!   guard.
//! - [`Context`]: the request with decoded arguments (query, urlencoded and multipart
//!   forms with file uploads, JSON), cookies (plain and signed, Tornado's format), and
//!   the response (text, HTML, JSON, streamed, or answered later after
//!   [`detach`](Context::detach)); blocking work (a database query) off the loop with
//!   [`Context::run_in_executor`].
//! - [`StaticFiles`]: a directory with conditional requests, ranges and streaming;
//!   content-hashed URLs with [`Context::static_url`].
//! - Gzip compression of responses ([`WebOptions::compress_response`]) and an access-log
//!   line per request through `log` (target `squall::web::access`).
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::web::{Application, Context};
//! use squall::Reactor;
//!
//! let mut reactor = Reactor::new()?;
//! let app = Application::new().post("/echo", |ctx: &mut Context| {
//!     let body = ctx.argument("body")?.to_string(); // missing → 400
//!     ctx.send_text(body);
//!     Ok(())
//! });
//! let server = app.server(&reactor.handle());
//! server.listen("127.0.0.1:0")?;
//! // reactor.run()?;
//! # Ok(()) }
//! ```
//!
//! Templates (the default `templates` feature): `minijinja` templates from
//! [`WebOptions::template_path`], rendered with [`Context::render`] — HTML-escaped,
//! with inheritance, `static_url(...)`, `reverse_url(...)` and the XSRF form field.
//! Without the feature, send any engine's output with [`Context::send_html`], escaping
//! with [`escape_html`] where text goes into markup.

mod app;
mod args;
mod auth;
pub(crate) mod compress;
mod context;
mod cookie;
mod escape;
mod etag;
mod executor;
pub mod multipart;
mod options;
mod outcome;
mod route;
mod static_files;
mod static_url;
#[cfg(feature = "templates")]
mod templates;
mod ws_route;
mod xsrf;

pub use app::Application;
pub use args::{Arguments, FormLimits};
pub use auth::authenticated;
pub use compress::{accepts_gzip, is_compressible};
pub use context::hooks::Finished;
pub use context::{Context, SIGNED_COOKIE_EXPIRES_DAYS, SIGNED_COOKIE_MAX_AGE_DAYS};
pub use cookie::{
    create_signed_value, decode_signed_value, parse_cookies, CookieOptions, SameSite,
};
pub use escape::escape_html;
pub use multipart::{MultipartLimits, UploadedFile};
pub use options::WebOptions;
pub use outcome::HandlerResult;
pub use route::Pattern;
pub use static_files::{StaticFiles, CHUNK_SIZE, READ_PER_ITERATION};
pub use static_url::STATIC_URL_CACHE_ENTRIES;
pub use xsrf::XSRF_COOKIE;

/// Types of the `http` and `bytes` crates that this module's API takes and returns,
/// re-exported so an application needs no extra dependency for them.
///
/// ```
/// use squall::web::{Application, Context, Method, StatusCode};
/// let app = Application::new().route(&[Method::PUT], "/x", |ctx: &mut Context| {
///     ctx.set_status(StatusCode::CREATED);
///     Ok(())
/// });
/// # let _ = app;
/// ```
pub use bytes::Bytes;
pub use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
