//! A small bounded `multipart/form-data` parser (sans-IO: bytes in, parts out).
//!
//! The body is already buffered by the server (whose `max_body_size` bounds it); this
//! parser bounds what it derives from it: the number of parts and the size of each part's
//! head. Part bodies are zero-copy slices of the request body.

use bytes::Bytes;

use crate::error::{Error, Result};

/// Limits of `multipart/form-data` bodies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MultipartLimits {
    /// Most parts (default 100).
    pub max_parts: usize,
    /// Largest head of one part (default 8 KiB).
    pub max_part_header_size: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits {
            max_parts: 100,
            max_part_header_size: 8 * 1024,
        }
    }
}

/// An uploaded file from a `multipart/form-data` body (Tornado's `HTTPFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadedFile {
    /// The file name the client sent (untrusted: never use it as a path as it is).
    pub filename: String,
    /// The part's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub body: Bytes,
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` of its `Content-Disposition: form-data`.
    pub name: String,
    /// The `filename`, for file parts.
    pub filename: Option<String>,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Its bytes.
    pub body: Bytes,
}

/// The `boundary` parameter of a `multipart/form-data` content type (quotes removed).
///
/// ```
/// use squall::web::multipart::boundary;
/// assert_eq!(boundary("multipart/form-data; boundary=\"ab c\""), Some("ab c"));
/// assert_eq!(boundary("multipart/form-data"), None);
/// ```
pub fn boundary(content_type: &str) -> Option<&str> {
    let b = content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim())
    })?;
    let b = b
        .strip_prefix('"')
        .and_then(|b| b.strip_suffix('"'))
        .unwrap_or(b);
    // RFC 2046: 1 to 70 characters.
    (!b.is_empty() && b.len() <= 70).then_some(b)
}

fn bad(why: &str) -> Error {
    Error::http(400, format!("malformed multipart body: {why}"))
}

/// Position of `needle` in `hay` at or after `from` (linear time, whatever the input).
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| from + i)
}

/// Splits `body` into its parts.
///
/// ```
/// use bytes::Bytes;
/// use squall::web::multipart::{parse, MultipartLimits};
/// let body = Bytes::from_static(b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xx--\r\n");
/// let parts = parse(&body, "xx", &MultipartLimits::default()).unwrap();
/// assert_eq!(parts[0].name, "a");
/// assert_eq!(&parts[0].body[..], b"1");
/// ```
///
/// # Errors
/// [`Error::Http`] 400 for a body that is not well-formed (no closing delimiter, a part
/// without `Content-Disposition: form-data; name=...`, a head over the limit, more parts
/// than allowed).
pub fn parse(body: &Bytes, boundary: &str, limits: &MultipartLimits) -> Result<Vec<Part>> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let next_delim = format!("\r\n--{boundary}");
    let next_delim = next_delim.as_bytes();
    // The first delimiter may follow a preamble.
    let mut pos = if body.starts_with(delim) {
        delim.len()
    } else {
        find(body, next_delim, 0).ok_or_else(|| bad("no boundary"))? + next_delim.len()
    };
    let mut parts = Vec::new();
    loop {
        let after = &body[pos..];
        if after.starts_with(b"--") {
            return Ok(parts); // closing delimiter; the epilogue is ignored
        }
        // Transport padding (spaces, tabs) may precede the line end.
        let pad = after
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !after[pad..].starts_with(b"\r\n") {
            return Err(bad("no line end after a boundary"));
        }
        pos += pad + 2;
        if parts.len() == limits.max_parts {
            return Err(Error::http(400, "too many parts in the multipart body"));
        }
        let window_end = body.len().min(pos + limits.max_part_header_size + 4);
        let head_end = if body[pos..].starts_with(b"\r\n") {
            pos - 2 // a part without fields: its head is empty
        } else {
            find(&body[..window_end], b"\r\n\r\n", pos)
                .ok_or_else(|| bad("part head too large or unterminated"))?
        };
        let head = std::str::from_utf8(&body[pos..head_end.max(pos)])
            .map_err(|_| bad("part head is not UTF-8"))?;
        let body_start = head_end + 4;
        let body_end =
            find(body, next_delim, body_start).ok_or_else(|| bad("no closing boundary"))?;
        parts.push(part(head, body.slice(body_start..body_end))?);
        pos = body_end + next_delim.len();
    }
}

fn part(head: &str, body: Bytes) -> Result<Part> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad("part header without ':'"))?;
        let v = v.trim();
        if k.trim().eq_ignore_ascii_case("content-disposition") {
            let mut params = split_params(v).into_iter();
            if !params
                .next()
                .is_some_and(|(d, _)| d.eq_ignore_ascii_case("form-data"))
            {
                return Err(bad("part is not form-data"));
            }
            for (k, v) in params {
                if k.eq_ignore_ascii_case("name") {
                    name = Some(v);
                } else if k.eq_ignore_ascii_case("filename") {
                    filename = Some(v);
                }
            }
        } else if k.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(v.to_string());
        }
    }
    Ok(Part {
        name: name.ok_or_else(|| bad("part without a name"))?,
        filename,
        content_type,
        body,
    })
}

/// Splits `form-data; name="a;b"; filename=x` into `("form-data", ""), ("name", "a;b"),
/// ("filename", "x")`, honouring quotes and backslash escapes.
fn split_params(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = v.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
                while chars.peek().is_some_and(|&c| c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        out.push((key.trim().to_string(), value));
        if chars.next().is_none() {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &'static [u8]) -> Result<Vec<Part>> {
        parse(&Bytes::from_static(body), "b0", &MultipartLimits::default())
    }

    #[test]
    fn fields_and_files_are_split() {
        let parts = p(b"preamble\r\n--b0\r\n\
            Content-Disposition: form-data; name=\"title\"\r\n\r\n\
            hello\r\nworld\r\n\
            --b0\r\n\
            Content-Disposition: form-data; name=\"up\"; filename=\"a \\\"q\\\";.txt\"\r\n\
            Content-Type: text/plain\r\n\r\n\
            --b0 is not a boundary here\r\n\
            --b0--\r\nepilogue")
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "title");
        assert_eq!(parts[0].filename, None);
        assert_eq!(&parts[0].body[..], b"hello\r\nworld");
        assert_eq!(parts[1].name, "up");
        assert_eq!(parts[1].filename.as_deref(), Some("a \"q\";.txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(&parts[1].body[..], b"--b0 is not a boundary here");
    }

    #[test]
    fn empty_part_bodies_and_empty_forms() {
        let parts = p(b"--b0\r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--b0--").unwrap();
        assert_eq!(parts[0].name, "e");
        assert!(parts[0].body.is_empty());
        assert!(p(b"--b0--\r\n").unwrap().is_empty());
    }

    #[test]
    fn malformed_bodies_are_400() {
        let cases: &[&[u8]] = &[
            b"",
            b"no boundary at all",
            b"--b0\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated",
            b"--b0\r\nContent-Disposition: form-data; name=a\r\nno blank line",
            b"--b0\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b0--",
            b"--b0\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0--",
            b"--b0\r\nno colon\r\n\r\nx\r\n--b0--",
            b"--b0junk",
            b"--b0\r\n\xff: x\r\n\r\nx\r\n--b0--",
        ];
        for body in cases {
            let err = p(body).unwrap_err();
            assert!(
                matches!(err, Error::Http { status: 400, .. }),
                "{body:?}: {err}"
            );
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = MultipartLimits {
            max_parts: 1,
            max_part_header_size: 64,
        };
        let two = Bytes::from_static(
            b"--b0\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b0\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--b0--",
        );
        assert!(parse(&two, "b0", &limits).is_err());
        let mut big = b"--b0\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 100));
        big.extend_from_slice(b"\r\n\r\n1\r\n--b0--");
        assert!(parse(&Bytes::from(big), "b0", &limits).is_err());
    }

    #[test]
    fn random_bodies_never_panic() {
        let seed = b"--b0\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n\r\nxy\r\n--b0--\r\n";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let cut = (state % seed.len() as u64) as usize;
            let mut body = seed[..cut].to_vec();
            body.push((state >> 32) as u8);
            body.extend_from_slice(&seed[cut..]);
            let _ = parse(&Bytes::from(body), "b0", &MultipartLimits::default());
        }
    }
}
