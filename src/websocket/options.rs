//! [`WebSocketOptions`]: limits, keep-alive pings, compression, subprotocols, and the
//! client's connect settings.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use http::HeaderMap;

use crate::http::server::Request;
use crate::tls::ClientTlsOptions;

type OriginCheck = Rc<dyn Fn(&str, &Request) -> bool>;

/// Settings of a WebSocket connection, server or client side.
///
/// ```
/// use std::time::Duration;
/// use squall::websocket::WebSocketOptions;
/// let options = WebSocketOptions::default()
///     .max_message_size(16 << 20)
///     .ping_interval(Some(Duration::from_secs(20)))
///     .compression(true)
///     .subprotocols(["chat.v2", "chat.v1"]);
/// assert_eq!(options.max_message_size, 16 << 20);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct WebSocketOptions {
    /// Largest message accepted, counted after decompression (default 10 MiB); a bigger
    /// one fails the connection with close code 1009.
    pub max_message_size: usize,
    /// Send a ping this often (default: never).
    pub ping_interval: Option<Duration>,
    /// Close the connection (code 1011) when a ping is not answered within this long
    /// (default: the ping interval).
    pub ping_timeout: Option<Duration>,
    /// Negotiate permessage-deflate: a server accepts a client's offer, a client makes
    /// one (default off, as Tornado). Needs the `deflate` feature.
    pub compression: bool,
    /// zlib compression level, 0–9 (default 6).
    pub compression_level: u32,
    /// Ask both sides to reset their deflate state after each message: no deflate state
    /// per idle connection, worse compression (default off).
    pub compression_no_context_takeover: bool,
    /// The server's compressor keeps no context between messages (default on). A server
    /// answers with `server_no_context_takeover` and compresses with one compressor per
    /// thread shared by all such connections; a client asks for it. A compressor that
    /// keeps its context costs 256–368 KiB per connection (zlib-rs: a fixed 128 KiB hash
    /// table, buffers of zlib's memLevel 8, which `flate2` does not expose, and the
    /// window): turn this off only for few connections whose small, similar messages
    /// compress much better with it.
    pub server_no_context_takeover: bool,
    /// Largest LZ77 window the server compresses with, 2^n bytes, 9–15 (default 15).
    /// Server: announced when below 15. Client: asked of the server when below 15.
    pub server_max_window_bits: u8,
    /// Server: a client that supports the parameter (browsers and most libraries do) is
    /// asked to compress with at most a 2^n-byte window, 9–15 (default 12, as Python
    /// `websockets`): it bounds the history the server keeps per connection to inflate
    /// that client's messages. A client ignores it (its window is the server's choice).
    pub client_max_window_bits: u8,
    /// Close the connection (code 1008, "message timeout") when a message is partly
    /// received and none of its bytes arrive for this long (default 30 s), so a peer that
    /// sends most of a big message and stops does not hold its memory forever (as the
    /// HTTP server's body timeout). `None`: wait forever.
    pub message_timeout: Option<Duration>,
    /// Most memory queued for sending, counted at its real cost (payload plus each
    /// queued write's overhead; default 64 MiB). A send beyond it means the peer does
    /// not read what it is sent: the send fails with
    /// [`Error::StreamBufferFull`](crate::Error::StreamBufferFull) and the connection is
    /// closed with 1008 (logged once). While the queue is at this limit, or a pong waits
    /// behind it, nothing more is read from the peer.
    pub max_write_buffer_size: Option<usize>,
    /// Close the connection (code 1008) when what is sent to the peer does not drain
    /// for this long while reading waits for it (see
    /// [`max_write_buffer_size`](Self::max_write_buffer_size)): a peer that sends but
    /// never reads (default 30 s; `None`: wait as long as the peer stays connected).
    pub write_timeout: Option<Duration>,
    /// How long [`close`](super::WebSocket::close) waits for the peer's close frame before
    /// dropping the connection (default 5 s).
    pub close_timeout: Duration,
    /// Subprotocols: the server picks the first of the client's it lists here (its
    /// preference order is the client's); the client offers these.
    pub subprotocols: Vec<String>,
    /// Client: extra request headers (e.g. `Authorization`, `Origin`).
    pub headers: HeaderMap,
    /// Client: how long resolving, connecting and the handshake may take (default 20 s).
    pub connect_timeout: Option<Duration>,
    /// Client, `wss://`: how the server's certificate is verified and which client
    /// certificate is presented, as for the HTTP client's `https://` (default: verify
    /// against the system's trust roots, the URL host as SNI and expected name).
    pub tls: ClientTlsOptions,
    check_origin: Option<OriginCheck>,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            max_message_size: 10 * 1024 * 1024,
            ping_interval: None,
            ping_timeout: None,
            compression: false,
            compression_level: 6,
            compression_no_context_takeover: false,
            server_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 12,
            message_timeout: Some(Duration::from_secs(30)),
            max_write_buffer_size: Some(64 * 1024 * 1024),
            write_timeout: Some(Duration::from_secs(30)),
            close_timeout: Duration::from_secs(5),
            subprotocols: Vec::new(),
            headers: HeaderMap::new(),
            connect_timeout: Some(Duration::from_secs(20)),
            tls: ClientTlsOptions::default(),
            check_origin: None,
        }
    }
}

impl fmt::Debug for WebSocketOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketOptions")
            .field("max_message_size", &self.max_message_size)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("compression", &self.compression)
            .field("compression_level", &self.compression_level)
            .field(
                "server_no_context_takeover",
                &self.server_no_context_takeover,
            )
            .field("server_max_window_bits", &self.server_max_window_bits)
            .field("client_max_window_bits", &self.client_max_window_bits)
            .field("message_timeout", &self.message_timeout)
            .field("subprotocols", &self.subprotocols)
            .field("tls", &self.tls)
            .field("custom_origin_check", &self.check_origin.is_some())
            .finish_non_exhaustive()
    }
}

impl WebSocketOptions {
    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`ping_interval`](Self::ping_interval).
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Sets [`ping_timeout`](Self::ping_timeout).
    pub fn ping_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Sets [`compression`](Self::compression).
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// Sets [`compression_level`](Self::compression_level).
    pub fn compression_level(mut self, level: u32) -> Self {
        self.compression_level = level.min(9);
        self
    }

    /// Sets [`compression_no_context_takeover`](Self::compression_no_context_takeover).
    pub fn compression_no_context_takeover(mut self, yes: bool) -> Self {
        self.compression_no_context_takeover = yes;
        self
    }

    /// Sets [`server_no_context_takeover`](Self::server_no_context_takeover).
    pub fn server_no_context_takeover(mut self, yes: bool) -> Self {
        self.server_no_context_takeover = yes;
        self
    }

    /// Sets [`server_max_window_bits`](Self::server_max_window_bits) (clamped to 9–15).
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(9, 15);
        self
    }

    /// Sets [`client_max_window_bits`](Self::client_max_window_bits) (clamped to 9–15).
    ///
    /// ```
    /// use squall::websocket::WebSocketOptions;
    /// let options = WebSocketOptions::default()
    ///     .compression(true)
    ///     .client_max_window_bits(10)
    ///     .server_no_context_takeover(false);
    /// assert_eq!(options.client_max_window_bits, 10);
    /// ```
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(9, 15);
        self
    }

    /// What permessage-deflate negotiation may agree to under these options.
    pub(crate) fn deflate_settings(&self) -> super::deflate::DeflateSettings {
        let mut s = super::deflate::DeflateSettings::new(self.compression_no_context_takeover);
        s.server_no_context_takeover |= self.server_no_context_takeover;
        s.server_max_window_bits = self.server_max_window_bits.clamp(9, 15);
        s.client_max_window_bits = self.client_max_window_bits.clamp(9, 15);
        s
    }

    /// Sets [`message_timeout`](Self::message_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use squall::websocket::WebSocketOptions;
    /// let options = WebSocketOptions::default().message_timeout(Some(Duration::from_secs(10)));
    /// assert_eq!(options.message_timeout, Some(Duration::from_secs(10)));
    /// ```
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// Sets [`max_write_buffer_size`](Self::max_write_buffer_size).
    pub fn max_write_buffer_size(mut self, bytes: Option<usize>) -> Self {
        self.max_write_buffer_size = bytes;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`subprotocols`](Self::subprotocols).
    pub fn subprotocols<S: Into<String>>(mut self, list: impl IntoIterator<Item = S>) -> Self {
        self.subprotocols = list.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a client request header (skipped with a log if not valid HTTP).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => log::warn!("invalid WebSocket request header {name}"),
        }
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`tls`](Self::tls), the client's `wss://` settings.
    ///
    /// ```
    /// use squall::tls::ClientTlsOptions;
    /// use squall::websocket::WebSocketOptions;
    /// let options =
    ///     WebSocketOptions::default().tls(ClientTlsOptions::default().ca_certs("ca.pem"));
    /// assert!(options.tls.validates_cert());
    /// ```
    pub fn tls(mut self, options: ClientTlsOptions) -> Self {
        self.tls = options;
        self
    }

    /// Server: replaces the origin check (Tornado's `check_origin`). `check(origin,
    /// request)` runs when the request carries an `Origin`; returning `false` answers 403.
    /// The default accepts an origin whose `host[:port]` equals the `Host` header.
    ///
    /// ```
    /// use squall::websocket::WebSocketOptions;
    /// let options = WebSocketOptions::default()
    ///     .check_origin(|origin, _req| origin.ends_with(".example.com"));
    /// # let _ = options;
    /// ```
    pub fn check_origin(mut self, check: impl Fn(&str, &Request) -> bool + 'static) -> Self {
        self.check_origin = Some(Rc::new(check));
        self
    }

    /// Whether `request`'s origin passes.
    pub(crate) fn origin_allowed(&self, request: &Request) -> bool {
        let origin = request.header("origin");
        match (&self.check_origin, origin) {
            (Some(check), Some(origin)) => check(origin, request),
            _ => super::handshake::same_origin(origin, request.header("host")),
        }
    }
}
