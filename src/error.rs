//! The one error type of squall, and its `Result` alias (Tornado's exceptions).
//!
//! The bottom layer: what its variants carry is defined here or in its submodules
//! ([`TlsError`](crate::tls::TlsError), [`TimeoutStage`](crate::http::client::TimeoutStage),
//! [`HttpResponse`](crate::http::client::HttpResponse)) and re-exported where users look
//! for it, so `error` imports no other module of squall.

pub(crate) mod fetch;
pub(crate) mod parse_kind;
pub(crate) mod tls_error;

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

/// Everything that can go wrong in squall.
///
/// Variants are meant to be matched on. `Error` is `Clone` (I/O errors are shared behind
/// an [`Arc`]) so that a [`Future`](crate::Future)'s result can be read more than once.
///
/// ```
/// use squall::Error;
/// let e = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert!(matches!(&e, Error::Io(inner) if inner.kind() == std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(Error::Timeout.to_string(), "operation timed out");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(Arc<io::Error>),
    /// A deadline passed before the operation finished (`gen.with_timeout`, connect and
    /// request timeouts).
    #[error("operation timed out")]
    Timeout,
    /// The stream was closed (by us or by the peer) before the operation could finish.
    #[error("stream closed")]
    StreamClosed,
    /// The operation or its future was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// An API was used in a state that does not allow it (a future set twice, a second
    /// pending read on a stream, a reactor that is gone, ...).
    #[error("invalid state: {0}")]
    InvalidState(Cow<'static, str>),
    /// A write would grow a stream's write buffer beyond `max_write_buffer_size`, or a read
    /// buffer beyond `max_buffer_size`.
    #[error("stream buffer full")]
    StreamBufferFull,
    /// A read cannot be satisfied: the delimiter was not found within `max_bytes`
    /// (Tornado's `UnsatisfiableReadError`).
    #[error("unsatisfiable read: {0}")]
    UnsatisfiableRead(Cow<'static, str>),
    /// An HTTP status to answer (Tornado's `HTTPError`): raised by server-side code that
    /// wants the client to get `status`, and the status of a refused WebSocket upgrade
    /// (by [`websocket::accept`](crate::websocket::accept) on the server side, by
    /// [`websocket::connect`](crate::websocket::connect) when the server answered it with
    /// a status other than 101). Parse failures are [`Error::HttpParse`], failed fetches
    /// [`Error::HttpFetch`], real HTTP client responses [`Error::HttpResponse`].
    #[error("HTTP {status}: {message}")]
    Http {
        /// The HTTP status code that describes the failure.
        status: u16,
        /// What went wrong, for humans.
        message: Cow<'static, str>,
    },
    /// A host name could not be resolved.
    #[error("could not resolve {host}: {message}")]
    Resolve {
        /// The name that failed.
        host: String,
        /// The resolver's explanation.
        message: String,
    },
    /// A callback or executor job panicked; the payload's message is kept.
    #[error("panicked: {0}")]
    Panicked(String),
    /// A feature or URL scheme that squall does not provide (a WebSocket URL whose scheme
    /// is not a WebSocket one, for example).
    #[error("unsupported: {0}")]
    Unsupported(Cow<'static, str>),
    /// A queue at its `maxsize` refused an item without waiting (Tornado's `QueueFull`).
    #[error("queue full")]
    QueueFull,
    /// An empty queue had no item to give without waiting (Tornado's `QueueEmpty`).
    #[error("queue empty")]
    QueueEmpty,
    /// A complete HTTP response that counts as a failure, kept whole (Tornado's
    /// `HTTPClientError.response`): a 4xx/5xx turned into an error by
    /// [`HttpResponse::error_for_status`](crate::http::client::HttpResponse::error_for_status),
    /// or the last 3xx when `max_redirects` ran out.
    #[error("HTTP {status}: {message}")]
    HttpResponse {
        /// The response's status code.
        status: u16,
        /// What went wrong, for humans (the reason phrase, or "too many redirects").
        message: Cow<'static, str>,
        /// The response: status, headers and body.
        response: Box<fetch::HttpResponse>,
    },
    /// A message broke an HTTP/1.x rule or limit, as the sans-IO parsers and decoders in
    /// [`http::h1`](crate::http::h1) report it: `kind` says which. The server answers
    /// each kind with its status (400, 413, 414, 431, 501, 505).
    #[error("HTTP parse error ({kind}): {message}")]
    HttpParse {
        /// Which rule or limit.
        kind: parse_kind::ParseErrorKind,
        /// What went wrong, for humans.
        message: Cow<'static, str>,
    },
    /// An HTTP client fetch failed without a usable response: an invalid URL or request,
    /// a protocol violation or limit in the response, a connection lost mid-response
    /// (Tornado's code 599, which [`http_status`](Self::http_status) reports).
    #[error("HTTP 599: {message}")]
    HttpFetch {
        /// What went wrong, for humans.
        message: Cow<'static, str>,
    },
    /// An HTTP client fetch timed out; `stage` says where (Tornado's "Timeout while
    /// connecting", "in request queue", "during request"). See also
    /// [`is_timeout`](Self::is_timeout).
    #[error("{stage}")]
    HttpTimeout {
        /// Where the fetch was when its time ran out.
        stage: fetch::TimeoutStage,
    },
    /// A TLS handshake or configuration failure, with its cause
    /// ([`TlsError::kind`](crate::tls::TlsError::kind)).
    #[error("{0}")]
    Tls(tls_error::TlsError),
    /// A Redis server answered with an error reply (`ERR unknown command`), a reply broke
    /// the RESP protocol, or a `redis://` URL was malformed.
    #[error("redis: {0}")]
    Redis(Cow<'static, str>),
}

/// `Result` with squall's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl Error {
    /// Builds an [`Error::Http`] from a status and a message.
    pub fn http(status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        Error::Http {
            status,
            message: message.into(),
        }
    }

    /// The HTTP status code this error stands for, if any: the status of an
    /// [`Error::Http`] or [`Error::HttpResponse`], 599 for an [`Error::HttpFetch`]
    /// (Tornado's convention).
    ///
    /// ```
    /// use squall::Error;
    /// assert_eq!(Error::http(404, "no such page").http_status(), Some(404));
    /// assert_eq!(Error::Timeout.http_status(), None);
    /// ```
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } | Error::HttpResponse { status, .. } => Some(*status),
            Error::HttpFetch { .. } => Some(599),
            _ => None,
        }
    }

    /// Builds an [`Error::InvalidState`].
    pub fn invalid_state(message: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidState(message.into())
    }

    /// The I/O error kind, when this is an [`Error::Io`].
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// True for [`Error::Timeout`] and [`Error::HttpTimeout`].
    ///
    /// ```
    /// use squall::{http::client::TimeoutStage, Error};
    /// assert!(Error::Timeout.is_timeout());
    /// let e = Error::HttpTimeout { stage: TimeoutStage::Connecting };
    /// assert!(e.is_timeout());
    /// assert_eq!(e.to_string(), "Timeout while connecting");
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout | Error::HttpTimeout { .. })
    }

    /// Turns a caught panic payload into [`Error::Panicked`].
    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        Error::Panicked(panic_message(payload))
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
