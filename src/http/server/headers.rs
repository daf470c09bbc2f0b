//! [`Headers`]: a request's header fields, whose storage is reused by later requests.

use std::fmt;
use std::ops::{Deref, DerefMut};

use http::HeaderMap;

use crate::http::h1::header_pool;

/// A request's header fields: an [`http::HeaderMap`] (everything a `HeaderMap` offers
/// works on it, through `Deref`), whose storage goes back to the server when the
/// request is dropped, to hold the fields of a later request. So a keep-alive request
/// costs no allocation for its header fields.
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
#[derive(Default, Clone, PartialEq)]
pub struct Headers(HeaderMap);

impl Headers {
    /// Takes the fields out as a plain [`HeaderMap`], leaving these empty.
    pub fn take(&mut self) -> HeaderMap {
        std::mem::take(&mut self.0)
    }
}

impl Deref for Headers {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        &self.0
    }
}

impl DerefMut for Headers {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        &mut self.0
    }
}

impl From<HeaderMap> for Headers {
    fn from(map: HeaderMap) -> Self {
        Headers(map)
    }
}

impl From<Headers> for HeaderMap {
    fn from(mut h: Headers) -> Self {
        h.take()
    }
}

impl PartialEq<HeaderMap> for Headers {
    fn eq(&self, other: &HeaderMap) -> bool {
        self.0 == *other
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a http::HeaderName, &'a http::HeaderValue);
    type IntoIter = http::header::Iter<'a, http::HeaderValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Drop for Headers {
    fn drop(&mut self) {
        header_pool::give(std::mem::take(&mut self.0));
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
        drop(Headers::from(map));
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
        assert!(h.is_empty() && h.capacity() == 0);
    }
}
