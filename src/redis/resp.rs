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
/// is not complete yet (nothing is consumed).
///
/// # Errors
/// [`Error::Redis`] for bytes that are not RESP2: an unknown type byte, a line without
/// CR before LF, a malformed or out-of-range length, a bulk string not followed by CRLF,
/// a line longer than [`MAX_LINE`], a bulk longer than [`MAX_BULK`], or arrays nested
/// deeper than [`MAX_DEPTH`]. The connection that sent them cannot be trusted further.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Value>> {
    let mut pos = 0;
    match parse(buf, &mut pos, 0)? {
        Some(v) => {
            buf.advance(pos);
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

/// The line starting at `*pos` without its CRLF; moves `*pos` past the CRLF.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>> {
    let rest = &buf[*pos..];
    let Some(lf) = rest.iter().take(MAX_LINE + 2).position(|&b| b == b'\n') else {
        if rest.len() > MAX_LINE + 1 {
            return Err(protocol("line too long"));
        }
        return Ok(None);
    };
    if lf == 0 || rest[lf - 1] != b'\r' {
        return Err(protocol("line not terminated by CRLF"));
    }
    *pos += lf + 1;
    Ok(Some(&rest[..lf - 1]))
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

fn parse(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>> {
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    let mut p = *pos + 1;
    let Some(text) = line(buf, &mut p)? else {
        return Ok(None);
    };
    let value = match kind {
        b'+' => Value::Simple(String::from_utf8_lossy(text).into_owned()),
        b'-' => Value::Error(String::from_utf8_lossy(text).into_owned()),
        b':' => Value::Integer(integer(text)?),
        b'$' => match length(text, MAX_BULK)? {
            None => Value::Nil,
            Some(n) => {
                let end = p + n;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(protocol("bulk string not followed by CRLF"));
                }
                let v = Value::Bulk(Bytes::copy_from_slice(&buf[p..end]));
                p = end + 2;
                v
            }
        },
        b'*' => match length(text, i32::MAX as usize)? {
            None => Value::Nil,
            Some(n) => {
                if depth >= MAX_DEPTH {
                    return Err(protocol("arrays nested too deeply"));
                }
                // Every element takes at least 3 bytes (`:0\r\n` takes 4): do not reserve
                // room for elements the buffer cannot hold yet.
                let mut items = Vec::with_capacity(n.min((buf.len() - p) / 3));
                for _ in 0..n {
                    match parse(buf, &mut p, depth + 1)? {
                        Some(v) => items.push(v),
                        None => return Ok(None),
                    }
                }
                Value::Array(items)
            }
        },
        _ => return Err(protocol("unknown type byte")),
    };
    *pos = p;
    Ok(Some(value))
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
        let mut buf = BytesMut::from(&b"*2147483647\r\n:1\r\n:2\r\n:3\r\n"[..]);
        assert_eq!(decode(&mut buf).unwrap(), None);
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
