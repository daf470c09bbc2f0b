//! A listening socket on a port nobody else has.

use std::net::TcpListener;

use crate::error::Result;

/// Binds a listening TCP socket on `127.0.0.1` at a port the OS picks, and returns it
/// with the port (Tornado's `bind_unused_port`). The socket stays bound: hand it to
/// [`HttpServer::add_listener`](crate::http::HttpServer::add_listener) (or any server's
/// `add_listener`) rather than closing it and binding the port again, which another
/// process may take in between.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if no socket can be bound.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let (listener, port) = squall::testing::bind_unused_port()?;
/// assert_ne!(port, 0);
/// assert_eq!(listener.local_addr()?.port(), port);
/// # Ok(()) }
/// ```
pub fn bind_unused_port() -> Result<(TcpListener, u16)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}
