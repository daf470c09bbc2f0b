//! One response read off a connection: the client's driver of the sans-IO h1
//! [`Connection`] core (the one the server drives too) in its client role. The core reads
//! the head (1xx reported, then skipped), the framing, and the body through the body
//! pipeline; this driver releases a body held for `100 Continue`, picks the sink
//! (buffer, streaming callback, or nothing for a redirect that is followed), calls the
//! header callback, and turns the outcome into Tornado's 599 errors. The client feeds it
//! from its connection's one read callback (`IoStream::read_callback`).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};

use super::plan::{e599, Plan};
use super::request::{HeaderCallback, StreamingCallback};
use crate::error::{Error, Result};
use crate::http::h1::{
    consume_gzip_encoding, Client, Connection, Event, HeadLimits, ReadLimits, ResponseHead,
};

/// `Content-Length` bodies up to this size are split off the read buffer in one piece
/// (no copy) instead of piece by piece.
const WHOLE_BODY: u64 = 4 * 1024 * 1024;

/// A complete response as read off the wire.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub status: StatusCode,
    pub reason: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub trailers: Option<HeaderMap>,
    pub body: Bytes,
    /// The connection may carry another request.
    pub reusable: bool,
    pub first_byte: Option<Instant>,
}

/// Where the pipeline's pieces go.
enum Sink {
    /// Buffered inside the pipeline.
    Buffer,
    Stream(StreamingCallback),
    /// The body of a redirect we follow: read and dropped.
    Discard,
}

/// Reads one response (see the module docs).
pub(crate) struct ResponseReader {
    core: Connection<Client>,
    limits: ReadLimits,
    follow_redirects: bool,
    decompress: bool,
    header_callback: Option<HeaderCallback>,
    streaming: Option<StreamingCallback>,
    /// A body held back until `100 Continue`.
    held_body: Option<Bytes>,
    /// The body to send now (`100 Continue` arrived); the connection layer writes it.
    pub send_now: Option<Bytes>,
    /// A final response arrived while the body was still held back.
    body_skipped: bool,
    sink: Sink,
    /// Pieces the core handed on for the sink (its room kept from piece to piece).
    pieces: Vec<Bytes>,
    /// When the first response byte was seen, by the loop's clock (set by the caller
    /// before it feeds a non-empty buffer).
    pub first_byte: Option<Instant>,
    /// Some response byte was seen.
    got_bytes: bool,
}

impl ResponseReader {
    /// A reader for the response to `plan`'s request; `held_body` is the body waiting
    /// for `100 Continue`, if any.
    pub(crate) fn new(plan: &Plan, held_body: Option<Bytes>) -> Self {
        let head = HeadLimits {
            max_header_size: plan.max_header_size,
            ..HeadLimits::default()
        };
        let limits = ReadLimits::new(head, plan.max_body_size as u64).whole_body(WHOLE_BODY);
        let role = Client {
            method: plan.method.clone(),
        };
        ResponseReader {
            core: Connection::new(role, &limits),
            limits,
            // Out of redirects, the last 3xx is kept whole (with its body) for the error.
            follow_redirects: plan.follow_redirects && plan.redirects_left > 0,
            decompress: plan.decompress,
            header_callback: plan.header_callback.clone(),
            streaming: plan.streaming_callback.clone(),
            held_body: if plan.expect_continue {
                held_body
            } else {
                None
            },
            send_now: None,
            body_skipped: false,
            sink: Sink::Buffer,
            pieces: Vec::new(),
            first_byte: None,
            got_bytes: false,
        }
    }

    /// Consumes what it can of `buf`; `closed` says the peer closed the connection.
    /// `Ok(Some(..))` once the response is complete.
    ///
    /// # Errors
    /// [`Error::StreamClosed`] when the connection closed before any response byte (a
    /// stale keep-alive connection), else [`Error::HttpFetch`] for protocol violations,
    /// truncation and limits.
    pub(crate) fn feed(&mut self, buf: &mut BytesMut, closed: bool) -> Result<Option<Parsed>> {
        loop {
            self.got_bytes |= !buf.is_empty();
            match self
                .core
                .poll(&self.limits, buf, closed)
                .map_err(client_error)?
            {
                Event::NeedMore => return Ok(None),
                Event::Interim(head) => {
                    if head.status == StatusCode::CONTINUE {
                        self.send_now = self.held_body.take();
                    }
                }
                Event::Head => self.start_body()?,
                Event::Data => self.deliver(Vec::new()),
                Event::Message(m) => {
                    self.deliver(m.tail);
                    let head = m.head;
                    return Ok(Some(Parsed {
                        status: head.status,
                        reason: head.reason,
                        version: head.version,
                        headers: head.headers,
                        trailers: m.trailers.map(|t| *t),
                        body: m.body,
                        reusable: m.keep_alive && !self.body_skipped,
                        first_byte: self.first_byte,
                    }));
                }
                Event::Closed if buf.is_empty() && !self.got_bytes => {
                    return Err(Error::StreamClosed)
                }
                Event::Closed if buf.is_empty() => {
                    return Err(e599("connection closed before the response was complete"))
                }
                Event::Closed => return Err(e599("connection closed in the response head")),
                Event::Paused => return Err(Error::invalid_state("response finished twice")),
            }
        }
    }

    /// The final head arrived: the sink, the header callback, the gunzip stage.
    fn start_body(&mut self) -> Result<()> {
        let Some(head) = self.core.head_mut() else {
            return Ok(());
        };
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(e599("unexpected 101 Switching Protocols"));
        }
        self.body_skipped = self.held_body.take().is_some();
        let redirect = self.follow_redirects && head.is_redirect();
        self.sink = match (&self.streaming, redirect) {
            (_, true) => Sink::Discard,
            (Some(cb), false) => Sink::Stream(cb.clone()),
            (None, false) => Sink::Buffer,
        };
        if let (Some(cb), false) = (&self.header_callback, redirect) {
            call_header_callback(cb, head);
        }
        let gunzip = self.decompress && !redirect && consume_gzip_encoding(&mut head.headers);
        let streamed = !matches!(self.sink, Sink::Buffer);
        self.core.start_body(streamed, gunzip);
        Ok(())
    }

    /// Hands `more` and the pieces the core has ready to the sink.
    fn deliver(&mut self, mut more: Vec<Bytes>) {
        self.pieces.append(&mut more);
        self.core.take_data(&mut self.pieces);
        for b in self.pieces.drain(..) {
            self.sink.take(b);
        }
    }
}

impl Sink {
    /// Takes a piece the pipeline hands on (streamed and discarded bodies).
    fn take(&self, data: Bytes) {
        if let Sink::Stream(cb) = self {
            (cb.borrow_mut())(data);
        }
    }
}

/// Tornado's `header_callback`: the start line, each field, the empty line.
fn call_header_callback(cb: &HeaderCallback, head: &ResponseHead) {
    let mut cb = cb.borrow_mut();
    let version = if head.version == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    cb(&format!(
        "{version} {} {}\r\n",
        head.status.as_u16(),
        head.reason
    ));
    for (name, value) in &head.headers {
        cb(&format!(
            "{}: {}\r\n",
            name,
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    cb("\r\n");
}

/// Parse errors from the codec fail the fetch (Tornado's 599).
pub(crate) fn client_error(e: Error) -> Error {
    match e {
        Error::HttpParse { kind, message } => e599(format!("bad response ({kind}): {message}")),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client::request::{HttpRequest, RequestDefaults};
    use bytes::BufMut;
    #[cfg(feature = "gzip")]
    use http::header::CONTENT_ENCODING;
    use http::Method;

    fn reader(req: HttpRequest) -> ResponseReader {
        let plan = Plan::new(req, &RequestDefaults::default()).unwrap();
        let body = plan.body.clone();
        ResponseReader::new(&plan, body)
    }

    /// Feeds `input` one byte at a time, then the close if `close`.
    fn bytewise(r: &mut ResponseReader, input: &[u8], close: bool) -> Result<Option<Parsed>> {
        let mut buf = BytesMut::new();
        for &b in input {
            buf.put_u8(b);
            if let Some(p) = r.feed(&mut buf, false)? {
                return Ok(Some(p));
            }
        }
        if close {
            return r.feed(&mut buf, true);
        }
        Ok(None)
    }

    fn get() -> ResponseReader {
        reader(HttpRequest::get("http://h/"))
    }

    #[test]
    fn length_body_bytewise_and_reusable() {
        let p = bytewise(
            &mut get(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (p.status.as_u16(), &p.body[..], p.reusable),
            (200, &b"hello"[..], true)
        );
    }

    #[test]
    fn chunked_with_trailers_and_interim() {
        let input = b"HTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 404 Nope\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let p = bytewise(&mut get(), input, false).unwrap().unwrap();
        assert_eq!(
            (p.status.as_u16(), p.reason.as_str(), &p.body[..]),
            (404, "Nope", &b"abcde"[..])
        );
        assert_eq!(p.trailers.unwrap()["x-t"], "1");
        assert!(p.reusable);
    }

    #[test]
    fn close_delimited_and_truncation() {
        let p = bytewise(&mut get(), b"HTTP/1.1 200 OK\r\n\r\nuntil close", true)
            .unwrap()
            .unwrap();
        assert_eq!((&p.body[..], p.reusable), (&b"until close"[..], false));
        let e = bytewise(
            &mut get(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            true,
        );
        assert!(matches!(e, Err(Error::HttpFetch { .. })), "{e:?}");
        let e = bytewise(
            &mut get(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
            true,
        );
        assert!(matches!(e, Err(Error::HttpFetch { .. })), "{e:?}");
        assert!(matches!(
            bytewise(&mut get(), b"", true),
            Err(Error::StreamClosed)
        ));
        assert!(matches!(
            bytewise(&mut get(), b"HTTP/1.1 2", true),
            Err(Error::HttpFetch { .. })
        ));
    }

    #[test]
    fn head_and_204_have_no_body() {
        let mut r = reader(HttpRequest::get("http://h/").method(Method::HEAD));
        let p = bytewise(
            &mut r,
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(p.body.is_empty() && p.reusable);
        let p = bytewise(&mut get(), b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(p.body.is_empty());
        let p = bytewise(
            &mut get(),
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(p.body.is_empty());
    }

    #[test]
    fn limits_are_599() {
        let mut r = reader(HttpRequest::get("http://h/").max_body_size(3));
        let e = bytewise(
            &mut r,
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
            false,
        );
        assert!(matches!(e, Err(Error::HttpFetch { .. })));
        let mut r = reader(HttpRequest::get("http://h/").max_body_size(3));
        let e = bytewise(&mut r, b"HTTP/1.1 200 OK\r\n\r\nabcd", false);
        assert!(matches!(e, Err(Error::HttpFetch { .. })));
        let mut r = reader(HttpRequest::get("http://h/").max_header_size(20));
        let e = bytewise(
            &mut r,
            b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaa\r\n\r\n",
            false,
        );
        assert!(matches!(e, Err(Error::HttpFetch { .. })), "{e:?}");
    }

    #[test]
    fn extra_bytes_make_connection_unusable() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxJUNK"[..]);
        let p = get().feed(&mut buf, false).unwrap().unwrap();
        assert!(!p.reusable);
    }

    #[test]
    fn expect_continue_releases_body_on_100_only() {
        let req = HttpRequest::post("http://h/", "body").expect_100_continue(true);
        let mut r = reader(req.clone());
        let mut buf = BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\n"[..]);
        assert!(r.feed(&mut buf, false).unwrap().is_none());
        assert_eq!(r.send_now.take().as_deref(), Some(&b"body"[..]));
        let mut r = reader(req);
        let mut buf = BytesMut::from(&b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"[..]);
        let p = r.feed(&mut buf, false).unwrap().unwrap();
        assert!(r.send_now.is_none() && !p.reusable);
    }

    #[test]
    fn streaming_and_header_callbacks() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let lines = Rc::new(RefCell::new(Vec::new()));
        let chunks = Rc::new(RefCell::new(Vec::new()));
        let (l, c) = (lines.clone(), chunks.clone());
        let req = HttpRequest::get("http://h/")
            .header_callback(move |s| l.borrow_mut().push(s.to_string()))
            .streaming_callback(move |b| c.borrow_mut().push(b));
        let input =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
        let p = bytewise(&mut reader(req), input, false).unwrap().unwrap();
        assert!(p.body.is_empty());
        assert_eq!(chunks.borrow().concat(), b"abc");
        assert_eq!(
            *lines.borrow(),
            [
                "HTTP/1.1 200 OK\r\n",
                "transfer-encoding: chunked\r\n",
                "\r\n"
            ]
        );
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_is_decoded() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"compressed hello").unwrap();
        let gz = enc.finish().unwrap();
        let mut input = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        input.extend_from_slice(&gz);
        let p = bytewise(&mut get(), &input, false).unwrap().unwrap();
        assert_eq!(&p.body[..], b"compressed hello");
        assert!(p.headers.get(CONTENT_ENCODING).is_none());
        assert_eq!(p.headers["x-consumed-content-encoding"], "gzip");
    }
}
