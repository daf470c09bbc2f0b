//! Cross-site request forgery protection, Tornado's `xsrf_cookies`: an `_xsrf` cookie
//! holding a random token, and the same token, masked afresh on every page (version 2:
//! `2|<mask hex>|<masked token hex>|<timestamp>`), sent back with each form or as an
//! `X-XSRFToken` / `X-CSRFToken` header. Readable and written as Tornado 6 does, so one
//! site may be served by both.

use crate::error::{Error, Result};

/// Name of the cookie and of the form field.
pub const XSRF_COOKIE: &str = "_xsrf";

/// A token in its raw form, read from a cookie or a submitted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawToken {
    /// The random bytes.
    pub(crate) token: Vec<u8>,
    /// Unix seconds when it was made (not known for version 1: now).
    pub(crate) timestamp: u64,
}

/// Reads a version-2 (`2|mask|masked|timestamp`) or version-1 (hex, or the raw text)
/// token; `None` for a malformed one or an unknown version (Tornado's
/// `_decode_xsrf_token`).
pub(crate) fn decode(value: &str, now: u64) -> Option<RawToken> {
    if let Some((version, rest)) = value.split_once('|') {
        let digits = !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && !version.starts_with('0');
        if digits {
            if version != "2" {
                return None;
            }
            let mut parts = rest.split('|');
            let (mask, masked, ts) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let mask = decode_hex(mask)?;
            if mask.is_empty() {
                return None;
            }
            let masked = decode_hex(masked)?;
            let timestamp = ts.trim().parse::<i64>().ok()?.max(0) as u64;
            return Some(RawToken {
                token: apply_mask(&mask, &masked),
                timestamp,
            });
        }
    }
    let token = decode_hex(value).unwrap_or_else(|| value.as_bytes().to_vec());
    Some(RawToken {
        token,
        timestamp: now,
    })
}

/// A fresh random token made at `now`.
pub(crate) fn new_token(now: u64) -> RawToken {
    let mut token = vec![0u8; 16];
    fill_random(&mut token);
    RawToken {
        token,
        timestamp: now,
    }
}

/// The token masked with a fresh random mask, in version-2 form.
pub(crate) fn mask(raw: &RawToken) -> String {
    let mut mask = [0u8; 4];
    fill_random(&mut mask);
    format!(
        "2|{}|{}|{}",
        hex(&mask),
        hex(&apply_mask(&mask, &raw.token)),
        raw.timestamp
    )
}

/// Checks a submitted token against the cookie's (Tornado's `check_xsrf_cookie`).
///
/// # Errors
/// [`Error::Http`] 403 when the token is missing, malformed or does not match.
pub(crate) fn check(submitted: Option<&str>, expected: &RawToken, now: u64) -> Result<()> {
    let submitted = submitted
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::http(403, "'_xsrf' argument missing from POST"))?;
    let token = decode(submitted, now)
        .filter(|t| !t.token.is_empty())
        .ok_or_else(|| Error::http(403, "'_xsrf' argument has invalid format"))?;
    if !constant_time_eq(&token.token, &expected.token) {
        return Err(Error::http(403, "XSRF cookie does not match POST argument"));
    }
    Ok(())
}

fn apply_mask(mask: &[u8], data: &[u8]) -> Vec<u8> {
    data.iter()
        .zip(mask.iter().cycle())
        .map(|(d, m)| d ^ m)
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // No OS randomness: fastrand is not a CSPRNG, but better than a fixed token.
        log::error!("no OS randomness for an XSRF token");
        buf.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_but_decode_to_the_same_token() {
        let raw = new_token(1_700_000_000);
        let (a, b) = (mask(&raw), mask(&raw));
        assert!(a.starts_with("2|") && a.ends_with("|1700000000"), "{a}");
        assert_eq!(decode(&a, 0), Some(raw.clone()));
        assert_eq!(decode(&b, 0).unwrap().token, raw.token);
        assert!(check(Some(&a), &raw, 0).is_ok());
        assert!(check(Some(&b), &raw, 0).is_ok());
    }

    #[test]
    fn a_known_tornado_token_decodes() {
        // mask 01020304, token 00112233 → masked 01132137.
        let t = decode("2|01020304|01132137|1700000000", 0).unwrap();
        assert_eq!(t.token, [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(t.timestamp, 1_700_000_000);
        // Version 1: hex, or the text itself.
        assert_eq!(decode("00ff", 5).unwrap().token, [0, 255]);
        assert_eq!(decode("xyz", 5).unwrap().token, b"xyz");
    }

    #[test]
    fn bad_tokens_are_403() {
        let raw = new_token(1);
        let status = |s: Option<&str>| match check(s, &raw, 0) {
            Err(Error::Http { status, .. }) => status,
            other => panic!("{other:?}"),
        };
        for s in [
            None,
            Some(""),
            Some("3|aa|bb|1"),
            Some("2|zz|00|1"),
            Some("2|01|00"),
        ] {
            assert_eq!(status(s), 403, "{s:?}");
        }
        let other = mask(&new_token(1));
        assert_eq!(status(Some(&other)), 403);
    }
}
