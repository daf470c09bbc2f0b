//! The stream counts each queued write at its real memory cost: the heap a counting
//! allocator sees the queue take is never more than `write_buffer_cost` says, so
//! `max_write_buffer_size` bounds real memory, even for many tiny writes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, BytesMut};
use squall::stream::{IoStream, StreamOptions};
use squall::Reactor;

/// Counts the bytes this thread holds (requested sizes; the allocator's own headers
/// and rounding come on top, which the stream's count includes).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| l.set(l.get() + layout.size() as isize));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LIVE.try_with(|l| l.set(l.get() + new_size as isize - layout.size() as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Writes `n` frames of `len` bytes (built as a WebSocket frame is: a small buffer with
/// spare room, frozen) to a peer that reads nothing; returns (real heap growth, the
/// stream's count growth).
fn queue_tiny_writes(n: usize, len: usize, with_future: bool) -> (usize, usize) {
    let reactor = Reactor::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = IoStream::with_options(&reactor.handle(), a, StreamOptions::default()).unwrap();
    // Fill the kernel's buffer first: what follows stays queued.
    a.write_and_forget(vec![0u8; 8 << 20]);
    assert!(a.write_buffer_len() > 0);
    let mut futures = Vec::with_capacity(if with_future { n } else { 0 });
    let (heap0, cost0) = (live(), a.write_buffer_cost());
    for _ in 0..n {
        let mut frame = BytesMut::with_capacity(len + 12);
        frame.put_bytes(0x8a, len);
        if with_future {
            futures.push(a.write(frame.freeze()));
        } else {
            a.write_and_forget(frame.freeze());
        }
    }
    // The futures the caller keeps are its own memory, not the queue's.
    let mine = futures.capacity() * std::mem::size_of::<squall::Future<()>>();
    let heap = (live() - heap0) as usize - if with_future { mine } else { 0 };
    let cost = a.write_buffer_cost() - cost0;
    drop(futures);
    // The peer drains; everything is written and the queue empties.
    let reader = std::thread::spawn(move || std::io::copy(&mut b, &mut std::io::sink()));
    let mut reactor = reactor;
    reactor.run_until(&a.drained_to(0)).unwrap();
    assert_eq!(a.write_buffer_cost(), 0);
    drop(a);
    let _ = reader.join();
    (heap, cost)
}

#[test]
fn tiny_writes_count_at_least_what_they_cost() {
    for (len, with_future) in [(2, false), (2, true), (0, true), (100, false), (1000, true)] {
        let n = 10_000;
        let (heap, cost) = queue_tiny_writes(n, len, with_future);
        eprintln!(
            "{n} writes of {len} B (future: {with_future}): heap {heap} B ({} per write), counted {cost} B ({} per write)",
            heap / n,
            cost / n
        );
        assert!(
            cost >= heap,
            "{len} B writes (future: {with_future}): counted {cost} B, took {heap} B"
        );
        // ... and not wildly more: the count stays a fair measure.
        assert!(
            cost <= 2 * heap + n * 64,
            "{len} B writes: counted {cost} B for {heap} B"
        );
    }
}
