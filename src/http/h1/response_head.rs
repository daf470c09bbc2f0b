//! The client side of head parsing: status line and header fields, with the response body
//! framing rules of RFC 9112 §6.3.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Version};

use super::error::{parse_error, ParseErrorKind};
use super::framing::{
    build_map, header_slots, map_parse_error, slots, BodyKind, RawField, RawSlots, Scan,
    STACK_HEADERS,
};
use super::limits::HeadLimits;
use crate::error::Result;

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as sent (empty when missing or not ASCII).
    pub reason: String,
    /// The header fields, in order; values share the buffer the head was read into.
    pub headers: HeaderMap,
    /// How the body is delimited, given the request method and the status.
    pub body: BodyKind,
    /// Whether the connection may carry another request after this response's body.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// An interim 1xx response (100 Continue, 103 Early Hints, ...) that a client skips
    /// while waiting for the final one. `101 Switching Protocols` is final: after it the
    /// connection speaks another protocol.
    pub fn is_interim(&self) -> bool {
        self.status.is_informational() && self.status != StatusCode::SWITCHING_PROTOCOLS
    }

    /// A redirect a client may follow: 301, 302, 303, 307 or 308 with a `Location`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use http::Method;
    /// use squall::http::h1::{parse_response_head, HeadLimits};
    ///
    /// let mut buf = BytesMut::from(&b"HTTP/1.1 308 Moved\r\nLocation: /b\r\n\r\n"[..]);
    /// let head = parse_response_head(&mut buf, &HeadLimits::default(), &Method::GET)?.unwrap();
    /// assert!(head.is_redirect());
    /// # Ok::<(), squall::Error>(())
    /// ```
    pub fn is_redirect(&self) -> bool {
        is_redirect_status(self.status) && self.headers.contains_key(http::header::LOCATION)
    }
}

/// Whether `status` is one a client follows as a redirect (301, 302, 303, 307, 308).
pub fn is_redirect_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Parses a response head from the front of `buf`, for a request made with
/// `request_method` (a response to HEAD never has a body, one to a successful CONNECT
/// starts a tunnel).
///
/// Returns `Ok(None)` while the head is incomplete; on success the head's bytes are split
/// off `buf`, leaving the body.
///
/// # Errors
///
/// [`Error::HttpParse`](crate::Error::HttpParse) of kind `Malformed` for a malformed response or ambiguous framing
/// (conflicting `Content-Length`, `Transfer-Encoding` in HTTP/1.0 or with codings other
/// than `chunked` before the final `chunked`), `HeadTooLarge` when the head exceeds
/// `limits`.
///
/// ```
/// use bytes::BytesMut;
/// use http::Method;
/// use squall::http::h1::{parse_response_head, BodyKind, HeadLimits};
///
/// let limits = HeadLimits::default();
/// let mut buf = BytesMut::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let interim = parse_response_head(&mut buf, &limits, &Method::POST)?.unwrap();
/// assert!(interim.is_interim());
/// let head = parse_response_head(&mut buf, &limits, &Method::POST)?.unwrap();
/// assert_eq!((head.status.as_u16(), head.reason.as_str(), head.body), (200, "OK", BodyKind::Length(2)));
/// assert_eq!(&buf[..], b"hi");
/// # Ok::<(), squall::Error>(())
/// ```
pub fn parse_response_head(
    buf: &mut BytesMut,
    limits: &HeadLimits,
    request_method: &Method,
) -> Result<Option<ResponseHead>> {
    header_slots!(limits.max_headers, MaybeUninit::uninit() => parsed, raw);

    let mut resp = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    // RFC 9112 §5.2: a user agent MUST accept obs-fold in a response (each fold becomes
    // one SP, below).
    config.allow_obsolete_multiline_headers_in_responses(true);
    let len = match config.parse_response_with_uninit_headers(&mut resp, buf, parsed) {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_header_size => len,
        Ok(httparse::Status::Partial) if buf.len() <= limits.max_header_size => return Ok(None),
        Ok(_) => {
            return Err(parse_error(
                ParseErrorKind::HeadTooLarge,
                "response header section too large",
            ))
        }
        Err(e) => return Err(map_parse_error(e)),
    };
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| parse_error(ParseErrorKind::Malformed, "invalid status code"))?;
    let reason = resp.reason.unwrap_or("").to_owned();
    let mut scan = Scan::default();
    let raw = raw.take(resp.headers.len());
    // Values continued on further lines (obs-fold), unfolded: (field index, value).
    let mut unfolded: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, (slot, h)) in raw.iter_mut().zip(resp.headers.iter()).enumerate() {
        if h.value.contains(&b'\n') {
            let value = unfold(h.value);
            scan.field(h.name, &value);
            unfolded.push((i, value));
        } else {
            scan.field(h.name, h.value);
        }
        *slot = RawField::new(buf.as_ptr(), h.name.as_bytes(), h.value);
    }
    let raw = &*raw;
    let (body, mut keep_alive) = response_body(&scan, version, status, request_method)?;
    keep_alive &= match version {
        Version::HTTP_11 => !scan.conn_close,
        _ => scan.conn_keep_alive && !scan.conn_close,
    };

    let bytes = buf.split_to(len).freeze();
    let mut headers = HeaderMap::new();
    if unfolded.is_empty() {
        build_map(&bytes, raw, &mut headers)?;
    } else {
        build_folded_map(&bytes, raw, &unfolded, &mut headers)?;
    }
    Ok(Some(ResponseHead {
        version,
        status,
        reason,
        headers,
        body,
        keep_alive,
    }))
}

/// An obs-fold value (`a\r\n  b`) as one line: each fold, with the whitespace around
/// it, becomes one SP (RFC 9112 §5.2).
fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        out.extend_from_slice(line.trim_ascii_end());
        out.push(b' ');
        rest = rest[nl + 1..].trim_ascii_start();
    }
    out.extend_from_slice(rest);
    let end = out.trim_ascii_end().len();
    out.truncate(end);
    let start = out.len() - out.trim_ascii_start().len();
    out.drain(..start);
    out
}

/// Like `build_map`, with the values of the fields in `unfolded` replaced.
fn build_folded_map(
    head: &Bytes,
    fields: &[RawField],
    unfolded: &[(usize, Vec<u8>)],
    map: &mut HeaderMap,
) -> Result<()> {
    let bad = |what| parse_error(ParseErrorKind::Malformed, what);
    for (i, f) in fields.iter().enumerate() {
        let (ns, nl, vs, vl) = (f.0 as usize, f.1 as usize, f.2 as usize, f.3 as usize);
        let name =
            HeaderName::from_bytes(&head[ns..ns + nl]).map_err(|_| bad("invalid header name"))?;
        let value = match unfolded.iter().find(|(j, _)| *j == i) {
            Some((_, v)) => HeaderValue::from_bytes(v),
            None => HeaderValue::from_maybe_shared(head.slice(vs..vs + vl)),
        }
        .map_err(|_| bad("invalid header value"))?;
        map.append(name, value);
    }
    Ok(())
}

/// Response body framing (RFC 9112 §6.3) and whether it still allows keep-alive.
fn response_body(
    scan: &Scan,
    version: Version,
    status: StatusCode,
    method: &Method,
) -> Result<(BodyKind, bool)> {
    let code = status.as_u16();
    if method == Method::HEAD
        || status.is_informational()
        || code == 204
        || code == 304
        || (method == Method::CONNECT && status.is_success())
    {
        return Ok((BodyKind::Empty, true));
    }
    if scan.te_seen {
        if scan.content_length.is_some() || scan.bad_content_length {
            // Both framings at once: how a response is split or smuggled. RFC 9112 §6.3
            // says it "ought to be handled as an error"; Tornado fails the fetch.
            return Err(parse_error(
                ParseErrorKind::Malformed,
                "response with both Content-Length and Transfer-Encoding",
            ));
        }
        if version == Version::HTTP_10 {
            return Err(parse_error(
                ParseErrorKind::Malformed,
                "Transfer-Encoding in an HTTP/1.0 response",
            ));
        }
        if !scan.te_last_chunked {
            return Ok((BodyKind::Close, false));
        }
        if scan.te_chunked > 1 || scan.te_other {
            return Err(parse_error(
                ParseErrorKind::Malformed,
                "unsupported transfer-coding",
            ));
        }
        return Ok((BodyKind::Chunked, true));
    }
    match scan.content_length {
        _ if scan.bad_content_length => Err(parse_error(
            ParseErrorKind::Malformed,
            "invalid Content-Length",
        )),
        Some(0) => Ok((BodyKind::Empty, true)),
        Some(n) => Ok((BodyKind::Length(n), true)),
        None => Ok((BodyKind::Close, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::ParseErrorKind;
    use crate::Error;

    fn parse_for(method: Method, input: &[u8]) -> Result<Option<ResponseHead>> {
        parse_response_head(&mut BytesMut::from(input), &HeadLimits::default(), &method)
    }

    fn ok(input: &[u8]) -> ResponseHead {
        parse_for(Method::GET, input)
            .unwrap()
            .expect("complete head")
    }

    fn status(input: &[u8]) -> ParseErrorKind {
        match parse_for(Method::GET, input) {
            Err(Error::HttpParse { kind, .. }) => kind,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn byte_by_byte() {
        let input = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y\r\n\r\nabc";
        let mut buf = BytesMut::new();
        for (i, &b) in input.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let r = parse_response_head(&mut buf, &HeadLimits::default(), &Method::GET).unwrap();
            if let Some(h) = r {
                assert_eq!(i + 1, input.len() - 3);
                assert_eq!(
                    (h.status, h.reason.as_str(), h.body),
                    (StatusCode::NOT_FOUND, "Not Found", BodyKind::Length(3))
                );
                assert_eq!((h.headers.len(), h.keep_alive), (2, true));
                assert!(buf.is_empty());
                return;
            }
        }
        panic!("never completed");
    }

    #[test]
    fn bodiless_responses() {
        let with_len = |code: u16| format!("HTTP/1.1 {code} X\r\nContent-Length: 10\r\n\r\n");
        for code in [100, 101, 103, 204, 304] {
            assert_eq!(
                ok(with_len(code).as_bytes()).body,
                BodyKind::Empty,
                "{code}"
            );
        }
        let head = parse_for(Method::HEAD, with_len(200).as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!((head.body, head.keep_alive), (BodyKind::Empty, true));
        let connect = parse_for(
            Method::CONNECT,
            b"HTTP/1.1 200 Connection established\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(connect.body, BodyKind::Empty);
        assert!(ok(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").is_interim());
        assert!(!ok(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").is_interim());
        assert!(!ok(b"HTTP/1.1 200 OK\r\n\r\n").is_interim());
    }

    #[test]
    fn framing() {
        let te = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((te.body, te.keep_alive), (BodyKind::Chunked, true));
        // Both framings at once signal response splitting (RFC 9112 §6.3): an error,
        // whatever the coding, unless the response has no body anyway.
        for te in ["chunked", "gzip"] {
            let both =
                format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(status(both.as_bytes()), ParseErrorKind::Malformed, "{te}");
        }
        let both =
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(ok(both).body, BodyKind::Empty);
        let gz = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!((gz.body, gz.keep_alive), (BodyKind::Close, false));
        let close = ok(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((close.body, close.keep_alive), (BodyKind::Close, false));
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").body,
            BodyKind::Empty
        );
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n").body,
            BodyKind::Length(7)
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn keep_alive() {
        assert!(
            !ok(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n").keep_alive
        );
        assert!(!ok(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keep_alive);
        let h = ok(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n");
        assert!(h.keep_alive && h.version == Version::HTTP_10);
    }

    #[test]
    fn malformed() {
        assert_eq!(status(b"HTTP/1.1 20 OK\r\n\r\n"), ParseErrorKind::Malformed);
        assert_eq!(
            status(b"HTTP/1.1 099 Low\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/2.0 200 OK\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"HTTP/1.1 200 OK\rX: y\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(ok(b"HTTP/1.1 200\r\n\r\n").reason, "");
    }

    #[test]
    fn obs_fold_is_accepted_and_each_fold_becomes_one_space() {
        let h = ok(b"HTTP/1.1 200 OK\r\nX-Long: first \r\n second\r\n\t\tthird\r\nY: plain\r\nZ:\r\n z\r\nContent-Length: 1\r\n\r\n");
        assert_eq!(h.headers["x-long"], "first second third");
        assert_eq!(h.headers["y"], "plain");
        assert_eq!(h.headers["z"], "z");
        assert_eq!(h.headers.len(), 4);
        // A folded framing field is read unfolded.
        let te = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n");
        assert_eq!(te.body, BodyKind::Chunked);
        let cl = ok(b"HTTP/1.1 200 OK\r\nContent-Length:\r\n 7\r\n\r\n");
        assert_eq!(cl.body, BodyKind::Length(7));
        // Byte by byte, the head completes at the same place.
        let input = b"HTTP/1.1 204 No\r\nA: 1\r\n 2\r\n\r\nrest";
        let mut buf = BytesMut::new();
        let mut done = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if done.is_none() {
                done = parse_response_head(&mut buf, &HeadLimits::default(), &Method::GET).unwrap();
            }
        }
        assert_eq!(done.unwrap().headers["a"], "1 2");
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn limits() {
        let small = HeadLimits {
            max_header_size: 32,
            max_headers: 1,
        };
        let p = |b: &[u8]| parse_response_head(&mut BytesMut::from(b), &small, &Method::GET);
        assert!(p(b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n").unwrap().is_some());
        assert!(matches!(
            p(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        assert!(matches!(
            p(b"HTTP/1.1 200 OK\r\nA: 0123456789abcdef"),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        assert!(p(b"HTTP/1.1 200 OK\r\nA: 0123").unwrap().is_none());
    }
}
