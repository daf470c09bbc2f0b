//! [`Responder`]: the way a handler answers, now or later.

use std::fmt;
use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

use super::fields::{Fields, StaticHeaderName};
use super::link::ResponseLink;
use crate::error::Error;
use crate::future::Future;
use crate::http::h1::{
    out_buffer, return_out_buffer, write_server_response_head, ChunkedEncoder, Framing,
    ServerFields,
};
use crate::stream::IoStream;
use crate::telemetry::hooks as metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Nothing sent yet.
    NotStarted,
    /// Head sent; body follows with this framing.
    Streaming(Framing),
    /// Response complete.
    Finished,
}

/// Answers one request. Keep it as long as you like (a timer, another request or an
/// executor job may finish it: long polling); responses on a connection still go out in
/// request order, because the next request is read only after this one is finished.
///
/// Fixed-length: set status and headers, then [`send`](Self::send). Streaming:
/// [`write`](Self::write) chunks (chunked encoding for HTTP/1.1, close-delimited for
/// HTTP/1.0, or your own `Content-Length`), then [`finish`](Self::finish). Writes return
/// futures resolved when the bytes reached the kernel, for backpressure.
///
/// Dropping an unfinished `Responder` sends `500 Internal Server Error` (or closes the
/// connection if the head already went out) and logs it.
///
/// The framing is the responder's, so a handler's headers can never desynchronise the
/// connection: a `Transfer-Encoding` the handler set is dropped; with
/// [`send`](Self::send) a `Content-Length` that does not match the body is replaced by
/// the body's (a `HEAD` or `304` answer keeps yours); a streamed response with your own
/// `Content-Length` is held to it (a [`write`](Self::write) beyond it fails, a
/// [`finish`](Self::finish) short of it closes the connection); a 1xx status cannot be
/// final and is answered as `500` with the connection closed (for `101 Switching
/// Protocols`, [`detach`](Self::detach) and write the head yourself).
pub struct Responder {
    conn: Rc<dyn ResponseLink>,
    status: StatusCode,
    headers: Fields,
    version: Version,
    keep_alive: bool,
    head_request: bool,
    body: Body,
    chunked: ChunkedEncoder,
    /// Body bytes still due under the handler's own `Content-Length` (streaming).
    remaining: u64,
    /// The request's method (as a metrics label index) and when it was dispatched.
    method: u8,
    started: std::time::Duration,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("status", &self.status)
            .field("body", &self.body)
            .finish()
    }
}

impl Responder {
    #[inline(always)]
    pub(crate) fn new(
        conn: Rc<dyn ResponseLink>,
        version: Version,
        keep_alive: bool,
        method: &http::Method,
        counted: bool,
    ) -> Self {
        Responder {
            conn,
            status: StatusCode::OK,
            headers: Fields::new(),
            version,
            keep_alive,
            head_request: method == http::Method::HEAD,
            body: Body::NotStarted,
            chunked: ChunkedEncoder::new(),
            remaining: 0,
            method: metrics::method_index(method, counted),
            started: metrics::now(),
        }
    }

    /// The loop this response's connection lives on.
    pub(crate) fn handle(&self) -> crate::reactor::Handle {
        self.conn.stream().handle()
    }

    /// Sets the status (default 200). No effect once the head went out.
    pub fn set_status(&mut self, status: StatusCode) -> &mut Self {
        self.status = status;
        self
    }

    /// The response headers, to fill before the head goes out.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers.map_mut()
    }

    /// Adds a header (names and values that are not valid HTTP are skipped with a log).
    pub fn set_header(&mut self, name: &'static str, value: &str) -> &mut Self {
        match http::HeaderValue::from_str(value) {
            Ok(v) => {
                self.headers.map_mut().insert(name, v);
            }
            Err(e) => log::warn!("invalid value for header {name}: {e}"),
        }
        self
    }

    /// Adds a header whose value is a `'static` string: no copy, no allocation (the fast
    /// path for constant headers such as a content type). The name is a `&'static str`
    /// or, faster still (no name to parse), a constant of [`http::header`]:
    ///
    /// ```
    /// # fn handler(_req: squall::http::Request, mut resp: squall::http::Responder) {
    /// use http::header::CONTENT_TYPE;
    /// resp.set_header_static(CONTENT_TYPE, "text/plain")
    ///     .set_header_static("x-frame-options", "DENY");
    /// resp.send("hello");
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `value` is not a valid header value (a bug in the constant).
    #[inline]
    pub fn set_header_static(
        &mut self,
        name: impl StaticHeaderName,
        value: &'static str,
    ) -> &mut Self {
        self.headers.insert_static(name.into_header_name(), value);
        self
    }

    /// True once the client is gone: further writes are dropped. When it turns true
    /// before the response finished, the [`on_connection_close`](Self::on_connection_close)
    /// callback runs soon after, from the loop.
    pub fn is_closed(&self) -> bool {
        self.conn.stream().is_closed()
    }

    /// Calls `f` once if the client's connection closes before this response finished
    /// (Tornado's `on_connection_close`): how a parked long-poll learns that its client
    /// left. `f` runs from the loop, never inside a squall call you made (not even this
    /// one when the connection is already closed), and is dropped unrun once the
    /// response finishes. A second call replaces the first callback.
    ///
    /// Note: a client that only shuts down its writing side looks the same as one that
    /// left (the server reads end-of-file either way). By default it is treated as gone:
    /// `f` runs and the connection closes. With
    /// [`HttpServerOptions::half_close`](super::HttpServerOptions::half_close) the
    /// connection stays open for this response instead, so `f` runs only once a write
    /// to a client that really left fails (its kernel answers the first write with a
    /// reset), not when it leaves.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use squall::http::server::{HttpServer, Responder};
    /// use squall::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// // Parked long-polls, answered when news arrives.
    /// let waiting: Rc<RefCell<Vec<Option<Responder>>>> = Rc::default();
    /// let w = waiting.clone();
    /// let server = HttpServer::new(&reactor.handle(), move |_req, mut resp| {
    ///     let slot = w.borrow().len();
    ///     let w2 = w.clone();
    ///     // The client left: free its responder (dropping it is then a no-op).
    ///     resp.on_connection_close(move || drop(w2.borrow_mut()[slot].take()));
    ///     w.borrow_mut().push(Some(resp));
    /// });
    /// # let _ = server;
    /// # Ok(()) }
    /// ```
    pub fn on_connection_close(&mut self, f: impl FnOnce() + 'static) {
        if self.body == Body::Finished {
            return;
        }
        self.conn.clone().set_on_close(Box::new(f));
    }

    /// Hands the connection's [`IoStream`] to the caller (Tornado's
    /// `HTTP1Connection.detach`), to speak another protocol on it (a WebSocket upgrade).
    /// The server forgets the connection: no more timers, it no longer counts in
    /// [`connection_count`](super::HttpServer::connection_count), nothing is sent when
    /// the responder goes. Bytes the client sent after the request head stay readable
    /// from the returned stream; its idle timeout is cleared and its close callback is
    /// yours to set.
    ///
    /// # Errors
    /// [`Error::StreamClosed`] if the connection is already closed;
    /// [`Error::InvalidState`] if the response was started (head sent). The responder is
    /// then dropped as usual (a 500, or the connection closed).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::http::server::HttpServer;
    /// use squall::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// let server = HttpServer::new(&reactor.handle(), |_req, resp| {
    ///     if let Ok(stream) = resp.detach() {
    ///         // Speak a protocol of your own; here, a raw answer and close.
    ///         stream.write(&b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..]);
    ///         stream.close_after_writes();
    ///     }
    /// });
    /// # let _ = server;
    /// # Ok(()) }
    /// ```
    pub fn detach(mut self) -> crate::Result<IoStream> {
        if self.body != Body::NotStarted {
            return Err(Error::invalid_state(
                "detach: the response was already started",
            ));
        }
        if self.conn.stream().is_closed() {
            return Err(Error::StreamClosed);
        }
        // Nothing to send on drop: the connection is the caller's now.
        self.body = Body::Finished;
        Ok(self.conn.clone().detach())
    }

    /// Sends the whole response with `body` and a `Content-Length` (head and body in one
    /// write). For `HEAD` requests and 204/304 responses no body is sent. If the body
    /// does not fit under the server's `max_write_buffer_size`, the connection is closed
    /// after what was accepted (the client sees a truncated response, never a hang).
    pub fn send(mut self, body: impl Into<Bytes>) {
        self.send_inner(body.into());
    }

    /// Shorthand for `set_status(status)` then [`send`](Self::send).
    pub fn respond(mut self, status: StatusCode, body: impl Into<Bytes>) {
        self.status = status;
        self.send_inner(body.into());
    }

    fn send_inner(&mut self, body: Bytes) {
        if self.body != Body::NotStarted {
            log::error!("Responder::send after the head was sent; ignored");
            return;
        }
        self.check_final_status();
        let bodiless = self.bodiless();
        let framing = if self.status == StatusCode::NOT_MODIFIED {
            Framing::Unframed
        } else {
            Framing::Length(body.len() as u64)
        };
        // The framing is ours: a Transfer-Encoding or a Content-Length that does not
        // match the body (a proxy copying a decoded body with the upstream's length)
        // would desynchronise the connection. A bodiless response (HEAD, 304) may keep
        // the handler's Content-Length: it describes the representation.
        if self.headers.may_frame() {
            self.check_length(body.len(), bodiless);
        }
        let mut out = out_buffer();
        self.write_head(&mut out, framing);
        let sent = out.len() + if bodiless { 0 } else { body.len() };
        let stream = self.conn.stream();
        let accepted = if !bodiless && !body.is_empty() {
            if body.len() <= 16 * 1024 {
                out.put_slice(&body);
                stream.write_and_forget(out.split().freeze())
            } else {
                stream.write_and_forget(out.split().freeze()) && stream.write_and_forget(body)
            }
        } else {
            stream.write_and_forget(out.split().freeze())
        };
        metrics::http_bytes_out(self.method, sent);
        return_out_buffer(out);
        if !accepted && !stream.is_closed() {
            // Over `max_write_buffer_size`: the response cannot go out whole, and a
            // head without its body would leave the client waiting on an open
            // connection. Close it once what was accepted went out, so the client sees a
            // truncated response rather than none.
            log::error!("response refused by the write buffer limit: closing the connection");
            stream.close_after_writes();
        }
        self.body = Body::Finished;
        metrics::http_request(self.method, self.status, self.started);
        self.conn.clone().response_done(self.keep_alive);
    }

    /// Drops the handler's `Transfer-Encoding`, and its `Content-Length` unless it matches
    /// the `len` byte body (or describes the representation of a bodiless answer).
    fn check_length(&mut self, len: usize, bodiless: bool) {
        self.drop_header(TRANSFER_ENCODING);
        if let Some(cl) = self.headers.get(&CONTENT_LENGTH) {
            let matches = parse_length(cl) == Some(len as u64);
            let keep = (bodiless && self.status != StatusCode::NO_CONTENT) || matches;
            if !keep {
                log::warn!(
                    "Responder: Content-Length {cl:?} does not match the {len} byte body; sending the body's"
                );
                self.headers.remove(&CONTENT_LENGTH);
            }
        }
    }

    /// Sends a body chunk, sending the head first if needed. The future resolves when
    /// the chunk reached the kernel, or fails with [`Error::StreamClosed`] once the client
    /// is gone, or with [`Error::StreamBufferFull`] when the chunk would take the queued
    /// bytes beyond the server's `max_write_buffer_size` (nothing of it is queued then;
    /// the response stays intact and may go on once earlier writes are done), or with
    /// [`Error::InvalidState`] when it would exceed the `Content-Length` you set (nothing
    /// of it is sent either).
    pub fn write(&mut self, chunk: impl Into<Bytes>) -> Future<()> {
        let chunk = chunk.into();
        let framing = match self.body {
            Body::Finished => {
                return Future::failed(Error::invalid_state("response already finished"))
            }
            Body::Streaming(f) => f,
            Body::NotStarted => self.start_streaming(),
        };
        if self.bodiless() || chunk.is_empty() {
            return Future::ready(());
        }
        let stream = self.conn.stream();
        match framing {
            Framing::Chunked => {
                let mut size = BytesMut::with_capacity(18);
                if let Err(e) = self.chunked.write_chunk_size(chunk.len(), &mut size) {
                    return Future::failed(e);
                }
                // The size line, the data and the CRLF go in as one or not at all: a
                // piece refused alone would corrupt the chunked framing.
                // Counted as the stream counts it (each write at its real cost).
                let needed = IoStream::write_cost_of(size.len(), false)
                    + IoStream::write_cost_of(chunk.len(), false)
                    + IoStream::write_cost_of(2, true);
                if !stream.is_closed()
                    && self
                        .conn
                        .max_write_buffer_size()
                        .is_some_and(|max| stream.write_buffer_cost() + needed > max)
                {
                    return Future::failed(Error::StreamBufferFull);
                }
                metrics::http_bytes_out(self.method, needed);
                stream.write_and_forget(size.freeze());
                stream.write_and_forget(chunk);
                stream.write(Bytes::from_static(b"\r\n"))
            }
            Framing::Length(_) => {
                let n = chunk.len() as u64;
                if n > self.remaining {
                    return Future::failed(Error::invalid_state(
                        "write beyond the response's Content-Length",
                    ));
                }
                if !stream.is_closed()
                    && self.conn.max_write_buffer_size().is_some_and(|max| {
                        stream.write_buffer_cost() + IoStream::write_cost_of(chunk.len(), true)
                            > max
                    })
                {
                    return Future::failed(Error::StreamBufferFull);
                }
                self.remaining -= n;
                metrics::http_bytes_out(self.method, chunk.len());
                stream.write(chunk)
            }
            Framing::Unframed => {
                metrics::http_bytes_out(self.method, chunk.len());
                stream.write(chunk)
            }
        }
    }

    /// Finishes the response (sending an empty one if nothing was written). The future
    /// resolves when the last bytes reached the kernel.
    pub fn finish(mut self) -> Future<()> {
        match self.body {
            Body::Finished => Future::failed(Error::invalid_state("response already finished")),
            Body::NotStarted => {
                self.send_inner(Bytes::new());
                Future::ready(())
            }
            Body::Streaming(framing) => {
                let done = if framing == Framing::Chunked && !self.bodiless() {
                    let mut last = BytesMut::with_capacity(5);
                    match self.chunked.finish(&mut last) {
                        Ok(()) => self.conn.stream().write(last.freeze()),
                        Err(e) => Future::failed(e),
                    }
                } else {
                    Future::ready(())
                };
                if matches!(framing, Framing::Length(_)) && self.remaining > 0 && !self.bodiless() {
                    // Fewer bytes than the Content-Length promised: the client would take
                    // the next response for the rest of this body. Close instead. (Not
                    // worth an error when the client already left mid-body.)
                    if !self.conn.stream().is_closed() {
                        log::error!(
                            "Responder: response finished {} bytes short of its Content-Length: closing",
                            self.remaining
                        );
                    }
                    self.keep_alive = false;
                }
                self.body = Body::Finished;
                metrics::http_request(self.method, self.status, self.started);
                self.conn.clone().response_done(self.keep_alive);
                done
            }
        }
    }

    fn start_streaming(&mut self) -> Framing {
        self.check_final_status();
        self.drop_header(TRANSFER_ENCODING);
        let own_length = match self.headers.get(&CONTENT_LENGTH) {
            None => None,
            Some(v) => match parse_length(v) {
                Some(n) => Some(n),
                None => {
                    log::warn!("Responder: invalid Content-Length {v:?} dropped");
                    self.headers.remove(&CONTENT_LENGTH);
                    None
                }
            },
        };
        let framing = if let Some(n) = own_length {
            // The caller's own Content-Length frames it: writes are held to it.
            self.remaining = n;
            Framing::Length(n)
        } else if self.version == Version::HTTP_11 {
            Framing::Chunked
        } else {
            self.keep_alive = false; // HTTP/1.0: the body ends when we close
            Framing::Unframed
        };
        let mut out = out_buffer();
        self.write_head(&mut out, framing);
        metrics::http_bytes_out(self.method, out.len());
        self.conn.stream().write_and_forget(out.split().freeze());
        return_out_buffer(out);
        self.body = Body::Streaming(framing);
        framing
    }

    /// A 1xx status cannot be a final response (the client would wait for the real
    /// one): answer 500 and close instead.
    fn check_final_status(&mut self) {
        if self.status.is_informational() {
            log::error!(
                "Responder: {} is not a final status; sending 500",
                self.status
            );
            self.status = StatusCode::INTERNAL_SERVER_ERROR;
            self.headers.clear();
            self.keep_alive = false;
        }
    }

    /// Removes a framing header the handler set, with a warning.
    fn drop_header(&mut self, name: http::header::HeaderName) {
        if self.headers.remove(&name) {
            log::warn!("Responder: the handler's {name} header dropped: squall frames the body");
        }
    }

    fn bodiless(&self) -> bool {
        self.head_request
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED
            || self.status.is_informational()
    }

    fn write_head(&mut self, out: &mut BytesMut, framing: Framing) {
        if self.conn.closing() {
            self.keep_alive = false;
        }
        let server = self.conn.server_header();
        let now = self.conn.stream().handle().wall_time();
        let fields = ServerFields::new(self.keep_alive, server.as_deref())
            .date(now)
            .statics(self.headers.inline());
        write_server_response_head(
            out,
            self.version,
            self.status,
            self.headers.map(),
            framing,
            fields,
        );
        // The head is out: the fields are not read again.
        self.headers.recycle();
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        match self.body {
            Body::Finished => {}
            Body::NotStarted => {
                if !self.conn.stream().is_closed() {
                    log::error!("Responder dropped without a response: sending 500");
                }
                self.status = StatusCode::INTERNAL_SERVER_ERROR;
                self.headers.clear();
                self.keep_alive = false;
                self.send_inner(Bytes::from_static(b"Internal Server Error\n"));
            }
            Body::Streaming(_) => {
                log::error!("Responder dropped in the middle of a streamed response: closing");
                self.body = Body::Finished;
                self.conn.stream().close_after_writes();
            }
        }
    }
}

/// A `Content-Length` value as a number (digits only).
fn parse_length(v: &http::HeaderValue) -> Option<u64> {
    let b = v.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
