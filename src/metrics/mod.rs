//! Prometheus metrics (with the default `metrics` feature): the reactor's counters, the
//! HTTP server's requests, WebSocket, TLS, HTTP client and Redis events, and whatever the
//! application adds, exposed in the OpenMetrics text format that Prometheus scrapes.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::http::server::HttpServer;
//! use squall::Reactor;
//!
//! let mut reactor = Reactor::new()?;
//! let handle = reactor.handle();
//! // `GET /metrics` on a port of its own, beside the application's server:
//! let (metrics_server, addr) = squall::metrics::serve(&handle, "127.0.0.1:0")?;
//! // or as the whole handler of a server (or a route of an `Application`):
//! let server = HttpServer::new(&handle, squall::metrics::handler(&handle));
//! # let _ = (metrics_server, addr, server);
//! // reactor.run()?;
//! # Ok(()) }
//! ```
//!
//! # What is measured
//!
//! | Metric | Type | What |
//! |---|---|---|
//! | `squall_loop_iterations_total` | counter | loop iterations |
//! | `squall_callbacks_total` | counter | callbacks, timers and I/O handlers run |
//! | `squall_slow_callbacks_total` | counter | callbacks over the slow-callback threshold |
//! | `squall_loop_busy_seconds_total` | counter | time spent running callbacks |
//! | `squall_loop_lag_seconds` | gauge | busy time of the last iteration |
//! | `squall_handlers`, `squall_timers_pending`, `squall_callbacks_pending` | gauges | from [`Handle::stats`] |
//! | `squall_http_requests_total{method,status}` | counter | HTTP server responses |
//! | `squall_http_request_duration_seconds{method,status}` | histogram | request complete → response finished |
//! | `squall_http_received_bytes_total`, `squall_http_sent_bytes_total` | counters | HTTP server bytes |
//! | `squall_http_open_connections`, `squall_http_connections_total` | gauge, counter | HTTP server connections |
//! | `squall_websocket_open_connections`, `squall_websocket_connections_total` | gauge, counter | WebSocket connections |
//! | `squall_websocket_messages_received_total`, `…_sent_total` | counters | WebSocket messages |
//! | `squall_tls_handshakes_total`, `squall_tls_handshake_failures_total{cause}` | counters | TLS handshakes |
//! | `squall_http_client_connections_opened_total`, `…_reused_total`, `squall_http_client_queued_total` | counters | HTTP client pool use and queue waits |
//! | `squall_redis_reconnects_total` | counter | Redis reconnections |
//!
//! Durations come from the reactor's coarse clock (a few milliseconds' resolution):
//! the histogram tells fast from slow requests, not microseconds apart.
//!
//! # Per thread
//!
//! A reactor runs on one thread, and so do its metrics: each thread has its own registry
//! (squall's metrics and the application's), and [`encode`] and [`handler`] expose the
//! calling thread's. With one reactor per core (`SO_REUSEPORT`), each reactor serves
//! its own `/metrics` (a port each) and Prometheus sums them.
//!
//! # Cost
//!
//! The hot paths count into shared per-thread counters (no object per connection). A
//! request's label set (method, status) is resolved once and kept in a short array, so a
//! finished request costs a short scan, a counter increment and a histogram observation,
//! and two coarse clock reads (see `docs/benchmarks.md` for the measured figure).
//!
//! # Why `prometheus-client`
//!
//! It is the Prometheus organisation's own Rust client (maintained with the format),
//! writes the OpenMetrics text format, and keeps no global state: a registry is a plain
//! value, which fits a registry per reactor thread, and it needs no async runtime. Its
//! counters are atomics; on one thread an uncontended atomic increment costs about what
//! a plain one does.
//!
//! # Application metrics
//!
//! ```
//! use squall::metrics::prometheus_client::metrics::counter::Counter;
//!
//! let orders: Counter = Counter::default();
//! squall::metrics::with_registry(|r| r.register("shop_orders", "Orders placed", orders.clone()));
//! orders.inc();
//! assert!(squall::metrics::encode(None).contains("shop_orders_total 1"));
//! ```

#[cfg(feature = "metrics")]
mod serve;

#[cfg(feature = "metrics")]
pub use self::serve::{encode, handler, route, serve, with_registry, CONTENT_TYPE};
#[cfg(feature = "metrics")]
pub use prometheus_client;

#[cfg(all(doc, feature = "metrics"))]
use crate::Handle;

#[cfg(all(test, feature = "metrics"))]
mod tests;
