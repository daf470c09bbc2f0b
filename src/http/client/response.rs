//! [`HttpResponse`]: a complete response (Tornado's `HTTPResponse`).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use url::Url;

use crate::error::{Error, Result};

/// Where the time of a fetch went (Tornado's `time_info`), for the last hop when
/// redirects were followed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeInfo {
    /// Waiting in the client's queue for a free slot (`max_clients`).
    pub queue: Duration,
    /// Connecting (zero when a pooled connection was reused).
    pub connect: Duration,
    /// From the start of the fetch until the first byte of the response arrived.
    pub first_byte: Duration,
    /// From the start of the fetch until the response was complete.
    pub total: Duration,
}

/// Where a fetch was when its time ran out ([`Error::HttpTimeout`]).
///
/// A fetch waits in the client's queue (for a `max_clients` slot) at most
/// `min(connect_timeout, request_timeout)`, connects within `connect_timeout`, and
/// completes within `request_timeout` counted from [`fetch`](super::AsyncHttpClient::fetch)
/// (as Tornado).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutStage {
    /// Waiting for a free slot in the client's queue ("Timeout in request queue").
    Queue,
    /// Opening the TCP connection ("Timeout while connecting").
    Connecting,
    /// Sending the request or reading the response ("Timeout during request").
    Request,
}

impl fmt::Display for TimeoutStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutStage::Queue => "Timeout in request queue",
            TimeoutStage::Connecting => "Timeout while connecting",
            TimeoutStage::Request => "Timeout during request",
        })
    }
}

/// A complete HTTP response of any status: 404 and 500 resolve `Ok` too; use
/// [`error_for_status`](Self::error_for_status) to turn 4xx/5xx into errors.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase the server sent (may be empty).
    pub reason: String,
    /// The protocol version the server answered with.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// Trailer fields of a chunked body, if it had any.
    pub trailers: Option<HeaderMap>,
    /// The body (decompressed when `decompress_response` applied; empty when a
    /// `streaming_callback` received it, and for HEAD, 204 and 304).
    pub body: Bytes,
    /// The URL finally fetched, after redirects.
    pub effective_url: Url,
    /// Time from `fetch` to the complete response, redirects included.
    pub request_time: Duration,
    /// Where the time of the last hop went.
    pub time_info: TimeInfo,
}

impl HttpResponse {
    /// `Ok(self)` for statuses below 400, else [`Error::HttpResponse`] with the status,
    /// the reason and the whole response (Tornado's `HTTPClientError.response`).
    ///
    /// # Errors
    /// [`Error::HttpResponse`] for 4xx and 5xx.
    ///
    /// ```
    /// # use squall::Error;
    /// # fn demo(r: squall::http::client::HttpResponse) -> squall::Result<()> {
    /// match r.error_for_status() {
    ///     Ok(r) => println!("{} bytes", r.body.len()),
    ///     Err(Error::HttpResponse { status: 404, response, .. }) => {
    ///         println!("not found: {}", response.text())
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn error_for_status(self) -> Result<Self> {
        if self.status.as_u16() >= 400 {
            let reason = if self.reason.is_empty() {
                self.status.canonical_reason().unwrap_or("").to_string()
            } else {
                self.reason.clone()
            };
            return Err(self.into_error(reason));
        }
        Ok(self)
    }

    /// This response as an [`Error::HttpResponse`] with `message`.
    pub(crate) fn into_error(self, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
        Error::HttpResponse {
            status: self.status.as_u16(),
            message: message.into(),
            response: Box::new(self),
        }
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
