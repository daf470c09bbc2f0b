//! Decoded request arguments: query string and form bodies (Tornado's `get_argument`).

use bytes::Bytes;

use super::multipart::{self, MultipartLimits, UploadedFile};
use crate::error::{Error, Result};

/// Limits on form bodies, part of [`WebOptions`](super::WebOptions).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FormLimits {
    /// Most arguments (query + body) decoded per request (default 1 000); beyond: 400.
    pub max_fields: usize,
    /// Limits of `multipart/form-data` bodies.
    pub multipart: MultipartLimits,
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits {
            max_fields: 1000,
            multipart: MultipartLimits::default(),
        }
    }
}

/// The decoded arguments of one request: query and body separately, files apart.
#[derive(Debug, Default, Clone)]
pub struct Arguments {
    /// `(name, value)` from the query string, in order.
    pub query: Vec<(String, String)>,
    /// `(name, value)` from a form body, in order.
    pub body: Vec<(String, String)>,
    /// Files of a `multipart/form-data` body, by field name, in order.
    pub files: Vec<(String, UploadedFile)>,
}

impl Arguments {
    /// Decodes the query string and, by `content_type`, a form body.
    ///
    /// # Errors
    /// [`Error::Http`] 400 when there are more than `limits.max_fields` arguments or the
    /// multipart body is malformed.
    pub fn decode(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &Bytes,
        limits: &FormLimits,
    ) -> Result<Arguments> {
        let mut args = Arguments::default();
        if let Some(q) = query {
            args.query = decode_urlencoded(q.as_bytes(), limits.max_fields)?;
        }
        let Some(ct) = content_type else {
            return Ok(args);
        };
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let left = limits.max_fields - args.query.len();
            args.body = decode_urlencoded(body, left)?;
        } else if mime.eq_ignore_ascii_case("multipart/form-data") {
            let boundary = multipart::boundary(ct)
                .ok_or_else(|| Error::http(400, "multipart body without a boundary"))?;
            let mut mp = limits.multipart.clone();
            mp.max_parts = mp.max_parts.min(limits.max_fields - args.query.len());
            for part in multipart::parse(body, boundary, &mp)? {
                match part.filename {
                    Some(filename) => args.files.push((
                        part.name,
                        UploadedFile {
                            filename,
                            content_type: part.content_type,
                            body: part.body,
                        },
                    )),
                    None => {
                        let value = String::from_utf8(part.body.to_vec()).map_err(|_| {
                            Error::http(400, format!("argument {} is not UTF-8", part.name))
                        })?;
                        args.body.push((part.name, value));
                    }
                }
            }
        }
        Ok(args)
    }

    /// Every value of `name`, query first, then body.
    pub fn all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n
    where
        'a: 'n,
    {
        self.query
            .iter()
            .chain(self.body.iter())
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `name` (Tornado's rule: a later value overrides), query or body.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.all(name).last()
    }
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space, invalid UTF-8 replaced),
/// refusing more than `max` pairs. Empty pairs (`a=1&&b=2`) are skipped.
fn decode_urlencoded(input: &[u8], max: usize) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(input) {
        if out.len() == max {
            return Err(Error::http(400, "too many arguments"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_urlencoded_body_are_decoded() {
        let body = Bytes::from_static(b"body=hello+w%C3%B6rld&a=2");
        let args = Arguments::decode(
            Some("a=1&x=%2e%2e&flag"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            &body,
            &FormLimits::default(),
        )
        .unwrap();
        assert_eq!(args.last("body"), Some("hello wörld"));
        assert_eq!(args.all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(args.last("a"), Some("2"));
        assert_eq!(args.last("x"), Some(".."));
        assert_eq!(args.last("flag"), Some(""));
        assert_eq!(args.last("nope"), None);
    }

    #[test]
    fn other_content_types_leave_the_body_alone() {
        let body = Bytes::from_static(b"a=1");
        let args = Arguments::decode(
            None,
            Some("application/json"),
            &body,
            &FormLimits::default(),
        )
        .unwrap();
        assert!(args.body.is_empty());
    }

    #[test]
    fn too_many_fields_is_400() {
        let limits = FormLimits {
            max_fields: 3,
            ..FormLimits::default()
        };
        let body = Bytes::from_static(b"c=1&d=2");
        let err = Arguments::decode(
            Some("a=1&b=2"),
            Some("application/x-www-form-urlencoded"),
            &body,
            &limits,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Http { status: 400, .. }), "{err}");
    }
}
