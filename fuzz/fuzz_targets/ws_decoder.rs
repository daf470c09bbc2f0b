//! The WebSocket frame decoder (both roles, with and without permessage-deflate): never
//! panics, never loops, never delivers a message beyond its size limit, and ignores
//! everything after a close frame or an error.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use squall::websocket::deflate::{DeflateParams, Inflater};
use squall::websocket::frame::{Decoder, Incoming, Role};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let mut d = Decoder::new(role, MAX);
    if flags & 2 != 0 {
        d.set_inflater(Inflater::new(&DeflateParams::default(), role));
    }
    let step = 1 + (flags >> 2) as usize;
    let mut buf = BytesMut::new();
    let mut stopped = false;
    for piece in stream.chunks(step) {
        buf.extend_from_slice(piece);
        for round in 0.. {
            assert!(round <= stream.len() + 2, "decoder loops");
            match d.decode(&mut buf) {
                Ok(Some(Incoming::Message(m))) => assert!(m.len() <= MAX),
                Ok(Some(Incoming::Close(_))) | Err(_) => {
                    stopped = true;
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
            }
        }
        if stopped {
            buf.extend_from_slice(b"more");
            assert!(matches!(d.decode(&mut buf), Ok(None)) && buf.is_empty());
            return;
        }
    }
});
