//! Cookies: parsing `Cookie`, formatting `Set-Cookie` with attributes, and Tornado's
//! signed values (`set_signed_cookie` / `get_signed_cookie`, format version 2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers then require `Secure`).
    None,
}

/// Attributes of a cookie being set (`Path=/` by default, nothing else).
///
/// ```
/// use squall::web::{CookieOptions, SameSite};
/// use std::time::Duration;
/// let o = CookieOptions::default().max_age(Duration::from_secs(60)).http_only(true)
///     .same_site(SameSite::Lax);
/// assert_eq!(o.to_header("sid", "abc").unwrap(),
///            "sid=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CookieOptions {
    /// `Path` (default `/`; `None` leaves it out).
    pub path: Option<String>,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Max-Age`.
    pub max_age: Option<Duration>,
    /// `Expires`.
    pub expires: Option<SystemTime>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            path: Some("/".to_string()),
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }
}

impl CookieOptions {
    /// Sets `Path`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
    /// Sets `Domain`.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
    /// Sets `Max-Age`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
    /// Sets `Expires`.
    pub fn expires(mut self, at: SystemTime) -> Self {
        self.expires = Some(at);
        self
    }
    /// Sets `Secure`.
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }
    /// Sets `HttpOnly`.
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }
    /// Sets `SameSite`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// The `Set-Cookie` value for `name=value` with these attributes.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `name` is not an HTTP token, or `value` or an
    /// attribute holds characters a cookie cannot carry (controls, space, `"`, `,`, `;`,
    /// `\`).
    pub fn to_header(&self, name: &str, value: &str) -> Result<String> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(Error::invalid_state(format!(
                "invalid cookie name {name:?}"
            )));
        }
        let octet = |b: u8| (0x21..0x7f).contains(&b) && !b"\",;\\".contains(&b);
        if !value.bytes().all(octet) {
            return Err(Error::invalid_state(format!(
                "invalid value for cookie {name}"
            )));
        }
        let mut out = format!("{name}={value}");
        let attr_ok = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';');
        if let Some(p) = &self.path {
            if !attr_ok(p) {
                return Err(Error::invalid_state("invalid cookie path"));
            }
            out.push_str("; Path=");
            out.push_str(p);
        }
        if let Some(d) = &self.domain {
            if !attr_ok(d) {
                return Err(Error::invalid_state("invalid cookie domain"));
            }
            out.push_str("; Domain=");
            out.push_str(d);
        }
        if let Some(at) = self.expires {
            out.push_str("; Expires=");
            out.push_str(&httpdate::fmt_http_date(at));
        }
        if let Some(age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(s) = self.same_site {
            out.push_str(match s {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        Ok(out)
    }
}

/// The cookies of a `Cookie` header as `(name, value)` pairs; quoted values are unquoted,
/// pieces without `=` are skipped (browsers' lenient reading, as Tornado's).
///
/// ```
/// let c = squall::web::parse_cookies("a=1; b=\"x y\"; junk; c=");
/// assert_eq!(c, vec![("a", "1"), ("b", "x y"), ("c", "")]);
/// ```
pub fn parse_cookies(header: &str) -> Vec<(&str, &str)> {
    header
        .split(';')
        .filter_map(|piece| {
            let (k, v) = piece.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim(), v))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Whole seconds since the Unix epoch (0 before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn signature(secret: &[u8], signed: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed);
    mac
}

/// Signs `value` for cookie `name` at `timestamp` (Unix seconds) in Tornado's version-2
/// format, `2|1:0|10:<timestamp>|<len>:<name>|<len>:<base64 value>|<hex HMAC-SHA256>`,
/// readable by Tornado's `get_signed_cookie` with the same secret and the other way round.
///
/// ```
/// use squall::web::{create_signed_value, decode_signed_value};
/// let v = create_signed_value(b"secret", "user", b"alice", 1_700_000_000);
/// assert!(v.starts_with("2|1:0|10:1700000000|4:user|8:YWxpY2U=|"));
/// assert_eq!(decode_signed_value(b"secret", "user", &v, 31, 1_700_000_100).as_deref(),
///            Some(&b"alice"[..]));
/// assert_eq!(decode_signed_value(b"other", "user", &v, 31, 1_700_000_100), None);
/// ```
pub fn create_signed_value(secret: &[u8], name: &str, value: &[u8], timestamp: u64) -> String {
    let field = |s: &str| format!("{}:{}", s.len(), s);
    let to_sign = format!(
        "2|{}|{}|{}|{}|",
        field("0"),
        field(&timestamp.to_string()),
        field(name),
        field(&BASE64.encode(value)),
    );
    let sig = signature(secret, to_sign.as_bytes())
        .finalize()
        .into_bytes();
    let mut out = to_sign;
    for b in sig {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks a version-2 signed value for cookie `name` and returns what was signed, or
/// `None` when it is malformed, signed with another secret or for another name, or
/// older than `max_age_days` at `now` (Unix seconds). The signature is compared in
/// constant time.
pub fn decode_signed_value(
    secret: &[u8],
    name: &str,
    value: &str,
    max_age_days: u64,
    now: u64,
) -> Option<Vec<u8>> {
    let rest = value.strip_prefix("2|")?;
    let (_key_version, rest) = consume_field(rest)?;
    let (timestamp, rest) = consume_field(rest)?;
    let (name_field, rest) = consume_field(rest)?;
    let (value_field, passed_sig) = consume_field(rest)?;
    let signed = &value[..value.len() - passed_sig.len()];
    let sig = decode_hex(passed_sig)?;
    signature(secret, signed.as_bytes())
        .verify_slice(&sig)
        .ok()?;
    if name_field != name {
        return None;
    }
    let timestamp: u64 = timestamp.parse().ok()?;
    if timestamp < now.saturating_sub(max_age_days.saturating_mul(86_400)) {
        return None; // expired
    }
    BASE64.decode(value_field).ok()
}

/// `<len>:<text>|rest` → `(text, rest)`.
fn consume_field(s: &str) -> Option<(&str, &str)> {
    let (len, rest) = s.split_once(':')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = len.parse().ok()?;
    let field = rest.get(..n)?;
    let rest = rest.get(n..)?.strip_prefix('|')?;
    Some((field, rest))
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

/// Signs with the loop's current time `now` ([`create_signed_value`]).
pub(crate) fn sign_now(secret: &[u8], name: &str, value: &[u8], now: u64) -> String {
    create_signed_value(secret, name, value, now)
}

/// Checks against the loop's current time `now` ([`decode_signed_value`]).
pub(crate) fn verify_now(
    secret: &[u8],
    name: &str,
    value: &str,
    max_age_days: u64,
    now: u64,
) -> Option<Vec<u8>> {
    decode_signed_value(secret, name, value, max_age_days, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Tornado 6 (`create_signed_value("secret", "user", "alice", clock=lambda:
    /// 1700000000)`), so the two interoperate.
    const TORNADO: &str = "2|1:0|10:1700000000|4:user|8:YWxpY2U=|625e353ffbe75bfe6bf85c804055953dd5ee49762f0b4717197c3fe832cb2aca";

    #[test]
    fn round_trip_and_rejections() {
        let v = create_signed_value(b"k", "n", b"va|lue;=", 1000);
        assert!(v.starts_with("2|1:0|4:1000|1:n|12:dmF8bHVlOz0=|"), "{v}");
        assert_eq!(
            decode_signed_value(b"k", "n", &v, 31, 1000).as_deref(),
            Some(&b"va|lue;="[..])
        );
        assert_eq!(decode_signed_value(b"k", "other", &v, 31, 1000), None);
        assert_eq!(decode_signed_value(b"x", "n", &v, 31, 1000), None);
        // Expired: older than max_age_days.
        assert_eq!(decode_signed_value(b"k", "n", &v, 1, 1000 + 86_401), None);
        assert!(decode_signed_value(b"k", "n", &v, 1, 1000 + 86_400).is_some());
        // Any tampered byte fails.
        for i in 0..v.len() {
            let mut t = v.clone().into_bytes();
            t[i] ^= 1;
            if let Ok(t) = String::from_utf8(t) {
                assert_eq!(
                    decode_signed_value(b"k", "n", &t, 31, 1000),
                    None,
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn same_bytes_as_tornado() {
        let v = create_signed_value(b"secret", "user", b"alice", 1_700_000_000);
        assert_eq!(v, TORNADO);
        assert_eq!(
            decode_signed_value(b"secret", "user", TORNADO, 31, 1_700_000_000).as_deref(),
            Some(&b"alice"[..])
        );
    }

    #[test]
    fn malformed_values_are_none() {
        for v in [
            "",
            "2|",
            "1|1:0",
            "2|x:0|",
            "2|1:0|99:1|",
            "2|1:0|1:1|1:n|1:a|zz",
            "2|+1:0|1:1|1:n|1:a|",
        ] {
            assert_eq!(decode_signed_value(b"k", "n", v, 31, 0), None, "{v}");
        }
    }

    #[test]
    fn set_cookie_attributes_and_validation() {
        let at = UNIX_EPOCH + Duration::from_secs(784_887_151);
        let o = CookieOptions::default()
            .domain("example.com")
            .expires(at)
            .secure(true)
            .same_site(SameSite::Strict);
        assert_eq!(
            o.to_header("a", "b").unwrap(),
            "a=b; Path=/; Domain=example.com; Expires=Tue, 15 Nov 1994 08:12:31 GMT; Secure; SameSite=Strict"
        );
        assert!(o.to_header("a b", "x").is_err());
        assert!(o.to_header("", "x").is_err());
        assert!(o.to_header("a", "x;y").is_err());
        assert!(o.to_header("a", "x\r\nSet-Cookie: z").is_err());
        assert!(CookieOptions::default()
            .path("/x;y")
            .to_header("a", "b")
            .is_err());
    }
}
