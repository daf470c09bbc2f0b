//! One response read off a connection, as a sans-IO state machine over the stream's read
//! buffer: head (1xx skipped, `100 Continue` honoured), then the body through the h1
//! [`BodyDecoder`], with limits, gzip and streaming. The client feeds it from
//! [`IoStream::read_with`](crate::stream::IoStream::read_with).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use super::plan::{e599, Plan};
use super::request::{HeaderCallback, StreamingCallback};
use crate::error::{Error, Result};
use crate::http::h1::{
    consume_gzip_encoding, parse_response_head, BodyDecoder, BodyFault, BodyKind, BodyPipeline,
    Decoded, HeadLimits, ResponseHead,
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

struct Body {
    head: ResponseHead,
    decoder: BodyDecoder,
    sink: Sink,
    pipe: BodyPipeline,
}

/// A pipeline fault as the client's error (599, Tornado's convention).
fn fault_error(f: BodyFault) -> Error {
    e599(format!("response {f}"))
}

enum State {
    Head,
    Body(Box<Body>),
}

/// Reads one response (see the module docs).
pub(crate) struct ResponseReader {
    method: Method,
    limits: HeadLimits,
    max_body: usize,
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
    state: State,
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
        ResponseReader {
            method: plan.method.clone(),
            limits: HeadLimits {
                max_header_size: plan.max_header_size,
                ..HeadLimits::default()
            },
            max_body: plan.max_body_size,
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
            state: State::Head,
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
            match &mut self.state {
                State::Head => {
                    if buf.is_empty() {
                        return if !closed {
                            Ok(None)
                        } else if !self.got_bytes {
                            Err(Error::StreamClosed)
                        } else {
                            Err(e599("connection closed before the response was complete"))
                        };
                    }
                    self.got_bytes = true;
                    let head = match parse_response_head(buf, &self.limits, &self.method) {
                        Ok(Some(h)) => h,
                        Ok(None) if closed => {
                            return Err(e599("connection closed in the response head"))
                        }
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(client_error(e)),
                    };
                    if head.is_interim() {
                        if head.status == StatusCode::CONTINUE {
                            self.send_now = self.held_body.take();
                        }
                        continue;
                    }
                    if head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return Err(e599("unexpected 101 Switching Protocols"));
                    }
                    self.body_skipped = self.held_body.take().is_some();
                    self.state = State::Body(Box::new(self.start_body(head)?));
                }
                State::Body(body) => {
                    if let Some(n) = body.decoder.remaining() {
                        let buffering = body.pipe.is_buffered();
                        if buffering && n <= WHOLE_BODY && (buf.len() as u64) < n && !closed {
                            return Ok(None);
                        }
                    }
                    match body.decoder.decode(buf).map_err(client_error)? {
                        Decoded::Data(data) => {
                            let Body { pipe, sink, .. } = &mut **body;
                            pipe.push(data, &mut |b| sink.take(b))
                                .map_err(fault_error)?;
                        }
                        Decoded::NeedMore if closed => {
                            body.decoder.eof().map_err(client_error)?;
                            return self.finish(None, false).map(Some);
                        }
                        Decoded::NeedMore => return Ok(None),
                        Decoded::Done { trailers } => {
                            let clean = buf.is_empty();
                            return self.finish(trailers, clean).map(Some);
                        }
                    }
                }
            }
        }
    }

    fn start_body(&mut self, mut head: ResponseHead) -> Result<Body> {
        if let BodyKind::Length(n) = head.body
            && n > self.max_body as u64
        {
            return Err(e599(format!(
                "response body of {n} bytes exceeds max_body_size ({})",
                self.max_body
            )));
        }
        let redirect = self.follow_redirects && head.is_redirect();
        let sink = match (&self.streaming, redirect) {
            (_, true) => Sink::Discard,
            (Some(cb), false) => Sink::Stream(cb.clone()),
            (None, false) => Sink::Buffer,
        };
        if let (Some(cb), false) = (&self.header_callback, redirect) {
            call_header_callback(cb, &head);
        }
        let max = self.max_body as u64;
        let mut pipe = match sink {
            Sink::Buffer => BodyPipeline::buffered(max),
            _ => BodyPipeline::streamed(max),
        };
        if self.decompress && !redirect && consume_gzip_encoding(&mut head.headers) {
            pipe.gunzip();
        }
        let decoder = BodyDecoder::with_limits(head.body, self.limits);
        Ok(Body {
            head,
            decoder,
            sink,
            pipe,
        })
    }

    fn finish(&mut self, trailers: Option<HeaderMap>, clean: bool) -> Result<Parsed> {
        let State::Body(body) = std::mem::replace(&mut self.state, State::Head) else {
            return Err(Error::invalid_state("response finished twice"));
        };
        let Body {
            mut head,
            sink,
            mut pipe,
            ..
        } = *body;
        let data = pipe
            .finish(Some(&mut head.headers), &mut |b| sink.take(b))
            .map_err(fault_error)?;
        Ok(Parsed {
            status: head.status,
            reason: head.reason,
            version: head.version,
            headers: head.headers,
            trailers,
            body: data,
            reusable: clean && head.keep_alive && !self.body_skipped,
            first_byte: self.first_byte,
        })
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
