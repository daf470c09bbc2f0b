//! What a failed HTTP fetch carries: where its time ran out ([`TimeoutStage`]), and the
//! whole response a 4xx/5xx or a redirect limit failed with ([`HttpResponse`], whose
//! methods are in the HTTP client).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use url::Url;

#[cfg(doc)]
use super::Error;

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
/// completes within `request_timeout` counted from [`fetch`](crate::http::client::AsyncHttpClient::fetch)
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
