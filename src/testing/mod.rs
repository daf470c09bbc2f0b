//! Helpers for testing applications built on squall (Tornado's `tornado.testing`).
//!
//! | item | what it gives |
//! |------|---------------|
//! | [`TestServer`] | an [`Application`](crate::web::Application) or [`HttpServer`](crate::http::HttpServer) handler on `127.0.0.1:0`, on its own reactor, with `fetch` and `websocket` that run the loop until the answer comes (Tornado's `AsyncHTTPTestCase`) |
//! | [`bind_unused_port`] | a listening socket on a free port, without the bind-close-rebind race |
//! | [`ExpectLog`] | a guard asserting that a log record came (and, optionally, that no other warning did) |
//! | [`stream_pair`] | two connected [`IoStream`](crate::stream::IoStream)s over a `socketpair`, for protocol tests without TCP |
//! | [`wait_until`] | runs a reactor until a condition holds, failing after a real-time bound instead of hanging |
//!
//! Time: build the server with [`TestServer::builder`]`.virtual_clock(true)` and move
//! time with [`TestServer::advance`] — a 30 s idle timeout or a 1-hour periodic job is
//! tested in milliseconds of real time. See
//! [`Builder::virtual_clock`](crate::reactor::Builder::virtual_clock) and
//! [`Builder::auto_advance`](crate::reactor::Builder::auto_advance) for exactly when
//! virtual time moves.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use std::time::Duration;
//! use squall::testing::TestServer;
//! use squall::web::Application;
//!
//! let app = Application::new().get("/", |ctx| {
//!     ctx.send("hello");
//!     Ok(())
//! });
//! let mut server = TestServer::builder().virtual_clock(true).app(app)?;
//! let response = server.fetch("/")?;
//! assert_eq!(&response.body[..], b"hello");
//! server.advance(Duration::from_secs(3600)); // an hour later, at once
//! assert_eq!(server.fetch("/")?.status, 200);
//! # Ok(()) }
//! ```

mod expect_log;
mod pair;
mod port;
mod server;
mod wait;

pub use expect_log::ExpectLog;
pub use pair::stream_pair;
pub use port::bind_unused_port;
pub use server::{TestServer, TestServerBuilder};
pub use wait::wait_until;
