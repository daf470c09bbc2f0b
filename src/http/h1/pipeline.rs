//! The body half of the message pipeline, shared by the server and the client: after the
//! head, each decoded piece of the wire body goes through a chain of stages — a limit on
//! wire bytes, an optional gunzip stage (bounded *while* inflating), a limit on decoded
//! bytes — and ends in a sink: a buffer that grows from the bytes received (never from a
//! size the peer declared), or the caller (a streaming callback, a body delegate, or
//! nothing for a body that is dropped).
//!
//! Failures are reported as a [`BodyFault`] kind; the server maps it to a status (413,
//! 400), the client to its error.

use bytes::{BufMut, Bytes, BytesMut};
#[cfg(any(feature = "gzip", test))]
use http::header::HeaderValue;
use http::header::{HeaderName, CONTENT_ENCODING, CONTENT_LENGTH};
use http::HeaderMap;

/// Why a body was refused by the [`BodyPipeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFault {
    /// More bytes arrived on the wire than the limit allows.
    TooLarge {
        /// The limit, in bytes.
        max: u64,
    },
    /// The body inflates to more than the limit allows.
    InflatedTooLarge {
        /// The limit, in bytes.
        max: u64,
    },
    /// The body is not valid gzip data.
    BadGzip(String),
}

impl BodyFault {
    /// The parse-error kind this fault counts as (a server answers 413 or 400).
    pub fn kind(&self) -> super::ParseErrorKind {
        match self {
            BodyFault::TooLarge { .. } | BodyFault::InflatedTooLarge { .. } => {
                super::ParseErrorKind::BodyTooLarge
            }
            BodyFault::BadGzip(_) => super::ParseErrorKind::Malformed,
        }
    }
}

impl std::fmt::Display for BodyFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyFault::TooLarge { max } => write!(f, "body exceeds max_body_size ({max})"),
            BodyFault::InflatedTooLarge { max } => {
                write!(f, "decompressed body exceeds max_body_size ({max})")
            }
            BodyFault::BadGzip(e) => write!(f, "invalid gzip body: {e}"),
        }
    }
}

/// The name of the header that records a content coding the pipeline removed.
pub const X_CONSUMED_CONTENT_ENCODING: &str = "x-consumed-content-encoding";

/// Whether `Content-Encoding` is `gzip` (or its old alias `x-gzip`).
pub(crate) fn is_gzip(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_ENCODING).is_some_and(|v| {
        let v = v.as_bytes();
        v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip")
    })
}

/// When `headers` say the body is gzip, rewrites them to describe the body a gunzip stage
/// delivers and returns `true` (then add the stage with [`BodyPipeline::gunzip`]); else
/// leaves them alone. The one behaviour of server and client (Tornado's
/// `_GzipMessageDelegate`): `Content-Encoding` is removed and its value kept in
/// `X-Consumed-Content-Encoding`; `Content-Length` (the compressed size) is removed, and a
/// buffered body gets the decoded length back when it is complete.
///
/// Always `false` when the `gzip` feature is off.
///
/// ```
/// use http::HeaderMap;
/// use squall::http::h1::consume_gzip_encoding;
///
/// let mut h = HeaderMap::new();
/// h.insert("content-encoding", "gzip".parse().unwrap());
/// h.insert("content-length", "20".parse().unwrap());
/// assert!(consume_gzip_encoding(&mut h));
/// assert_eq!(h["x-consumed-content-encoding"], "gzip");
/// assert!(h.get("content-encoding").is_none() && h.get("content-length").is_none());
/// ```
pub fn consume_gzip_encoding(headers: &mut HeaderMap) -> bool {
    if !cfg!(feature = "gzip") || !is_gzip(headers) {
        return false;
    }
    if let Some(v) = headers.remove(CONTENT_ENCODING) {
        headers.insert(HeaderName::from_static(X_CONSUMED_CONTENT_ENCODING), v);
    }
    headers.remove(CONTENT_LENGTH);
    true
}

/// A body buffered as it arrives: the first piece is kept as is (no copy for a body
/// that came in one piece), later ones are appended.
#[derive(Debug, Default)]
struct Buffer {
    first: Option<Bytes>,
    rest: BytesMut,
}

impl Buffer {
    fn push(&mut self, data: Bytes) {
        match self.first.take() {
            None if self.rest.is_empty() => self.first = Some(data),
            first => {
                if let Some(f) = first {
                    self.rest.put_slice(&f);
                }
                self.rest.put_slice(&data);
            }
        }
    }

    fn take(&mut self) -> Bytes {
        match self.first.take() {
            Some(b) if self.rest.is_empty() => b,
            _ => std::mem::take(&mut self.rest).freeze(),
        }
    }
}

/// The chain of body stages (see the module docs).
///
/// ```
/// use bytes::Bytes;
/// use squall::http::h1::{BodyFault, BodyPipeline};
///
/// // Buffered: pieces are collected, `finish` returns the body.
/// let mut p = BodyPipeline::buffered(10);
/// p.push(Bytes::from_static(b"hello "), &mut |_| {})?;
/// p.push(Bytes::from_static(b"you"), &mut |_| {})?;
/// assert_eq!(p.finish(None, &mut |_| {})?, "hello you");
///
/// // Streamed: pieces go to the caller; limits still hold.
/// let mut p = BodyPipeline::streamed(4);
/// let mut seen = Vec::new();
/// p.push(Bytes::from_static(b"abc"), &mut |b| seen.push(b))?;
/// assert_eq!(p.push(Bytes::from_static(b"de"), &mut |b| seen.push(b)), Err(BodyFault::TooLarge { max: 4 }));
/// assert_eq!(seen, ["abc"]);
/// # Ok::<(), BodyFault>(())
/// ```
#[derive(Debug)]
pub struct BodyPipeline {
    max: u64,
    wire: u64,
    delivered: u64,
    buffer: Option<Buffer>,
    #[cfg(feature = "gzip")]
    gunzip: Option<Box<flate2::write::GzDecoder<Capped>>>,
}

impl BodyPipeline {
    /// A pipeline that buffers the body, at most `max` bytes (on the wire and decoded).
    pub fn buffered(max: u64) -> Self {
        Self::new(max, Some(Buffer::default()))
    }

    /// A pipeline that hands every piece to the caller, at most `max` bytes.
    pub fn streamed(max: u64) -> Self {
        Self::new(max, None)
    }

    fn new(max: u64, buffer: Option<Buffer>) -> Self {
        BodyPipeline {
            max,
            wire: 0,
            delivered: 0,
            buffer,
            #[cfg(feature = "gzip")]
            gunzip: None,
        }
    }

    /// Adds the gunzip stage (after [`consume_gzip_encoding`] said yes). It inflates in
    /// small steps and fails with [`BodyFault::InflatedTooLarge`] after producing about
    /// `max` bytes, never after inflating all of a compression bomb. No effect without
    /// the `gzip` feature.
    pub fn gunzip(&mut self) {
        #[cfg(feature = "gzip")]
        {
            let room = usize::try_from(self.max).unwrap_or(usize::MAX);
            self.gunzip = Some(Box::new(flate2::write::GzDecoder::new(Capped {
                out: Vec::new(),
                room,
                over: false,
            })));
        }
    }

    /// Whether the body is buffered (else it is handed to the caller piece by piece).
    pub fn is_buffered(&self) -> bool {
        self.buffer.is_some()
    }

    /// Takes one decoded piece of the wire body through the stages; a streamed pipeline
    /// hands what comes out to `out` (zero or more pieces).
    ///
    /// # Errors
    /// A [`BodyFault`] when a limit is passed or the gzip data is invalid; the body is
    /// then abandoned.
    pub fn push(&mut self, data: Bytes, out: &mut dyn FnMut(Bytes)) -> Result<(), BodyFault> {
        self.wire += data.len() as u64;
        if self.wire > self.max {
            return Err(BodyFault::TooLarge { max: self.max });
        }
        #[cfg(feature = "gzip")]
        if self.gunzip.is_some() {
            use std::io::Write;
            for piece in data.chunks(INFLATE_STEP) {
                let Some(gz) = &mut self.gunzip else { break };
                let max = self.max;
                gz.write_all(piece).map_err(|e| gz_fault(gz, e, max))?;
                let inflated = std::mem::take(&mut gz.get_mut().out);
                if !inflated.is_empty() {
                    self.emit(inflated.into(), out)?;
                }
            }
            return Ok(());
        }
        self.emit(data, out)
    }

    /// Ends the body: flushes the gunzip stage (its last pieces go to `out` when
    /// streamed) and returns the buffered body (empty when streamed). With `headers`, a
    /// body the pipeline decoded and buffered gets its `Content-Length` set to the
    /// decoded length.
    ///
    /// # Errors
    /// As [`push`](Self::push): truncated or invalid gzip data, or a limit passed.
    pub fn finish(
        &mut self,
        #[cfg_attr(not(feature = "gzip"), allow(unused_variables))] headers: Option<&mut HeaderMap>,
        #[cfg_attr(not(feature = "gzip"), allow(unused_variables))] out: &mut dyn FnMut(Bytes),
    ) -> Result<Bytes, BodyFault> {
        #[cfg(feature = "gzip")]
        if let Some(mut gz) = self.gunzip.take() {
            // An empty body is left empty (some peers label even that as gzip).
            if self.wire > 0 {
                gz.try_finish().map_err(|e| gz_fault(&gz, e, self.max))?;
                let rest = std::mem::take(&mut gz.get_mut().out);
                if !rest.is_empty() {
                    self.emit(rest.into(), out)?;
                }
            }
            if let (Some(h), true) = (headers, self.buffer.is_some()) {
                h.insert(CONTENT_LENGTH, HeaderValue::from(self.delivered));
            }
        }
        Ok(self.buffer.as_mut().map(Buffer::take).unwrap_or_default())
    }

    /// Whether [`finish`](Self::finish) rewrites the headers it is given (a gunzip stage
    /// that buffers the body sets its `Content-Length`).
    pub fn rewrites_headers(&self) -> bool {
        #[cfg(feature = "gzip")]
        return self.gunzip.is_some() && self.buffer.is_some();
        #[cfg(not(feature = "gzip"))]
        false
    }

    fn emit(&mut self, data: Bytes, out: &mut dyn FnMut(Bytes)) -> Result<(), BodyFault> {
        self.delivered += data.len() as u64;
        if self.delivered > self.max {
            return Err(BodyFault::InflatedTooLarge { max: self.max });
        }
        match &mut self.buffer {
            Some(buf) => buf.push(data),
            None => out(data),
        }
        Ok(())
    }
}

/// Compressed input fed to the inflater at a time: its output (at most about 1 000
/// times larger for deflate) is handed on before the next piece is inflated.
#[cfg(feature = "gzip")]
const INFLATE_STEP: usize = 4 * 1024;

/// The inflater's output buffer; refuses to grow past `room` bytes in total, so a
/// compression bomb fails after about `max` bytes, not after inflating all of it.
#[cfg(feature = "gzip")]
#[derive(Debug)]
struct Capped {
    out: Vec<u8>,
    room: usize,
    over: bool,
}

#[cfg(feature = "gzip")]
impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.room {
            self.over = true;
            return Err(std::io::Error::other("max_body_size"));
        }
        self.room -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "gzip")]
fn gz_fault(gz: &flate2::write::GzDecoder<Capped>, e: std::io::Error, max: u64) -> BodyFault {
    if gz.get_ref().over {
        BodyFault::InflatedTooLarge { max }
    } else {
        BodyFault::BadGzip(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(p: &mut BodyPipeline, pieces: &[&[u8]]) -> Result<(Bytes, Vec<u8>), BodyFault> {
        let mut streamed = Vec::new();
        for piece in pieces {
            p.push(Bytes::copy_from_slice(piece), &mut |b| {
                streamed.extend_from_slice(&b)
            })?;
        }
        let body = p.finish(None, &mut |b| streamed.extend_from_slice(&b))?;
        Ok((body, streamed))
    }

    #[test]
    fn one_piece_is_not_copied() {
        let mut p = BodyPipeline::buffered(100);
        let data = Bytes::from_static(b"static");
        p.push(data.clone(), &mut |_| unreachable!()).unwrap();
        let body = p.finish(None, &mut |_| unreachable!()).unwrap();
        assert_eq!(body.as_ptr(), data.as_ptr());
    }

    #[test]
    fn buffered_and_streamed_see_the_same_bytes() {
        let (body, streamed) = collect(&mut BodyPipeline::buffered(9), &[b"abc", b"def"]).unwrap();
        assert_eq!((&body[..], streamed.len()), (&b"abcdef"[..], 0));
        let (body, streamed) = collect(&mut BodyPipeline::streamed(9), &[b"abc", b"def"]).unwrap();
        assert_eq!((body.len(), &streamed[..]), (0, &b"abcdef"[..]));
    }

    #[test]
    fn wire_limit() {
        let e = collect(&mut BodyPipeline::buffered(5), &[b"abc", b"def"]).unwrap_err();
        assert_eq!(e, BodyFault::TooLarge { max: 5 });
    }

    #[test]
    fn headers_without_gzip_are_left_alone() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("7"));
        let before = h.clone();
        assert!(!consume_gzip_encoding(&mut h));
        assert_eq!(h, before);
    }

    #[cfg(feature = "gzip")]
    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gunzip_bytewise_buffered_and_streamed() {
        let plain = b"hello gzip pipeline ".repeat(300);
        let packed = gzip(&plain);
        let pieces: Vec<&[u8]> = packed.chunks(1).collect();
        for buffered in [true, false] {
            let mut p = if buffered {
                BodyPipeline::buffered(100_000)
            } else {
                BodyPipeline::streamed(100_000)
            };
            p.gunzip();
            let (body, streamed) = collect(&mut p, &pieces).unwrap();
            let got = if buffered { body.to_vec() } else { streamed };
            assert_eq!(got, plain, "buffered: {buffered}");
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gunzip_sets_decoded_length_on_buffered_bodies() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("x-gzip"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
        assert!(consume_gzip_encoding(&mut h));
        assert_eq!(h[X_CONSUMED_CONTENT_ENCODING], "x-gzip");
        let mut p = BodyPipeline::buffered(1000);
        p.gunzip();
        p.push(gzip(b"twelve bytes").into(), &mut |_| {}).unwrap();
        let body = p.finish(Some(&mut h), &mut |_| {}).unwrap();
        assert_eq!(&body[..], b"twelve bytes");
        assert_eq!(h[CONTENT_LENGTH], "12");
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn bomb_stops_at_the_limit_while_inflating() {
        let packed = gzip(&vec![0u8; 10_000_000]);
        let mut p = BodyPipeline::streamed(100_000);
        p.gunzip();
        let mut peak = 0usize;
        let e = p
            .push(packed.into(), &mut |b| peak = peak.max(b.len()))
            .unwrap_err();
        assert_eq!(e, BodyFault::InflatedTooLarge { max: 100_000 });
        assert!(peak <= 100_000, "{peak}");
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn truncated_and_invalid_gzip() {
        let packed = gzip(b"some text that is long enough");
        let mut p = BodyPipeline::buffered(1000);
        p.gunzip();
        p.push(
            Bytes::copy_from_slice(&packed[..packed.len() - 4]),
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(
            p.finish(None, &mut |_| {}),
            Err(BodyFault::BadGzip(_))
        ));
        let mut p = BodyPipeline::buffered(1000);
        p.gunzip();
        let r = p
            .push(Bytes::from_static(b"not gzip at all"), &mut |_| {})
            .and_then(|()| p.finish(None, &mut |_| {}).map(drop));
        assert!(matches!(r, Err(BodyFault::BadGzip(_))), "{r:?}");
    }
}
