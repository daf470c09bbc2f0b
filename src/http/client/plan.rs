//! A request resolved against the client's defaults and validated: what one hop sends
//! (sans-IO: the request head is encoded here, written by the connection layer).

use std::sync::LazyLock;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    COOKIE, HOST, PROXY_AUTHORIZATION, TRANSFER_ENCODING, USER_AGENT,
};
use http::{HeaderMap, Method, StatusCode, Version};
use url::{Position, Url};

pub(crate) use super::request::e599;
use super::request::{
    HeaderCallback, HttpRequest, RequestDefaults, StreamingCallback, DEFAULT_USER_AGENT,
};
use crate::error::Result;
use crate::http::h1::{head_size, write_field, write_request_fields, write_request_line, Framing};
use crate::tls::ClientTlsOptions;

/// The default `User-Agent` as a field value, checked at compile time (`from_static`
/// checks every byte each time it runs).
const DEFAULT_USER_AGENT_VALUE: HeaderValue = HeaderValue::from_static(DEFAULT_USER_AGENT);

/// Bodies up to this size are copied behind the head so both go out in one write.
const COALESCE_BODY: usize = 16 * 1024;

/// Everything one fetch needs, with defaults applied.
pub(crate) struct Plan {
    pub method: Method,
    /// The URL of this hop (`None` once the response took it: see [`Plan::take_url`]).
    url: Option<Url>,
    pub port: u16,
    pub headers: HeaderMap,
    /// The caller set `Host` (kept unless a redirect changes the target).
    user_host: bool,
    /// `User-Agent` to send (the caller set none in `headers`).
    user_agent: Option<HeaderValue>,
    /// Send `Accept-Encoding: gzip` (the caller set none in `headers`).
    accept_gzip: bool,
    pub body: Option<Bytes>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub follow_redirects: bool,
    pub redirects_left: u32,
    pub max_redirects: u32,
    pub decompress: bool,
    pub max_header_size: usize,
    pub max_body_size: usize,
    pub expect_continue: bool,
    pub header_callback: Option<HeaderCallback>,
    pub streaming_callback: Option<StreamingCallback>,
    /// TLS settings for `https://` hops when not the client's own (`None`: those).
    pub tls: Option<ClientTlsOptions>,
    /// The pool key when the TLS settings are not the client's own (they are part of it).
    tls_key: Option<String>,
}

/// Checks that `url` is something we can fetch; returns its port.
pub(crate) fn check_url(url: &Url) -> Result<u16> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(e599(format!("unsupported URL scheme {other:?}"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(e599("URL has no host"));
    }
    Ok(url.port_or_known_default().unwrap_or(80))
}

impl Plan {
    pub(crate) fn new(req: HttpRequest, d: &RequestDefaults) -> Result<Plan> {
        if let Some(e) = req.invalid {
            return Err(e);
        }
        let mut url = req
            .url
            .map_err(|(raw, e)| e599(format!("invalid URL {raw:?}: {e}")))?;
        // Credentials in the URL become `Authorization: Basic` (percent-decoded) and leave
        // the URL, so they never reach `Host`, the request line or `effective_url`.
        let url_auth = take_url_credentials(&mut url);
        let port = check_url(&url)?;
        if !req.allow_nonstandard_methods {
            let m = &req.method;
            let standard = [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ];
            if !standard.contains(m) {
                return Err(e599(format!(
                    "unknown method {m} (set allow_nonstandard_methods)"
                )));
            }
            let expected = *m == Method::POST || *m == Method::PUT || *m == Method::PATCH;
            if expected != req.body.is_some() {
                let what = if expected { "must" } else { "must not" };
                return Err(e599(format!(
                    "body {what} be set for method {m} (set allow_nonstandard_methods)"
                )));
            }
        }
        let mut headers = req.headers;
        for (name, value) in &d.headers {
            if !headers.contains_key(name) {
                headers.append(name, value.clone());
            }
        }
        let user_host = headers.contains_key(HOST);
        // `Host`, `User-Agent` and `Accept-Encoding` are written by `encode`, not put in
        // the map: a request without fields of its own then needs no map allocation.
        let user_agent = match req.user_agent.as_ref().or(d.user_agent.as_ref()) {
            Some(ua) if !headers.contains_key(USER_AGENT) => Some(if ua == DEFAULT_USER_AGENT {
                DEFAULT_USER_AGENT_VALUE
            } else {
                HeaderValue::try_from(ua.as_str()).map_err(|_| e599("invalid user_agent"))?
            }),
            _ => None,
        };
        let auth = match &req.auth {
            Some((user, pass)) => Some(format!("{user}:{pass}").into_bytes()),
            None => url_auth,
        };
        if let Some(credentials) = auth {
            let mut v = b"Basic ".to_vec();
            base64(&credentials, &mut v);
            let v = HeaderValue::from_bytes(&v).map_err(|_| e599("invalid credentials"))?;
            headers.insert(AUTHORIZATION, v);
        }
        let decompress =
            cfg!(feature = "gzip") && req.decompress_response.unwrap_or(d.decompress_response);
        let accept_gzip = decompress && !headers.contains_key(ACCEPT_ENCODING);
        if req.expect_100_continue {
            headers.insert(
                http::header::EXPECT,
                HeaderValue::from_static("100-continue"),
            );
        }
        let max_redirects = req.max_redirects.unwrap_or(d.max_redirects);
        let expect_continue = req.expect_100_continue && req.body.is_some();
        let mut plan = Plan {
            method: req.method,
            url: Some(url),
            port,
            headers,
            user_host,
            user_agent,
            accept_gzip,
            body: req.body,
            connect_timeout: req.connect_timeout.unwrap_or(d.connect_timeout),
            request_timeout: req.request_timeout.unwrap_or(d.request_timeout),
            follow_redirects: req.follow_redirects.unwrap_or(d.follow_redirects),
            redirects_left: max_redirects,
            max_redirects,
            decompress,
            max_header_size: req.max_header_size.unwrap_or(d.max_header_size),
            max_body_size: req.max_body_size.unwrap_or(d.max_body_size),
            expect_continue,
            header_callback: req.header_callback,
            streaming_callback: req.streaming_callback,
            tls_key: None,
            // `None` for the client's own settings: most requests copy nothing.
            tls: req.tls.filter(|t| *t != d.tls),
        };
        plan.set_tls_key();
        Ok(plan)
    }

    fn set_tls_key(&mut self) {
        self.tls_key = match &self.tls {
            Some(tls) if self.is_https() => Some(format!("{}#{tls:?}", self.origin())),
            _ => None,
        };
    }

    /// The URL of this hop.
    pub(crate) fn url(&self) -> &Url {
        debug_assert!(
            self.url.is_some(),
            "the plan's URL is read after the fetch ended"
        );
        /// What a plan whose URL was taken answers (never used: the fetch is over).
        static TAKEN: LazyLock<Url> =
            LazyLock::new(|| Url::parse("http://taken.invalid/").expect("a valid URL"));
        self.url.as_ref().unwrap_or_else(|| &TAKEN)
    }

    /// Moves the URL out, for the response's `effective_url` once the fetch is over (a
    /// copy would cost an allocation per request).
    pub(crate) fn take_url(&mut self) -> Url {
        self.url.take().unwrap_or_else(|| self.url().clone())
    }

    /// True for an `https://` URL.
    pub(crate) fn is_https(&self) -> bool {
        self.url().scheme() == "https"
    }

    /// `scheme://[userinfo@]host[:port]` of the URL.
    fn origin(&self) -> &str {
        &self.url()[..Position::AfterPort]
    }

    /// The connection-pool key: scheme, host and port, plus the TLS settings when they
    /// are not the defaults (no allocation in the common case).
    pub(crate) fn pool_key(&self) -> &str {
        self.tls_key.as_deref().unwrap_or_else(|| self.origin())
    }

    /// The host as it appears in the URL (brackets around IPv6 literals stripped).
    pub(crate) fn host(&self) -> &str {
        let h = self.url().host_str().unwrap_or("");
        h.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
    }

    /// `host[:port]` of the URL: the connection-pool key (no allocation).
    pub(crate) fn key(&self) -> &str {
        &self.url()[Position::BeforeHost..Position::AfterPort]
    }

    /// Encodes the request head, plus the body when it is small and not held back for
    /// `100 Continue`. Returns the body still to write, if any.
    pub(crate) fn encode(&mut self, out: &mut BytesMut) -> Result<Option<Bytes>> {
        let framing = match &self.body {
            Some(b) => Framing::Length(b.len() as u64),
            None => Framing::Unframed,
        };
        let target = &self.url()[Position::BeforePath..Position::AfterQuery];
        let host = self.key().as_bytes();
        if !host.iter().all(|b| (0x21..0x7f).contains(b)) {
            return Err(e599("invalid host"));
        }
        // Room for the fields this writes itself beside the map's (and the date the
        // map's estimate counts, which a request does not send).
        let ua = self.user_agent.as_ref().map_or(0, HeaderValue::len);
        let fields = head_size(&self.headers) + host.len() + ua + 64;
        write_request_line(out, &self.method, target, Version::HTTP_11, fields)
            .map_err(|_| e599("invalid request target"))?;
        if !self.user_host {
            write_field(out, &HOST, host);
        }
        if let Some(ua) = &self.user_agent {
            write_field(out, &USER_AGENT, ua.as_bytes());
        }
        if self.accept_gzip {
            write_field(out, &ACCEPT_ENCODING, b"gzip");
        }
        write_request_fields(out, &self.headers, framing);
        match &self.body {
            Some(b) if self.expect_continue => Ok(Some(b.clone())),
            Some(b) if b.len() <= COALESCE_BODY => {
                out.put_slice(b);
                Ok(None)
            }
            Some(b) => Ok(Some(b.clone())),
            None => Ok(None),
        }
    }

    /// Whether a response with `status` is a redirect this plan follows.
    pub(crate) fn follows(&self, status: StatusCode) -> bool {
        self.follow_redirects && crate::http::h1::is_redirect_status(status)
    }

    /// Turns this plan into the next hop of a redirect to `location`.
    ///
    /// 301 (for POST), 302 and 303 become GET without body (HEAD stays HEAD); 307 and
    /// 308 keep method and body. Credentials (`Authorization`, `Cookie`,
    /// `Proxy-Authorization`) are dropped when the scheme, host or port changes (curl's
    /// rule), and never taken from the `Location`'s own user information.
    pub(crate) fn redirect(
        &mut self,
        status: StatusCode,
        location: Option<&HeaderValue>,
    ) -> Result<()> {
        if self.redirects_left == 0 {
            return Err(e599(format!(
                "too many redirects (max_redirects = {})",
                self.max_redirects
            )));
        }
        self.redirects_left -= 1;
        let location = location
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| e599("redirect without a valid Location"))?;
        let mut next = self
            .url()
            .join(location)
            .map_err(|e| e599(format!("invalid redirect Location {location:?}: {e}")))?;
        let _ = take_url_credentials(&mut next);
        let port = check_url(&next)?;
        let code = status.as_u16();
        if code == 302 || code == 303 || (code == 301 && self.method == Method::POST) {
            if self.method != Method::HEAD {
                self.method = Method::GET;
            }
            self.body = None;
            self.expect_continue = false;
            for h in [
                CONTENT_LENGTH,
                CONTENT_TYPE,
                CONTENT_ENCODING,
                TRANSFER_ENCODING,
            ] {
                self.headers.remove(h);
            }
            self.headers.remove(http::header::EXPECT);
        }
        let same_origin = next.scheme() == self.url().scheme()
            && next.host_str() == self.url().host_str()
            && port == self.port;
        if !same_origin {
            for h in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                self.headers.remove(h);
            }
        }
        if self.user_host {
            self.headers.remove(HOST);
            self.user_host = false;
        }
        self.url = Some(next);
        self.port = port;
        self.set_tls_key();
        Ok(())
    }
}

/// Removes `user:password@` from `url`; returns `user:password` percent-decoded, if the
/// URL had a user name or a password.
fn take_url_credentials(url: &mut Url) -> Option<Vec<u8>> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut out = decode(url.username());
    out.push(b':');
    out.extend(decode(url.password().unwrap_or("")));
    // Cannot fail for http(s) URLs, which have a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(out)
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(input: &[u8], out: &mut Vec<u8>) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63]);
        out.push(T[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn b64(s: &str) -> String {
        let mut v = Vec::new();
        base64(s.as_bytes(), &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (i, o) in cases {
            assert_eq!(b64(i), o);
        }
        assert_eq!(b64("Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    fn plan(req: HttpRequest) -> Result<Plan> {
        Plan::new(req, &RequestDefaults::default())
    }

    fn head(p: &mut Plan) -> String {
        let mut out = BytesMut::new();
        p.encode(&mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn host_content_length_and_defaults() {
        let mut p = plan(HttpRequest::post(
            "http://Example.com:8080/a/b?x=1#frag",
            "hi",
        ))
        .unwrap();
        let h = head(&mut p);
        assert!(h.starts_with("POST /a/b?x=1 HTTP/1.1\r\n"), "{h}");
        assert!(h.contains("host: example.com:8080\r\n"), "{h}");
        assert!(h.contains("Content-Length: 2\r\n"), "{h}");
        assert!(h.contains("user-agent: squall/"), "{h}");
        assert!(h.ends_with("\r\n\r\nhi"), "{h}");
        let mut p = plan(HttpRequest::get("http://[::1]/")).unwrap();
        assert!(head(&mut p).contains("host: [::1]\r\n"));
        assert_eq!((p.host(), p.key(), p.port), ("::1", "[::1]", 80));
    }

    #[test]
    fn fields_the_caller_sets_replace_the_defaults_and_appear_once() {
        let count = |h: &str, name: &str| h.to_ascii_lowercase().matches(name).count();
        let mut p = plan(HttpRequest::get("http://a.test/")).unwrap();
        let h = head(&mut p);
        assert!(h.starts_with("GET / HTTP/1.1\r\nhost: a.test\r\n"), "{h}");
        assert_eq!(count(&h, "user-agent: squall/"), 1, "{h}");
        assert_eq!(
            count(&h, "accept-encoding: gzip\r\n"),
            usize::from(cfg!(feature = "gzip"))
        );
        let mut p = plan(
            HttpRequest::get("http://a.test/")
                .header("Host", "b.test")
                .header("User-Agent", "me")
                .header("Accept-Encoding", "br"),
        )
        .unwrap();
        let h = head(&mut p);
        for (name, value) in [
            ("host", "b.test"),
            ("user-agent", "me"),
            ("accept-encoding", "br"),
        ] {
            assert_eq!(count(&h, &format!("{name}: ")), 1, "{h}");
            assert!(h.contains(&format!("{name}: {value}\r\n")), "{h}");
        }
        // A user agent set on the request (not as a field) is checked and sent.
        let mut p = plan(HttpRequest::get("http://a.test/").user_agent("bot/1")).unwrap();
        assert!(head(&mut p).contains("user-agent: bot/1\r\n"));
        assert!(plan(HttpRequest::get("http://a.test/").user_agent("a\r\nb")).is_err());
    }

    #[test]
    fn validation() {
        let err = |r: HttpRequest| match plan(r) {
            Err(Error::HttpFetch { message }) => message.into_owned(),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(HttpRequest::get("not a url")).contains("invalid URL"));
        assert!(err(HttpRequest::get("ftp://x/")).contains("scheme"));
        assert!(err(HttpRequest::get("http://x/").method(Method::POST)).contains("must be set"));
        assert!(err(HttpRequest::get("http://x/").body("b")).contains("must not"));
        let odd = Method::from_bytes(b"PURGE").unwrap();
        assert!(err(HttpRequest::get("http://x/").method(odd.clone())).contains("unknown method"));
        assert!(plan(
            HttpRequest::get("http://x/")
                .method(odd)
                .allow_nonstandard_methods(true)
        )
        .is_ok());
        assert!(err(HttpRequest::get("http://x/").header("bad name", "v")).contains("header"));
        let p = plan(HttpRequest::get("https://x/")).unwrap();
        assert_eq!(
            (p.port, p.is_https(), p.pool_key()),
            (443, true, "https://x")
        );
        let p = plan(HttpRequest::get("https://x/").validate_cert(false)).unwrap();
        assert!(p.pool_key().starts_with("https://x#"), "{}", p.pool_key());
        let p = plan(HttpRequest::get("http://x:81/").validate_cert(false)).unwrap();
        assert_eq!(p.pool_key(), "http://x:81");
    }

    #[test]
    fn redirects_rewrite_method_and_credentials() {
        let mut p = plan(HttpRequest::post("http://a/x/y", "data").basic_auth("u", "p")).unwrap();
        let loc = HeaderValue::from_static("../z?q");
        p.redirect(StatusCode::SEE_OTHER, Some(&loc)).unwrap();
        assert_eq!((p.method.clone(), p.body.is_none()), (Method::GET, true));
        assert_eq!(p.url().as_str(), "http://a/z?q");
        assert!(p.headers.contains_key(AUTHORIZATION));
        let mut p = plan(HttpRequest::post("http://a/", "data").basic_auth("u", "p")).unwrap();
        p.redirect(
            StatusCode::PERMANENT_REDIRECT,
            Some(&HeaderValue::from_static("http://b:81/")),
        )
        .unwrap();
        assert_eq!(
            (p.method.clone(), p.body.as_deref()),
            (Method::POST, Some(&b"data"[..]))
        );
        assert!(!p.headers.contains_key(AUTHORIZATION));
        assert_eq!((p.key(), p.port), ("b:81", 81));
        let bad = HeaderValue::from_static("file:///etc/passwd");
        assert!(p.redirect(StatusCode::FOUND, Some(&bad)).is_err());
        let mut p = plan(HttpRequest::get("http://a/").max_redirects(0)).unwrap();
        let e = p.redirect(StatusCode::FOUND, Some(&loc)).unwrap_err();
        assert!(e.to_string().contains("too many redirects"));
    }
}
