//! Automatic entity tags (Tornado's `compute_etag` / `check_etag_header`).

use http::header::{ETAG, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue};
use sha1::{Digest, Sha1};

use crate::http::server::Request;

/// Sets an `ETag` for `body` unless the handler set one, and tells whether it matches
/// the request's `If-None-Match` (then a `304` is due).
pub(crate) fn not_modified(req: &Request, headers: &mut HeaderMap, body: &[u8]) -> bool {
    if !headers.contains_key(ETAG) {
        let digest = Sha1::digest(body);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{hex}\"")) {
            headers.insert(ETAG, v);
        }
    }
    let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    req.headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| matches(v, etag))
}

/// Whether an `If-None-Match` value matches `etag` (`*`, or weak comparison).
fn matches(if_none_match: &str, etag: &str) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = weak(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || weak(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn weak_and_list_comparison() {
        assert!(matches("\"a\"", "\"a\""));
        assert!(matches("W/\"a\"", "\"a\""));
        assert!(matches("\"x\", W/\"a\"", "\"a\""));
        assert!(matches("*", "\"a\""));
        assert!(!matches("\"b\"", "\"a\""));
        assert!(!matches("", "\"a\""));
    }
}
