//! Serialisation: status and request lines, header fields, framing headers, chunked
//! bodies. Everything appends to one `BytesMut`, so a head and a small body go out in a
//! single write.

use bytes::{BufMut, BytesMut};
use http::header::{HeaderName, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};
use std::time::SystemTime;

use super::date::{write_date_line, HTTP_DATE_LEN};
use super::error::{parse_error, ParseErrorKind};
use crate::error::{Error, Result};

/// The interim response a server sends to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A constant header field: its name and `'static` value (a slot of the responder's
/// inline fields, empty when `None`).
pub(crate) type StaticField = Option<(HeaderName, &'static str)>;

/// Which framing header the encoder adds for the body that follows the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`; send the body through a [`ChunkedEncoder`]. Only for
    /// HTTP/1.1 peers: an HTTP/1.0 one needs `Length` or a close-delimited body.
    Chunked,
    /// No framing header: no body (1xx, 204, 304, bodiless requests) or, for responses,
    /// a body delimited by closing the connection.
    Unframed,
}

/// Appends a response head: status line, `headers`, the framing header (unless `headers`
/// already has `Content-Length` or `Transfer-Encoding`, and never for 1xx or 204), `Date`
/// (unless present; not for 1xx) and the empty line.
///
/// `reason` defaults to the canonical phrase; one with control characters is replaced by
/// it. Versions other than HTTP/1.0 are written as HTTP/1.1.
///
/// ```
/// use http::{HeaderMap, StatusCode, Version};
/// use squall::http::h1::{write_response_head, Framing};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", "text/plain".parse().unwrap());
/// let mut out = bytes::BytesMut::new();
/// write_response_head(&mut out, Version::HTTP_11, StatusCode::OK, None, &headers, Framing::Length(5));
/// let text = std::str::from_utf8(&out).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 5\r\nDate: "));
/// assert!(text.ends_with(" GMT\r\n\r\n"));
/// ```
pub fn write_response_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    reason: Option<&str>,
    headers: &HeaderMap,
    framing: Framing,
) {
    write_head(dst, (version, status, reason), headers, framing, None);
}

/// What a server writes into every response head besides the handler's fields: the
/// connection management (`Connection: close` when the connection ends after this
/// response, `Connection: keep-alive` for an HTTP/1.0 client that keeps it) and its
/// `Server` field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFields<'a> {
    keep_alive: bool,
    server: Option<&'a str>,
    date: Option<SystemTime>,
    /// The handler's constant fields, written before the map's.
    statics: &'a [StaticField],
}

impl<'a> ServerFields<'a> {
    /// The fields for a response after which the connection stays open (`keep_alive`)
    /// or closes, with an optional `Server` value.
    pub fn new(keep_alive: bool, server: Option<&'a str>) -> Self {
        ServerFields {
            keep_alive,
            server,
            date: None,
            statics: &[],
        }
    }

    /// Constant fields to write before the map's (the responder's inline ones).
    pub(crate) fn statics(mut self, statics: &'a [StaticField]) -> Self {
        self.statics = statics;
        self
    }

    /// Dates the response at `at` (the loop's wall time) rather than the system clock's
    /// now.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use http::{HeaderMap, StatusCode, Version};
    /// use squall::http::h1::{write_server_response_head, Framing, ServerFields};
    ///
    /// let mut out = bytes::BytesMut::new();
    /// let at = UNIX_EPOCH + Duration::from_secs(784887151);
    /// let fields = ServerFields::new(true, None).date(at);
    /// write_server_response_head(&mut out, Version::HTTP_11, StatusCode::OK, &HeaderMap::new(), Framing::Length(0), fields);
    /// assert!(std::str::from_utf8(&out).unwrap().contains("Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n"));
    /// ```
    pub fn date(mut self, at: SystemTime) -> Self {
        self.date = Some(at);
        self
    }

    fn write(&self, dst: &mut BytesMut, version: Version) {
        if !self.keep_alive {
            dst.put_slice(b"Connection: close\r\n");
        } else if version == Version::HTTP_10 {
            dst.put_slice(b"Connection: keep-alive\r\n");
        }
        if let Some(server) = self.server {
            dst.put_slice(b"Server: ");
            dst.put_slice(server.as_bytes());
            dst.put_slice(b"\r\n");
        }
    }
}

/// [`write_response_head`] for a server: the head also carries its [`ServerFields`].
///
/// ```
/// use http::{HeaderMap, StatusCode, Version};
/// use squall::http::h1::{write_server_response_head, Framing, ServerFields};
///
/// let mut out = bytes::BytesMut::new();
/// let fields = ServerFields::new(false, Some("squall"));
/// write_server_response_head(&mut out, Version::HTTP_11, StatusCode::OK, &HeaderMap::new(), Framing::Length(0), fields);
/// let text = std::str::from_utf8(&out).unwrap();
/// assert!(text.contains(" GMT\r\n"));
/// assert!(text.ends_with("\r\nConnection: close\r\nServer: squall\r\n\r\n"));
/// ```
pub fn write_server_response_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    fields: ServerFields<'_>,
) {
    write_head(dst, (version, status, None), headers, framing, Some(fields));
}

/// The status line's parts: version, status, reason phrase.
type StatusLine<'a> = (Version, StatusCode, Option<&'a str>);

fn write_head(
    dst: &mut BytesMut,
    (version, status, reason): StatusLine<'_>,
    headers: &HeaderMap,
    framing: Framing,
    fields: Option<ServerFields<'_>>,
) {
    let statics = fields.map_or(&[][..], |f| f.statics);
    let statics_size: usize = statics
        .iter()
        .flatten()
        .map(|(n, v)| field_size(n, v.as_bytes()))
        .sum();
    dst.reserve(head_size(headers) + statics_size + 80);
    let v: &[u8] = if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    };
    dst.put_slice(v);
    let reason = reason.filter(|r| r.bytes().all(|b| b == b'\t' || b >= b' ' && b != 0x7f));
    if status == StatusCode::OK && reason.is_none() {
        dst.put_slice(b"200 OK\r\n");
    } else {
        dst.put_slice(status.as_str().as_bytes());
        dst.put_u8(b' ');
        let reason = reason.or(status.canonical_reason()).unwrap_or("");
        dst.put_slice(reason.as_bytes());
        dst.put_slice(b"\r\n");
    }
    let mut seen = Seen::default();
    for (name, value) in statics.iter().flatten() {
        seen.note(name);
        write_field(dst, name, value.as_bytes());
    }
    write_fields(dst, headers, &mut seen);
    let interim = status.is_informational();
    if !interim && status != StatusCode::NO_CONTENT {
        write_framing(dst, seen, framing);
    }
    if !interim && !seen.date {
        let at = fields.and_then(|f| f.date).unwrap_or_else(SystemTime::now);
        write_date_line(dst, at);
    }
    if let Some(f) = fields {
        f.write(dst, version);
    }
    dst.put_slice(b"\r\n");
}

/// Appends a whole response with a `Content-Length` body: head and body in one buffer, for
/// one write.
///
/// ```
/// use http::{HeaderMap, StatusCode, Version};
/// let mut out = bytes::BytesMut::new();
/// squall::http::h1::write_response(&mut out, Version::HTTP_11, StatusCode::NOT_FOUND, &HeaderMap::new(), b"nope");
/// assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n"));
/// assert!(out.ends_with(b"\r\n\r\nnope"));
/// ```
pub fn write_response(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) {
    let framing = Framing::Length(body.len() as u64);
    dst.reserve(body.len());
    write_response_head(dst, version, status, None, headers, framing);
    dst.put_slice(body);
}

/// Appends a request head: request line, `headers` (the caller supplies `Host`), the
/// framing header unless already present, and the empty line.
///
/// # Errors
///
/// [`Error::HttpParse`] `Malformed` when `target` is empty or holds spaces, control or non-ASCII bytes
/// (which would split the request line).
///
/// ```
/// use http::{HeaderMap, Method, Version};
/// use squall::http::h1::{write_request_head, Framing};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("host", "example.com".parse().unwrap());
/// let mut out = bytes::BytesMut::new();
/// write_request_head(&mut out, &Method::POST, "/a?b", Version::HTTP_11, &headers, Framing::Chunked)?;
/// assert_eq!(&out[..], b"POST /a?b HTTP/1.1\r\nhost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n");
/// # Ok::<(), squall::Error>(())
/// ```
pub fn write_request_head(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    version: Version,
    headers: &HeaderMap,
    framing: Framing,
) -> Result<()> {
    write_request_line(dst, method, target, version, head_size(headers))?;
    write_request_fields(dst, headers, framing);
    Ok(())
}

/// The request line, with room reserved for `fields_size` bytes of fields after it.
pub(crate) fn write_request_line(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    version: Version,
    fields_size: usize,
) -> Result<()> {
    if target.is_empty() || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(parse_error(
            ParseErrorKind::Malformed,
            "invalid request-target",
        ));
    }
    dst.reserve(fields_size + target.len() + 64);
    dst.put_slice(method.as_str().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(target.as_bytes());
    let v: &[u8] = if version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    };
    dst.put_slice(v);
    Ok(())
}

/// A request's `headers`, its framing field unless among them, and the empty line.
pub(crate) fn write_request_fields(dst: &mut BytesMut, headers: &HeaderMap, framing: Framing) {
    let mut seen = Seen::default();
    write_fields(dst, headers, &mut seen);
    write_framing(dst, seen, framing);
    dst.put_slice(b"\r\n");
}

/// One header field, `name: value` (the caller checked both).
pub(crate) fn write_field(dst: &mut BytesMut, name: &HeaderName, value: &[u8]) {
    dst.put_slice(name.as_str().as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_slice(b"\r\n");
}

/// Bytes one field line takes: `name: value\r\n`.
fn field_size(name: &HeaderName, value: &[u8]) -> usize {
    name.as_str().len() + value.len() + 4
}

/// Bytes the header fields take, for one `reserve`.
pub(crate) fn head_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| field_size(n, v.as_bytes()))
        .sum::<usize>()
        + HTTP_DATE_LEN
}

/// Which of the fields the encoder adds itself were already among the caller's.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    date: bool,
    framing: bool,
}

/// Writes the fields and notes, in the same pass, whether `Date` or a framing field is
/// among them: cheaper than a hashed lookup per name for every response.
fn write_fields(dst: &mut BytesMut, headers: &HeaderMap, seen: &mut Seen) {
    for (name, value) in headers {
        seen.note(name);
        write_field(dst, name, value.as_bytes());
    }
}

impl Seen {
    fn note(&mut self, name: &HeaderName) {
        if *name == DATE {
            self.date = true;
        } else if *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING {
            self.framing = true;
        }
    }
}

/// Whether `headers` holds a field `name`. A response's map is small: comparing names
/// (a tag compare for standard ones) beats hashing `name` for a lookup.
pub(crate) fn has_field(headers: &HeaderMap, name: &HeaderName) -> bool {
    if headers.keys_len() <= 8 {
        headers.keys().any(|k| k == name)
    } else {
        headers.contains_key(name)
    }
}

fn write_framing(dst: &mut BytesMut, seen: Seen, framing: Framing) {
    if seen.framing {
        return;
    }
    match framing {
        Framing::Length(n) => {
            dst.put_slice(b"Content-Length: ");
            write_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        Framing::Chunked => dst.put_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::Unframed => {}
    }
}

/// Appends `n` in decimal, without allocating.
fn write_decimal(dst: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&buf[i..]);
}

/// Appends `n` in lowercase hexadecimal.
fn write_hex(dst: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&buf[i..]);
}

/// Writes a body with `Transfer-Encoding: chunked`.
///
/// ```
/// let mut enc = squall::http::h1::ChunkedEncoder::new();
/// let mut out = bytes::BytesMut::new();
/// enc.encode_chunk(b"hello, world", &mut out)?;
/// enc.encode_chunk(b"", &mut out)?; // nothing: an empty chunk would end the body
/// enc.finish(&mut out)?;
/// assert_eq!(&out[..], b"c\r\nhello, world\r\n0\r\n\r\n");
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChunkedEncoder {
    finished: bool,
}

impl ChunkedEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `data` as one chunk (`hex-size CRLF data CRLF`); empty data writes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] after [`finish`](Self::finish).
    pub fn encode_chunk(&mut self, data: &[u8], dst: &mut BytesMut) -> Result<()> {
        self.check()?;
        if !data.is_empty() {
            dst.reserve(data.len() + 20);
            write_hex(dst, data.len() as u64);
            dst.put_slice(b"\r\n");
            dst.put_slice(data);
            dst.put_slice(b"\r\n");
        }
        Ok(())
    }

    /// Appends only the size line of a `len`-byte chunk, for callers that send the data
    /// from its own buffer; they must then send the data and `\r\n`. `len` must not be 0.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] after [`finish`](Self::finish) or when `len` is 0.
    pub fn write_chunk_size(&mut self, len: usize, dst: &mut BytesMut) -> Result<()> {
        self.check()?;
        if len == 0 {
            return Err(Error::invalid_state("an empty chunk would end the body"));
        }
        write_hex(dst, len as u64);
        dst.put_slice(b"\r\n");
        Ok(())
    }

    /// Appends the last chunk and an empty trailer section: `0\r\n\r\n`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when called twice.
    pub fn finish(&mut self, dst: &mut BytesMut) -> Result<()> {
        self.finish_with_trailers(&HeaderMap::new(), dst)
    }

    /// Appends the last chunk followed by `trailers` and the final empty line.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when the body was already finished.
    pub fn finish_with_trailers(&mut self, trailers: &HeaderMap, dst: &mut BytesMut) -> Result<()> {
        self.check()?;
        self.finished = true;
        dst.put_slice(b"0\r\n");
        write_fields(dst, trailers, &mut Seen::default());
        dst.put_slice(b"\r\n");
        Ok(())
    }

    /// Whether the last chunk was written.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn check(&self) -> Result<()> {
        match self.finished {
            true => Err(Error::invalid_state("chunked body already finished")),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{parse_request_head, BodyDecoder, BodyKind, Decoded, HeadLimits};

    fn head(
        status: StatusCode,
        reason: Option<&str>,
        headers: &HeaderMap,
        framing: Framing,
    ) -> String {
        let mut out = BytesMut::new();
        write_response_head(&mut out, Version::HTTP_11, status, reason, headers, framing);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn status_lines() {
        let h = HeaderMap::new();
        assert!(head(StatusCode::OK, None, &h, Framing::Unframed)
            .starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(head(StatusCode::OK, Some("Fine"), &h, Framing::Unframed)
            .starts_with("HTTP/1.1 200 Fine\r\n"));
        assert!(
            head(StatusCode::OK, Some("x\r\nEvil: 1"), &h, Framing::Unframed)
                .starts_with("HTTP/1.1 200 OK\r\n")
        );
        let teapot = StatusCode::from_u16(599).unwrap();
        assert!(head(teapot, None, &h, Framing::Unframed).starts_with("HTTP/1.1 599 \r\n"));
        let mut out = BytesMut::new();
        write_response_head(
            &mut out,
            Version::HTTP_10,
            StatusCode::NOT_FOUND,
            None,
            &h,
            Framing::Length(0),
        );
        assert!(out.starts_with(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nDate: "));
    }

    #[test]
    fn framing_headers() {
        let h = HeaderMap::new();
        assert!(head(StatusCode::OK, None, &h, Framing::Length(1234567890))
            .contains("\r\nContent-Length: 1234567890\r\n"));
        assert!(head(StatusCode::OK, None, &h, Framing::Chunked)
            .contains("\r\nTransfer-Encoding: chunked\r\n"));
        let own = with(&[("content-length", "3")]);
        let text = head(StatusCode::OK, None, &own, Framing::Chunked);
        assert!(text.contains("content-length: 3\r\n") && !text.contains("Transfer-Encoding"));
        assert!(
            !head(StatusCode::NO_CONTENT, None, &h, Framing::Length(0)).contains("Content-Length")
        );
        assert_eq!(
            head(StatusCode::CONTINUE, None, &h, Framing::Length(3)),
            "HTTP/1.1 100 Continue\r\n\r\n"
        );
        assert_eq!(
            head(StatusCode::CONTINUE, None, &h, Framing::Unframed).as_bytes(),
            CONTINUE_100
        );
    }

    #[test]
    fn date_is_added_once() {
        let text = head(
            StatusCode::OK,
            None,
            &with(&[("date", "yesterday")]),
            Framing::Unframed,
        );
        assert_eq!(text, "HTTP/1.1 200 OK\r\ndate: yesterday\r\n\r\n");
    }

    #[test]
    fn framing_and_date_found_among_many_fields() {
        // Past the small-map scan too: the caller's framing field and Date are still
        // seen, so none is written twice.
        let mut pairs: Vec<(&'static str, &'static str)> = vec![
            ("x-a", "1"),
            ("x-b", "2"),
            ("x-c", "3"),
            ("x-d", "4"),
            ("x-e", "5"),
            ("x-f", "6"),
            ("x-g", "7"),
            ("x-h", "8"),
            ("x-i", "9"),
        ];
        pairs.push(("content-length", "3"));
        pairs.push(("date", "today"));
        let h = with(&pairs);
        assert!(has_field(&h, &CONTENT_LENGTH) && has_field(&h, &DATE));
        assert!(!has_field(&h, &TRANSFER_ENCODING));
        let small = with(&[("transfer-encoding", "chunked")]);
        assert!(has_field(&small, &TRANSFER_ENCODING) && !has_field(&small, &DATE));
        let text = head(StatusCode::OK, None, &h, Framing::Length(3));
        assert_eq!(text.matches("ontent-").count(), 1, "{text}");
        assert_eq!(text.matches("ate: ").count(), 1, "{text}");
        let text = head(StatusCode::OK, None, &small, Framing::Length(3));
        assert!(!text.contains("Content-Length"), "{text}");
    }

    #[test]
    fn integers() {
        for n in [0u64, 7, 10, 99, 100, 65535, u64::MAX] {
            let mut d = BytesMut::new();
            write_decimal(&mut d, n);
            assert_eq!(&d[..], n.to_string().as_bytes());
            let mut x = BytesMut::new();
            write_hex(&mut x, n);
            assert_eq!(&x[..], format!("{n:x}").as_bytes());
        }
    }

    #[test]
    fn request_round_trip() {
        let headers = with(&[("host", "h"), ("x-a", "1")]);
        let mut out = BytesMut::new();
        write_request_head(
            &mut out,
            &Method::PUT,
            "/p?q",
            Version::HTTP_11,
            &headers,
            Framing::Length(2),
        )
        .unwrap();
        out.extend_from_slice(b"ok");
        let req = parse_request_head(&mut out, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            (&req.method, req.body, req.path()),
            (&Method::PUT, BodyKind::Length(2), "/p")
        );
        assert_eq!(&out[..], b"ok");
        for bad in ["", "/a b", "/a\r\nX: y", "/\u{e9}"] {
            let e = write_request_head(
                &mut out,
                &Method::GET,
                bad,
                Version::HTTP_11,
                &headers,
                Framing::Unframed,
            );
            assert!(
                matches!(
                    e,
                    Err(Error::HttpParse {
                        kind: ParseErrorKind::Malformed,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunked_round_trip() {
        let mut enc = ChunkedEncoder::new();
        let mut out = BytesMut::new();
        enc.encode_chunk(&[b'a'; 300], &mut out).unwrap();
        enc.encode_chunk(b"", &mut out).unwrap();
        assert!(out.starts_with(b"12c\r\n") && !out.ends_with(b"0\r\n\r\n"));
        enc.write_chunk_size(1, &mut out).unwrap();
        out.extend_from_slice(b"b\r\n");
        assert!(enc.write_chunk_size(0, &mut out).is_err());
        enc.finish_with_trailers(&with(&[("x-t", "1")]), &mut out)
            .unwrap();
        assert!(enc.is_finished());
        assert!(enc.finish(&mut out).is_err() && enc.encode_chunk(b"x", &mut out).is_err());
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        let mut body = Vec::new();
        let trailers = loop {
            match dec.decode(&mut out).unwrap() {
                Decoded::Data(d) => body.extend_from_slice(&d),
                Decoded::Done { trailers } => break trailers.unwrap(),
                Decoded::NeedMore => panic!("incomplete"),
            }
        };
        assert_eq!(
            (body.len(), body[300], trailers["x-t"].as_bytes()),
            (301, b'b', &b"1"[..])
        );
    }

    #[test]
    fn whole_response_in_one_buffer() {
        let mut out = BytesMut::new();
        write_response(
            &mut out,
            Version::HTTP_11,
            StatusCode::OK,
            &with(&[("server", "squall")]),
            b"hi",
        );
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nserver: squall\r\nContent-Length: 2\r\nDate: ")
        );
        assert!(text.ends_with(" GMT\r\n\r\nhi"));
    }
}
