//! The server side of head parsing: request line and header fields, with strict framing.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::{Method, Uri, Version};

use super::error::{parse_error, ParseErrorKind};
use super::framing::{map_parse_error, slots, BodyKind, RawField, Scan, STACK_HEADERS};
use super::headers::Headers;
use super::limits::HeadLimits;
use crate::error::{Error, Result};

/// Longest header name `http::HeaderName` can hold.
const MAX_NAME: usize = u16::MAX as usize;

/// Longest request-target `http::Uri` can hold; longer targets are answered with 414.
const MAX_TARGET: usize = u16::MAX as usize - 1;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request-target: origin-form (`/a?b`), absolute-form, authority-form (CONNECT
    /// only) or `*` (OPTIONS only).
    pub uri: Uri,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The header fields, in order; values share the buffer the head was read into.
    /// (Built into a map when first read: see [`Headers`].)
    pub headers: Headers,
    /// How the request body is delimited (never [`BodyKind::Close`]).
    pub body: BodyKind,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// An HTTP/1.1 request with `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl Default for RequestHead {
    /// `GET / HTTP/1.1`, no headers: a blank to parse into.
    fn default() -> Self {
        RequestHead {
            method: Method::GET,
            uri: Uri::default(),
            version: Version::HTTP_11,
            headers: Headers::default(),
            body: BodyKind::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }
}

impl RequestHead {
    /// Drops the head's references into the read buffer (header values, target) but keeps
    /// the header map's capacity. Call it once a request is handled and before reading
    /// more, so `BytesMut::reserve` can reclaim the read buffer in place instead of
    /// allocating a new one.
    pub fn clear(&mut self) {
        self.headers.clear();
        self.uri = Uri::default();
    }

    /// The path of the request-target (`*` for `OPTIONS *`, empty for authority-form).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query of the request-target, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

/// The error for a head over `max_header_size`: 414 when the request line alone is over
/// it (the target is what is too long), else 431 (the header fields are).
fn head_too_large(buf: &[u8], limits: &HeadLimits) -> Error {
    let scan = &buf[..buf.len().min(limits.max_header_size.saturating_add(1))];
    let line = scan.iter().position(|&b| b == b'\n').unwrap_or(scan.len());
    if line >= limits.max_header_size {
        parse_error(ParseErrorKind::UriTooLong, "request-target too long")
    } else {
        parse_error(
            ParseErrorKind::HeadTooLarge,
            "request header section too large",
        )
    }
}

/// Parses a request head from the front of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete (read more and call again), or the head,
/// whose bytes are split off `buf`: what stays is body or pipelined requests.
///
/// # Errors
///
/// [`Error::HttpParse`] whose [`ParseErrorKind`](super::ParseErrorKind) the server
/// answers before closing: `Malformed` (400: malformed or ambiguous framing),
/// `UriTooLong` (414: target over 65534 bytes, or a request line alone over
/// `max_header_size`), `HeadTooLarge` (431: head over `max_header_size` or more than
/// `max_headers` fields), `UnsupportedTransferCoding` (501: a transfer-coding other than
/// `chunked`), `UnsupportedVersion` (505: HTTP version other than 1.0 and 1.1).
///
/// ```
/// use bytes::BytesMut;
/// use squall::http::h1::{parse_request_head, BodyKind, HeadLimits};
///
/// let limits = HeadLimits::default();
/// let mut buf = BytesMut::from(&b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n"[..]);
/// assert!(parse_request_head(&mut buf, &limits)?.is_none());
/// buf.extend_from_slice(b"\r\nGET /next HTTP/1.1\r\n");
/// let head = parse_request_head(&mut buf, &limits)?.unwrap();
/// assert_eq!((head.path(), head.query()), ("/a", Some("b=1")));
/// assert_eq!(head.body, BodyKind::Empty);
/// assert!(head.keep_alive);
/// assert_eq!(&buf[..], b"GET /next HTTP/1.1\r\n");
/// # Ok::<(), squall::Error>(())
/// ```
pub fn parse_request_head(buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<RequestHead>> {
    let mut head = RequestHead::default();
    Ok(parse_request_head_into(buf, limits, &mut head)?.then_some(head))
}

/// Like [`parse_request_head`], but parses into `head`, reusing its header map's
/// allocation: the allocation-free path for a connection that keeps one `RequestHead`.
///
/// Returns `Ok(true)` when `head` was filled, `Ok(false)` when more bytes are needed (then
/// `head` is unchanged).
///
/// # Errors
///
/// As [`parse_request_head`]; `head` may then be partly overwritten.
///
/// ```
/// use bytes::BytesMut;
/// use squall::http::h1::{parse_request_head_into, HeadLimits, RequestHead};
///
/// let mut head = RequestHead::default();
/// let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
/// assert!(parse_request_head_into(&mut buf, &HeadLimits::default(), &mut head)?);
/// assert!(!head.keep_alive);
/// assert!(parse_request_head_into(&mut buf, &HeadLimits::default(), &mut head)?);
/// assert!(head.keep_alive && buf.is_empty());
/// # Ok::<(), squall::Error>(())
/// ```
pub fn parse_request_head_into(
    buf: &mut BytesMut,
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<bool> {
    let mut stack = [const { MaybeUninit::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let parsed = slots(
        &mut stack,
        &mut heap,
        limits.max_headers,
        MaybeUninit::uninit,
    );

    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, parsed) {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_header_size => len,
        Ok(httparse::Status::Partial) if buf.len() <= limits.max_header_size => return Ok(false),
        Ok(_) => return Err(head_too_large(buf, limits)),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(e) => return Err(map_parse_error(e)),
    };
    let base = buf.as_ptr();
    let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let method_at = RawField::new(base, method.as_bytes(), target.as_bytes());
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut scan = Scan::default();
    let mut long_name = false;
    let raw = head.headers.raw_fields();
    for h in req.headers.iter() {
        scan.field(h.name, h.value);
        // httparse checks names and values as `http` does, but for the length of a name.
        long_name |= h.name.len() > MAX_NAME;
        raw.push(RawField::new(base, h.name.as_bytes(), h.value));
    }
    let done = check_and_fill(buf, len, method_at, version, &scan, long_name, head);
    if done.is_err() {
        // The fields listed above point into a head that was refused.
        head.headers.clear();
    }
    done
}

/// The checks of a complete head of `len` bytes whose fields are listed in
/// `head.headers` (`method_at`: where its method and request-target are); fills `head`
/// and takes the head off `buf` if they pass.
fn check_and_fill(
    buf: &mut BytesMut,
    len: usize,
    method_at: RawField,
    version: Version,
    scan: &Scan,
    long_name: bool,
    head: &mut RequestHead,
) -> Result<bool> {
    if long_name {
        return Err(parse_error(
            ParseErrorKind::Malformed,
            "invalid header name",
        ));
    }
    let body = request_body(scan, version)?;
    if scan.hosts > 1 || (version == Version::HTTP_11 && scan.hosts == 0) || scan.bad_host {
        return Err(parse_error(
            ParseErrorKind::Malformed,
            "missing, repeated or invalid Host",
        ));
    }
    if method_at.3 as usize > MAX_TARGET {
        return Err(parse_error(
            ParseErrorKind::UriTooLong,
            "request-target too long",
        ));
    }

    let bytes = buf.split_to(len).freeze();
    let (ms, ml, ts, tl) = (
        method_at.0 as usize,
        method_at.1 as usize,
        method_at.2 as usize,
        method_at.3 as usize,
    );
    head.method = Method::from_bytes(&bytes[ms..ms + ml])
        .map_err(|_| parse_error(ParseErrorKind::Malformed, "invalid method"))?;
    let target = bytes.slice(ts..ts + tl);
    let is_star = &target[..] == b"*";
    let is_origin = target.first() == Some(&b'/');
    head.uri = Uri::from_maybe_shared(target)
        .map_err(|_| parse_error(ParseErrorKind::Malformed, "invalid request-target"))?;
    let form_ok = if head.method == Method::CONNECT {
        head.uri.scheme().is_none()
            && head.uri.path_and_query().is_none()
            && head.uri.authority().is_some()
    } else {
        is_origin || (is_star && head.method == Method::OPTIONS) || head.uri.scheme().is_some()
    };
    if !form_ok {
        return Err(parse_error(
            ParseErrorKind::Malformed,
            "request-target form does not match the method",
        ));
    }
    head.version = version;
    head.headers.set_head(bytes);
    head.body = body;
    head.keep_alive = match version {
        Version::HTTP_11 => !scan.conn_close,
        _ => scan.conn_keep_alive && !scan.conn_close,
    };
    head.expect_continue = version == Version::HTTP_11 && scan.expect_continue;
    Ok(true)
}

/// Request body framing, RFC 9112 §6.1–6.3 with the server's duties.
fn request_body(scan: &Scan, version: Version) -> Result<BodyKind> {
    if scan.te_seen {
        let why = if version == Version::HTTP_10 {
            "Transfer-Encoding in an HTTP/1.0 request"
        } else if scan.content_length.is_some() || scan.bad_content_length {
            "both Content-Length and Transfer-Encoding"
        } else if !scan.te_last_chunked {
            "final transfer-coding is not chunked"
        } else if scan.te_chunked > 1 {
            "chunked applied more than once"
        } else if scan.te_other {
            return Err(parse_error(
                ParseErrorKind::UnsupportedTransferCoding,
                "unsupported transfer-coding",
            ));
        } else {
            return Ok(BodyKind::Chunked);
        };
        return Err(parse_error(ParseErrorKind::Malformed, why));
    }
    match scan.content_length {
        _ if scan.bad_content_length => Err(parse_error(
            ParseErrorKind::Malformed,
            "invalid Content-Length",
        )),
        None | Some(0) => Ok(BodyKind::Empty),
        Some(n) => Ok(BodyKind::Length(n)),
    }
}

/// 505 when the request line names a well-formed but unsupported `HTTP/x.y`, else 400.
fn version_error(buf: &[u8]) -> Error {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = buf[start..].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `method SP target SP version`: more spaces mean a malformed line (e.g. a space
    // inside the target), not an unsupported version.
    if line.iter().filter(|&&b| b == b' ').count() != 2 {
        return parse_error(ParseErrorKind::Malformed, "malformed request line");
    }
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(&[]);
    match version {
        [b'H', b'T', b'T', b'P', b'/', d, ..] if d.is_ascii_digit() => parse_error(
            ParseErrorKind::UnsupportedVersion,
            "HTTP version not supported",
        ),
        _ => parse_error(ParseErrorKind::Malformed, "invalid HTTP version"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn many_fields_beyond_the_small_stack_are_all_kept() {
        let mut text = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..60 {
            text.push_str(&format!("X-F{i}: v{i}\r\n"));
        }
        text.push_str("\r\n");
        let mut buf = BytesMut::from(text.as_bytes());
        let head = parse_request_head(&mut buf, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.headers.len(), 61);
        assert_eq!(head.headers["x-f0"], "v0");
        assert_eq!(head.headers["x-f59"], "v59");
        assert!(buf.is_empty());
    }

    use super::*;
    use crate::http::h1::ParseErrorKind;

    fn parse(input: &[u8]) -> Result<Option<RequestHead>> {
        parse_request_head(&mut BytesMut::from(input), &HeadLimits::default())
    }

    fn status(input: &[u8]) -> ParseErrorKind {
        match parse(input) {
            Err(Error::HttpParse { kind, .. }) => kind,
            other => panic!(
                "expected an error for {:?}, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    fn ok(input: &[u8]) -> RequestHead {
        parse(input).unwrap().expect("complete head")
    }

    #[test]
    fn simple_get() {
        let h = ok(b"GET /p?q HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
        assert_eq!(h.method, Method::GET);
        assert_eq!(
            (h.path(), h.query(), h.version),
            ("/p", Some("q"), Version::HTTP_11)
        );
        assert_eq!(
            h.headers.get_all("x-a").iter().collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(h.headers["host"], "example.com");
        assert_eq!(h.body, BodyKind::Empty);
        assert!(h.keep_alive && !h.expect_continue);
    }

    #[test]
    fn byte_by_byte() {
        let input = b"\r\nPOST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let head_len = input.len() - 3;
        let mut buf = BytesMut::new();
        for (i, &b) in input.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let r = parse_request_head(&mut buf, &HeadLimits::default()).unwrap();
            if i + 1 < head_len {
                assert!(r.is_none(), "complete too early at {i}");
            } else {
                assert_eq!(r.unwrap().body, BodyKind::Length(3));
                assert!(buf.is_empty());
                buf.extend_from_slice(&input[i + 1..]);
                assert_eq!(&buf[..], b"abc");
                return;
            }
        }
        panic!("never completed");
    }

    #[test]
    fn pipelined_requests_parse_in_turn() {
        let mut buf = BytesMut::from(
            &b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        );
        let l = HeadLimits::default();
        let mut head = RequestHead::default();
        assert!(parse_request_head_into(&mut buf, &l, &mut head).unwrap());
        assert_eq!(head.path(), "/1");
        assert!(parse_request_head_into(&mut buf, &l, &mut head).unwrap());
        assert_eq!((head.path(), head.body), ("/2", BodyKind::Length(2)));
        let _ = buf.split_to(2);
        assert!(parse_request_head_into(&mut buf, &l, &mut head).unwrap());
        assert_eq!((head.path(), head.headers.len()), ("/3", 1));
        assert!(buf.is_empty());
        assert!(!parse_request_head_into(&mut buf, &l, &mut head).unwrap());
    }

    #[test]
    fn leading_empty_lines_and_bare_lf() {
        assert_eq!(ok(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").path(), "/");
        assert_eq!(ok(b"GET / HTTP/1.1\nHost: a\n\n").headers["host"], "a");
    }

    #[test]
    fn bare_cr_is_rejected() {
        assert_eq!(
            status(b"GET / HTTP/1.1\rHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn malformed_fields_are_rejected() {
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  folded\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(status(b"GET /\r\n\r\n"), ParseErrorKind::Malformed);
    }

    #[test]
    fn versions() {
        assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").version, Version::HTTP_10);
        assert_eq!(
            status(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
            ParseErrorKind::UnsupportedVersion
        );
        assert_eq!(
            status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            ParseErrorKind::UnsupportedVersion
        );
        assert_eq!(
            status(b"GET / HTTP/0.9\r\n\r\n"),
            ParseErrorKind::UnsupportedVersion
        );
        assert_eq!(status(b"GET / HTTP/2"), ParseErrorKind::UnsupportedVersion);
        assert_eq!(
            status(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(status(b"GET / HTTX/1.1\r\n\r\n"), ParseErrorKind::Malformed);
        assert_eq!(
            status(b"GET / HTTP/1.1x\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), ParseErrorKind::Malformed);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").headers["host"], "");
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").path(),
            "/"
        );
    }

    #[test]
    fn target_forms() {
        let h = ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(h.uri.authority().unwrap().as_str(), "example.com:443");
        assert_eq!(ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path(), "*");
        let h = ok(b"GET http://a/x?y HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (h.uri.host(), h.path(), h.query()),
            (Some("a"), "/x", Some("y"))
        );
        assert_eq!(
            status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
        assert_eq!(
            status(b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body,
            BodyKind::Empty
        );
        let h =
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.body, BodyKind::Length(5));
        for bad in [
            "5, 6",
            "-1",
            "+1",
            "",
            "1 2",
            "0x10",
            "99999999999999999999",
            "5,",
        ] {
            let req = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(status(req.as_bytes()), ParseErrorKind::Malformed, "{bad}");
        }
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn transfer_encoding_rules() {
        let te = |v: &str| {
            parse(
                format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes(),
            )
        };
        assert_eq!(te("chunked").unwrap().unwrap().body, BodyKind::Chunked);
        assert_eq!(te("Chunked ").unwrap().unwrap().body, BodyKind::Chunked);
        for (v, want) in [
            ("gzip", ParseErrorKind::Malformed),
            ("chunked, gzip", ParseErrorKind::Malformed),
            ("chunked, chunked", ParseErrorKind::Malformed),
            ("", ParseErrorKind::Malformed),
            ("gzip, chunked", ParseErrorKind::UnsupportedTransferCoding),
            ("chunked;x=1", ParseErrorKind::Malformed),
        ] {
            assert!(
                matches!(te(v), Err(Error::HttpParse { kind, .. }) if kind == want),
                "{v}"
            );
        }
        let split = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(split), ParseErrorKind::Malformed);
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), ParseErrorKind::UnsupportedTransferCoding);
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), ParseErrorKind::Malformed);
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), ParseErrorKind::Malformed);
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseErrorKind::Malformed
        );
    }

    #[test]
    fn smuggling_variants() {
        let bad: [&[u8]; 7] = [
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\rContent-Length: 2\r\n\r\n",
        ];
        for req in bad {
            assert_eq!(
                status(req),
                ParseErrorKind::Malformed,
                "{:?}",
                String::from_utf8_lossy(req)
            );
        }
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  7 \r\n\r\n");
        assert_eq!(h.body, BodyKind::Length(7));
    }

    #[test]
    fn keep_alive_and_expect() {
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
        assert!(!ok(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn limits() {
        let small = HeadLimits {
            max_header_size: 40,
            max_headers: 2,
        };
        let p = |b: &[u8]| parse_request_head(&mut BytesMut::from(b), &small);
        assert!(p(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n")
            .unwrap()
            .is_some());
        let e = p(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n").unwrap_err();
        assert!(matches!(
            e,
            Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            }
        ));
        // A request line alone over the limit: the target is too long (ParseErrorKind::UriTooLong, not ParseErrorKind::HeadTooLarge),
        // whether or not its end arrived.
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(40));
        assert!(matches!(
            p(long_target.as_bytes()),
            Err(Error::HttpParse {
                kind: ParseErrorKind::UriTooLong,
                ..
            })
        ));
        assert!(matches!(
            p(format!("GET /{}", "a".repeat(40)).as_bytes()),
            Err(Error::HttpParse {
                kind: ParseErrorKind::UriTooLong,
                ..
            })
        ));
        assert!(p(&[b'\n'; 40]).unwrap().is_none());
        assert!(matches!(
            p(&[b'\n'; 41]),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        let complete_but_long = b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n";
        assert!(matches!(
            p(complete_but_long),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        let many = HeadLimits {
            max_header_size: 1 << 20,
            max_headers: 200,
        };
        let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..199 {
            req.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let h = parse_request_head(&mut BytesMut::from(&req[..]), &many)
            .unwrap()
            .unwrap();
        assert_eq!(h.headers.len(), 200);
        let huge = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "a".repeat(MAX_TARGET)
        );
        let e = parse_request_head(&mut BytesMut::from(huge.as_bytes()), &many).unwrap_err();
        assert!(matches!(
            e,
            Error::HttpParse {
                kind: ParseErrorKind::UriTooLong,
                ..
            }
        ));
    }

    #[test]
    fn extension_method() {
        assert_eq!(
            ok(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n").method.as_str(),
            "PURGE"
        );
    }
}

#[cfg(test)]
mod lazy_fields {
    use super::*;

    #[test]
    fn a_name_too_long_for_a_header_map_is_refused_at_parse_time() {
        // Names are checked as the head arrives (the map is built later, when read): a
        // name `http` could not hold must be refused then, not dropped later.
        let limits = HeadLimits {
            max_header_size: 256 * 1024,
            max_headers: 100,
        };
        let name = "a".repeat(MAX_NAME + 1);
        let text = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: v\r\n\r\n");
        match parse_request_head(&mut BytesMut::from(text.as_bytes()), &limits) {
            Err(Error::HttpParse { kind, .. }) => assert_eq!(kind, ParseErrorKind::Malformed),
            other => panic!("expected 400, got {other:?}"),
        }
        let name = "a".repeat(MAX_NAME);
        let text = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: v\r\n\r\n");
        let head = parse_request_head(&mut BytesMut::from(text.as_bytes()), &limits)
            .unwrap()
            .unwrap();
        assert_eq!(head.headers[name.as_str()], "v");
    }

    #[test]
    fn a_head_reused_after_a_refused_request_reads_without_a_panic() {
        // The fields are listed before the later checks refuse the request (here: no
        // Host); reading the reused head afterwards must not index into bytes it no
        // longer holds.
        let mut head = RequestHead::default();
        let limits = HeadLimits::default();
        let mut buf = BytesMut::from(&b"GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"[..]);
        assert!(parse_request_head_into(&mut buf, &limits, &mut head).unwrap());
        let mut bad = BytesMut::from(&b"GET /2 HTTP/1.1\r\nX-Long-Name: a long value\r\n\r\n"[..]);
        assert!(parse_request_head_into(&mut bad, &limits, &mut head).is_err());
        assert!(head.headers.is_empty(), "{:?}", head.headers);
    }

    #[test]
    fn every_field_of_every_request_reads_back_after_a_reused_head() {
        let mut head = RequestHead::default();
        let mut buf = BytesMut::from(
            &b"GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n"[..],
        );
        let limits = HeadLimits::default();
        assert!(parse_request_head_into(&mut buf, &limits, &mut head).unwrap());
        let a: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(a.len(), 2);
        assert_eq!(head.headers["host"], "a");
        assert!(parse_request_head_into(&mut buf, &limits, &mut head).unwrap());
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers["host"], "b");
        assert!(head.headers.get("x-a").is_none());
    }
}
