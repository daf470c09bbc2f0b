//! The client's read side of one response (response-head parser, 1xx skipped, body
//! decoder, close at the end) for GET and HEAD: never panics, and the split of the
//! stream into reads never changes the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_fuzz::{client_response, seed_and_stream, small_limits, Splits};

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = seed_and_stream(data);
    let limits = small_limits((seed >> 8) as u8);
    let method = if seed & 2 == 0 { http::Method::GET } else { http::Method::HEAD };
    let whole = client_response(stream, &mut Splits::new(0), &limits, &method);
    let split = client_response(stream, &mut Splits::new(seed), &limits, &method);
    assert_eq!(whole, split, "outcome depends on how the response was split");
});
