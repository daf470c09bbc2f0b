//! Read-side memory: the pool of released read buffers (idle streams hold none; busy
//! ones reuse these). Sockets read straight into a stream's buffer, with no copy.

use std::cell::RefCell;

use bytes::BytesMut;

/// Most bytes asked of the socket per `read` call.
pub(super) const READ_CHUNK: usize = 64 * 1024;
/// A read buffer with less spare room than this (and than the read wants) grows first.
pub(super) const MIN_READ: usize = 1024;
/// With no read pending, buffer at most this much (to notice a close) before pausing.
pub(super) const IDLE_READ_LIMIT: usize = 64 * 1024;
/// Most buffers handed to one `writev`.
pub(super) const MAX_IOV: usize = 64;
/// Responses to pipelined requests are held back (corked) up to this many bytes.
pub(super) const CORK_LIMIT: usize = 64 * 1024;

/// Reads per readiness event at most, so one fast sender cannot monopolise the loop.
pub(super) const READS_PER_EVENT: usize = 8;
/// Empty read buffers kept per thread for reuse, and the capacity range worth keeping.
pub(super) const POOL_MAX: usize = 256;
pub(super) const POOL_MIN_CAPACITY: usize = 512;
pub(super) const POOL_MAX_CAPACITY: usize = 256 * 1024;

thread_local! {
    /// Released read buffers: idle streams hold none, busy ones reuse these instead of
    /// allocating per request.
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Capacity of a read buffer made when the pool is empty: big enough to be pooled, so a
/// small request does not leave a buffer too small to reuse.
pub(super) const NEW_BUFFER_CAPACITY: usize = 4096;

pub(super) fn pool_take() -> BytesMut {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(NEW_BUFFER_CAPACITY))
}

pub(super) fn pool_put(mut buf: BytesMut) {
    // An empty buffer whose bytes nobody shares any more gets its whole allocation back
    // (`split_to` leaves it at the end of its allocation); one still shared is dropped.
    if buf.try_reclaim(POOL_MIN_CAPACITY)
        && (POOL_MIN_CAPACITY..=POOL_MAX_CAPACITY).contains(&buf.capacity())
    {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(buf);
            }
        });
    }
}
