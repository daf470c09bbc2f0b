//! Response compression (Tornado's `compress_response` / `GZipContentEncoding`).

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue};

use super::options::WebOptions;
use crate::http::server::Request;

/// True for content types worth compressing: `text/*` and the textual `application/*`
/// types (Tornado's list).
pub fn is_compressible(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/atom+xml"
                | "application/json"
                | "application/xhtml+xml"
                | "image/svg+xml"
        )
}

/// True if the request's `Accept-Encoding` allows gzip (`q=0` refuses it).
pub fn accepts_gzip(req: &Request) -> bool {
    req.headers.get_all(ACCEPT_ENCODING).iter().any(|v| {
        v.to_str().unwrap_or("").split(',').any(|item| {
            let mut it = item.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// Gzips `body` if the response type is compressible, it is at least
/// `compress_min_length` long, not already encoded, and the client accepts gzip; sets
/// `Content-Encoding` and `Vary: Accept-Encoding` accordingly.
pub(crate) fn maybe_gzip(
    req: &Request,
    headers: &mut HeaderMap,
    body: Bytes,
    options: &WebOptions,
) -> Bytes {
    let compressible = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_compressible);
    if !compressible || headers.contains_key(CONTENT_ENCODING) {
        return body;
    }
    add_vary_accept_encoding(headers);
    if body.len() < options.compress_min_length || !accepts_gzip(req) {
        return body;
    }
    match gzip(&body) {
        Some(z) => {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            headers.remove(http::header::CONTENT_LENGTH);
            Bytes::from(z)
        }
        None => body,
    }
}

#[cfg(feature = "gzip")]
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    // Level 6, as Tornado's GZipContentEncoding.
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::new(6),
    );
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

#[cfg(not(feature = "gzip"))]
fn gzip(_body: &[u8]) -> Option<Vec<u8>> {
    None
}

/// Marks the response as varying with `Accept-Encoding`.
pub(crate) fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(accept: &str) -> Request {
        let mut r = Request::for_test("GET", "/");
        r.headers
            .insert(ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
        r
    }

    #[test]
    fn accept_encoding_is_honoured() {
        assert!(accepts_gzip(&req("gzip")));
        assert!(accepts_gzip(&req("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&req("*")));
        assert!(!accepts_gzip(&req("gzip;q=0")));
        assert!(!accepts_gzip(&req("br, deflate")));
        assert!(!accepts_gzip(&Request::for_test("GET", "/")));
    }

    #[test]
    fn compressible_types() {
        assert!(is_compressible("text/html; charset=utf-8"));
        assert!(is_compressible("Application/JSON"));
        assert!(!is_compressible("image/png"));
        assert!(!is_compressible("application/octet-stream"));
    }
}
