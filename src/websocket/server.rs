//! [`accept`]: the server side of the opening handshake (Tornado's
//! `WebSocketHandler.get`), on a request of an [`HttpServer`](crate::http::server::HttpServer).

use bytes::{BufMut, BytesMut};
use http::StatusCode;

use super::deflate::{self, DeflateParams};
use super::frame::Role;
use super::handshake::{accept_key, check_request, joined, tokens};
use super::options::WebSocketOptions;
use super::socket::WebSocket;
use crate::error::{Error, Result};
use crate::http::server::{Request, Responder};

/// Upgrades `request` to a WebSocket connection: checks it as Tornado does, answers
/// `101 Switching Protocols` and takes the connection over from the HTTP server.
///
/// Refusals are answered on `responder` and returned as [`Error::Http`] with the status
/// sent: 400 without `Upgrade: websocket`, `Connection: upgrade` or a valid
/// `Sec-WebSocket-Key`; 405 for a method other than GET; 426 (with
/// `Sec-WebSocket-Version: 13`) for another protocol version; 403 when the origin check
/// fails. The subprotocol is the first one the client offers that `options.subprotocols`
/// lists; permessage-deflate is accepted when `options.compression` is on.
///
/// # Errors
/// As above, and [`Error::StreamClosed`] when the client is gone.
///
/// ```no_run
/// # fn main() -> squall::Result<()> {
/// use squall::http::server::HttpServer;
/// use squall::websocket::{accept, WebSocketOptions};
///
/// let mut reactor = squall::Reactor::new()?;
/// let options = WebSocketOptions::default();
/// let server = HttpServer::new(&reactor.handle(), move |req, resp| {
///     if let Ok(ws) = accept(&req, resp, &options) {
///         ws.on_message(|ws, msg| ws.send(msg)); // echo
///     }
/// });
/// server.listen("127.0.0.1:8889")?;
/// reactor.run()
/// # }
/// ```
pub fn accept(
    request: &Request,
    responder: Responder,
    options: &WebSocketOptions,
) -> Result<WebSocket> {
    let key = match check_request(&request.method, &request.headers) {
        Ok(k) => k,
        Err(e) => return Err(refuse(responder, e)),
    };
    if !options.origin_allowed(request) {
        return Err(refuse(
            responder,
            Error::http(403, "Cross origin websockets not allowed"),
        ));
    }
    let protocol = tokens(&request.headers, "sec-websocket-protocol")
        .find(|p| options.subprotocols.iter().any(|s| s == p))
        .map(str::to_owned);
    let deflate: Option<(DeflateParams, String)> = if options.compression {
        joined(&request.headers, "sec-websocket-extensions")
            .and_then(|offers| deflate::negotiate_with(&offers, &options.deflate_settings()))
    } else {
        None
    };
    let stream = responder.detach()?;
    let _ = stream.set_nodelay(true);
    let mut out = BytesMut::with_capacity(256);
    out.put_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.put_slice(accept_key(&key).as_bytes());
    if let Some(p) = &protocol {
        out.put_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.put_slice(p.as_bytes());
    }
    if let Some((_, h)) = &deflate {
        out.put_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.put_slice(h.as_bytes());
    }
    out.put_slice(b"\r\n\r\n");
    stream.write_and_forget(out.freeze());
    let handle = stream.handle();
    Ok(WebSocket::start(
        &handle,
        stream,
        Role::Server,
        options,
        deflate.map(|(p, _)| p),
        protocol,
    ))
}

/// Answers a refused upgrade and returns the error.
fn refuse(mut responder: Responder, e: Error) -> Error {
    if let Error::Http { status, message } = &e {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
        if status == StatusCode::UPGRADE_REQUIRED {
            responder.set_header_static("sec-websocket-version", "13");
        }
        responder.set_header_static("content-type", "text/plain; charset=utf-8");
        responder.respond(status, message.to_string());
    }
    e
}
