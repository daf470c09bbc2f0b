//! Header maps recycled from request to request: the server parses each request head
//! into a map taken from here, and the request gives it back when it is dropped, so a
//! keep-alive request costs no allocation for its header fields in steady state.
//!
//! The maps are kept per thread (each reactor has its own), cleared (no value keeps a
//! read buffer alive), at most [`MAX_POOLED`] of them, each holding at most
//! [`MAX_FIELDS`] fields' room: a map grown beyond that by a large head is freed
//! instead. What the pool holds at most is therefore bounded: 16 maps of ~3.6 KiB
//! (32 entries of 104 bytes and 64 four-byte index slots), about 60 KiB per thread, and
//! usually one or two small maps. The lists of raw field positions a head is parsed
//! into (before any map is built) are recycled the same way: at most 16 lists of 32
//! positions of 16 bytes, 8 KiB per thread.

use std::cell::RefCell;
use std::thread::LocalKey;

use http::HeaderMap;

use super::framing::RawField;

/// Maps kept per thread.
pub const MAX_POOLED: usize = 16;

/// A map with room for more fields than this is freed, not kept.
pub const MAX_FIELDS: usize = 32;

thread_local! {
    // Boxed: the box moves between the pool and a request's `Headers` (16 bytes there
    // instead of a 96-byte map, and requests move often).
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<HeaderMap>>> = const { RefCell::new(Vec::new()) };
    static FIELDS: RefCell<Vec<Vec<RawField>>> = const { RefCell::new(Vec::new()) };
}

/// An empty map: a recycled one if the thread has one, else a new one (which allocates
/// its room only when a field is added).
pub(crate) fn take() -> Box<HeaderMap> {
    pop(&POOL)
}

/// Gives `map` back for a later [`take`]: cleared and kept if it is small and the
/// thread keeps fewer than [`MAX_POOLED`], else dropped.
pub(crate) fn give(map: Box<HeaderMap>) {
    let cap = map.capacity();
    push(&POOL, map, cap, |m| m.clear());
}

/// An empty list for a head's raw field positions: a recycled one if the thread has one.
pub(super) fn take_fields() -> Vec<RawField> {
    pop(&FIELDS)
}

/// Gives `fields` back for a later [`take_fields`], on the same terms as [`give`].
pub(super) fn give_fields(fields: Vec<RawField>) {
    let cap = fields.capacity();
    push(&FIELDS, fields, cap, Vec::clear);
}

fn pop<T: Default>(pool: &'static LocalKey<RefCell<Vec<T>>>) -> T {
    pool.try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `item` (of `cap` fields' room) cleared, if it has room but not too much and the
/// pool is not full.
fn push<T>(pool: &'static LocalKey<RefCell<Vec<T>>>, mut item: T, cap: usize, clear: fn(&mut T)) {
    if cap == 0 || cap > MAX_FIELDS {
        return;
    }
    // Dropping the values may run no code of ours, but clear before borrowing anyway.
    clear(&mut item);
    let _ = pool.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.len() < MAX_POOLED
        {
            p.push(item);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

    #[test]
    fn a_given_map_comes_back_cleared_with_its_room() {
        let mut m = Box::<HeaderMap>::default();
        m.insert(HOST, "a".parse().unwrap());
        let cap = m.capacity();
        give(m);
        let m = take();
        assert!(m.is_empty());
        assert_eq!(m.capacity(), cap);
    }

    #[test]
    fn large_maps_and_a_full_pool_are_not_kept() {
        let mut big = Box::new(HeaderMap::with_capacity(MAX_FIELDS * 2));
        big.insert(HOST, "a".parse().unwrap());
        give(big);
        assert_eq!(take().capacity(), 0);
        for _ in 0..MAX_POOLED + 4 {
            let mut m = Box::<HeaderMap>::default();
            m.insert(HOST, "a".parse().unwrap());
            give(m);
        }
        let kept = POOL.with(|p| p.borrow().len());
        assert_eq!(kept, MAX_POOLED);
        POOL.with(|p| p.borrow_mut().clear());
    }

    #[test]
    fn field_lists_are_bounded_like_the_maps() {
        give_fields(Vec::with_capacity(MAX_FIELDS * 2));
        assert_eq!(take_fields().capacity(), 0, "a large list is freed");
        for _ in 0..MAX_POOLED + 4 {
            give_fields(vec![RawField::default(); 4]);
        }
        assert_eq!(FIELDS.with(|p| p.borrow().len()), MAX_POOLED);
        let again = take_fields();
        assert!(
            again.is_empty() && again.capacity() >= 4,
            "cleared, room kept"
        );
        FIELDS.with(|p| p.borrow_mut().clear());
    }
}
