//! The sans-IO WebSocket codec (RFC 6455 §5, RFC 7692): frame headers, masking,
//! message reassembly with incremental UTF-8 validation, close payloads and
//! permessage-deflate. Nothing here touches a socket; the connection layer
//! ([`WebSocket`](super::WebSocket)) wires it to an [`IoStream`](crate::stream::IoStream).
//!
//! ```
//! use bytes::BytesMut;
//! use squall::websocket::frame::{encode_frame, Decoder, Incoming, Opcode, Role};
//! use squall::websocket::Message;
//!
//! // A client sends a masked text frame; the server decodes it.
//! let mut wire = BytesMut::new();
//! encode_frame(&mut wire, Opcode::Text, true, false, b"hi", Some([1, 2, 3, 4]));
//! let mut server = Decoder::new(Role::Server, 1 << 20);
//! match server.decode(&mut wire).unwrap() {
//!     Some(Incoming::Message(Message::Text(t))) => assert_eq!(t, "hi"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(wire.is_empty());
//! ```

use bytes::{BufMut, Bytes, BytesMut};

pub use super::close::ProtocolError;
pub use super::decoder::{Decoder, Incoming};
pub use super::header::{parse_header, FrameHeader, Opcode, Role};
pub use super::mask::apply_mask;
pub use super::utf8::{InvalidUtf8, Utf8Validator};

/// Writes a frame header (2 to 14 bytes).
pub fn write_header(
    dst: &mut BytesMut,
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    let b0 = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.bits();
    let m = if mask.is_some() { 0x80 } else { 0 };
    dst.reserve(14);
    dst.put_u8(b0);
    if len < 126 {
        dst.put_u8(m | len as u8);
    } else if len <= 0xffff {
        dst.put_u8(m | 126);
        dst.put_u16(len as u16);
    } else {
        dst.put_u8(m | 127);
        dst.put_u64(len as u64);
    }
    if let Some(k) = mask {
        dst.put_slice(&k);
    }
}

/// Writes a whole frame: header, then `payload` (masked with `mask` if given).
///
/// ```
/// use squall::websocket::frame::{encode_frame, Opcode};
/// let mut out = bytes::BytesMut::new();
/// encode_frame(&mut out, Opcode::Text, true, false, b"Hello", None);
/// assert_eq!(&out[..], b"\x81\x05Hello"); // RFC 6455 §5.7
/// ```
pub fn encode_frame(
    dst: &mut BytesMut,
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_header(dst, opcode, fin, rsv1, payload.len(), mask);
    let start = dst.len();
    dst.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut dst[start..], k, 0);
    }
}

/// Payloads up to this many bytes are copied behind their header, so the frame is one
/// write; larger unmasked payloads are queued as they are, after the header.
pub const COPY_MAX: usize = 16 * 1024;

/// A frame ready to be queued on a stream: `head` (the header, followed by the payload
/// when it was copied) and, when the payload was not copied, `tail`. The stream writes
/// queued chunks with one vectored write, so two chunks cost no extra system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The header, and the payload when it was copied.
    pub head: Bytes,
    /// The payload when it was not copied.
    pub tail: Option<Bytes>,
}

impl Encoded {
    /// The frame's length on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.as_ref().map_or(0, Bytes::len)
    }

    /// Never true: a frame has at least a 2-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Frames `payload` without copying it when it is large: the one encoder behind every
/// frame a [`WebSocket`](super::WebSocket) sends (data, control and close frames).
///
/// A payload of at most [`COPY_MAX`] bytes is copied behind its header (one chunk).
/// A larger one is not copied: unmasked it is queued as it is; masked (a client's frame)
/// it is masked in place when `payload` is its buffer's only owner (a `String` or
/// `Vec<u8>` handed over), and copied once while masking otherwise.
///
/// ```
/// use bytes::Bytes;
/// use squall::websocket::frame::{encode, encode_frame, Opcode};
/// let big = Bytes::from(vec![7u8; 100_000]);
/// let e = encode(Opcode::Binary, true, false, big.clone(), None);
/// assert_eq!((e.head.len(), e.tail.as_ref().map(|t| t.as_ptr())), (10, Some(big.as_ptr())));
/// let mut whole = bytes::BytesMut::new();
/// encode_frame(&mut whole, Opcode::Binary, true, false, &big, None);
/// assert_eq!([&e.head[..], &e.tail.unwrap()[..]].concat(), &whole[..]);
/// ```
pub fn encode(
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    payload: Bytes,
    mask: Option<[u8; 4]>,
) -> Encoded {
    if payload.len() <= COPY_MAX {
        let mut out = BytesMut::with_capacity(payload.len() + 14);
        encode_frame(&mut out, opcode, fin, rsv1, &payload, mask);
        return Encoded {
            head: out.freeze(),
            tail: None,
        };
    }
    let mut head = BytesMut::with_capacity(14);
    write_header(&mut head, opcode, fin, rsv1, payload.len(), mask);
    let tail = match mask {
        None => payload,
        Some(k) => {
            let mut p = payload
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            apply_mask(&mut p, k, 0);
            p.freeze()
        }
    };
    Encoded {
        head: head.freeze(),
        tail: Some(tail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_matches_encode_frame_and_does_not_copy_large_payloads() {
        for len in [0, 5, 125, 126, COPY_MAX, COPY_MAX + 1, 70_000] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut whole = BytesMut::new();
                encode_frame(&mut whole, Opcode::Binary, true, true, &data, mask);
                let payload = Bytes::from(data);
                let ptr = payload.as_ptr();
                let e = encode(Opcode::Binary, true, true, payload, mask);
                assert_eq!(e.len(), whole.len(), "len {len} mask {mask:?}");
                let tail = e.tail.clone().unwrap_or_default();
                assert_eq!([&e.head[..], &tail[..]].concat(), &whole[..]);
                // Large payloads, masked or not, keep their buffer (it was unique).
                assert_eq!(e.tail.is_some(), len > COPY_MAX);
                if len > COPY_MAX {
                    assert_eq!(tail.as_ptr(), ptr);
                }
            }
        }
    }

    fn err(bytes: &[u8]) -> u16 {
        parse_header(bytes, false).unwrap_err().code
    }

    #[test]
    fn lengths_7_16_64_bit() {
        for len in [0usize, 125, 126, 65535, 65536, 1 << 20] {
            let mut out = BytesMut::new();
            write_header(
                &mut out,
                Opcode::Binary,
                true,
                false,
                len,
                Some([9, 8, 7, 6]),
            );
            let (h, size) = parse_header(&out, false).unwrap().unwrap();
            assert_eq!(
                (h.len, size, h.mask),
                (len as u64, out.len(), Some([9, 8, 7, 6]))
            );
            // Every shorter prefix is incomplete, never an error.
            for cut in 0..out.len() {
                assert_eq!(parse_header(&out[..cut], false).unwrap(), None);
            }
        }
    }

    #[test]
    fn protocol_violations_are_1002() {
        assert_eq!(err(&[0x91, 0]), 1002); // RSV3
        assert_eq!(err(&[0xa1, 0]), 1002); // RSV2
        assert_eq!(err(&[0xc1, 0]), 1002); // RSV1, no extension
        assert_eq!(parse_header(&[0xc9, 0], true).unwrap_err().code, 1002); // RSV1 on ping
        assert!(parse_header(&[0xc1, 0], true).unwrap().is_some());
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(err(&[0x80 | op, 0]), 1002, "opcode {op}");
        }
        assert_eq!(err(&[0x09, 0]), 1002); // fragmented ping
        assert_eq!(err(&[0x89, 126, 0, 126]), 1002); // 126-byte ping
        assert_eq!(err(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), 1002);
    }
}
