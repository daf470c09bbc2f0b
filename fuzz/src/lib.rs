//! Shared pieces of the fuzz targets: feeding a byte stream to squall's sans-IO HTTP/1
//! parsers in one piece and in fuzzer-chosen pieces, and recording what came out, so a
//! target can check that where the reads split the stream never changes the outcome.

use bytes::BytesMut;
use squall::http::h1::{
    parse_response_head, BodyDecoder, BodyKind, Connection, Decoded, Event as H1Event,
    HeadLimits, ReadLimits, RequestHead, Server,
};

/// What a parser made of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A head: a short description (method/status, target, framing).
    Head(String),
    /// Body bytes (consecutive pieces merged).
    Data(Vec<u8>),
    /// End of a message body, with trailers as text.
    End(Option<String>),
    /// A parse error (the status is not compared: a limit may be hit on a different
    /// byte depending on the split).
    Error,
}

/// Appends `e`, merging consecutive data.
fn push(out: &mut Vec<Event>, e: Event) {
    if let (Event::Data(new), Some(Event::Data(last))) = (&e, out.last_mut()) {
        last.extend_from_slice(new);
        return;
    }
    if matches!(&e, Event::Data(d) if d.is_empty()) {
        return;
    }
    out.push(e);
}

/// Piece sizes from a seed: 1..=64 bytes, varying.
pub struct Splits(u32);

impl Splits {
    /// Sizes derived from `seed`; seed 0 means "everything at once".
    pub fn new(seed: u32) -> Self {
        Splits(seed)
    }

    fn next(&mut self, left: usize) -> usize {
        if self.0 == 0 {
            return left;
        }
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (((self.0 >> 16) % 64) as usize + 1).min(left)
    }

    /// The size of the next read, 1..=`left` bytes (`left` for seed 0).
    pub fn next_len(&mut self, left: usize) -> usize {
        self.next(left)
    }
}

/// Splits `data` into a seed (first 2 bytes) and the stream.
pub fn seed_and_stream(data: &[u8]) -> (u32, &[u8]) {
    if data.len() < 2 {
        return (1, data);
    }
    (u32::from(u16::from_le_bytes([data[0], data[1]])) | 1, &data[2..])
}

fn trailers_text(t: Option<&http::HeaderMap>) -> Option<String> {
    t.map(|t| format!("{t:?}"))
}

/// Decodes a body framed as `kind` off `buf`, recording events; `Ok(true)` when it ended.
fn body(dec: &mut BodyDecoder, buf: &mut BytesMut, out: &mut Vec<Event>) -> Result<bool, ()> {
    loop {
        match dec.decode(buf) {
            Ok(Decoded::Data(d)) => {
                assert!(!d.is_empty(), "empty Data piece");
                push(out, Event::Data(d.to_vec()))
            }
            Ok(Decoded::NeedMore) => return Ok(false),
            Ok(Decoded::Done { trailers }) => {
                push(out, Event::End(trailers_text(trailers.as_ref())));
                return Ok(true);
            }
            Err(_) => {
                push(out, Event::Error);
                return Err(());
            }
        }
    }
}

/// A server connection's read side: the h1 [`Connection`] core in its server role (the
/// one the server drives), fed the stream's pieces (the last with end-of-file),
/// answering each request at once, for as many pipelined requests as the stream holds.
/// `streamed` picks the streamed sink for every body (as a body delegate does) instead
/// of the buffer.
pub fn server_pipeline(
    stream: &[u8],
    splits: &mut Splits,
    limits: &HeadLimits,
    streamed: bool,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let limits = ReadLimits::new(*limits, 1 << 20);
    let mut conn = Connection::new(Server, &limits);
    let mut pieces = Vec::new();
    let mut at = 0;
    let head_text = |h: &RequestHead| format!("{} {} {:?} {:?}", h.method, h.uri, h.version, h.body);
    loop {
        let n = splits.next(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        // At the end of the input, the peer closes: what is buffered is judged as it
        // stands (a garbage head is rejected with or without splits).
        let last = at == stream.len();
        loop {
            match conn.poll(&limits, &mut buf, last) {
                Ok(H1Event::NeedMore) => break,
                Ok(H1Event::Head) => {
                    let h = conn.head_mut().expect("a head after Event::Head");
                    assert_ne!(h.body, BodyKind::Close, "request bodies are never close-delimited");
                    push(&mut out, Event::Head(head_text(h)));
                    conn.start_body(streamed, false);
                }
                Ok(H1Event::Data) => {
                    conn.take_data(&mut pieces);
                    for d in pieces.drain(..) {
                        assert!(!d.is_empty(), "empty Data piece");
                        push(&mut out, Event::Data(d.to_vec()));
                    }
                }
                Ok(H1Event::Message(m)) => {
                    for d in m.tail {
                        push(&mut out, Event::Data(d.to_vec()));
                    }
                    if m.head.body == BodyKind::Empty {
                        push(&mut out, Event::Head(head_text(&m.head)));
                    }
                    push(&mut out, Event::Data(m.body.to_vec()));
                    push(&mut out, Event::End(trailers_text(m.trailers.as_deref())));
                    conn.resume();
                }
                Ok(_) => return out,
                Err(_) => {
                    push(&mut out, Event::Error);
                    return out;
                }
            }
        }
        if last {
            return out;
        }
    }
}

/// A client connection's read side for one request `method`: 1xx heads skipped, then the
/// final head and its body, ended by the close of the connection after `stream`.
pub fn client_response(
    stream: &[u8],
    splits: &mut Splits,
    limits: &HeadLimits,
    method: &http::Method,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut dec: Option<BodyDecoder> = None;
    let mut at = 0;
    loop {
        let n = splits.next(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            match &mut dec {
                Some(d) => match body(d, &mut buf, &mut out) {
                    Ok(true) => return out,
                    Ok(false) => break,
                    Err(()) => return out,
                },
                None => match parse_response_head(&mut buf, limits, method) {
                    Ok(Some(h)) => {
                        push(
                            &mut out,
                            Event::Head(format!(
                                "{} {:?} {:?} {:?} {}",
                                h.status, h.version, h.body, h.headers, h.keep_alive
                            )),
                        );
                        if !h.is_interim() {
                            dec = Some(BodyDecoder::with_limits(h.body, *limits));
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        push(&mut out, Event::Error);
                        return out;
                    }
                },
            }
        }
        if at == stream.len() {
            if let Some(d) = &mut dec {
                match d.eof() {
                    Ok(()) => push(&mut out, Event::End(None)),
                    Err(_) => push(&mut out, Event::Error),
                }
            }
            return out;
        }
    }
}

/// A chunked body alone.
pub fn chunked(stream: &[u8], splits: &mut Splits, limits: &HeadLimits) -> Vec<Event> {
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut dec = BodyDecoder::with_limits(BodyKind::Chunked, *limits);
    let mut at = 0;
    loop {
        let n = splits.next(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        match body(&mut dec, &mut buf, &mut out) {
            Ok(true) | Err(()) => return out,
            Ok(false) => {}
        }
        if at == stream.len() {
            return out;
        }
    }
}

/// Small limits, so that fuzzing reaches the limit checks with short inputs.
pub fn small_limits(selector: u8) -> HeadLimits {
    if selector & 1 == 0 {
        HeadLimits::default()
    } else {
        HeadLimits {
            max_header_size: 64 + usize::from(selector),
            max_headers: 4,
        }
    }
}
