//! The HTTP/1.1 client: [`AsyncHttpClient`] (callbacks and placeholders on a reactor) and
//! its blocking twin [`HttpClient`] (Tornado's `AsyncHTTPClient` and `HTTPClient`).
//!
//! Layers, each in its file: [`HttpRequest`] (what to fetch, Tornado's options),
//! `plan` (the request resolved against the client's defaults, its head encoded with the
//! shared [`h1`](crate::http::h1) encoder), `connection` (a sans-IO reader for one
//! response: the h1 head parser and body decoder, limits, gzip, streaming), `pool`
//! (keep-alive connections), `async_client` (queue, timeouts, redirects) and
//! [`HttpResponse`].
//!
//! Tornado's `async_fetch_manual`, in Rust:
//!
//! ```
//! use bytes::Bytes;
//! use squall::http::client::AsyncHttpClient;
//! use squall::Future;
//!
//! fn async_fetch_manual(client: &AsyncHttpClient, url: &str) -> Future<Bytes> {
//!     let my_future = Future::new();
//!     let fetch_future = client.fetch(url);
//!     let out = my_future.clone();
//!     fetch_future.add_done_callback(move |f| match f.take_result().unwrap() {
//!         Ok(response) => out.set_result(response.body),
//!         Err(e) => out.set_error(e),
//!     });
//!     my_future
//! }
//!
//! # fn main() -> squall::Result<()> {
//! # use std::io::{Read, Write};
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let url = format!("http://{}/", listener.local_addr()?);
//! # std::thread::spawn(move || {
//! #     let (mut s, _) = listener.accept().unwrap();
//! #     let _ = s.read(&mut [0; 4096]);
//! #     s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, squall").unwrap();
//! # });
//! let mut reactor = squall::Reactor::new()?;
//! let client = AsyncHttpClient::new(&reactor.handle());
//! let body = reactor.run_until(&async_fetch_manual(&client, &url))?;
//! assert_eq!(body, "Hello, squall");
//! # Ok(()) }
//! ```
//!
//! Behaviour in short: `Content-Length`, chunked (trailers kept in
//! [`HttpResponse::trailers`]) and close-delimited bodies; 1xx skipped; HEAD, 204 and
//! 304 without body; truncated bodies fail; redirects followed (301/302/303 become GET,
//! 307/308 keep method and body) up to `max_redirects`; `Host`, `Content-Length`,
//! `User-Agent` and `Accept-Encoding: gzip` set automatically; a connection goes back to
//! the pool only after its response was read completely.
//!
//! Rules the client keeps, whatever the server does:
//!
//! - **Credentials stay with their origin.** Credentials in the URL
//!   (`http://user:pass@host/`) are sent as `Authorization: Basic` (percent-decoded) and
//!   removed from the URL: never in `Host`, the request line or `effective_url`. A redirect
//!   to another scheme, host or port drops `Authorization`, `Cookie` and
//!   `Proxy-Authorization` (curl's rule).
//! - **Failures keep what is known.** [`HttpResponse::error_for_status`] and running out
//!   of `max_redirects` fail with [`Error::HttpResponse`](crate::Error::HttpResponse),
//!   which holds the whole response (Tornado's `HTTPClientError.response`). Timeouts say
//!   where the fetch was ([`Error::HttpTimeout`](crate::Error::HttpTimeout) with a
//!   [`TimeoutStage`]): in the queue (which counts against
//!   `min(connect_timeout, request_timeout)`), connecting, or during the request.
//! - **Cancellation.** [`Future::cancel`](crate::Future::cancel) on the future of
//!   [`AsyncHttpClient::fetch`] cancels the fetch: it leaves the queue, or its connection
//!   is closed, and its `max_clients` slot goes to the next queued fetch on the next loop
//!   iteration (not when a timeout fires). A cancelled future logs no "never retrieved"
//!   warning.
//! - **Memory stays bounded.** `max_body_size` bounds the body on the wire and
//!   decompressed; gzip is inflated in small steps into a capped buffer, so a compression
//!   bomb fails after about `max_body_size` bytes.
//! - **A connection is reused only when clean.** Before a pooled connection carries another
//!   request, its socket is checked (without the loop): unsolicited bytes or a close
//!   waiting there mean it is closed instead. One exception saves that system call per
//!   request: a connection that went idle in the same loop iteration (its response was
//!   just read) is reused unchecked by an idempotent request, which is sent again once on
//!   a new connection if the reused one turns out closed. A response with both
//!   `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3: "ought to be handled as an
//!   error"; it is how responses are split) fails the fetch, as in Tornado, and its
//!   connection is closed.
//! - **Early answers are heard.** A final response that arrives while the request body is
//!   still being sent (a `413` for an upload) is reported as that response, even if the
//!   server then stops reading and the upload fails.
//! - **Lenient where RFC 9112 says so.** A header line continued on the next line
//!   (obs-fold) is accepted in responses, each fold replaced by one space (§5.2).

mod async_client;
mod blocking;
mod connection;
mod plan;
mod pool;
mod request;
mod response;

pub use async_client::{AsyncHttpClient, ClientOptions};
pub use blocking::HttpClient;
pub use request::{HeaderCallback, HttpRequest, RequestDefaults, StreamingCallback};
pub use response::{HttpResponse, TimeInfo, TimeoutStage};
