//! RESP2, Redis's wire protocol, as a sans-IO decoder and a command encoder: no sockets,
//! no reactor, unit-tested byte by byte.
//!
//! ```
//! use bytes::BytesMut;
//! use squall::redis::resp::{decode, encode_command, Value};
//! let mut out = BytesMut::new();
//! encode_command(&mut out, &["PING"]);
//! assert_eq!(&out[..], b"*1\r\n$4\r\nPING\r\n");
//!
//! let mut buf = BytesMut::from(&b"+PONG\r\n:7\r\n$-1"[..]);
//! assert_eq!(decode(&mut buf).unwrap(), Some(Value::Simple("PONG".into())));
//! assert_eq!(decode(&mut buf).unwrap(), Some(Value::Integer(7)));
//! assert_eq!(decode(&mut buf).unwrap(), None); // `$-1` needs its CRLF first
//! buf.extend_from_slice(b"\r\n");
//! assert_eq!(decode(&mut buf).unwrap(), Some(Value::Nil));
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Longest simple-string, error or integer line accepted (the header lines of bulk strings
/// and arrays are far shorter).
pub const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted: Redis's own `proto-max-bulk-len` default (512 MiB).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
/// Deepest nesting of arrays accepted.
pub const MAX_DEPTH: usize = 32;

/// One RESP2 value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A null bulk string (`$-1`) or null array (`*-1`).
    Nil,
    /// A simple string (`+OK`).
    Simple(String),
    /// An error reply (`-ERR unknown command`), as a value (inside an array, or before it
    /// is turned into [`Error::Redis`] for a command's future).
    Error(String),
    /// An integer (`:1`).
    Integer(i64),
    /// A bulk string (`$5\r\nhello`), binary-safe.
    Bulk(Bytes),
    /// An array (`*2\r\n...`).
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

fn protocol(message: &'static str) -> Error {
    Error::Redis(format!("protocol error: {message}").into())
}

/// Decodes one value from the front of `buf`, consuming its bytes. `Ok(None)`: the value
/// is not complete yet (nothing is consumed). Stateless: each call parses from the front
/// again, so a reader that receives a reply in many reads uses a [`Decoder`] instead.
///
/// # Errors
/// [`Error::Redis`] for bytes that are not RESP2: an unknown type byte, a line without
/// CR before LF, a malformed or out-of-range length, a bulk string not followed by CRLF,
/// a line longer than [`MAX_LINE`], a bulk longer than [`MAX_BULK`], arrays nested
/// deeper than [`MAX_DEPTH`], or a reply beyond the [`Decoder`]'s default bounds. The
/// connection that sent them cannot be trusted further.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Value>> {
    let (used, value) = Decoder::default().step(buf)?;
    if value.is_some() {
        buf.advance(used);
    }
    Ok(value)
}

/// Default of [`Decoder::new`]'s `max_bytes` (and of the Redis options' reply bound):
/// 512 MiB, Redis's own `proto-max-bulk-len`.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 512 * 1024 * 1024;
/// Default of [`Decoder::new`]'s `max_elements`: 8 Mi values in one reply (256 MiB of
/// value slots alone).
pub const DEFAULT_MAX_REPLY_ELEMENTS: usize = 8 * 1024 * 1024;

/// An array being filled: its items so far and how many it declared.
#[derive(Debug)]
struct Frame {
    items: Vec<Value>,
    len: usize,
}

/// A resumable RESP2 decoder: it consumes every complete element from the buffer as it
/// goes and keeps the arrays it is filling (a stack, one per nesting level), so a reply
/// that arrives in many reads is parsed once, byte by byte, however it is split.
///
/// One reply is bounded: at most `max_elements` values and `max_bytes` of memory, counted
/// as the decoded reply will hold it (a value slot of `size_of::<Value>()` for each
/// declared array element, plus the bytes of each string). A length that would pass a
/// bound is refused when its header arrives, before any of its bytes are read.
///
/// ```
/// use bytes::BytesMut;
/// use squall::redis::resp::{Decoder, Value};
/// let mut decoder = Decoder::default();
/// let mut buf = BytesMut::from(&b"*2\r\n:1\r\n:"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
/// assert_eq!(&buf[..], b":"); // the complete `:1` is consumed and kept
/// buf.extend_from_slice(b"2\r\n");
/// assert_eq!(
///     decoder.decode(&mut buf).unwrap(),
///     Some(Value::Array(vec![Value::Integer(1), Value::Integer(2)]))
/// );
///
/// let mut small = Decoder::new(1024, 2);
/// let mut buf = BytesMut::from(&b"*3\r\n"[..]);
/// assert!(small.decode(&mut buf).is_err()); // more elements than allowed
/// ```
#[derive(Debug)]
pub struct Decoder {
    max_bytes: usize,
    max_elements: usize,
    stack: Vec<Frame>,
    /// Memory charged to the reply being decoded.
    bytes: usize,
    /// Values charged to the reply being decoded.
    elements: usize,
    /// Bytes of the pending element's line (after its type byte) already searched for LF.
    scanned: usize,
    examined: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_REPLY_BYTES, DEFAULT_MAX_REPLY_ELEMENTS)
    }
}

fn too_large(what: &str, max: usize) -> Error {
    Error::Redis(format!("reply too large: more than {max} {what}").into())
}

const SLOT: usize = std::mem::size_of::<Value>();

impl Decoder {
    /// A decoder whose replies may hold at most `max_elements` values and `max_bytes` of
    /// memory each (see the type's docs).
    pub fn new(max_bytes: usize, max_elements: usize) -> Decoder {
        Decoder {
            max_bytes,
            max_elements,
            stack: Vec::new(),
            bytes: 0,
            elements: 0,
            scanned: 0,
            examined: 0,
        }
    }

    /// Decodes the next reply from `buf`, consuming every complete element it reads
    /// (incomplete ones stay in `buf` for the next call). `Ok(None)`: more bytes are
    /// needed; call again with the same decoder once they are appended.
    ///
    /// # Errors
    /// As [`decode`], plus [`Error::Redis`] ("reply too large") for a reply beyond the
    /// decoder's bounds. After an error the decoder and the stream are unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>> {
        let (used, value) = self.step(buf)?;
        buf.advance(used);
        Ok(value)
    }

    /// How many bytes this decoder has looked at since it was made: each byte of the
    /// input once (and a header line's bytes once more while its bulk string is being
    /// waited for), whatever the split into reads.
    pub fn bytes_examined(&self) -> u64 {
        self.examined
    }

    /// True between replies (no partly decoded array held).
    pub fn is_idle(&self) -> bool {
        self.stack.is_empty()
    }

    fn charge(&mut self, elements: usize, bytes: usize) -> Result<()> {
        let e = self.elements.saturating_add(elements);
        if e > self.max_elements {
            return Err(too_large("elements", self.max_elements));
        }
        let b = self.bytes.saturating_add(bytes);
        if b > self.max_bytes {
            return Err(too_large("bytes", self.max_bytes));
        }
        self.elements = e;
        self.bytes = b;
        Ok(())
    }

    /// Parses from the front of `buf`: how many bytes it consumed (complete elements,
    /// now held by the decoder), and the reply if it completed.
    fn step(&mut self, buf: &[u8]) -> Result<(usize, Option<Value>)> {
        let mut pos = 0;
        loop {
            let Some(&kind) = buf.get(pos) else {
                return Ok((pos, None));
            };
            let rest = &buf[pos + 1..];
            let from = self.scanned.min(rest.len());
            let window = &rest[from..rest.len().min(MAX_LINE + 2)];
            let lf = match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.examined += i as u64 + 1;
                    from + i
                }
                None => {
                    self.examined += window.len() as u64;
                    if rest.len() > MAX_LINE + 1 {
                        return Err(protocol("line too long"));
                    }
                    self.scanned = from + window.len();
                    return Ok((pos, None));
                }
            };
            if lf == 0 || rest[lf - 1] != b'\r' {
                return Err(protocol("line not terminated by CRLF"));
            }
            let text = &rest[..lf - 1];
            let mut next = pos + 1 + lf + 1;
            let value = match kind {
                b'+' | b'-' => {
                    self.charge(0, text.len())?;
                    let s = String::from_utf8_lossy(text).into_owned();
                    if kind == b'+' {
                        Value::Simple(s)
                    } else {
                        Value::Error(s)
                    }
                }
                b':' => Value::Integer(integer(text)?),
                b'$' => match length(text, MAX_BULK)? {
                    None => Value::Nil,
                    Some(n) => {
                        if self.bytes.saturating_add(n) > self.max_bytes {
                            return Err(too_large("bytes", self.max_bytes));
                        }
                        let end = next + n;
                        if buf.len() < end + 2 {
                            // Wait for the payload; the header is found again at once.
                            self.scanned = lf;
                            return Ok((pos, None));
                        }
                        if &buf[end..end + 2] != b"\r\n" {
                            return Err(protocol("bulk string not followed by CRLF"));
                        }
                        self.charge(0, n)?;
                        self.examined += n as u64 + 2;
                        let v = Value::Bulk(Bytes::copy_from_slice(&buf[next..end]));
                        next = end + 2;
                        v
                    }
                },
                b'*' => match length(text, i32::MAX as usize)? {
                    None => Value::Nil,
                    Some(0) => Value::Array(Vec::new()),
                    Some(n) => {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(protocol("arrays nested too deeply"));
                        }
                        self.charge(n, n.saturating_mul(SLOT))?;
                        // Every element takes at least 3 bytes (`:0\r\n` takes 4): do
                        // not reserve room for elements the buffer cannot hold yet.
                        let items = Vec::with_capacity(n.min((buf.len() - next) / 3));
                        self.stack.push(Frame { items, len: n });
                        self.scanned = 0;
                        pos = next;
                        continue;
                    }
                },
                _ => return Err(protocol("unknown type byte")),
            };
            self.scanned = 0;
            pos = next;
            let mut value = value;
            loop {
                let Some(frame) = self.stack.last_mut() else {
                    self.bytes = 0;
                    self.elements = 0;
                    return Ok((pos, Some(value)));
                };
                if frame.items.len() == frame.items.capacity() {
                    // Grow by doubling, never past the declared length.
                    let room = frame.len - frame.items.len();
                    frame
                        .items
                        .reserve_exact(room.min(frame.items.len().max(4)));
                }
                frame.items.push(value);
                if frame.items.len() < frame.len {
                    break;
                }
                let done = self.stack.pop().expect("a frame");
                value = Value::Array(done.items);
            }
        }
    }
}

/// A strict decimal integer: optional `-`, then 1 to 19 digits, no overflow.
fn integer(text: &[u8]) -> Result<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(protocol("malformed integer"));
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol("integer out of range"))
}

/// A length: -1 (null) or 0..=max.
fn length(text: &[u8], max: usize) -> Result<Option<usize>> {
    match integer(text)? {
        -1 => Ok(None),
        n if n >= 0 && (n as u64) <= max as u64 => Ok(Some(n as usize)),
        _ => Err(protocol("length out of range")),
    }
}

/// Appends a command (an array of bulk strings, the form every Redis command takes) to
/// `out`.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    let len: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    out.reserve(len + 16);
    header(out, b'*', args.len());
    for a in args {
        let a = a.as_ref();
        header(out, b'$', a.len());
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

fn header(out: &mut BytesMut, kind: u8, n: usize) {
    out.put_u8(kind);
    out.put_slice(n.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<Value>> {
        let mut buf = BytesMut::from(bytes);
        let v = decode(&mut buf);
        if let Ok(Some(_)) = v {
            assert!(buf.is_empty(), "left over: {buf:?}");
        }
        v
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn every_type() {
        assert_eq!(one(b"+OK\r\n").unwrap(), Some(Value::Simple("OK".into())));
        assert_eq!(
            one(b"-ERR unknown\r\n").unwrap(),
            Some(Value::Error("ERR unknown".into()))
        );
        assert_eq!(one(b":-42\r\n").unwrap(), Some(Value::Integer(-42)));
        assert_eq!(one(b"$5\r\nhe\r\no\r\n").unwrap(), Some(bulk("he\r\no")));
        assert_eq!(one(b"$0\r\n\r\n").unwrap(), Some(bulk("")));
        assert_eq!(one(b"$-1\r\n").unwrap(), Some(Value::Nil));
        assert_eq!(one(b"*-1\r\n").unwrap(), Some(Value::Nil));
        assert_eq!(one(b"*0\r\n").unwrap(), Some(Value::Array(vec![])));
        assert_eq!(
            one(b"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n*1\r\n:1\r\n").unwrap(),
            Some(Value::Array(vec![
                bulk("message"),
                bulk("room"),
                Value::Array(vec![Value::Integer(1)])
            ]))
        );
    }

    #[test]
    fn every_split_point_waits_then_decodes() {
        let wire: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n:1\r\n+OK\r\n";
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let first = decode(&mut buf).unwrap();
            buf.extend_from_slice(&wire[cut..]);
            let mut got = Vec::new();
            got.extend(first);
            while let Some(v) = decode(&mut buf).unwrap() {
                got.push(v);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[1], Value::Simple("OK".into()));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn incomplete_consumes_nothing() {
        for partial in [
            &b""[..],
            b"+OK",
            b"+OK\r",
            b"$5\r\nhel",
            b"$5\r\nhello",
            b"*2\r\n:1\r\n",
        ] {
            let mut buf = BytesMut::from(partial);
            assert_eq!(decode(&mut buf).unwrap(), None, "{partial:?}");
            assert_eq!(&buf[..], partial);
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"?what\r\n"[..],
            b"+OK\n",
            b"\r\n",
            b":12a\r\n",
            b":\r\n",
            b":+1\r\n",
            b":99999999999999999999\r\n",
            b"$-2\r\n",
            b"$abc\r\n",
            b"$3\r\nabcde\r\n",
            b"*-5\r\n",
            b"*1\r\n?\r\n",
            b"$536870913\r\n",
        ] {
            let mut buf = BytesMut::from(bad);
            assert!(
                matches!(decode(&mut buf), Err(Error::Redis(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_endless_line_is_refused_once_past_the_limit() {
        let mut buf = BytesMut::from(&b"+"[..]);
        buf.extend_from_slice(&vec![b'a'; MAX_LINE]);
        assert_eq!(decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"aa");
        assert!(decode(&mut buf).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut wire = b"*1\r\n".repeat(MAX_DEPTH + 1);
        wire.extend_from_slice(b":1\r\n");
        assert!(one(&wire).is_err());
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert!(one(&ok).unwrap().is_some());
    }

    #[test]
    fn a_huge_declared_array_reserves_nothing_it_cannot_hold() {
        // 2^31-1 elements declared, three present: waits without allocating 2^31 slots.
        let mut d = Decoder::new(usize::MAX, usize::MAX);
        let mut buf = BytesMut::from(&b"*2147483647\r\n:1\r\n:2\r\n:3\r\n"[..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(
            d.stack[0].items.capacity() <= 3 + 4,
            "{}",
            d.stack[0].items.capacity()
        );
        // The default bounds refuse it from its header.
        let mut buf = BytesMut::from(&b"*2147483647\r\n"[..]);
        assert!(decode(&mut buf).is_err());
    }

    /// Replies of every kind, with nesting, empty and null values, CRLF inside bulks.
    fn corpus() -> Vec<u8> {
        let mut wire = Vec::new();
        wire.extend_from_slice(b"+OK\r\n-ERR no\r\n:0\r\n:-9223372036854775808\r\n");
        wire.extend_from_slice(b"$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n$5\r\na\r\nb\n\r\n");
        wire.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n*2\r\n*0\r\n*1\r\n$-1\r\n");
        wire.extend_from_slice(b"*2\r\n*2\r\n+a\r\n:1\r\n*1\r\n*1\r\n*1\r\n-e\r\n");
        wire.extend_from_slice(b"*4\r\n$3\r\nxyz\r\n*-1\r\n+\r\n$1\r\n\n\r\n");
        wire
    }

    fn all(d: &mut Decoder, buf: &mut BytesMut, out: &mut Vec<Value>) -> Result<()> {
        while let Some(v) = d.decode(buf)? {
            out.push(v);
        }
        Ok(())
    }

    #[test]
    fn every_split_point_of_a_corpus_gives_the_whole_result() {
        let wire = corpus();
        let mut whole = Vec::new();
        all(
            &mut Decoder::default(),
            &mut BytesMut::from(&wire[..]),
            &mut whole,
        )
        .unwrap();
        assert_eq!(whole.len(), 12);
        // The stateless decoder agrees.
        let mut buf = BytesMut::from(&wire[..]);
        let mut stateless = Vec::new();
        while let Some(v) = decode(&mut buf).unwrap() {
            stateless.push(v);
        }
        assert_eq!(stateless, whole);
        // Two reads cut anywhere, three reads cut anywhere.
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                let mut d = Decoder::default();
                let mut buf = BytesMut::new();
                let mut got = Vec::new();
                for part in [&wire[..a], &wire[a..b], &wire[b..]] {
                    buf.extend_from_slice(part);
                    all(&mut d, &mut buf, &mut got).unwrap();
                }
                assert_eq!(got, whole, "cut at {a}, {b}");
                assert!(buf.is_empty() && d.is_idle());
            }
        }
        // One byte at a time.
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &byte in &wire {
            buf.extend_from_slice(&[byte]);
            all(&mut d, &mut buf, &mut got).unwrap();
            assert!(buf.len() <= 24, "holds {} bytes undecoded", buf.len());
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn errors_do_not_depend_on_the_split() {
        for bad in [
            &b"*2\r\n:1\r\n?x\r\n"[..],
            b"*1\r\n$3\r\nabcd\r\n",
            b"*2\r\n+ok\n",
        ] {
            for cut in 0..=bad.len() {
                let mut d = Decoder::default();
                let mut buf = BytesMut::from(&bad[..cut]);
                let first = d.decode(&mut buf);
                let result = first.and_then(|v| {
                    assert_eq!(v, None);
                    buf.extend_from_slice(&bad[cut..]);
                    d.decode(&mut buf)
                });
                assert!(
                    matches!(result, Err(Error::Redis(_))),
                    "{bad:?} cut at {cut}"
                );
            }
        }
    }

    /// A 30 000-element reply fed one byte per read: the resuming decoder looks at each
    /// byte about once; parsing from the start on every read (what a stateless decoder
    /// does) looks at the buffered bytes again on each read.
    #[test]
    fn parsing_work_is_linear_in_the_reply_size() {
        let n = 30_000;
        let mut wire = format!("*{n}\r\n").into_bytes();
        for i in 0..n {
            wire.extend_from_slice(if i % 2 == 0 {
                b":1\r\n"
            } else {
                b"$2\r\nab\r\n"
            });
        }
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &byte in &wire {
            buf.extend_from_slice(&[byte]);
            if let Some(v) = d.decode(&mut buf).unwrap() {
                got = Some(v);
            }
        }
        let Some(Value::Array(items)) = got else {
            panic!("no reply")
        };
        assert_eq!(items.len(), n);
        // Each byte once; a bulk's header line once more per read while its payload
        // arrives (4 bytes, 4 reads).
        let len = wire.len() as u64;
        assert!(
            d.bytes_examined() <= 2 * len,
            "{} for {len}",
            d.bytes_examined()
        );
        // Sanity of the measure: re-parsing from the start on every read (a fresh decoder
        // per read, as before) examines quadratically many; stop counting at 10x.
        let mut restart = 0u64;
        let mut buf = BytesMut::new();
        for &byte in &wire {
            buf.extend_from_slice(&[byte]);
            let mut fresh = Decoder::default();
            let _ = fresh.step(&buf).unwrap();
            restart += fresh.bytes_examined();
            if restart > 10 * len {
                break;
            }
        }
        eprintln!(
            "{len} bytes one per read: {} examined resuming, over {restart} restarting",
            d.bytes_examined()
        );
        assert!(restart > 10 * len, "{restart}");
    }

    #[test]
    fn a_long_line_trickled_is_scanned_once() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&b"+"[..]);
        for _ in 0..MAX_LINE {
            buf.extend_from_slice(b"a");
            assert_eq!(d.decode(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(b"\r\n");
        assert!(d.decode(&mut buf).unwrap().is_some());
        assert!(
            d.bytes_examined() <= MAX_LINE as u64 + 2,
            "{}",
            d.bytes_examined()
        );
    }

    #[test]
    fn a_reply_beyond_its_bounds_is_refused_at_its_header() {
        let slot = std::mem::size_of::<Value>();
        // Elements: 3 allowed, nested values count.
        let mut d = Decoder::new(usize::MAX, 3);
        let ok = BytesMut::from(&b"*2\r\n*0\r\n:1\r\n"[..]);
        assert!(d.decode(&mut ok.clone()).unwrap().is_some());
        // The bounds are per reply: the next one is counted afresh.
        assert!(d.decode(&mut ok.clone()).unwrap().is_some());
        for wire in [&b"*4\r\n"[..], b"*2\r\n*2\r\n"] {
            let mut d = Decoder::new(usize::MAX, 3);
            let e = d.decode(&mut BytesMut::from(wire)).unwrap_err();
            assert!(e.to_string().contains("reply too large"), "{e}");
        }
        // Bytes: slots plus string bytes; a bulk beyond the rest is refused before its
        // payload arrives.
        let mut d = Decoder::new(2 * slot + 10, usize::MAX);
        let mut buf = BytesMut::from(&b"*2\r\n$10\r\n0123456789\r\n+\r\n"[..]);
        assert!(d.decode(&mut buf).unwrap().is_some());
        let mut d = Decoder::new(2 * slot + 10, usize::MAX);
        let mut buf = BytesMut::from(&b"*2\r\n$11\r\n"[..]);
        let e = d.decode(&mut buf).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        let mut d = Decoder::new(2 * slot + 10, usize::MAX);
        let mut buf = BytesMut::from(&b"*2\r\n$10\r\n0123456789\r\n+x\r\n"[..]);
        assert!(d.decode(&mut buf).is_err());
        let mut d = Decoder::new(3 * slot, usize::MAX);
        assert!(d.decode(&mut BytesMut::from(&b"*4\r\n"[..])).is_err());
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &[&b"PUBLISH"[..], b"room", b"a\r\nb"]);
        assert_eq!(
            &out[..],
            b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$4\r\na\r\nb\r\n"
        );
        let mut again = out.clone();
        assert_eq!(
            decode(&mut again).unwrap(),
            Some(Value::Array(vec![
                bulk("PUBLISH"),
                bulk("room"),
                bulk("a\r\nb")
            ]))
        );
        out.clear();
        encode_command::<&str>(&mut out, &[]);
        assert_eq!(&out[..], b"*0\r\n");
    }
}
