//! Message framing: which header fields decide where a body ends (RFC 9112 §6), and the
//! raw-field bookkeeping shared by the request and response head parsers.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::error::{parse_error, ParseErrorKind};
use crate::error::{Error, Result};

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all (also `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes (never 0: that is [`BodyKind::Empty`]).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the peer closes the connection (responses only).
    Close,
}

/// Stack capacity for raw header positions; heads with more fields (only possible when
/// `max_headers` is raised above it) use a heap buffer.
pub(super) const STACK_HEADERS: usize = 128;

/// Where one header field sits in the head bytes: `(name_start, name_len, value_start,
/// value_len)`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RawField(pub u32, pub u32, pub u32, pub u32);

impl RawField {
    /// Records `name`/`value`, both borrowed from the buffer starting at `base`.
    pub(super) fn new(base: *const u8, name: &[u8], value: &[u8]) -> RawField {
        let off = |s: &[u8]| (s.as_ptr() as usize - base as usize) as u32;
        // An empty value may point one past the buffer; its offset is still in range.
        RawField(off(name), name.len() as u32, off(value), value.len() as u32)
    }
}

/// Declares, in the caller's frame, `$parsed` (the `httparse` header slots, each starting
/// as `$empty`) and `$raw` (the raw-field positions), for at most `$max` fields: on the
/// stack when they fit, else in heap buffers.
macro_rules! header_slots {
    ($max:expr, $empty:expr => $parsed:ident, $raw:ident) => {
        let mut stack = [const { $empty }; STACK_HEADERS];
        let mut heap = Vec::new();
        let $parsed = slots(&mut stack, &mut heap, $max, || $empty);
        let mut $raw = RawSlots::new();
    };
}
pub(super) use header_slots;

/// Raw-field positions, sized once the number of fields is known: a small stack array
/// for the usual head (most have a handful of fields; zeroing 128 slots per request
/// showed up in profiles), a heap buffer beyond it.
pub(super) struct RawSlots {
    stack: [RawField; RAW_STACK],
    heap: Vec<RawField>,
}

const RAW_STACK: usize = 24;

impl RawSlots {
    pub(super) fn new() -> Self {
        RawSlots {
            stack: [RawField::default(); RAW_STACK],
            heap: Vec::new(),
        }
    }

    /// `n` slots to fill.
    pub(super) fn take(&mut self, n: usize) -> &mut [RawField] {
        slots(&mut self.stack, &mut self.heap, n, Default::default)
    }
}

/// `n` slots: the first `n` of `stack` when they fit, else a heap buffer kept in `heap`.
pub(super) fn slots<'s, T>(
    stack: &'s mut [T],
    heap: &'s mut Vec<T>,
    n: usize,
    fill: impl FnMut() -> T,
) -> &'s mut [T] {
    if n <= stack.len() {
        &mut stack[..n]
    } else {
        heap.resize_with(n, fill);
        heap
    }
}

/// Maps an `httparse` error to an [`Error::HttpParse`]: too many headers is
/// [`ParseErrorKind::HeadTooLarge`], the rest [`ParseErrorKind::Malformed`].
pub(super) fn map_parse_error(e: httparse::Error) -> Error {
    let msg = match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token in start line",
        httparse::Error::TooManyHeaders => {
            return parse_error(ParseErrorKind::HeadTooLarge, "too many header fields")
        }
        httparse::Error::Version => "invalid HTTP version",
    };
    parse_error(ParseErrorKind::Malformed, msg)
}

/// Fills `map` (already cleared) from raw fields, sharing `head`'s bytes for values.
pub(super) fn build_map(head: &Bytes, fields: &[RawField], map: &mut HeaderMap) -> Result<()> {
    map.reserve(fields.len());
    for f in fields {
        let (ns, nl, vs, vl) = (f.0 as usize, f.1 as usize, f.2 as usize, f.3 as usize);
        let name = HeaderName::from_bytes(&head[ns..ns + nl])
            .map_err(|_| parse_error(ParseErrorKind::Malformed, "invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
            .map_err(|_| parse_error(ParseErrorKind::Malformed, "invalid header value"))?;
        map.append(name, value);
    }
    Ok(())
}

/// Iterates the non-empty elements of a comma-separated list, OWS trimmed.
pub(super) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Trims spaces and tabs at both ends.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// What the framing-relevant header fields of one head say.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// The agreed `Content-Length`, if any field was present.
    pub content_length: Option<u64>,
    /// A `Content-Length` was malformed or disagreed with another.
    pub bad_content_length: bool,
    /// At least one `Transfer-Encoding` field was present.
    pub te_seen: bool,
    /// Number of coding elements across all `Transfer-Encoding` fields.
    pub te_elements: u32,
    /// Number of `chunked` codings.
    pub te_chunked: u32,
    /// The final coding is `chunked`.
    pub te_last_chunked: bool,
    /// Some coding other than `chunked` was listed.
    pub te_other: bool,
    /// `Connection: close` was listed.
    pub conn_close: bool,
    /// `Connection: keep-alive` was listed.
    pub conn_keep_alive: bool,
    /// Number of `Host` fields.
    pub hosts: u32,
    /// A `Host` value is not a valid authority.
    pub bad_host: bool,
    /// `Expect: 100-continue` was present.
    pub expect_continue: bool,
}

impl Scan {
    /// Looks at one header field.
    pub(super) fn field(&mut self, name: &str, value: &[u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        match name.len() {
            14 if is("content-length") => self.content_length(value),
            17 if is("transfer-encoding") => self.transfer_encoding(value),
            10 if is("connection") => {
                for t in list_elements(value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    }
                }
            }
            4 if is("host") => {
                self.hosts += 1;
                self.bad_host |= !valid_host(value);
            }
            6 if is("expect") && trim_ows(value).eq_ignore_ascii_case(b"100-continue") => {
                self.expect_continue = true;
            }
            _ => {}
        }
    }

    fn content_length(&mut self, value: &[u8]) {
        let mut any = false;
        for e in value.split(|&b| b == b',').map(trim_ows) {
            any = true;
            match parse_decimal(e) {
                Some(n) if self.content_length.unwrap_or(n) == n => self.content_length = Some(n),
                _ => self.bad_content_length = true,
            }
        }
        if !any {
            self.bad_content_length = true;
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        self.te_seen = true;
        for coding in list_elements(value) {
            self.te_elements += 1;
            self.te_last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.te_last_chunked {
                self.te_chunked += 1;
            } else {
                self.te_other = true;
            }
        }
    }
}

/// Whether a `Host` value is empty or `uri-host [":" port]` (RFC 3986 characters, an
/// IP-literal in brackets); checked without allocating.
/// Bytes of an RFC 3986 `reg-name` (unreserved, sub-delims, `%`): a table, because the
/// `Host` of every request is checked byte by byte.
const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~%!$&'()*+,;=";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

fn valid_host(v: &[u8]) -> bool {
    let (host, port) = match v.iter().rposition(|&b| b == b':' || b == b']') {
        Some(i) if v[i] == b':' => (&v[..i], &v[i + 1..]),
        _ => (v, &b""[..]),
    };
    let reg = |b: &u8| REG_NAME[*b as usize];
    let host_ok = match host {
        [b'[', inner @ .., b']'] => inner
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b":.vV".contains(b) || reg(b)),
        _ => host.iter().all(reg),
    };
    host_ok && port.iter().all(u8::is_ascii_digit) && (v.is_empty() || !host.is_empty())
}

/// Parses `1*DIGIT` into a `u64`: no sign, no whitespace, no overflow.
pub(super) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"+5",
            b"-5",
            b"5 ",
            b"0x5",
            b"5a",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn content_length_duplicates() {
        let mut s = Scan::default();
        s.field("Content-Length", b"5, 5");
        s.field("content-length", b"5");
        assert_eq!((s.content_length, s.bad_content_length), (Some(5), false));
        s.field("content-length", b"6");
        assert!(s.bad_content_length);
        let mut s = Scan::default();
        s.field("Content-Length", b"");
        assert!(s.bad_content_length);
        let mut s = Scan::default();
        s.field("Content-Length", b"5,");
        assert!(s.bad_content_length);
    }

    #[test]
    fn connection_tokens() {
        let mut s = Scan::default();
        s.field("Connection", b"Upgrade, CLOSE");
        assert!(s.conn_close && !s.conn_keep_alive);
        s.field("CONNECTION", b" Keep-Alive ");
        assert!(s.conn_keep_alive);
    }

    #[test]
    fn host_values() {
        for good in [
            "",
            "a",
            "example.com:8080",
            "[::1]",
            "[::1]:80",
            "xn--bcher-kva.example",
            "a:",
        ] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "a b", "a/b", "a@b", "a?b", "a#b", ":80", "[::1", "a:8x", "\"a\"",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn trims_ows() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
        let v: Vec<&[u8]> = list_elements(b" a, ,b ,").collect();
        assert_eq!(v, [&b"a"[..], b"b"]);
    }
}
