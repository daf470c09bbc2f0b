//! [`ParseErrorKind`]: what kind of HTTP/1.x rule or limit a message broke. It lives
//! below [`Error`](crate::Error), which carries it; `squall::http::h1` re-exports it.

use std::fmt;

/// The kind of an [`Error::HttpParse`](crate::Error::HttpParse).
///
/// ```
/// use bytes::BytesMut;
/// use squall::http::h1::{parse_request_head, HeadLimits, ParseErrorKind};
///
/// let mut buf = BytesMut::from(&b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..]);
/// let e = parse_request_head(&mut buf, &HeadLimits::default()).unwrap_err();
/// assert!(matches!(e, squall::Error::HttpParse { kind: ParseErrorKind::UnsupportedVersion, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Malformed syntax or ambiguous framing (a server answers 400).
    Malformed,
    /// The header section (or a trailer section) is over the limits (431).
    HeadTooLarge,
    /// The request-target alone is over the head limit (414).
    UriTooLong,
    /// The body is over the size allowed (413).
    BodyTooLarge,
    /// A transfer-coding that is not implemented (501).
    UnsupportedTransferCoding,
    /// An HTTP version that is not supported (505).
    UnsupportedVersion,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseErrorKind::Malformed => "malformed message",
            ParseErrorKind::HeadTooLarge => "header section too large",
            ParseErrorKind::UriTooLong => "request-target too long",
            ParseErrorKind::BodyTooLarge => "body too large",
            ParseErrorKind::UnsupportedTransferCoding => "unsupported transfer-coding",
            ParseErrorKind::UnsupportedVersion => "unsupported HTTP version",
        })
    }
}
