//! [`HttpRequest`]: what to fetch and how (Tornado's `HTTPRequest`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use url::Url;

use crate::error::Error;
use crate::tls::ClientTlsOptions;

/// The `User-Agent` sent by default.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("squall/", env!("CARGO_PKG_VERSION"));

/// The error for anything wrong on the client side (Tornado's 599).
pub(crate) fn e599(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::HttpFetch {
        message: message.into(),
    }
}

/// Called with each line of the final response head: the status line, every header
/// line (each ending in `\r\n`) and the empty line `"\r\n"` (Tornado's
/// `header_callback`). Not called for redirects that are followed.
pub type HeaderCallback = Rc<RefCell<dyn FnMut(&str)>>;

/// Called with each piece of the (decompressed) body instead of buffering it in
/// [`HttpResponse::body`](super::HttpResponse::body) (Tornado's `streaming_callback`).
pub type StreamingCallback = Rc<RefCell<dyn FnMut(Bytes)>>;

/// Options a request does not set fall back to these (the client's `defaults`, as
/// Tornado's `AsyncHTTPClient(defaults=...)`): `Default` plus chained setters (the
/// struct is `#[non_exhaustive]`).
///
/// ```
/// use std::time::Duration;
/// use squall::http::client::RequestDefaults;
///
/// let d = RequestDefaults::default()
///     .connect_timeout(Duration::from_secs(2))
///     .max_body_size(1 << 20)
///     .header(http::header::ACCEPT, http::HeaderValue::from_static("application/json"));
/// assert_eq!(d.max_body_size, 1 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestDefaults {
    /// Time allowed for the TCP connection (default 20 s).
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, queueing and connecting included (default 20 s).
    pub request_timeout: Duration,
    /// Follow 3xx redirects (default `true`).
    pub follow_redirects: bool,
    /// Most redirects followed before failing (default 5).
    pub max_redirects: u32,
    /// Ask for gzip and decompress it (default `true` with the `gzip` feature).
    pub decompress_response: bool,
    /// `User-Agent` sent when the request sets none (default `squall/<version>`).
    pub user_agent: Option<String>,
    /// Largest response head accepted (default 64 KiB).
    pub max_header_size: usize,
    /// Largest response body accepted (default 100 MiB, as Tornado).
    pub max_body_size: usize,
    /// Header fields sent with every request (a request's own fields win).
    pub headers: HeaderMap,
    /// How `https://` servers are verified and what client certificate is shown
    /// (default: verify against the system roots, no client certificate).
    pub tls: ClientTlsOptions,
}

impl Default for RequestDefaults {
    fn default() -> Self {
        RequestDefaults {
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(20),
            follow_redirects: true,
            max_redirects: 5,
            decompress_response: cfg!(feature = "gzip"),
            user_agent: Some(DEFAULT_USER_AGENT.to_string()),
            max_header_size: 64 * 1024,
            max_body_size: 100 * 1024 * 1024,
            headers: HeaderMap::new(),
            tls: ClientTlsOptions::default(),
        }
    }
}

impl RequestDefaults {
    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Sets [`follow_redirects`](Self::follow_redirects).
    pub fn follow_redirects(mut self, yes: bool) -> Self {
        self.follow_redirects = yes;
        self
    }

    /// Sets [`max_redirects`](Self::max_redirects).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// Sets [`decompress_response`](Self::decompress_response).
    pub fn decompress_response(mut self, yes: bool) -> Self {
        self.decompress_response = yes;
        self
    }

    /// Sets [`user_agent`](Self::user_agent) (`None`: send no `User-Agent`).
    pub fn user_agent(mut self, ua: Option<String>) -> Self {
        self.user_agent = ua;
        self
    }

    /// Sets [`max_header_size`](Self::max_header_size).
    pub fn max_header_size(mut self, n: usize) -> Self {
        self.max_header_size = n;
        self
    }

    /// Sets [`max_body_size`](Self::max_body_size).
    pub fn max_body_size(mut self, n: usize) -> Self {
        self.max_body_size = n;
        self
    }

    /// Adds a field to [`headers`](Self::headers) (sent with every request).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// An HTTP request: a URL and Tornado's `HTTPRequest` options, built by chaining.
///
/// `&str`, `String` and [`Url`] convert into a `GET` request, so
/// `client.fetch("http://example.com/")` works. Options left unset take the client's
/// [`RequestDefaults`]. Invalid input (a bad URL or header) is reported when the request
/// is fetched, as [`Error::HttpFetch`].
///
/// ```
/// use std::time::Duration;
/// use squall::http::client::HttpRequest;
///
/// let req = HttpRequest::new("http://127.0.0.1:8888/upload")
///     .method(http::Method::PUT)
///     .header("x-trace", "1")
///     .body("payload")
///     .request_timeout(Duration::from_secs(5))
///     .basic_auth("user", "secret");
/// assert_eq!(req.method_ref(), http::Method::PUT);
/// assert_eq!(req.url().unwrap().path(), "/upload");
/// ```
#[derive(Clone)]
pub struct HttpRequest {
    pub(crate) url: Result<Url, (String, url::ParseError)>,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) max_redirects: Option<u32>,
    pub(crate) decompress_response: Option<bool>,
    pub(crate) user_agent: Option<String>,
    pub(crate) auth: Option<(String, String)>,
    pub(crate) header_callback: Option<HeaderCallback>,
    pub(crate) streaming_callback: Option<StreamingCallback>,
    pub(crate) max_header_size: Option<usize>,
    pub(crate) max_body_size: Option<usize>,
    pub(crate) expect_100_continue: bool,
    pub(crate) allow_nonstandard_methods: bool,
    /// The first invalid header given to [`header`](Self::header), reported at fetch.
    pub(crate) invalid: Option<Error>,
    /// TLS settings for `https://` (`None`: the client's defaults).
    pub(crate) tls: Option<ClientTlsOptions>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url: &dyn fmt::Debug = match &self.url {
            Ok(u) => &u.as_str(),
            Err((raw, _)) => raw,
        };
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// A `GET` request for `url`.
    pub fn new(url: &str) -> Self {
        let url = Url::parse(url).map_err(|e| (url.to_string(), e));
        Self::from_parsed(url)
    }

    /// A `GET` request for `url` (same as [`new`](Self::new)).
    pub fn get(url: &str) -> Self {
        Self::new(url)
    }

    /// A `POST` request for `url` with `body`.
    pub fn post(url: &str, body: impl Into<Bytes>) -> Self {
        Self::new(url).method(Method::POST).body(body)
    }

    fn from_parsed(url: Result<Url, (String, url::ParseError)>) -> Self {
        HttpRequest {
            url,
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            connect_timeout: None,
            request_timeout: None,
            follow_redirects: None,
            max_redirects: None,
            decompress_response: None,
            user_agent: None,
            auth: None,
            header_callback: None,
            streaming_callback: None,
            max_header_size: None,
            max_body_size: None,
            expect_100_continue: false,
            allow_nonstandard_methods: false,
            invalid: None,
            tls: None,
        }
    }

    /// The parsed URL, or `None` if it did not parse.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref().ok()
    }

    /// The method.
    pub fn method_ref(&self) -> &Method {
        &self.method
    }

    /// The header fields set so far.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, if any.
    pub fn body_ref(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// Sets the method (default `GET`). Methods other than GET, HEAD, POST, PUT, PATCH,
    /// DELETE and OPTIONS need [`allow_nonstandard_methods`](Self::allow_nonstandard_methods).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Appends a header field. An invalid name or value fails the fetch with
    /// [`Error::HttpFetch`].
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.invalid
                    .get_or_insert(e599("invalid header name or value"));
            }
        }
        self
    }

    /// Replaces all header fields.
    pub fn headers_map(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body; `Content-Length` is added automatically.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Time allowed for connecting (default 20 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// Time allowed for the whole request, from [`fetch`](super::AsyncHttpClient::fetch):
    /// waiting in the client's queue, connecting and the exchange (default 20 s). Each
    /// redirect followed gets the full time again, as in Tornado.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = Some(t);
        self
    }

    /// Follow redirects (default `true`).
    pub fn follow_redirects(mut self, yes: bool) -> Self {
        self.follow_redirects = Some(yes);
        self
    }

    /// Most redirects followed (default 5); one more fails with [`Error::HttpFetch`].
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = Some(n);
        self
    }

    /// Send `Accept-Encoding: gzip` and decompress gzip bodies (default `true` with the
    /// `gzip` feature; without it this does nothing). A decompressed response's
    /// `Content-Encoding` is renamed `X-Consumed-Content-Encoding`, as in Tornado.
    pub fn decompress_response(mut self, yes: bool) -> Self {
        self.decompress_response = Some(yes);
        self
    }

    /// The `User-Agent` field (default `squall/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// HTTP basic authentication (`Authorization: Basic ...`). Without it, credentials in
    /// the URL (`http://user:pass@host/`, percent-decoded) are sent the same way. Either
    /// is dropped by a redirect to another scheme, host or port.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((username.into(), password.into()));
        self
    }

    /// Calls `f` with each line of the final response head (see [`HeaderCallback`]).
    pub fn header_callback(mut self, f: impl FnMut(&str) + 'static) -> Self {
        self.header_callback = Some(Rc::new(RefCell::new(f)));
        self
    }

    /// Delivers the body in pieces to `f` instead of buffering it; the response's `body`
    /// is then empty. Pieces are decompressed when `decompress_response` applies.
    pub fn streaming_callback(mut self, f: impl FnMut(Bytes) + 'static) -> Self {
        self.streaming_callback = Some(Rc::new(RefCell::new(f)));
        self
    }

    /// Largest response head accepted (default 64 KiB); beyond it the fetch fails with
    /// [`Error::HttpFetch`].
    pub fn max_header_size(mut self, n: usize) -> Self {
        self.max_header_size = Some(n);
        self
    }

    /// Largest response body accepted, on the wire and decompressed (default 100 MiB);
    /// beyond it the fetch fails with [`Error::HttpFetch`].
    pub fn max_body_size(mut self, n: usize) -> Self {
        self.max_body_size = Some(n);
        self
    }

    /// Send `Expect: 100-continue` and hold the body until the server answers `100
    /// Continue` (if it answers with a final status instead, the body is not sent).
    pub fn expect_100_continue(mut self, yes: bool) -> Self {
        self.expect_100_continue = yes;
        self
    }

    /// Allow any method, with or without a body. By default POST, PUT and PATCH need a
    /// body and other methods must not have one, as in Tornado.
    pub fn allow_nonstandard_methods(mut self, yes: bool) -> Self {
        self.allow_nonstandard_methods = yes;
        self
    }

    /// TLS settings for this request (instead of the client's
    /// [`RequestDefaults::tls`]). Connections are pooled per TLS settings.
    pub fn tls_options(mut self, options: ClientTlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Verify `https://` servers against the CA certificates in this PEM file instead of
    /// the system roots (Tornado's `ca_certs`).
    pub fn ca_certs(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls = Some(self.tls.take().unwrap_or_default().ca_certs(path));
        self
    }

    /// Whether to verify the server's certificate (default `true`; Tornado's
    /// `validate_cert`). `false` accepts any certificate: for tests only.
    pub fn validate_cert(mut self, yes: bool) -> Self {
        self.tls = Some(self.tls.take().unwrap_or_default().validate_cert(yes));
        self
    }

    /// Present this client certificate chain and private key (PEM files; Tornado's
    /// `client_cert` and `client_key`).
    pub fn client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls = Some(self.tls.take().unwrap_or_default().client_cert(cert, key));
        self
    }
}

impl From<&str> for HttpRequest {
    fn from(url: &str) -> Self {
        HttpRequest::new(url)
    }
}

impl From<&String> for HttpRequest {
    fn from(url: &String) -> Self {
        HttpRequest::new(url)
    }
}

impl From<String> for HttpRequest {
    fn from(url: String) -> Self {
        HttpRequest::new(&url)
    }
}

impl From<Url> for HttpRequest {
    fn from(url: Url) -> Self {
        HttpRequest::from_parsed(Ok(url))
    }
}

impl From<&Url> for HttpRequest {
    fn from(url: &Url) -> Self {
        HttpRequest::from_parsed(Ok(url.clone()))
    }
}
