//! Body decoding: `Content-Length`, chunked (with extensions and trailers) and
//! close-delimited bodies, as a state machine over the read buffer.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::error::{parse_error, ParseErrorKind};
use super::framing::{
    build_map, header_slots, map_parse_error, slots, BodyKind, RawField, RawSlots, STACK_HEADERS,
};
use super::limits::HeadLimits;
use crate::error::Result;

/// Longest chunk-size line (size, extensions and CRLF); a longer one is a 400.
pub const MAX_CHUNK_LINE: usize = 4096;

/// What [`BodyDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The next piece of the body, split off the read buffer without copying.
    Data(Bytes),
    /// The buffer holds no complete piece: read more and call again.
    NeedMore,
    /// The body is over; chunked bodies may carry trailer fields (which callers must not
    /// merge blindly into the head's fields).
    Done {
        /// Trailer fields, when a chunked body had any.
        trailers: Option<HeaderMap>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes left of a `Content-Length` body.
    Length(u64),
    /// Until end of stream.
    Close,
    /// Expecting a chunk-size line.
    Size,
    /// This many bytes left of the current chunk's data.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: the trailer section.
    Trailers,
    /// The body is complete.
    Done,
}

/// Splits a body off a read buffer, one piece at a time.
///
/// ```
/// use bytes::BytesMut;
/// use squall::http::h1::{BodyDecoder, BodyKind, Decoded};
///
/// let mut dec = BodyDecoder::new(BodyKind::Chunked);
/// let mut buf = BytesMut::from(&b"5;ext=1\r\nhello\r\n0\r\nX-Sum: 7\r\n\r\nnext"[..]);
/// assert_eq!(dec.decode(&mut buf)?, Decoded::Data("hello".into()));
/// let Decoded::Done { trailers: Some(t) } = dec.decode(&mut buf)? else { panic!() };
/// assert_eq!(t["x-sum"], "7");
/// assert_eq!(&buf[..], b"next");
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    limits: HeadLimits,
    /// Body bytes still allowed (see [`BodyDecoder::set_max_body`]).
    allowed: u64,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`, with default trailer limits.
    pub fn new(kind: BodyKind) -> Self {
        Self::with_limits(kind, HeadLimits::default())
    }

    /// A decoder whose trailer section is bounded by `limits` (431 beyond them).
    pub fn with_limits(kind: BodyKind, limits: HeadLimits) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Size,
            BodyKind::Close => State::Close,
        };
        BodyDecoder {
            state,
            limits,
            allowed: u64::MAX,
        }
    }

    /// Bounds the body at `max` bytes: a `Content-Length` or a chunk size beyond what is
    /// still allowed fails with 413 as soon as it is read, before any of its data.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use squall::http::h1::{BodyDecoder, BodyKind, Decoded, ParseErrorKind};
    ///
    /// let mut dec = BodyDecoder::new(BodyKind::Chunked);
    /// dec.set_max_body(10);
    /// let mut buf = BytesMut::from(&b"6\r\nhello!\r\n80000000\r\n"[..]);
    /// assert!(matches!(dec.decode(&mut buf)?, Decoded::Data(_)));
    /// let e = dec.decode(&mut buf).unwrap_err();
    /// assert!(matches!(e, squall::Error::HttpParse { kind: ParseErrorKind::BodyTooLarge, .. }));
    /// # Ok::<(), squall::Error>(())
    /// ```
    pub fn set_max_body(&mut self, max: u64) {
        self.allowed = max;
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes still expected for a `Content-Length` body (`Some(0)` once done), `None` for
    /// chunked and close-delimited bodies. Callers enforcing a `max_body_size` can refuse a
    /// `Content-Length` body upfront with it, and count [`Decoded::Data`] bytes otherwise.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Splits the next piece of body off the front of `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::HttpParse`](crate::Error::HttpParse) of kind `Malformed` for malformed chunked framing (bad size,
    /// missing CRLF, over-long size line, bad trailers), `HeadTooLarge` for a trailer
    /// section over the limits, `BodyTooLarge` past [`set_max_body`](Self::set_max_body).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done { trailers: None }),
                State::Close if buf.is_empty() => return Ok(Decoded::NeedMore),
                State::Close => return Ok(Decoded::Data(buf.split().freeze())),
                State::Length(_) | State::Data(_) if buf.is_empty() => {
                    return Ok(Decoded::NeedMore)
                }
                State::Length(n) | State::Data(n) => {
                    if n > self.allowed && matches!(self.state, State::Length(_)) {
                        return Err(parse_error(ParseErrorKind::BodyTooLarge, "body too large"));
                    }
                    let take = n.min(buf.len() as u64);
                    let left = n - take;
                    self.allowed = self.allowed.saturating_sub(take);
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataEnd,
                        _ => State::Data(left),
                    };
                    return Ok(Decoded::Data(buf.split_to(take as usize).freeze()));
                }
                State::Size => match chunk_size_line(buf)? {
                    None => return Ok(Decoded::NeedMore),
                    Some((line, 0)) => {
                        let _ = buf.split_to(line);
                        self.state = State::Trailers;
                    }
                    Some((_, size)) if size > self.allowed => {
                        return Err(parse_error(
                            ParseErrorKind::BodyTooLarge,
                            "chunk larger than the body may still be",
                        ));
                    }
                    Some((line, size)) => {
                        let _ = buf.split_to(line);
                        self.state = State::Data(size);
                    }
                },
                State::DataEnd => match &buf[..buf.len().min(2)] {
                    b"\r\n" => {
                        let _ = buf.split_to(2);
                        self.state = State::Size;
                    }
                    b"" | b"\r" => return Ok(Decoded::NeedMore),
                    _ => {
                        return Err(parse_error(
                            ParseErrorKind::Malformed,
                            "chunk data not followed by CRLF",
                        ))
                    }
                },
                State::Trailers => {
                    let trailers = match trailers(buf, &self.limits)? {
                        None => return Ok(Decoded::NeedMore),
                        Some(t) => t,
                    };
                    self.state = State::Done;
                    return Ok(Decoded::Done { trailers });
                }
            }
        }
    }

    /// Tells the decoder the peer closed the connection; `Ok(())` when that ends the body
    /// (close-delimited, or already complete).
    ///
    /// # Errors
    ///
    /// [`Error::HttpParse`](crate::Error::HttpParse) `Malformed` "truncated body" when more body bytes were due.
    pub fn eof(&mut self) -> Result<()> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(parse_error(ParseErrorKind::Malformed, "truncated body")),
        }
    }
}

/// Parses a chunk-size line at the front of `buf`: `Some((line length, size))`, or `None`
/// when the line is not complete yet.
fn chunk_size_line(buf: &[u8]) -> Result<Option<(usize, u64)>> {
    let bad = |m| Err(parse_error(ParseErrorKind::Malformed, m));
    let scan = &buf[..buf.len().min(MAX_CHUNK_LINE)];
    let Some(lf) = scan.iter().position(|&b| b == b'\n') else {
        if buf.len() >= MAX_CHUNK_LINE {
            return bad("chunk-size line too long");
        }
        // Fail early on a first byte that can never start a size.
        return match buf.first() {
            Some(b) if !b.is_ascii_hexdigit() => bad("invalid chunk size"),
            _ => Ok(None),
        };
    };
    let Some(line) = buf[..lf].strip_suffix(b"\r") else {
        return bad("chunk-size line not ended by CRLF");
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    // chunk-size = 1*HEXDIG: leading zeros are valid, only the value must fit.
    let zeros = line[..digits].iter().take_while(|&&b| b == b'0').count();
    if digits == 0 || digits - zeros > 16 {
        return bad("invalid chunk size");
    }
    let size = line[zeros..digits].iter().fold(0u64, |n, &b| {
        (n << 4) | u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    if !valid_chunk_ext(&line[digits..]) {
        return bad("invalid chunk extension");
    }
    Ok(Some((lf + 1, size)))
}

/// Whether `ext` is a valid (possibly empty) chunk-ext (RFC 9112 §7.1.1):
/// `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, where a name is a
/// token and a value a token or a quoted-string. Extensions are ignored, but one without
/// a name (`5;`) is malformed, and so is whitespace right before the line's CRLF (`5 `,
/// `5;a `): the grammar allows it only before a `;` or around a `=`.
fn valid_chunk_ext(mut ext: &[u8]) -> bool {
    fn bws(s: &[u8]) -> &[u8] {
        let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &s[n..]
    }
    fn token(s: &[u8]) -> Option<&[u8]> {
        let n = s.iter().take_while(|&&b| is_tchar(b)).count();
        (n > 0).then(|| &s[n..])
    }
    fn quoted(s: &[u8]) -> Option<&[u8]> {
        let mut i = 1; // after the opening quote
        while i < s.len() {
            match s[i] {
                b'"' => return Some(&s[i + 1..]),
                b'\\' if i + 1 < s.len() => i += 2,
                b'\t' | b' '..=b'~' | 0x80.. if s[i] != 0x7f => i += 1,
                _ => return None,
            }
        }
        None
    }
    loop {
        if ext.is_empty() {
            return true;
        }
        let Some((&b';', rest)) = bws(ext).split_first() else {
            return false;
        };
        let Some(rest) = token(bws(rest)) else {
            return false;
        };
        ext = rest;
        if let Some((&b'=', rest)) = bws(ext).split_first() {
            let rest = bws(rest);
            let value = if rest.first() == Some(&b'"') {
                quoted(rest)
            } else {
                token(rest)
            };
            let Some(rest) = value else {
                return false;
            };
            ext = rest;
        }
    }
}

/// RFC 9110 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses the trailer section after the last chunk: `Some(None)` for none, `Some(Some(map))`,
/// or `None` when incomplete.
fn trailers(buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<Option<HeaderMap>>> {
    match &buf[..buf.len().min(2)] {
        b"\r\n" => {
            let _ = buf.split_to(2);
            return Ok(Some(None));
        }
        b"" | b"\r" => return Ok(None),
        [b'\n', ..] => {
            return Err(parse_error(
                ParseErrorKind::Malformed,
                "bare LF in chunked body",
            ))
        }
        _ => {}
    }
    header_slots!(limits.max_headers, httparse::EMPTY_HEADER => parsed, raw);
    let (len, count) = match httparse::parse_headers(buf, parsed) {
        Ok(httparse::Status::Complete((len, _))) if len > limits.max_header_size => {
            return Err(parse_error(
                ParseErrorKind::HeadTooLarge,
                "trailer section too large",
            ))
        }
        Ok(httparse::Status::Complete((len, fields))) => {
            for (slot, f) in raw.take(fields.len()).iter_mut().zip(fields) {
                *slot = RawField::new(buf.as_ptr(), f.name.as_bytes(), f.value);
            }
            (len, fields.len())
        }
        Ok(httparse::Status::Partial) if buf.len() <= limits.max_header_size => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(parse_error(
                ParseErrorKind::HeadTooLarge,
                "trailer section too large",
            ))
        }
        Err(e) => return Err(map_parse_error(e)),
    };
    if buf[..len]
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
    {
        return Err(parse_error(
            ParseErrorKind::Malformed,
            "bare LF in chunked body",
        ));
    }
    let bytes = buf.split_to(len).freeze();
    let mut map = HeaderMap::new();
    build_map(&bytes, &raw.take(count)[..], &mut map)?;
    Ok(Some(Some(map)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::ParseErrorKind;
    use crate::Error;

    /// Feeds `input` one byte at a time; returns the body, the trailers and the leftovers.
    fn trickle(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, Option<HeaderMap>, Vec<u8>)> {
        let mut dec = BodyDecoder::new(kind);
        let (mut buf, mut body) = (BytesMut::new(), Vec::new());
        let mut rest = input.iter();
        loop {
            match dec.decode(&mut buf)? {
                Decoded::Data(d) => {
                    assert!(!d.is_empty());
                    body.extend_from_slice(&d)
                }
                Decoded::NeedMore => match rest.next() {
                    Some(&b) => buf.extend_from_slice(&[b]),
                    None => {
                        dec.eof()?;
                        return Ok((body, None, Vec::new()));
                    }
                },
                Decoded::Done { trailers } => {
                    buf.extend(rest);
                    return Ok((body, trailers, buf.to_vec()));
                }
            }
        }
    }

    /// Decodes `input` given all at once.
    fn whole(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, Option<HeaderMap>, Vec<u8>)> {
        let mut dec = BodyDecoder::new(kind);
        let (mut buf, mut body) = (BytesMut::from(input), Vec::new());
        loop {
            match dec.decode(&mut buf)? {
                Decoded::Data(d) => body.extend_from_slice(&d),
                Decoded::NeedMore => {
                    dec.eof()?;
                    return Ok((body, None, Vec::new()));
                }
                Decoded::Done { trailers } => return Ok((body, trailers, buf.to_vec())),
            }
        }
    }

    fn status(kind: BodyKind, input: &[u8]) -> ParseErrorKind {
        let code = |r: Result<_>| match r {
            Err(Error::HttpParse { kind, .. }) => kind,
            other => panic!("expected an error for {input:?}, got {other:?}"),
        };
        let s = code(whole(kind, input));
        assert_eq!(s, code(trickle(kind, input)), "byte by byte differs");
        s
    }

    #[test]
    fn length_body_leaves_pipelined_bytes() {
        for f in [whole, trickle] {
            let (body, t, rest) = f(BodyKind::Length(5), b"helloGET").unwrap();
            assert_eq!(
                (&body[..], t, &rest[..]),
                (&b"hello"[..], None, &b"GET"[..])
            );
        }
        let mut dec = BodyDecoder::new(BodyKind::Length(5));
        assert_eq!(dec.remaining(), Some(5));
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::Data("hel".into()));
        assert_eq!(dec.remaining(), Some(2));
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::NeedMore);
        assert!(matches!(
            dec.eof(),
            Err(Error::HttpParse {
                kind: ParseErrorKind::Malformed,
                ..
            })
        ));
    }

    #[test]
    fn empty_and_close_bodies() {
        let mut dec = BodyDecoder::new(BodyKind::Empty);
        assert!(dec.is_done());
        assert_eq!(
            dec.decode(&mut BytesMut::from(&b"x"[..])).unwrap(),
            Decoded::Done { trailers: None }
        );
        let (body, _, _) = trickle(BodyKind::Close, b"all of it").unwrap();
        assert_eq!(body, b"all of it");
        let mut dec = BodyDecoder::new(BodyKind::Close);
        assert_eq!(dec.remaining(), None);
        dec.eof().unwrap();
        assert!(dec.is_done());
    }

    #[test]
    fn chunked_byte_by_byte() {
        let input =
            b"5\r\nhello\r\nA;name=\"v;x\"\r\n0123456789\r\n1 ; a ;b=c\r\n!\r\n0\r\n\r\nNEXT";
        for f in [whole, trickle] {
            let (body, t, rest) = f(BodyKind::Chunked, input).unwrap();
            assert_eq!(&body[..], b"hello0123456789!");
            assert_eq!((t, &rest[..]), (None, &b"NEXT"[..]));
        }
    }

    #[test]
    fn chunked_trailers() {
        let input = b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\nX-Other: a b\r\n\r\nrest";
        for f in [whole, trickle] {
            let (body, t, rest) = f(BodyKind::Chunked, input).unwrap();
            let t = t.expect("trailers");
            assert_eq!((&body[..], &rest[..]), (&b"abc"[..], &b"rest"[..]));
            assert_eq!(
                (t.len(), &t["x-checksum"], &t["x-other"]),
                (2, &"42".parse().unwrap(), &"a b".parse().unwrap())
            );
        }
    }

    #[test]
    fn chunk_sizes() {
        let big = b"FFFFFFFFFFFFFFFF\r\n";
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        let mut buf = BytesMut::from(&big[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::NeedMore);
        assert_eq!(dec.state, State::Data(u64::MAX));
        for bad in [
            &b"10000000000000000\r\n"[..],
            b"0010000000000000000\r\n",
            b"\r\n",
            b"-1\r\n",
            b"+1\r\n",
            b"0x1\r\n",
            b"g\r\n",
            b"1 \r\n",
            b"1 x\r\n",
            b"1;a\rb\r\n",
            b" 1\r\n",
        ] {
            assert_eq!(
                status(BodyKind::Chunked, bad),
                ParseErrorKind::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn chunk_size_with_leading_zeros_is_accepted_when_it_fits() {
        // chunk-size = 1*HEXDIG: any number of leading zeros.
        let input = b"000000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n";
        assert_eq!(whole(BodyKind::Chunked, input).unwrap().0, b"hello");
        assert_eq!(trickle(BodyKind::Chunked, input).unwrap().0, b"hello");
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        let mut buf = BytesMut::from(&b"0000FFFFFFFFFFFFFFFF\r\n"[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::NeedMore);
        assert_eq!(dec.state, State::Data(u64::MAX));
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        for good in [
            &b"5;a\r\nhello\r\n0\r\n\r\n"[..],
            b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"q;\\\" x\"\r\nhello\r\n0;last\r\n\r\n",
        ] {
            let got = whole(BodyKind::Chunked, good);
            assert_eq!(
                got.map(|r| r.0).ok().as_deref(),
                Some(&b"hello"[..]),
                "{:?}",
                String::from_utf8_lossy(good)
            );
        }
        for bad in [
            &b"5;\r\nhello\r\n0\r\n\r\n"[..],
            b"5; \r\nhello\r\n0\r\n\r\n",
            b"5;=v\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a;\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"open\r\nhello\r\n0\r\n\r\n",
            b"5;a b\r\nhello\r\n0\r\n\r\n",
        ] {
            assert_eq!(
                status(BodyKind::Chunked, bad),
                ParseErrorKind::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_chunk_size_line_may_not_end_in_whitespace() {
        // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): whitespace is allowed
        // only where an extension follows, never right before the CRLF. Whole bodies, so
        // each fails on its size line (not for being truncated).
        for bad in [
            &b"5 \r\nhello\r\n0\r\n\r\n"[..],
            b"5\t\r\nhello\r\n0\r\n\r\n",
            b"5  \t \r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0 \r\n\r\n",
            b"5;a \r\nhello\r\n0\r\n\r\n",
            b"5;a=b\t\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"q\" \r\nhello\r\n0\r\n\r\n",
        ] {
            assert_eq!(
                status(BodyKind::Chunked, bad),
                ParseErrorKind::Malformed,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            let mut dec = BodyDecoder::new(BodyKind::Chunked);
            let line = bad.iter().position(|&b| b == b'\n').unwrap() + 1;
            let first = dec.decode(&mut BytesMut::from(&bad[..line]));
            if !bad.starts_with(b"5\r\n") {
                assert!(
                    first.is_err(),
                    "{:?}: {first:?}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        for good in [
            &b"5 ;a\r\nhello\r\n0\r\n\r\n"[..],
            b"5\t; a =\tb\r\nhello\r\n0 ;last\r\n\r\n",
        ] {
            for f in [whole, trickle] {
                let got = f(BodyKind::Chunked, good).map(|r| r.0);
                assert_eq!(
                    got.ok().as_deref(),
                    Some(&b"hello"[..]),
                    "{:?}",
                    String::from_utf8_lossy(good)
                );
            }
        }
    }

    #[test]
    fn max_body_refuses_a_chunk_size_before_its_data() {
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        dec.set_max_body(8);
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n3\r\nabc\r\n1\r\n"[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::Data("hello".into()));
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::Data("abc".into()));
        let e = dec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                e,
                Error::HttpParse {
                    kind: ParseErrorKind::BodyTooLarge,
                    ..
                }
            ),
            "{e:?}"
        );
        // A 2 GiB chunk size is refused as soon as its line is read.
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        dec.set_max_body(100 * 1024 * 1024);
        let mut buf = BytesMut::from(&b"80000000\r\n"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(Error::HttpParse {
                kind: ParseErrorKind::BodyTooLarge,
                ..
            })
        ));
        // So is a Content-Length over the bound; one within it decodes.
        let mut dec = BodyDecoder::new(BodyKind::Length(9));
        dec.set_max_body(8);
        let mut buf = BytesMut::from(&b"123456789"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(Error::HttpParse {
                kind: ParseErrorKind::BodyTooLarge,
                ..
            })
        ));
        let mut dec = BodyDecoder::new(BodyKind::Length(8));
        dec.set_max_body(8);
        let mut buf = BytesMut::from(&b"12345678"[..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Decoded::Data("12345678".into())
        );
    }

    #[test]
    fn chunked_line_endings_are_strict() {
        for input in [
            &b"3\nabc\r\n0\r\n\r\n"[..],
            &b"3\r\nabc\n0\r\n\r\n"[..],
            &b"3\r\nabcX\r\n0\r\n\r\n"[..],
            &b"3\r\nabc\r\n0\r\n\n"[..],
            &b"3\r\nabc\r\n0\r\nX: 1\n\r\n"[..],
            &b"3\r\nabc\r\n0\r\nX : 1\r\n\r\n"[..],
        ] {
            let kind = status(BodyKind::Chunked, input);
            assert_eq!(kind, ParseErrorKind::Malformed, "{input:?}");
        }
    }

    #[test]
    fn chunk_line_is_bounded() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE - 2, b'x');
        line.extend_from_slice(b"\r\nZ\r\n0\r\n\r\n");
        assert_eq!(whole(BodyKind::Chunked, &line).unwrap().0, b"Z");
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE + 10, b'x');
        assert_eq!(status(BodyKind::Chunked, &line), ParseErrorKind::Malformed);
        let mut dec = BodyDecoder::new(BodyKind::Chunked);
        let mut buf = BytesMut::from(&line[..MAX_CHUNK_LINE - 1]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::NeedMore);
    }

    #[test]
    fn trailers_are_bounded() {
        let limits = HeadLimits {
            max_header_size: 32,
            max_headers: 1,
        };
        let decode = |input: &[u8]| {
            let mut dec = BodyDecoder::with_limits(BodyKind::Chunked, limits);
            let mut buf = BytesMut::from(input);
            dec.decode(&mut buf)
        };
        assert!(matches!(
            decode(b"0\r\nA: 1\r\n\r\n"),
            Ok(Decoded::Done { trailers: Some(_) })
        ));
        assert!(matches!(
            decode(b"0\r\nA: 1\r\nB: 2\r\n\r\n"),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        let long = format!("0\r\nA: {}", "x".repeat(40));
        assert!(matches!(
            decode(long.as_bytes()),
            Err(Error::HttpParse {
                kind: ParseErrorKind::HeadTooLarge,
                ..
            })
        ));
        assert!(matches!(decode(b"0\r\nA: 1"), Ok(Decoded::NeedMore)));
    }

    #[test]
    fn truncated_chunked_body() {
        for input in [
            &b"5\r\nhel"[..],
            b"5\r\nhello",
            b"5\r\nhello\r\n0\r\n",
            b"5",
        ] {
            assert_eq!(status(BodyKind::Chunked, input), ParseErrorKind::Malformed);
        }
    }
}
