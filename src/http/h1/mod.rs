//! Sans-IO HTTP/1.x pieces: head parsing, body decoders and encoders.
//!
//! Nothing here touches a socket or the reactor. Each piece is a plain function or state
//! machine over a [`bytes::BytesMut`] read buffer (parsers, decoders) or an output buffer
//! (encoders); the server and the client wire them to an [`IoStream`]-like layer.
//!
//! | piece | what it does |
//! |---|---|
//! | [`parse_request_head`] | server side: request line + headers, strict RFC 9112 framing |
//! | [`parse_response_head`] | client side: status line + headers, RFC 9112 §6.3 body framing |
//! | [`BodyDecoder`] | `Content-Length`, chunked (with trailers) and close-delimited bodies |
//! | [`write_response_head`], [`write_request_head`] (with a [`Framing`]), [`ChunkedEncoder`] | serialisation |
//! | [`http_date`] | the cached IMF-fixdate for the `Date` header |
//!
//! These are the public sans-IO codecs, for a user who drives HTTP/1 over a transport of
//! their own. The other names exported here (the connection core that server and client
//! both drive, the incremental head scanner, the body pipeline, the server's fast
//! response-head writer and its fields, …) are internals of the server and client,
//! public only for the fuzz targets and benches: hidden from these docs and not a
//! stable API.
//!
//! Errors are [`Error::HttpParse`](crate::Error::HttpParse) with a [`ParseErrorKind`]:
//! the server maps each kind to the status it answers (400, 413, 414, 431, 501, 505), the
//! client maps them to a failed fetch ([`Error::HttpFetch`](crate::Error::HttpFetch)).
//!
//! [`IoStream`]: https://www.tornadoweb.org/en/stable/iostream.html
//!
//! ```
//! use bytes::BytesMut;
//! use squall::http::h1::{parse_request_head, BodyDecoder, Decoded, HeadLimits};
//!
//! let mut buf = BytesMut::from(&b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"[..]);
//! let head = parse_request_head(&mut buf, &HeadLimits::default()).unwrap().unwrap();
//! let mut body = BodyDecoder::new(head.body);
//! assert!(matches!(body.decode(&mut buf).unwrap(), Decoded::Data(d) if &d[..] == b"hello"));
//! assert!(matches!(body.decode(&mut buf).unwrap(), Decoded::Done { trailers: None }));
//! ```

mod body;
mod connection;
mod date;
mod encode;
mod error;
mod framing;
pub(crate) mod header_pool;
mod headers;
mod limits;
mod out_buffer;
mod pipeline;
mod request_head;
mod response_head;
mod scanner;

pub use body::BodyDecoder;
pub use body::Decoded;
#[doc(hidden)]
pub use body::MAX_CHUNK_LINE;
#[doc(hidden)]
pub use connection::{Client, Connection, Event, Message, ReadLimits, Role, Server};
pub use date::http_date;
#[doc(hidden)]
pub use date::{write_date, write_date_at, HTTP_DATE_LEN};
pub(crate) use encode::{
    has_field, head_size, write_field, write_request_fields, write_request_line, StaticField,
};
pub use encode::{write_request_head, write_response_head, ChunkedEncoder, Framing};
#[doc(hidden)]
pub use encode::{write_response, write_server_response_head, ServerFields, CONTINUE_100};
pub use error::ParseErrorKind;
pub use framing::BodyKind;
pub use headers::Headers;
pub use limits::HeadLimits;
pub(crate) use out_buffer::{out_buffer, return_out_buffer};
#[doc(hidden)]
pub use pipeline::{consume_gzip_encoding, BodyFault, BodyPipeline, X_CONSUMED_CONTENT_ENCODING};
#[doc(hidden)]
pub use request_head::parse_request_head_into;
pub use request_head::{parse_request_head, RequestHead};
#[doc(hidden)]
pub use response_head::is_redirect_status;
pub use response_head::{parse_response_head, ResponseHead};
#[doc(hidden)]
pub use scanner::HeadScanner;
