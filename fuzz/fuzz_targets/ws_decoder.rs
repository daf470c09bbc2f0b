//! The WebSocket frame decoder (both roles, with and without permessage-deflate): never
//! panics, never loops, never delivers a message beyond its size limit, ignores
//! everything after a close frame or an error, and gives the same result whether the
//! stream arrives in one read and is inflated in one go, or arrives in small reads and is
//! inflated in small steps (pausing between them, as a connection does between loop
//! turns).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use squall::websocket::deflate::{DeflateParams, Inflater};
use squall::websocket::frame::{Decoder, Incoming, Role};

const MAX: usize = 4096;

/// What a decoder made of a stream: what it delivered, then how it ended (the close
/// code of a failure, 0 after a close frame, `None` while still waiting).
type Outcome = (Vec<Incoming>, Option<u16>);

fn decode(role: Role, deflate: bool, read: usize, inflate_step: usize, stream: &[u8]) -> Outcome {
    let mut d = Decoder::new(role, MAX);
    if deflate {
        d.set_inflater(Inflater::new(&DeflateParams::default(), role));
        d.set_inflate_step(inflate_step);
    }
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    // Each pause follows a full step of output; output is bounded by MAX per message.
    let bound = stream.len() + 2 + (stream.len() / 2 + 1) * (MAX / inflate_step + 2);
    for piece in stream.chunks(read) {
        buf.extend_from_slice(piece);
        let mut end = None;
        for round in 0.. {
            assert!(round <= bound, "decoder loops");
            match d.decode(&mut buf) {
                Ok(Some(Incoming::Message(m))) => {
                    assert!(m.len() <= MAX);
                    got.push(Incoming::Message(m));
                }
                Ok(Some(c @ Incoming::Close(_))) => {
                    got.push(c);
                    end = Some(0);
                }
                Ok(Some(other)) => got.push(other),
                Ok(None) if d.paused() => d.start_turn(),
                Ok(None) => break,
                Err(e) => end = Some(e.code),
            }
            if end.is_some() {
                break;
            }
        }
        if end.is_some() {
            buf.extend_from_slice(b"more");
            assert!(matches!(d.decode(&mut buf), Ok(None)) && buf.is_empty());
            assert!(!d.paused());
            return (got, end);
        }
    }
    (got, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let deflate = flags & 2 != 0;
    let read = 1 + (flags >> 2) as usize;
    // Small steps (1–64 bytes of output) so that pausing happens inside small messages.
    let step = read;
    let whole = decode(role, deflate, stream.len().max(1), usize::MAX, stream);
    let split = decode(role, deflate, read, step, stream);
    assert_eq!(whole.0, split.0, "delivered differently when split");
    match (whole.1, split.1) {
        // A compressed piece that is both too big and invalid UTF-8 fails with whichever
        // limit the inflating reached first: that depends on the piece sizes.
        (Some(a @ (1007 | 1009)), Some(b @ (1007 | 1009))) if deflate && a != b => {}
        (a, b) => assert_eq!(a, b, "ended differently when split"),
    }
});
