//! What kind of HTTP/1.x rule or limit a message broke, as the parsers and decoders
//! report it ([`Error::HttpParse`](crate::Error::HttpParse)). The server answers each kind
//! with its status; the client fails the fetch.

use std::borrow::Cow;

pub use crate::error::parse_kind::ParseErrorKind;
use crate::error::Error;

/// Builds an [`Error::HttpParse`].
pub(crate) fn parse_error(kind: ParseErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
    Error::HttpParse {
        kind,
        message: message.into(),
    }
}
