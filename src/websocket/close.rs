//! Close codes (RFC 6455 §7.4) and the close frame's payload.

use std::fmt;

use bytes::{BufMut, BytesMut};

/// 1000: normal closure.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint is going away (server shutdown, page navigated away).
pub const GOING_AWAY: u16 = 1001;
/// 1002: protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a data type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: reported (never sent) when a close frame had no status code.
pub const NO_STATUS: u16 = 1005;
/// 1006: reported (never sent) when the connection dropped without a close frame.
pub const ABNORMAL: u16 = 1006;
/// 1007: invalid payload data (invalid UTF-8 in a text message or close reason).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: policy violation.
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message is too big (beyond `max_message_size`, counted after decompression).
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1010: the client expected an extension the server did not negotiate.
pub const MANDATORY_EXTENSION: u16 = 1010;
/// 1011: the server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// A violation of the protocol, with the close code the connection must be failed with
/// (1002 protocol error, 1007 invalid payload, 1009 too big).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to send.
    pub code: u16,
    /// What was wrong (also the close reason sent).
    pub reason: &'static str,
}

impl ProtocolError {
    /// A violation failing the connection with `code`.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        ProtocolError { code, reason }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

/// True for codes an endpoint may put on the wire: 1000–1003, 1007–1014 and 3000–4999.
/// 1004–1006 and 1015 are reserved, 1016–2999 unassigned, the rest out of range.
///
/// ```
/// use squall::websocket::close::is_valid_code;
/// assert!(is_valid_code(1000) && is_valid_code(1011) && is_valid_code(4999));
/// assert!(!is_valid_code(999) && !is_valid_code(1005) && !is_valid_code(1016) && !is_valid_code(5000));
/// ```
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a received close payload: `None` for an empty one, else the code and the
/// reason.
///
/// # Errors
/// A 1-byte payload or an invalid code: 1002; a reason that is not UTF-8: 1007.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<(u16, String)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::new(PROTOCOL_ERROR, "1-byte close payload")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !is_valid_code(code) {
                return Err(ProtocolError::new(PROTOCOL_ERROR, "invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| ProtocolError::new(INVALID_PAYLOAD, "close reason is not UTF-8"))?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

/// Writes a close payload: the code and as much of `reason` as fits in 123 bytes (cut
/// at a character boundary).
pub fn write_close_payload(dst: &mut BytesMut, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    dst.put_u16(code);
    dst.put_slice(&reason.as_bytes()[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payload_rules() {
        assert_eq!(parse_close_payload(b"").unwrap(), None);
        assert_eq!(parse_close_payload(b"\x01").unwrap_err().code, 1002);
        assert_eq!(
            parse_close_payload(b"\x03\xe8bye").unwrap(),
            Some((1000, "bye".to_owned()))
        );
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let p = bad.to_be_bytes();
            assert_eq!(parse_close_payload(&p).unwrap_err().code, 1002, "{bad}");
        }
        for good in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            let p = good.to_be_bytes();
            assert_eq!(
                parse_close_payload(&p).unwrap(),
                Some((good, String::new()))
            );
        }
        assert_eq!(parse_close_payload(b"\x03\xe8\xff").unwrap_err().code, 1007);
    }

    #[test]
    fn long_reason_is_cut_at_a_char_boundary() {
        let mut out = BytesMut::new();
        write_close_payload(&mut out, 1000, &"é".repeat(100));
        assert!(out.len() <= 125);
        assert!(parse_close_payload(&out).is_ok());
    }
}
