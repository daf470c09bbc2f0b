//! A gzip bomb against the client: the body is refused after inflating about
//! `max_body_size`, not after inflating all of it. Its own test binary, because it
//! counts the process's allocations.
#![cfg(feature = "gzip")]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use squall::http::client::{HttpClient, HttpRequest};
use squall::Error;
use support::raw_server::{response, serve};

/// The system allocator, counting bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1024 * 1024;

fn gzip_of_zeros(n: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; MIB];
    for _ in 0..n / MIB {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn a_gzip_bomb_fails_after_inflating_about_max_body_size() {
    // 64 MiB of zeros in about 64 KiB; the client accepts 1 MiB.
    let bomb = gzip_of_zeros(64 * MIB);
    assert!(bomb.len() < MIB);
    let srv = serve(move |_| response("200 OK", "Content-Encoding: gzip\r\n", &bomb));
    let mut client = HttpClient::new().unwrap();
    let req = || HttpRequest::new(&srv.url("/")).max_body_size(MIB);
    // Warm up (connection, buffers), then measure a second fetch.
    let _ = client.fetch(req());
    let base = IN_USE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = client.fetch(req());
    let grew = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    match &r {
        Err(Error::HttpFetch { message }) => {
            assert!(message.contains("max_body_size"), "{message}")
        }
        other => panic!("{:?}", other.as_ref().map(|r| r.body.len())),
    }
    assert!(
        grew < 12 * MIB,
        "peak allocation grew by {} MiB for a 1 MiB limit",
        grew / MIB
    );
}
