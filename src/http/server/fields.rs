//! A response's header fields: the few constant ones a handler sets with
//! [`Responder::set_header_static`](super::Responder::set_header_static) kept inline
//! (no hashing, no map), the rest in a `HeaderMap` taken from a per-thread pool on first
//! use.

use std::cell::RefCell;
use std::sync::LazyLock;

use http::header::{HeaderName, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};

use crate::http::h1::{has_field, StaticField};

/// Constant fields kept inline before a map is needed (a content type, a cache policy).
const INLINE: usize = 3;
/// Response header maps kept per thread for reuse (cleared, capacity kept): building a
/// `HeaderMap` allocates twice (indices and entries) on its first insert.
const SPARE_HEADER_MAPS: usize = 64;
/// Maps that grew beyond this many entries are not kept.
const SPARE_MAX_CAPACITY: usize = 64;

thread_local! {
    // Boxed on purpose: a responder holds its map boxed, and the box is reused too.
    #[allow(clippy::vec_box)]
    static SPARE_HEADERS: RefCell<Vec<Box<HeaderMap>>> = const { RefCell::new(Vec::new()) };
}

/// What `map` shows while there is none.
static NO_FIELDS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

/// A header name [`Responder::set_header_static`](super::Responder::set_header_static)
/// takes: a constant of [`http::header`] (the fastest: nothing to parse), a
/// `&HeaderName`, or a lower-case `&'static str` (parsed; panics if it is not a valid
/// lower-case name, a bug in the constant).
pub trait StaticHeaderName: sealed::Sealed {
    #[doc(hidden)]
    fn into_header_name(self) -> HeaderName;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for http::header::HeaderName {}
    impl Sealed for &http::header::HeaderName {}
    impl Sealed for &'static str {}
}

impl StaticHeaderName for HeaderName {
    fn into_header_name(self) -> HeaderName {
        self
    }
}

impl StaticHeaderName for &HeaderName {
    fn into_header_name(self) -> HeaderName {
        self.clone()
    }
}

impl StaticHeaderName for &'static str {
    fn into_header_name(self) -> HeaderName {
        HeaderName::from_static(self)
    }
}

/// The fields of one response. Invariant: a name is never both inline and in the map,
/// and inline fields exist only while the map is empty (so the map's order after them
/// is the order they were set in). The map is boxed: a responder is moved a few times
/// on its way to the handler, and most never need one.
pub(crate) struct Fields {
    inline: [StaticField; INLINE],
    map: Option<Box<HeaderMap>>,
    /// A `Content-Length` or `Transfer-Encoding` is among the inline fields.
    inline_framing: bool,
}

impl Fields {
    pub(crate) fn new() -> Self {
        Fields {
            inline: [None, None, None],
            map: None,
            inline_framing: false,
        }
    }

    /// Sets `name` to a constant value, replacing what it had.
    ///
    /// # Panics
    /// If `value` is not a valid header value (as `HeaderValue::from_static`).
    #[inline]
    pub(crate) fn insert_static(&mut self, name: HeaderName, value: &'static str) {
        // Inlined, the check of a literal folds away.
        assert!(
            value
                .bytes()
                .all(|b| b == b'\t' || (b' '..0x7f).contains(&b)),
            "invalid header value {value:?}"
        );
        self.insert_checked(name, value);
    }

    fn insert_checked(&mut self, name: HeaderName, value: &'static str) {
        if self.map.as_ref().is_none_or(|m| m.is_empty()) {
            self.inline_framing |= name == CONTENT_LENGTH || name == TRANSFER_ENCODING;
            for slot in &mut self.inline {
                match slot {
                    Some((n, v)) if *n == name => {
                        *v = value;
                        return;
                    }
                    Some(_) => {}
                    None => {
                        *slot = Some((name, value));
                        return;
                    }
                }
            }
        }
        self.map_mut().insert(name, HeaderValue::from_static(value));
    }

    /// The map holding every field (the inline ones move into it), for the caller to
    /// read or change.
    pub(crate) fn map_mut(&mut self) -> &mut HeaderMap {
        let map = self.map.get_or_insert_with(|| {
            SPARE_HEADERS
                .with(|s| s.borrow_mut().pop())
                .unwrap_or_default()
        });
        for slot in &mut self.inline {
            if let Some((name, value)) = slot.take() {
                map.insert(name, HeaderValue::from_static(value));
            }
        }
        self.inline_framing = false;
        map
    }

    /// Whether a framing field (`Content-Length`, `Transfer-Encoding`) may be set: false
    /// saves looking for them.
    pub(crate) fn may_frame(&self) -> bool {
        self.inline_framing || !self.map().is_empty()
    }

    /// Whether a field `name` is set.
    pub(crate) fn contains(&self, name: &HeaderName) -> bool {
        self.inline.iter().flatten().any(|(n, _)| n == name) || has_field(self.map(), name)
    }

    /// The value of `name` (its first), if set.
    pub(crate) fn get(&mut self, name: &HeaderName) -> Option<&HeaderValue> {
        if !self.contains(name) {
            return None;
        }
        self.map_mut().get(name)
    }

    /// Removes every value of `name`; true if it had one.
    pub(crate) fn remove(&mut self, name: &HeaderName) -> bool {
        self.contains(name) && self.map_mut().remove(name).is_some()
    }

    /// Removes every field.
    pub(crate) fn clear(&mut self) {
        self.inline = [None, None, None];
        self.inline_framing = false;
        if let Some(map) = &mut self.map {
            map.clear();
        }
    }

    /// The inline fields (written before the map's).
    pub(crate) fn inline(&self) -> &[StaticField] {
        &self.inline
    }

    /// The map's fields (after the inline ones).
    pub(crate) fn map(&self) -> &HeaderMap {
        self.map.as_deref().unwrap_or(&NO_FIELDS)
    }

    /// The head is out: the fields are not read again. The map goes back to the
    /// thread's pool for the next response.
    pub(crate) fn recycle(&mut self) {
        let Some(mut map) = self.map.take() else {
            return;
        };
        if map.capacity() > SPARE_MAX_CAPACITY {
            return;
        }
        map.clear();
        SPARE_HEADERS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_HEADER_MAPS {
                s.push(map);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, DATE, VARY};

    fn names(f: &Fields) -> Vec<String> {
        f.inline()
            .iter()
            .flatten()
            .map(|(n, v)| format!("{n}={v}"))
            .chain(
                f.map()
                    .iter()
                    .map(|(n, v)| format!("{n}={}", v.to_str().unwrap())),
            )
            .collect()
    }

    #[test]
    fn constant_fields_stay_inline_until_the_map_is_asked_for() {
        let mut f = Fields::new();
        f.insert_static(CONTENT_TYPE, "text/plain");
        f.insert_static(CACHE_CONTROL, "no-store");
        f.insert_static(CONTENT_TYPE, "text/html");
        assert_eq!(f.map().len(), 0);
        assert_eq!(
            names(&f),
            ["content-type=text/html", "cache-control=no-store"]
        );
        // The map, once asked for, holds them all in the order they were set.
        f.map_mut().append(VARY, HeaderValue::from_static("accept"));
        assert!(f.inline().iter().all(Option::is_none));
        assert_eq!(
            names(&f),
            [
                "content-type=text/html",
                "cache-control=no-store",
                "vary=accept"
            ]
        );
        // Set after the map is in use: into the map, replacing.
        f.insert_static(CONTENT_TYPE, "text/css");
        assert_eq!(f.map().get_all(CONTENT_TYPE).iter().count(), 1);
        assert_eq!(f.map()[CONTENT_TYPE], "text/css");
    }

    #[test]
    fn a_fourth_constant_field_moves_them_all_into_the_map() {
        let mut f = Fields::new();
        for (n, v) in [
            (CONTENT_TYPE, "a"),
            (CACHE_CONTROL, "b"),
            (VARY, "c"),
            (DATE, "d"),
        ] {
            f.insert_static(n, v);
        }
        assert!(f.inline().iter().all(Option::is_none));
        assert_eq!(
            names(&f),
            ["content-type=a", "cache-control=b", "vary=c", "date=d"]
        );
    }

    #[test]
    fn lookups_and_removals_see_inline_fields() {
        let mut f = Fields::new();
        f.insert_static(CONTENT_TYPE, "text/plain");
        assert!(!f.may_frame());
        f.insert_static(CONTENT_LENGTH, "5");
        assert!(f.may_frame());
        assert!(f.contains(&CONTENT_LENGTH));
        assert_eq!(f.get(&CONTENT_LENGTH).unwrap(), "5");
        assert!(f.remove(&CONTENT_LENGTH));
        assert!(!f.contains(&CONTENT_LENGTH));
        assert!(!f.remove(&CONTENT_LENGTH));
        assert!(f.get(&CACHE_CONTROL).is_none());
        f.clear();
        assert!(names(&f).is_empty());
    }

    #[test]
    #[should_panic(expected = "invalid header value")]
    fn a_value_with_a_line_break_is_refused() {
        Fields::new().insert_static(CONTENT_TYPE, "text/plain\r\nx: y");
    }
}
