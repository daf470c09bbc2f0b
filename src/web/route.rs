//! Path patterns with named parameters: `/users/{id}`, `/static/{*path}`.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Must equal this text.
    Literal(String),
    /// One non-empty segment, bound to this name.
    Param(String),
    /// The rest of the path (possibly empty, `/` included), bound to this name.
    Rest(String),
}

/// A compiled path pattern. Segments are literal text, `{name}` (one non-empty segment)
/// or, last, `{*name}` (the rest of the path). Parameters are percent-decoded.
///
/// ```
/// use squall::web::Pattern;
/// let p = Pattern::parse("/users/{id}/files/{*path}").unwrap();
/// let params = p.matches("/users/7/files/a/b%20c.txt").unwrap();
/// assert_eq!(params, vec![("id".to_string(), "7".to_string()),
///                         ("path".to_string(), "a/b c.txt".to_string())]);
/// assert!(p.matches("/users/7").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl Pattern {
    /// Compiles `pattern`, which must start with `/`.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a pattern without a leading `/`, an unclosed or empty
    /// `{}`, a parameter mixed with text in one segment, or `{*name}` before the end.
    pub fn parse(pattern: &str) -> Result<Pattern> {
        let bad = |why: &str| Error::invalid_state(format!("route pattern {pattern:?}: {why}"));
        let rest = pattern
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with /"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = rest.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(inner) = part.strip_prefix('{') {
                let name = inner
                    .strip_suffix('}')
                    .ok_or_else(|| bad("a parameter must be a whole segment: {name}"))?;
                if let Some(name) = name.strip_prefix('*') {
                    if i + 1 != parts.len() {
                        return Err(bad("{*name} must be the last segment"));
                    }
                    if name.is_empty() {
                        return Err(bad("empty parameter name"));
                    }
                    segments.push(Segment::Rest(name.to_string()));
                } else {
                    if name.is_empty() || name.contains(['{', '}']) {
                        return Err(bad("bad parameter name"));
                    }
                    segments.push(Segment::Param(name.to_string()));
                }
            } else if part.contains(['{', '}']) {
                return Err(bad("a parameter must be a whole segment: {name}"));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(Pattern {
            source: pattern.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parameters if `path` (still percent-encoded, starting with `/`) matches.
    /// Literal segments are compared after percent-decoding, so `/a%62` matches `/ab`.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if let Segment::Rest(name) = seg {
                params.push((name.clone(), decode(rest)?));
                return Some(params);
            }
            let (part, tail) = match rest.split_once('/') {
                Some((p, t)) => (p, Some(t)),
                None => (rest, None),
            };
            let decoded = decode(part)?;
            match seg {
                Segment::Literal(lit) if *lit == decoded => {}
                Segment::Param(name) if !decoded.is_empty() => params.push((name.clone(), decoded)),
                _ => return None,
            }
            let more = i + 1 < self.segments.len();
            let rest_follows = matches!(self.segments.get(i + 1), Some(Segment::Rest(_)));
            rest = match tail {
                Some(t) if more => t,
                None if !more || rest_follows => "",
                _ => return None,
            };
        }
        Some(params)
    }
}

impl Pattern {
    /// The path this pattern matches with its parameters set to `args`, in order
    /// (Tornado's `reverse_url`): each is percent-encoded (a `{*rest}` one keeps its `/`).
    ///
    /// ```
    /// use squall::web::Pattern;
    /// let p = Pattern::parse("/users/{id}/files/{*path}").unwrap();
    /// assert_eq!(p.reverse(&["j d", "a/b?.txt"]).unwrap(), "/users/j%20d/files/a/b%3F.txt");
    /// assert!(p.reverse(&["7"]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidState`] when `args` does not hold one value per parameter, or a
    /// value for a `{name}` parameter is empty.
    pub fn reverse(&self, args: &[&str]) -> Result<String> {
        let wanted = self
            .segments
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .count();
        if args.len() != wanted {
            return Err(Error::invalid_state(format!(
                "route {:?} takes {wanted} arguments, got {}",
                self.source,
                args.len()
            )));
        }
        let mut out = String::new();
        let mut args = args.iter();
        for seg in &self.segments {
            out.push('/');
            match seg {
                Segment::Literal(lit) => out.push_str(lit),
                Segment::Param(name) => {
                    let v = args.next().copied().unwrap_or("");
                    if v.is_empty() {
                        return Err(Error::invalid_state(format!(
                            "route {:?}: empty value for {{{name}}}",
                            self.source
                        )));
                    }
                    out.extend(utf8_percent_encode(v, SEGMENT));
                }
                Segment::Rest(_) => {
                    let v = args.next().copied().unwrap_or("");
                    out.extend(utf8_percent_encode(v, REST));
                }
            }
        }
        Ok(out)
    }
}

/// Characters escaped in a path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`SEGMENT`], keeping `/` (the rest of a path).
const REST: &AsciiSet = &SEGMENT.remove(b'/');

/// Percent-decodes `s` as UTF-8 (`None` if it is not).
fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> Option<Vec<(String, String)>> {
        Pattern::parse(p).unwrap().matches(path)
    }

    #[test]
    fn literal_paths_match_exactly() {
        assert_eq!(m("/", "/"), Some(vec![]));
        assert_eq!(m("/", "/a"), None);
        assert_eq!(m("/a/b", "/a/b"), Some(vec![]));
        assert_eq!(m("/a/b", "/a/b/"), None);
        assert_eq!(m("/a/b", "/a"), None);
        assert_eq!(m("/a/b", "/a/bc"), None);
        assert_eq!(m("/a%20b", "/a%20b"), None, "the pattern is not decoded");
        assert_eq!(m("/ab", "/a%62"), Some(vec![]));
    }

    #[test]
    fn params_bind_one_decoded_segment() {
        let got = m("/users/{id}", "/users/J%C3%BCrgen").unwrap();
        assert_eq!(got, vec![("id".into(), "Jürgen".into())]);
        assert_eq!(m("/users/{id}", "/users/"), None, "empty segment");
        assert_eq!(m("/users/{id}", "/users/a/b"), None);
        assert_eq!(m("/users/{id}", "/users/%ff"), None, "not UTF-8");
        let got = m("/{a}/x/{b}", "/1/x/2").unwrap();
        assert_eq!(
            got,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn rest_binds_the_tail() {
        assert_eq!(
            m("/static/{*p}", "/static/a/b.css").unwrap(),
            vec![("p".into(), "a/b.css".into())]
        );
        assert_eq!(
            m("/static/{*p}", "/static/").unwrap(),
            vec![("p".into(), "".into())]
        );
        assert_eq!(
            m("/static/{*p}", "/static").unwrap(),
            vec![("p".into(), "".into())]
        );
        assert_eq!(
            m("/static/{*p}", "/static/%2e%2e/x").unwrap(),
            vec![("p".into(), "../x".into())]
        );
        assert_eq!(m("/static/{*p}", "/other/a"), None);
    }

    #[test]
    fn reverse_fills_parameters_and_round_trips() {
        let p = Pattern::parse("/entry/{slug}/{*rest}").unwrap();
        let url = p.reverse(&["a/b é", "x/y z"]).unwrap();
        assert_eq!(url, "/entry/a%2Fb%20%C3%A9/x/y%20z");
        assert_eq!(
            p.matches(&url).unwrap(),
            vec![
                ("slug".into(), "a/b é".into()),
                ("rest".into(), "x/y z".into())
            ]
        );
        assert_eq!(Pattern::parse("/").unwrap().reverse(&[]).unwrap(), "/");
        assert!(p.reverse(&["", "x"]).is_err());
        assert!(p.reverse(&["a", "b", "c"]).is_err());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for p in ["", "a", "/{", "/{}", "/x{id}", "/{*}", "/{*a}/b", "/{a}b"] {
            assert!(Pattern::parse(p).is_err(), "{p:?}");
        }
    }
}
