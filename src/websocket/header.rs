//! Frame headers (RFC 6455 §5.2): the roles, the opcodes and the header parser, below the
//! decoder and the encoder (both re-exported by [`frame`](super::frame)).

use super::close::ProtocolError;

/// Which end of the connection a codec serves: servers require masked frames, clients
/// refuse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The accepting end.
    Server,
    /// The connecting end.
    Client,
}

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl Opcode {
    /// The opcode for the low 4 bits of a frame's first byte, `None` if reserved.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1: with permessage-deflate, "this message is compressed".
    pub rsv1: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

const PROTOCOL: u16 = super::close::PROTOCOL_ERROR;

/// Parses a frame header from the front of `buf` (nothing is consumed). Returns the
/// header and its size in bytes, or `Ok(None)` until enough bytes are there.
///
/// `rsv1_allowed`: a compression extension was negotiated (RSV1 may be set on a data
/// message's first frame).
///
/// # Errors
/// Code 1002 for RSV2/RSV3, RSV1 without an extension or on a control frame, a reserved
/// opcode, a fragmented or longer-than-125-byte control frame, a 64-bit length with its
/// top bit set.
///
/// ```
/// use squall::websocket::frame::{parse_header, Opcode};
/// let (h, size) = parse_header(&[0x81, 0x05, b'H'], false).unwrap().unwrap();
/// assert_eq!((h.fin, h.opcode, h.len, h.mask, size), (true, Opcode::Text, 5, None, 2));
/// assert_eq!(parse_header(&[0x81], false).unwrap(), None);
/// assert_eq!(parse_header(&[0x83, 0x00], false).unwrap_err().code, 1002); // opcode 3
/// ```
pub fn parse_header(
    buf: &[u8],
    rsv1_allowed: bool,
) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(ProtocolError::new(PROTOCOL, "RSV2/RSV3 set"));
    }
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    let opcode =
        Opcode::from_bits(b0 & 0x0f).ok_or(ProtocolError::new(PROTOCOL, "reserved opcode"))?;
    if rsv1 && (!rsv1_allowed || opcode.is_control()) {
        return Err(ProtocolError::new(
            PROTOCOL,
            "RSV1 set without an extension",
        ));
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > i64::MAX as u64 {
        return Err(ProtocolError::new(
            PROTOCOL,
            "64-bit length with the top bit set",
        ));
    }
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::new(PROTOCOL, "fragmented control frame"));
        }
        if len > 125 {
            return Err(ProtocolError::new(
                PROTOCOL,
                "control frame longer than 125 bytes",
            ));
        }
    }
    let mask = if masked {
        let Some(k) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([k[0], k[1], k[2], k[3]])
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin,
            rsv1,
            opcode,
            mask,
            len,
        },
        at,
    )))
}
