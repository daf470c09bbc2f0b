//! The chunked body decoder: never panics, never yields more bytes than it was given,
//! and the split of the input into reads never changes the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_fuzz::{chunked, seed_and_stream, small_limits, Event, Splits};

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = seed_and_stream(data);
    let limits = small_limits((seed >> 8) as u8);
    let whole = chunked(stream, &mut Splits::new(0), &limits);
    let total: usize = whole
        .iter()
        .map(|e| match e {
            Event::Data(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert!(total <= stream.len());
    let split = chunked(stream, &mut Splits::new(seed), &limits);
    assert_eq!(whole, split, "outcome depends on how the body was split");
});
