//! One HTTP/1 connection's read side as a sans-IO state machine, for both roles (as
//! hyper's `Http1Transaction` with its `Server`/`Client` roles, or h11's `Connection`):
//! heads (gated by a [`HeadScanner`]), framing, the body decoder, the [`BodyPipeline`]
//! (limits, gunzip, buffer or stream), trailers, and the keep-alive decision. Bytes go
//! in ([`Connection::poll`] over the stream's read buffer), [`Event`]s come out; it never
//! touches a socket, a timer or the loop. The server and the client are thin drivers
//! around it: I/O, timers and dispatch.
//!
//! ```
//! use bytes::BytesMut;
//! use squall::http::h1::{Connection, Event, HeadLimits, ReadLimits, Server};
//!
//! let limits = ReadLimits::new(HeadLimits::default(), 1024);
//! let mut conn = Connection::new(Server, &limits);
//! let mut buf = BytesMut::from(&b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
//! // A head with a body: the driver may look at it and choose the sink before polling on.
//! assert!(matches!(conn.poll(&limits, &mut buf, false)?, Event::Head));
//! assert_eq!(conn.head_mut().unwrap().path(), "/a");
//! let Event::Message(m) = conn.poll(&limits, &mut buf, false)? else { panic!() };
//! assert_eq!((&m.body[..], m.keep_alive), (&b"hi"[..], true));
//! // The connection pauses until the response is done, then reads the next request.
//! assert!(matches!(conn.poll(&limits, &mut buf, false)?, Event::Paused));
//! conn.resume();
//! let Event::Message(m) = conn.poll(&limits, &mut buf, false)? else { panic!() };
//! assert_eq!(m.head.path(), "/b");
//! # Ok::<(), squall::Error>(())
//! ```

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};

use super::{
    parse_request_head_into, parse_response_head, BodyDecoder, BodyFault, BodyKind, BodyPipeline,
    Decoded, HeadLimits, HeadScanner, RequestHead, ResponseHead,
};
use crate::error::{Error, Result};

/// What differs between the two ends of an HTTP/1 connection: which head is read and
/// how its framing, keep-alive and faults are judged.
pub trait Role: std::fmt::Debug {
    /// The head this role reads: a request for the server, a response for the client.
    type Head: std::fmt::Debug;

    /// Splits a complete head off the front of `buf` (`Ok(None)`: not complete yet).
    ///
    /// # Errors
    /// [`Error::HttpParse`] for a malformed or over-limit head.
    fn parse(&self, buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<Self::Head>>;

    /// How the body after `head` is delimited.
    fn framing(head: &Self::Head) -> BodyKind;

    /// Whether the head lets the connection carry another message.
    fn keep_alive(head: &Self::Head) -> bool;

    /// The head's header fields.
    fn headers_mut(head: &mut Self::Head) -> &mut HeaderMap;

    /// An interim head (1xx) that another head follows.
    fn is_interim(_head: &Self::Head) -> bool {
        false
    }

    /// Whether a head without a body is announced with [`Event::Head`] too (else the
    /// message is complete at once: the server's hot path for a `GET`).
    const ANNOUNCE_EMPTY: bool;

    /// Whether a connection closed in the middle of a body is an error ([`Err`]) or the
    /// quiet end of the connection ([`Event::Closed`]).
    const TRUNCATED_BODY_IS_ERROR: bool;

    /// Whether the connection may carry another message after one that `keep_alive`
    /// allowed, with `rest_empty` (no byte after it) and `closed` (the peer closed).
    fn reusable(keep_alive: bool, rest_empty: bool, closed: bool) -> bool;

    /// A body the pipeline refused, as this role's error.
    fn fault(&self, f: BodyFault) -> Error;
}

/// The server role: reads requests (pipelined, one at a time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Server;

impl Role for Server {
    type Head = RequestHead;

    /// Parses into field positions recycled by an earlier request (see
    /// [`Headers`](super::Headers)):
    /// no allocation in steady state.
    fn parse(&self, buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<RequestHead>> {
        let mut head = RequestHead::default();
        Ok(parse_request_head_into(buf, limits, &mut head)?.then_some(head))
    }

    fn framing(head: &RequestHead) -> BodyKind {
        head.body
    }

    fn keep_alive(head: &RequestHead) -> bool {
        head.keep_alive
    }

    fn headers_mut(head: &mut RequestHead) -> &mut HeaderMap {
        &mut head.headers
    }

    const ANNOUNCE_EMPTY: bool = false;
    const TRUNCATED_BODY_IS_ERROR: bool = false;

    /// The last request before end-of-file: its response says the connection closes
    /// (pipelined requests still buffered are answered).
    fn reusable(keep_alive: bool, rest_empty: bool, closed: bool) -> bool {
        keep_alive && !(closed && rest_empty)
    }

    fn fault(&self, f: BodyFault) -> Error {
        Error::HttpParse {
            kind: f.kind(),
            message: format!("request {f}").into(),
        }
    }
}

/// The client role: reads the response to a request made with `method` (1xx heads are
/// reported as [`Event::Interim`]).
#[derive(Debug, Clone)]
pub struct Client {
    /// The method of the request (a response to `HEAD` has no body).
    pub method: Method,
}

impl Role for Client {
    type Head = ResponseHead;

    fn parse(&self, buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<ResponseHead>> {
        parse_response_head(buf, limits, &self.method)
    }

    fn framing(head: &ResponseHead) -> BodyKind {
        head.body
    }

    fn keep_alive(head: &ResponseHead) -> bool {
        head.keep_alive
    }

    fn headers_mut(head: &mut ResponseHead) -> &mut HeaderMap {
        &mut head.headers
    }

    fn is_interim(head: &ResponseHead) -> bool {
        head.is_interim()
    }

    const ANNOUNCE_EMPTY: bool = true;
    const TRUNCATED_BODY_IS_ERROR: bool = true;

    /// Bytes after the response (the client sends one request at a time) make the
    /// connection unusable. (A body delimited by the peer's close never keeps it; a
    /// close seen with a complete response is for the pool to notice.)
    fn reusable(keep_alive: bool, rest_empty: bool, _closed: bool) -> bool {
        keep_alive && rest_empty
    }

    /// Tornado's 599: [`Error::HttpFetch`].
    fn fault(&self, f: BodyFault) -> Error {
        Error::HttpFetch {
            message: format!("response {f}").into(),
        }
    }
}

/// The bounds a connection reads within, shared by every connection of a server (so a
/// connection does not carry a copy of them).
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    head: HeadLimits,
    max_body: u64,
    whole_body: u64,
}

impl ReadLimits {
    /// Heads within `head`, bodies of at most `max_body` bytes (on the wire and
    /// decoded); buffered `Content-Length` bodies of any size are taken in one piece.
    pub fn new(head: HeadLimits, max_body: u64) -> Self {
        ReadLimits {
            head,
            max_body,
            whole_body: u64::MAX,
        }
    }

    /// Buffered `Content-Length` bodies up to `n` bytes are split off the read buffer in
    /// one piece (no copy) once all of them arrived; longer ones piece by piece.
    pub fn whole_body(mut self, n: u64) -> Self {
        self.whole_body = n;
        self
    }

    /// The head limits.
    pub fn head(&self) -> &HeadLimits {
        &self.head
    }

    /// The body limit, in bytes.
    pub fn max_body(&self) -> u64 {
        self.max_body
    }
}

/// What [`Connection::poll`] made of the bytes so far.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<H> {
    /// Feed more bytes.
    NeedMore,
    /// A head with a body (or any final head, for the client) was read. Look at it or
    /// change it with [`Connection::head_mut`], choose the sink with
    /// [`Connection::start_body`] (else the body is buffered), then poll on.
    Head,
    /// An interim (1xx) head; the final one follows.
    Interim(H),
    /// Pieces of a streamed body are ready: take them with [`Connection::take_data`].
    Data,
    /// A complete message. The connection then pauses until [`Connection::resume`].
    Message(Message<H>),
    /// A message was delivered (or the connection failed): nothing more is read until
    /// [`Connection::resume`].
    Paused,
    /// The peer closed the connection with no complete message left (the server role;
    /// the client role reports a truncated body as an error).
    Closed,
}

/// A complete message as read off the wire.
#[derive(Debug)]
pub struct Message<H> {
    /// The head (with the headers the gunzip stage rewrote).
    pub head: H,
    /// The buffered body (empty when it was streamed).
    pub body: Bytes,
    /// Trailer fields of a chunked body (boxed: rare, and the message moves often).
    pub trailers: Option<Box<HeaderMap>>,
    /// Whether the connection may carry another message, as the role judges it.
    pub keep_alive: bool,
    /// The last pieces of a streamed body (the gunzip stage's tail), due before the
    /// message ends.
    pub tail: Vec<Bytes>,
}

struct Body<H> {
    head: H,
    decoder: BodyDecoder,
    pipe: BodyPipeline,
    max_body: u64,
    /// Pieces of a streamed body not taken yet.
    pieces: Vec<Bytes>,
}

enum State<H> {
    Head,
    Body(Box<Body<H>>),
    Paused,
}

/// The read side of one HTTP/1 connection (see the module docs). It holds only its
/// state (24 bytes for the server role between requests); the bounds come with each
/// [`poll`](Self::poll).
pub struct Connection<R: Role> {
    role: R,
    scanner: HeadScanner,
    state: State<R::Head>,
}

impl<R: Role> std::fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Head => "head",
            State::Body(_) => "body",
            State::Paused => "paused",
        };
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<R: Role> Connection<R> {
    /// A connection in `role`, waiting for the first head; `limits` are the ones its
    /// [`poll`](Self::poll) will be given.
    pub fn new(role: R, limits: &ReadLimits) -> Self {
        Connection {
            role,
            scanner: HeadScanner::new(&limits.head),
            state: State::Head,
        }
    }

    /// The role.
    pub fn role(&self) -> &R {
        &self.role
    }

    /// Whether the connection waits for (the rest of) a head.
    pub fn is_reading_head(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// The head whose body is being read (after [`Event::Head`]).
    pub fn head_mut(&mut self) -> Option<&mut R::Head> {
        match &mut self.state {
            State::Body(b) => Some(&mut b.head),
            _ => None,
        }
    }

    /// Chooses the body's sink after [`Event::Head`]: `streamed` hands pieces on as
    /// [`Event::Data`], else the body is buffered; `gunzip` adds the gunzip stage (after
    /// [`consume_gzip_encoding`](super::consume_gzip_encoding) said yes).
    pub fn start_body(&mut self, streamed: bool, gunzip: bool) {
        if let State::Body(b) = &mut self.state {
            if streamed {
                b.pipe = BodyPipeline::streamed(b.max_body);
            }
            if gunzip {
                b.pipe.gunzip();
            }
        }
    }

    /// Moves the ready pieces of a streamed body to the end of `into`.
    pub fn take_data(&mut self, into: &mut Vec<Bytes>) {
        if let State::Body(b) = &mut self.state {
            into.append(&mut b.pieces);
        }
    }

    /// Reads the next message after a [`Message`] (the server: once its response is done).
    pub fn resume(&mut self) {
        self.state = State::Head;
        self.scanner.reset();
    }

    /// Stops reading: the connection failed, closes, or switched protocols (nothing
    /// more is parsed until [`resume`](Self::resume)).
    pub fn pause(&mut self) {
        self.state = State::Paused;
    }

    /// Consumes what it can of `buf` within `limits`; `closed` says the peer closed its
    /// side (then a partial head is judged as it stands).
    ///
    /// # Errors
    /// [`Error::HttpParse`] for a malformed or over-limit head or body, the role's
    /// [`fault`](Role::fault) for a body the pipeline refused. The connection is then
    /// paused.
    pub fn poll(
        &mut self,
        limits: &ReadLimits,
        buf: &mut BytesMut,
        closed: bool,
    ) -> Result<Event<R::Head>> {
        loop {
            match &mut self.state {
                State::Paused => return Ok(Event::Paused),
                State::Head => {
                    // A head that trickles in is parsed when it may be complete (or the
                    // peer closed: then as it stands), not once per read.
                    let parsed = if !buf.is_empty() && (self.scanner.ready(buf) || closed) {
                        match self.role.parse(buf, &limits.head) {
                            Ok(h) => h,
                            Err(e) => return self.fail(e),
                        }
                    } else {
                        None
                    };
                    let Some(head) = parsed else {
                        return Ok(if closed {
                            Event::Closed
                        } else {
                            Event::NeedMore
                        });
                    };
                    self.scanner.reset();
                    if R::is_interim(&head) {
                        return Ok(Event::Interim(head));
                    }
                    let kind = R::framing(&head);
                    if matches!(kind, BodyKind::Length(n) if n > limits.max_body) {
                        let max = limits.max_body;
                        return self.fail(self.role.fault(BodyFault::TooLarge { max }));
                    }
                    if kind == BodyKind::Empty && !R::ANNOUNCE_EMPTY {
                        self.state = State::Paused;
                        let keep_alive = R::reusable(R::keep_alive(&head), buf.is_empty(), closed);
                        return Ok(Event::Message(Message {
                            head,
                            body: Bytes::new(),
                            trailers: None,
                            keep_alive,
                            tail: Vec::new(),
                        }));
                    }
                    let mut decoder = BodyDecoder::with_limits(kind, limits.head);
                    // A chunk size beyond what the body may still be is refused at once,
                    // not after waiting for its data.
                    decoder.set_max_body(limits.max_body);
                    self.state = State::Body(Box::new(Body {
                        head,
                        decoder,
                        pipe: BodyPipeline::buffered(limits.max_body),
                        max_body: limits.max_body,
                        pieces: Vec::new(),
                    }));
                    return Ok(Event::Head);
                }
                State::Body(body) => {
                    if let Some(rem) = body.decoder.remaining() {
                        // Wait for the whole fixed-length body, then take it in one
                        // piece. The buffer grows with the bytes that arrive: what
                        // Content-Length declares is never reserved up front.
                        if body.pipe.is_buffered()
                            && rem <= limits.whole_body
                            && (buf.len() as u64) < rem
                            && !closed
                        {
                            return Ok(Event::NeedMore);
                        }
                    }
                    let decoded = match body.decoder.decode(buf) {
                        Ok(d) => d,
                        Err(e) => return self.fail(e),
                    };
                    match decoded {
                        Decoded::Data(d) => {
                            let Body { pipe, pieces, .. } = &mut **body;
                            if let Err(f) = pipe.push(d, &mut |b| pieces.push(b)) {
                                return self.fail(self.role.fault(f));
                            }
                            if !pieces.is_empty() {
                                return Ok(Event::Data);
                            }
                        }
                        Decoded::NeedMore if closed => {
                            return match body.decoder.eof() {
                                Ok(()) => self.finish(None, buf, closed),
                                Err(e) if R::TRUNCATED_BODY_IS_ERROR => self.fail(e),
                                Err(_) => {
                                    self.state = State::Paused;
                                    Ok(Event::Closed)
                                }
                            };
                        }
                        Decoded::NeedMore => return Ok(Event::NeedMore),
                        Decoded::Done { trailers } => return self.finish(trailers, buf, closed),
                    }
                }
            }
        }
    }

    /// Pauses the connection after an error and returns it.
    #[cold]
    fn fail(&mut self, e: Error) -> Result<Event<R::Head>> {
        self.state = State::Paused;
        Err(e)
    }

    fn finish(
        &mut self,
        trailers: Option<HeaderMap>,
        buf: &BytesMut,
        closed: bool,
    ) -> Result<Event<R::Head>> {
        let State::Body(body) = std::mem::replace(&mut self.state, State::Paused) else {
            return Ok(Event::Paused);
        };
        let Body {
            mut head,
            mut pipe,
            mut pieces,
            ..
        } = *body;
        // (Only a gunzip stage rewrites the headers: no map is built for the others.)
        let headers = pipe.rewrites_headers().then(|| R::headers_mut(&mut head));
        let body = match pipe.finish(headers, &mut |b| pieces.push(b)) {
            Ok(b) => b,
            Err(f) => return Err(self.role.fault(f)), // paused already
        };
        let keep_alive = R::reusable(R::keep_alive(&head), buf.is_empty(), closed);
        Ok(Event::Message(Message {
            head,
            body,
            trailers: trailers.map(Box::new),
            keep_alive,
            tail: pieces,
        }))
    }
}

#[cfg(test)]
mod tests;
