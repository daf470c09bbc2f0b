//! [`connect`]: the client side of the opening handshake (Tornado's
//! `websocket_connect`).

use std::cell::RefCell;
use std::rc::Rc;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::deflate::{self, DeflateParams};
use super::frame::Role;
use super::handshake::{check_response, new_key, tokens};
use super::options::WebSocketOptions;
use super::socket::WebSocket;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::http::h1::{parse_response_head, write_request_head, Framing, HeadLimits};
use crate::net::TcpClient;
use crate::reactor::{Handle, TimerId};
use crate::stream::{IoStream, StreamOptions};
use crate::tls::TlsConfig;

fn e599(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::HttpFetch {
        message: message.into(),
    }
}

struct Attempt {
    result: Future<WebSocket>,
    stream: Option<IoStream>,
    timer: Option<TimerId>,
}

/// Opens a WebSocket connection to a `ws://` or `wss://` URL: connects (for `wss://`,
/// with TLS configured by `options.tls`, the URL host as SNI and as the name the
/// certificate must carry), sends the upgrade request (with `options.headers`,
/// subprotocols and a permessage-deflate offer when `options.compression`), checks the
/// `101` answer. Redirects are not followed.
///
/// The future fails with [`Error::Http`] carrying the server's status when it answered
/// something else than `101`, [`Error::HttpFetch`] (599) for a malformed or mismatched
/// answer,
/// [`Error::Timeout`] after `options.connect_timeout`, [`Error::Io`] /
/// [`Error::Resolve`] when connecting fails, [`Error::Tls`] when the TLS configuration
/// cannot be built or the handshake fails (e.g. an untrusted certificate, see
/// [`TlsError::kind`](crate::tls::TlsError::kind)), and [`Error::Unsupported`] for
/// another scheme.
///
/// ```no_run
/// # fn main() -> squall::Result<()> {
/// use squall::websocket::{connect, WebSocketOptions};
/// let mut reactor = squall::Reactor::new()?;
/// let ws = connect(&reactor.handle(), "ws://127.0.0.1:8889/chat", WebSocketOptions::default());
/// let ws = reactor.run_until(&ws)?;
/// ws.send_text("hello");
/// let reply = reactor.run_until(&ws.read_message())?;
/// println!("{reply:?}");
/// # Ok(()) }
/// ```
#[doc(alias = "websocket_connect")]
pub fn connect(handle: &Handle, url: &str, options: WebSocketOptions) -> Future<WebSocket> {
    let result = Future::new();
    let url = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            result.set_error(e599(format!("invalid URL: {e}")));
            return result;
        }
    };
    let (port, secure) = match url.scheme() {
        "ws" | "http" => (url.port().unwrap_or(80), false),
        "wss" | "https" => (url.port().unwrap_or(443), true),
        other => {
            result.set_error(Error::Unsupported(format!("URL scheme {other}").into()));
            return result;
        }
    };
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_owned())
    else {
        result.set_error(e599("URL without a host"));
        return result;
    };
    let tls = if secure {
        // The same configuration builder as the HTTP client's `https://`.
        match TlsConfig::client(&options.tls) {
            Ok(c) => Some(match options.connect_timeout {
                Some(t) => c.handshake_timeout(t),
                None => c,
            }),
            Err(e) => {
                result.set_error(e);
                return result;
            }
        }
    } else {
        None
    };
    let attempt = Rc::new(RefCell::new(Attempt {
        result: result.clone(),
        stream: None,
        timer: None,
    }));
    if let Some(t) = options.connect_timeout {
        let a = attempt.clone();
        let id = handle.call_later(t, move || {
            let (stream, result) = {
                let mut a = a.borrow_mut();
                a.timer = None;
                (a.stream.take(), a.result.clone())
            };
            if let Some(s) = stream {
                s.close();
            }
            let _ = result.try_set(Err(Error::Timeout));
        });
        attempt.borrow_mut().timer = Some(id);
    }
    let mut tcp = TcpClient::new(handle);
    tcp.set_stream_options(StreamOptions {
        max_write_buffer_size: options.max_write_buffer_size,
        ..StreamOptions::default()
    });
    let (h, a) = (handle.clone(), attempt);
    let connecting = match &tls {
        Some(config) => tcp.connect_tls(&host, port, options.connect_timeout, config),
        None => tcp.connect(&host, port, options.connect_timeout),
    };
    connecting.add_done_callback(move |f| {
        let r = match f.take_result() {
            Some(Ok(stream)) => handshake(&h, &a, stream, &url, options),
            Some(Err(e)) => Err(e),
            None => Err(Error::Cancelled),
        };
        if let Err(e) = r {
            done(&h, &a, Err(e));
        }
    });
    result
}

fn done(handle: &Handle, attempt: &Rc<RefCell<Attempt>>, r: Result<WebSocket>) {
    let (timer, result) = {
        let mut a = attempt.borrow_mut();
        a.stream = None;
        (a.timer.take(), a.result.clone())
    };
    if let Some(t) = timer {
        handle.cancel_timer(t);
    }
    if result.is_done() {
        // Timed out meanwhile: drop what we made.
        if let Ok(ws) = r {
            ws.stream().close();
        }
        return;
    }
    result.set(r);
}

fn handshake(
    handle: &Handle,
    attempt: &Rc<RefCell<Attempt>>,
    stream: IoStream,
    url: &url::Url,
    options: WebSocketOptions,
) -> Result<()> {
    if attempt.borrow().result.is_done() {
        stream.close();
        return Ok(());
    }
    let _ = stream.set_nodelay(true);
    attempt.borrow_mut().stream = Some(stream.clone());
    let key = new_key();
    let mut headers = HeaderMap::new();
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    };
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| e599("invalid header value"));
    headers.insert("host", value(&host)?);
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    headers.insert("connection", HeaderValue::from_static("Upgrade"));
    headers.insert("sec-websocket-key", value(&key)?);
    headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
    if !options.subprotocols.is_empty() {
        headers.insert(
            "sec-websocket-protocol",
            value(&options.subprotocols.join(", "))?,
        );
    }
    let offered = options.compression && deflate::AVAILABLE;
    if offered {
        let offer = deflate::client_offer_with(&options.deflate_settings());
        headers.insert("sec-websocket-extensions", value(&offer)?);
    }
    for (name, v) in &options.headers {
        headers.insert(name.clone(), v.clone());
    }
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut out = BytesMut::new();
    write_request_head(
        &mut out,
        &Method::GET,
        &target,
        Version::HTTP_11,
        &headers,
        Framing::Unframed,
    )?;
    stream.write_and_forget(out.freeze());
    let limits = HeadLimits::default();
    let head = stream.read_with(move |buf, _closed| {
        parse_response_head(buf, &limits, &Method::GET).map_err(|e| match e {
            Error::HttpParse { message, .. } | Error::Http { message, .. } => e599(message),
            e => e,
        })
    });
    let (h, a) = (handle.clone(), attempt.clone());
    head.add_done_callback(move |f| {
        let r = match f.take_result() {
            Some(Ok(head)) => upgraded(&h, stream, head, &key, offered, &options),
            Some(Err(Error::StreamClosed)) => Err(e599("connection closed during the handshake")),
            Some(Err(e)) => Err(e),
            None => Err(Error::Cancelled),
        };
        done(&h, &a, r);
    });
    Ok(())
}

fn upgraded(
    handle: &Handle,
    stream: IoStream,
    head: crate::http::h1::ResponseHead,
    key: &str,
    offered: bool,
    options: &WebSocketOptions,
) -> Result<WebSocket> {
    let fail = |e: Error| {
        stream.close();
        Err(e)
    };
    if head.status != StatusCode::SWITCHING_PROTOCOLS {
        let reason = head.reason.clone();
        return fail(Error::http(
            head.status.as_u16(),
            format!(
                "WebSocket handshake refused: {} {reason}",
                head.status.as_u16()
            ),
        ));
    }
    if let Err(e) = check_response(&head.headers, key) {
        return fail(e);
    }
    let protocol = head
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned());
    if let Some(p) = &protocol
        && !options.subprotocols.iter().any(|o| o == p)
    {
        return fail(e599("server chose a subprotocol that was not offered"));
    }
    let ext: Vec<&str> = tokens(&head.headers, "sec-websocket-extensions").collect();
    let deflate: Option<DeflateParams> = if ext.is_empty() {
        None
    } else if !offered {
        return fail(e599("server accepted an extension that was not offered"));
    } else {
        match deflate::accept_response(&ext.join(", ")) {
            Ok(p) => Some(p),
            Err(m) => return fail(e599(m)),
        }
    };
    Ok(WebSocket::start(
        handle,
        stream,
        Role::Client,
        options,
        deflate,
        protocol,
    ))
}
