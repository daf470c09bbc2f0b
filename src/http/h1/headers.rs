//! [`Headers`]: a request's header fields, kept as positions in the head's bytes until
//! someone looks at them, then as an [`http::HeaderMap`] whose storage is reused by later
//! requests.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::framing::RawField;
use super::header_pool;

/// A request's header fields: an [`http::HeaderMap`] (everything a `HeaderMap` offers
/// works on it, through `Deref`).
///
/// The server parses and checks every field as the head arrives, but builds the map only
/// when the fields are first read: until then they are positions in the head's bytes, so
/// a handler that never looks at the headers costs nothing for them. The map's storage
/// goes back to the server when the request is dropped, to hold the fields of a later
/// request, so a keep-alive request costs no allocation for its header fields.
///
/// ```
/// # let mut req = squall::http::Request::for_test("GET", "/");
/// req.headers.insert("x-trace", "1".parse().unwrap());
/// assert_eq!(req.headers["x-trace"], "1");
/// assert_eq!(req.header("x-trace"), Some("1"));
/// for (name, value) in &req.headers {
///     assert_eq!((name.as_str(), value.as_bytes()), ("x-trace", &b"1"[..]));
/// }
/// // A plain `HeaderMap` of its own (the storage then leaves with it).
/// let map: http::HeaderMap = req.headers.take();
/// assert_eq!(map.len(), 1);
/// assert!(req.headers.is_empty());
/// ```
#[doc(alias = "HTTPHeaders")]
#[derive(Default, Clone)]
pub struct Headers {
    /// The map, once built (or given).
    map: OnceLock<Box<HeaderMap>>,
    /// Until then: the head's bytes and where each field sits in them (checked already).
    head: Bytes,
    fields: Vec<RawField>,
}

impl Headers {
    /// Takes the fields out as a plain [`HeaderMap`], leaving these empty.
    pub fn take(&mut self) -> HeaderMap {
        let map = std::mem::take(&mut **self);
        self.clear();
        map
    }

    /// Removes every field; the storage is kept for the next fields.
    pub fn clear(&mut self) {
        self.head = Bytes::new();
        self.fields.clear();
        if let Some(map) = self.map.take() {
            header_pool::give(map);
        }
    }

    /// Empties these fields and returns the list to fill with positions in a head's
    /// bytes (checked by the parser: names are tokens of at most 65535 bytes, values
    /// have no control character but tab); then [`set_head`](Self::set_head).
    pub(super) fn raw_fields(&mut self) -> &mut Vec<RawField> {
        self.clear();
        if self.fields.capacity() == 0 {
            self.fields = header_pool::take_fields();
        }
        &mut self.fields
    }

    /// The bytes the positions of [`raw_fields`](Self::raw_fields) point into.
    pub(super) fn set_head(&mut self, head: Bytes) {
        self.head = head;
    }

    fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = header_pool::take();
            build_map(&self.head, &self.fields, &mut map);
            map
        })
    }
}

/// Fills `map` (empty) from checked raw fields, sharing `head`'s bytes for values.
fn build_map(head: &Bytes, fields: &[RawField], map: &mut HeaderMap) {
    map.reserve(fields.len());
    for f in fields {
        let (ns, nl, vs, vl) = (f.0 as usize, f.1 as usize, f.2 as usize, f.3 as usize);
        let name = HeaderName::from_bytes(&head[ns..ns + nl]);
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl));
        // The parser checked both with the same rules; a field failing here would be a
        // parser bug, and is left out rather than trusted.
        debug_assert!(name.is_ok() && value.is_ok(), "unchecked header field");
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
}

impl Deref for Headers {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.map()
    }
}

impl DerefMut for Headers {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        self.map();
        self.map.get_mut().expect("built above")
    }
}

impl From<HeaderMap> for Headers {
    fn from(map: HeaderMap) -> Self {
        Headers {
            map: OnceLock::from(Box::new(map)),
            head: Bytes::new(),
            fields: Vec::new(),
        }
    }
}

impl From<Headers> for HeaderMap {
    fn from(mut h: Headers) -> Self {
        h.take()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        **self == **other
    }
}

impl PartialEq<HeaderMap> for Headers {
    fn eq(&self, other: &HeaderMap) -> bool {
        **self == *other
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a http::HeaderName, &'a http::HeaderValue);
    type IntoIter = http::header::Iter<'a, http::HeaderValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.map().iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map().fmt(f)
    }
}

impl Drop for Headers {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            header_pool::give(map);
        }
        header_pool::give_fields(std::mem::take(&mut self.fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

    #[test]
    fn a_dropped_requests_map_holds_the_next_requests_fields() {
        let mut map = header_pool::take();
        map.insert(HOST, "a".parse().unwrap());
        let cap = map.capacity();
        assert!(cap > 0);
        drop(Headers {
            map: OnceLock::from(map),
            head: Bytes::new(),
            fields: Vec::new(),
        });
        let again = header_pool::take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap, "the same storage, cleared");
    }

    #[test]
    fn taken_fields_leave_nothing_behind_and_requests_stay_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::http::server::Request>();
        let mut h = Headers::default();
        h.insert(HOST, "a".parse().unwrap());
        let map: HeaderMap = h.clone().into();
        assert_eq!(h, map);
        assert_eq!(h.take().len(), 1);
        assert!(h.is_empty());
    }

    fn raw(text: &'static [u8], fields: &[(&str, &str)]) -> Headers {
        let head = Bytes::from_static(text);
        let at = |s: &str| {
            text.windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap()
        };
        let fields: Vec<RawField> = fields
            .iter()
            .map(|(n, v)| RawField(at(n) as u32, n.len() as u32, at(v) as u32, v.len() as u32))
            .collect();
        let mut h = Headers::default();
        h.raw_fields().extend(fields);
        h.set_head(head);
        h
    }

    #[test]
    fn raw_fields_become_a_map_in_order_when_first_read() {
        let h = raw(
            b"A: 1\r\nb: 2\r\na: 3\r\n",
            &[("A", "1"), ("b", "2"), ("a", "3")],
        );
        assert!(h.map.get().is_none(), "nothing built before a read");
        let all: Vec<_> = h.get_all("a").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(all, ["1", "3"]);
        assert_eq!(h["b"], "2");
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn changes_clear_and_take_see_the_raw_fields() {
        let mut h = raw(b"Host: x\r\nX-A: 1\r\n", &[("Host", "x"), ("X-A", "1")]);
        h.insert("x-b", HeaderValue::from_static("2"));
        assert_eq!((h.len(), &h["host"]), (3, &HeaderValue::from_static("x")));
        let mut again = h.clone();
        assert_eq!(again, h);
        let map = again.take();
        assert_eq!(map.len(), 3);
        assert!(again.is_empty());
        h.clear();
        assert!(h.is_empty());
        let h = raw(b"Host: y\r\n", &[("Host", "y")]);
        assert_eq!(h.get(HOST).unwrap(), "y");
    }
}
