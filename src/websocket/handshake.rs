//! The opening handshake (RFC 6455 §4): the accept key, the server's checks of an
//! upgrade request and the client's checks of the answer. Pure functions over header
//! maps.

use base64::Engine;
use http::HeaderMap;
use sha1::{Digest, Sha1};

use crate::error::{Error, Result};

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
///
/// ```
/// use squall::websocket::handshake::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // RFC 6455 §1.3
/// ```
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A fresh random `Sec-WebSocket-Key` (16 bytes from the OS's random source, base64).
pub fn new_key() -> String {
    let mut k = [0u8; 16];
    random_bytes(&mut k);
    base64::engine::general_purpose::STANDARD.encode(k)
}

/// Fills `buf` from the operating system's random source (`getrandom`). Should that
/// ever fail, the bytes come from a seeded PRNG instead of failing the connection.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        fastrand::fill(buf);
    }
}

/// A client frame's masking key: unpredictable, as RFC 6455 §5.3 asks.
pub(crate) fn mask_key() -> [u8; 4] {
    let mut k = [0u8; 4];
    random_bytes(&mut k);
    k
}

/// The comma-separated tokens of every `name` field, trimmed.
pub(crate) fn tokens<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> impl Iterator<Item = &'a str> + use<'a> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Joined values of every `name` field.
pub(crate) fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let v: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!v.is_empty()).then(|| v.join(", "))
}

/// Server side: checks an upgrade request as Tornado does and returns its key.
///
/// # Errors
/// [`Error::Http`] with the status to answer: 400 without `Upgrade: websocket`,
/// `Connection: upgrade` or a valid key, 426 for a version other than 13, 405 for a
/// method other than GET.
pub fn check_request(method: &http::Method, headers: &HeaderMap) -> Result<String> {
    if method != http::Method::GET {
        return Err(Error::http(405, "WebSocket upgrade needs GET"));
    }
    if !has_token(headers, "upgrade", "websocket") {
        return Err(Error::http(400, "Can \"Upgrade\" only to \"WebSocket\"."));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(Error::http(400, "\"Connection\" must be \"Upgrade\"."));
    }
    let version = headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some("13") {
        return Err(Error::http(426, "Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if !matches!(decoded, Ok(k) if k.len() == 16) {
        return Err(Error::http(400, "Missing or invalid Sec-WebSocket-Key"));
    }
    Ok(key.to_owned())
}

/// Tornado's default origin check: without `Origin` (not a browser) the request passes;
/// with one, its `host[:port]` must equal `Host` (case-insensitive).
///
/// ```
/// use squall::websocket::handshake::same_origin;
/// assert!(same_origin(Some("http://example.com:8888"), Some("example.com:8888")));
/// assert!(!same_origin(Some("http://evil.example"), Some("example.com")));
/// assert!(same_origin(None, Some("example.com")));
/// ```
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(h) = url.host_str() else {
        return false;
    };
    let origin_host = match url.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.to_owned(),
    };
    host.is_some_and(|host| origin_host.eq_ignore_ascii_case(host.trim()))
}

/// A client-side handshake failure: the fetch failed (Tornado's 599), it is no status
/// for anyone to answer.
fn fetch_error(message: &'static str) -> Error {
    Error::HttpFetch {
        message: message.into(),
    }
}

/// Client side: checks a `101` answer's `Upgrade`, `Connection` and
/// `Sec-WebSocket-Accept` against the `key` sent.
///
/// # Errors
/// [`Error::HttpFetch`] (a failed fetch: status 599) naming what is wrong.
pub fn check_response(headers: &HeaderMap, key: &str) -> Result<()> {
    if !has_token(headers, "upgrade", "websocket") {
        return Err(fetch_error("response lacks Upgrade: websocket"));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(fetch_error("response lacks Connection: upgrade"));
    }
    let accept = headers
        .get("sec-websocket-accept")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if accept != Some(accept_key(key).as_str()) {
        return Err(fetch_error("invalid Sec-WebSocket-Accept"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn status(r: Result<String>) -> u16 {
        match r {
            Err(Error::Http { status, .. }) => status,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_checks() {
        let ok = [
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let get = http::Method::GET;
        assert_eq!(
            check_request(&get, &headers(&ok)).unwrap(),
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert_eq!(
            status(check_request(&http::Method::POST, &headers(&ok))),
            405
        );
        assert_eq!(status(check_request(&get, &headers(&ok[1..]))), 400);
        assert_eq!(
            status(check_request(&get, &headers(&[ok[0], ok[2], ok[3]]))),
            400
        );
        assert_eq!(
            status(check_request(&get, &headers(&[ok[0], ok[1], ok[3]]))),
            426
        );
        let v8 = [ok[0], ok[1], ("sec-websocket-version", "8"), ok[3]];
        assert_eq!(status(check_request(&get, &headers(&v8))), 426);
        assert_eq!(status(check_request(&get, &headers(&ok[..3]))), 400);
        let short = [ok[0], ok[1], ok[2], ("sec-websocket-key", "c2hvcnQ=")];
        assert_eq!(status(check_request(&get, &headers(&short))), 400);
    }

    #[test]
    fn every_frame_gets_a_fresh_mask_key() {
        let keys: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| mask_key()).collect();
        assert!(keys.len() >= 998, "{} distinct of 1000", keys.len());
        assert_ne!(new_key(), new_key());
    }

    #[test]
    fn response_checks() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = headers(&[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ]);
        check_response(&good, key).unwrap();
        let err = check_response(&good, &new_key()).unwrap_err();
        assert!(matches!(err, Error::HttpFetch { .. }), "{err:?}");
        assert_eq!(err.http_status(), Some(599));
        let err = check_response(&headers(&[("connection", "Upgrade")]), key).unwrap_err();
        assert!(matches!(err, Error::HttpFetch { .. }), "{err:?}");
    }
}
