//! The narrow handle a [`Responder`](super::Responder) writes through: the stream and
//! the few connection facts and events a response needs. The connection implements it;
//! the responder never sees the connection itself (so neither imports the other's
//! internals).

use std::rc::Rc;

use crate::stream::IoStream;

/// What a response needs from its connection.
pub(crate) trait ResponseLink {
    /// The connection's stream, to write the response on.
    fn stream(&self) -> &IoStream;
    /// Graceful shutdown is under way (or the server is gone): no more keep-alive.
    fn closing(&self) -> bool;
    /// The server's `Server` header value, if any.
    fn server_header(&self) -> Option<Rc<str>>;
    /// The server's `max_write_buffer_size`, if any.
    fn max_write_buffer_size(&self) -> Option<usize>;
    /// Sets the callback run (from the loop) if the connection closes before the
    /// response finished.
    fn set_on_close(self: Rc<Self>, f: Box<dyn FnOnce()>);
    /// Hands the stream over: the server forgets the connection.
    fn detach(self: Rc<Self>) -> IoStream;
    /// The response is complete; the connection stays open for the next request when
    /// `keep_alive`.
    fn response_done(self: Rc<Self>, keep_alive: bool);
}
