//! The RESP2 decoder (`squall::redis::resp::Decoder`): never panics, parses each byte
//! about once, and the split of the input into reads never changes the outcome (the
//! replies, then the error if any); the stateless `decode` agrees on a whole read.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use squall::redis::resp::{decode, Decoder, Value};
use squall_fuzz::{seed_and_stream, Splits};

/// Replies, then `None` for an error (which ends the stream), and the bytes examined.
fn replies(stream: &[u8], splits: &mut Splits, small: bool) -> (Vec<Option<Value>>, u64) {
    let mut d = if small {
        Decoder::new(512, 16)
    } else {
        Decoder::default()
    };
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = splits.next_len(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match d.decode(&mut buf) {
                Ok(Some(v)) => out.push(Some(v)),
                Ok(None) => break,
                Err(_) => {
                    out.push(None);
                    return (out, d.bytes_examined());
                }
            }
        }
    }
    (out, d.bytes_examined())
}

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = seed_and_stream(data);
    let small = (seed >> 8) & 1 == 1;
    let (whole, _) = replies(stream, &mut Splits::new(0), small);
    let (split, examined) = replies(stream, &mut Splits::new(seed), small);
    assert_eq!(whole, split, "outcome depends on how the replies were split");
    assert!(
        examined <= 2 * stream.len() as u64,
        "{examined} bytes examined for {}",
        stream.len()
    );
    if !small {
        let mut buf = BytesMut::from(stream);
        let mut stateless = Vec::new();
        loop {
            match decode(&mut buf) {
                Ok(Some(v)) => stateless.push(Some(v)),
                Ok(None) => break,
                Err(_) => {
                    stateless.push(None);
                    break;
                }
            }
        }
        assert_eq!(whole, stateless, "the stateless decoder disagrees");
    }
});
