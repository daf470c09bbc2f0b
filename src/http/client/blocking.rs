//! [`HttpClient`]: the blocking twin of [`AsyncHttpClient`] (Tornado's `HTTPClient`).

use std::fmt;

use super::async_client::{AsyncHttpClient, ClientOptions};
use super::request::HttpRequest;
use super::response::HttpResponse;
use crate::error::Result;
use crate::reactor::Reactor;

/// A blocking HTTP client: each [`fetch`](Self::fetch) runs a private [`Reactor`] on the
/// calling thread until the response is complete. Keep-alive connections are reused
/// between calls.
///
/// For scripts and tests; inside a reactor's callbacks use [`AsyncHttpClient`] (a
/// blocking fetch there would stall every other connection of that loop).
///
/// ```no_run
/// # fn main() -> squall::Result<()> {
/// use squall::http::client::HttpClient;
/// let body = HttpClient::new()?.fetch("http://127.0.0.1:8888/")?.body;
/// println!("{} bytes", body.len());
/// # Ok(()) }
/// ```
#[doc(alias = "HTTPClient")]
pub struct HttpClient {
    // Dropped before the reactor that runs it.
    client: AsyncHttpClient,
    reactor: Reactor,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with default [`ClientOptions`].
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the private reactor cannot be created.
    pub fn new() -> Result<Self> {
        Self::with_options(ClientOptions::default())
    }

    /// A client with `options`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_options(options: ClientOptions) -> Result<Self> {
        let reactor = Reactor::new()?;
        let client = AsyncHttpClient::with_options(&reactor.handle(), options);
        Ok(HttpClient { client, reactor })
    }

    /// Fetches `request` and waits for the complete response. Any complete response is
    /// `Ok`, whatever its status (see [`HttpResponse::error_for_status`]).
    ///
    /// # Errors
    /// As [`AsyncHttpClient::fetch`]: transport errors, [`Error::HttpTimeout`](crate::Error::HttpTimeout),
    /// [`Error::HttpFetch`](crate::Error::HttpFetch) for protocol violations and limits.
    pub fn fetch(&mut self, request: impl Into<HttpRequest>) -> Result<HttpResponse> {
        let f = self.client.fetch(request);
        self.reactor.run_until(&f)
    }

    /// The asynchronous client underneath (same pool).
    pub fn async_client(&self) -> &AsyncHttpClient {
        &self.client
    }
}
