//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692), server and client (Tornado's
//! `tornado.websocket`).
//!
//! - [`accept`] upgrades a request of an [`HttpServer`](crate::http::server::HttpServer)
//!   ([`Context::accept_websocket`](crate::web::Context::accept_websocket) one routed by
//!   the web layer's [`Application`](crate::web::Application)); [`connect`] opens a client connection
//!   (`ws://`). All give a [`WebSocket`].
//! - Receive with callbacks ([`WebSocket::on_message`], `on_ping`, `on_pong`,
//!   `on_close`) or pull style ([`WebSocket::read_message`]); the next message is read
//!   only when the previous one is done with, so a slow consumer is not flooded.
//! - Send with [`WebSocket::send`] (a [`Future`](crate::Future) resolved when written),
//!   [`WebSocket::ping`], [`WebSocket::close`] (closing handshake, bounded wait).
//! - Public sans-IO pieces a user can build on: [`frame`], the codec underneath
//!   (headers, masking, reassembly, incremental UTF-8 validation), e.g. to speak
//!   WebSocket over another transport; [`close`], the close codes. The extension
//!   (`deflate`) and the opening handshake's checks (`handshake`) are internals, public
//!   only for the fuzz targets and benches (hidden from these docs, not a stable API).
//!
//! A protocol violation fails the connection with the close code RFC 6455 §7 asks for
//! (1002 protocol error, 1007 invalid UTF-8, 1009 too big), reported to `on_close`.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::http::server::HttpServer;
//! use squall::websocket::{accept, connect, Message, WebSocketOptions};
//!
//! let mut reactor = squall::Reactor::new()?;
//! let handle = reactor.handle();
//! // Server: echo every message.
//! let server = HttpServer::new(&handle, move |req, resp| {
//!     if let Ok(ws) = accept(&req, resp, &WebSocketOptions::default()) {
//!         ws.on_message(|ws, msg| ws.send(msg));
//!     }
//! });
//! let addr = server.listen("127.0.0.1:0")?;
//! // Client: pull style.
//! let url = format!("ws://{addr}/echo");
//! let ws = reactor.run_until(&connect(&handle, &url, WebSocketOptions::default()))?;
//! ws.send_text("hello");
//! let reply = reactor.run_until(&ws.read_message())?;
//! assert_eq!(reply, Some(Message::Text("hello".into())));
//! ws.close(1000, "bye")?;
//! assert_eq!(reactor.run_until(&ws.closed())?, (1000, "bye".to_string()));
//! # Ok(()) }
//! ```

mod client;
pub mod close;
mod decoder;
#[doc(hidden)]
pub mod deflate;
pub mod frame;
#[doc(hidden)]
pub mod handshake;
mod header;
mod mask;
mod message;
mod options;
mod server;
mod socket;
mod text;
mod utf8;

pub use client::connect;
pub use message::Message;
pub use options::WebSocketOptions;
pub use server::accept;
pub use socket::{Flow, WebSocket};
pub use text::Text;
