//! [`Request`]: what a handler receives (Tornado's `HTTPServerRequest`).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

use crate::http::h1::Headers;

/// A complete HTTP request: head and (buffered) body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The method (`GET`, `POST`, ...).
    pub method: Method,
    /// The request-target as sent.
    pub uri: Uri,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// Header fields (a [`HeaderMap`] whose storage a later request reuses).
    pub headers: Headers,
    /// The body (empty when the request had none, or when a
    /// [`BodyDelegate`](super::BodyDelegate) consumed it).
    pub body: Bytes,
    /// Trailer fields of a chunked body, if any.
    pub trailers: Option<Box<HeaderMap>>,
    /// The TCP peer.
    pub remote_addr: SocketAddr,
    /// The client's IP: the peer's, or with `xheaders`, `X-Real-Ip` / the last
    /// `X-Forwarded-For` entry.
    pub remote_ip: IpAddr,
    /// `"http"` or `"https"` (a TLS connection), or with `xheaders` the value of
    /// `X-Scheme` / `X-Forwarded-Proto` (`"http"` or `"https"`).
    pub protocol: &'static str,
}

impl Request {
    /// `"https"` on a TLS connection, else `"http"`; with `xheaders`, what the proxy
    /// said (`X-Scheme` / `X-Forwarded-Proto`). The same as [`protocol`](Self::protocol).
    pub fn scheme(&self) -> &str {
        self.protocol
    }

    /// The path of the target (`/a/b` of `/a/b?x=1`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The first value of query argument `name` (not percent-decoded).
    ///
    /// ```
    /// # let req = squall::http::server::Request::for_test("GET", "/s?ms=25&x");
    /// assert_eq!(req.query_arg("ms"), Some("25"));
    /// assert_eq!(req.query_arg("x"), Some(""));
    /// assert_eq!(req.query_arg("y"), None);
    /// ```
    pub fn query_arg(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// A header value as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A request for unit tests of handlers: `method` and `target`, HTTP/1.1, no headers,
    /// from 127.0.0.1:1.
    ///
    /// # Panics
    /// If `method` or `target` is malformed.
    pub fn for_test(method: &str, target: &str) -> Request {
        let remote_addr = SocketAddr::from(([127, 0, 0, 1], 1));
        Request {
            method: method.parse().expect("method"),
            uri: target.parse().expect("target"),
            version: Version::HTTP_11,
            headers: Headers::default(),
            body: Bytes::new(),
            trailers: None,
            remote_addr,
            remote_ip: remote_addr.ip(),
            protocol: "http",
        }
    }
}

/// Applies Tornado's `xheaders` rules: the client IP from `X-Real-Ip` or the last entry of
/// `X-Forwarded-For`, the scheme from `X-Scheme` or `X-Forwarded-Proto`.
pub(crate) fn apply_xheaders(req: &mut Request) {
    let forwarded = req
        .header("x-forwarded-for")
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim);
    let ip = req.header("x-real-ip").map(str::trim).or(forwarded);
    if let Some(ip) = ip.and_then(|s| s.parse::<IpAddr>().ok()) {
        req.remote_ip = ip;
    }
    let proto = req
        .header("x-scheme")
        .or_else(|| req.header("x-forwarded-proto"))
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim);
    match proto {
        Some(p) if p.eq_ignore_ascii_case("https") => req.protocol = "https",
        Some(p) if p.eq_ignore_ascii_case("http") => req.protocol = "http",
        _ => {}
    }
}
