//! The server's read side over a stream of pipelined requests: the h1 connection core in
//! its server role (heads gated by its HeadScanner, then Content-Length or chunked
//! bodies through the body pipeline, buffered or streamed). Whatever the split of the
//! stream into reads, the outcome is the one of a single read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_fuzz::{seed_and_stream, server_pipeline, small_limits, Splits};

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = seed_and_stream(data);
    let limits = small_limits((seed >> 8) as u8);
    let streamed = seed & 2 != 0;
    let whole = server_pipeline(stream, &mut Splits::new(0), &limits, streamed);
    let split = server_pipeline(stream, &mut Splits::new(seed), &limits, streamed);
    assert_eq!(whole, split, "outcome depends on how the stream was split");
});
