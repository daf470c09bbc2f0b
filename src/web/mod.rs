//! The application layer (the thin part of Tornado's `tornado.web`), on
//! [`HttpServer`](crate::http::HttpServer):
//!
//! - [`Application`]: routes of method + path pattern (`/users/{id}`, `/static/{*path}`)
//!   to handler closures; 404 / 405 with `Allow`; handler errors and panics become error
//!   pages (plain text, or JSON when the client accepts it) that never show internals.
//! - [`Context`]: the request with decoded arguments (query, urlencoded and multipart
//!   forms with file uploads, JSON), cookies (plain and signed, Tornado's format), and
//!   the response (text, HTML, JSON, streamed, or answered later after
//!   [`detach`](Context::detach)).
//! - [`StaticFiles`]: a directory with conditional requests, ranges and streaming.
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
//! Templates: squall has no template engine; render on the client from JSON, or plug
//! in one such as `minijinja` and send its output with [`Context::send_html`], escaping
//! with [`escape_html`] where text goes into markup.

mod app;
mod args;
pub(crate) mod compress;
mod context;
mod cookie;
mod escape;
pub mod multipart;
mod route;
mod static_files;

pub use app::{Application, HandlerResult, WebOptions};
pub use args::{Arguments, FormLimits};
pub use compress::{accepts_gzip, is_compressible};
pub use context::{Context, SIGNED_COOKIE_EXPIRES_DAYS, SIGNED_COOKIE_MAX_AGE_DAYS};
pub use cookie::{
    create_signed_value, decode_signed_value, parse_cookies, CookieOptions, SameSite,
};
pub use escape::escape_html;
pub use multipart::{MultipartLimits, UploadedFile};
pub use route::Pattern;
pub use static_files::{StaticFiles, CHUNK_SIZE, READ_PER_ITERATION};

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
