//! The sans-IO WebSocket decoder never panics and never loops on hostile input: random
//! bytes, and valid frame streams with random mutations, fed whole and in random splits,
//! for both roles, with and without permessage-deflate. (A deterministic generator, so a
//! failure reproduces with the printed seed.)

mod support;

use bytes::BytesMut;
use squall::websocket::deflate::{Compressor, DeflateParams, Inflater};
use squall::websocket::frame::{encode_frame, Decoder, Incoming, Opcode, Role};
use support::Rng;

/// A valid stream of frames from `role`'s peer: fragmented text with an interleaved
/// ping, binary, compressed messages when `deflate`, and a close.
fn valid_stream(rng: &mut Rng, from_client: bool, deflate: bool) -> Vec<u8> {
    let mask = |rng: &mut Rng| from_client.then(|| (rng.next() as u32).to_ne_bytes());
    let mut out = BytesMut::new();
    encode_frame(
        &mut out,
        Opcode::Text,
        false,
        false,
        "κόσ".as_bytes(),
        mask(rng),
    );
    encode_frame(&mut out, Opcode::Ping, true, false, b"ping", mask(rng));
    encode_frame(
        &mut out,
        Opcode::Continuation,
        true,
        false,
        "με".as_bytes(),
        mask(rng),
    );
    let big: Vec<u8> = (0..300).map(|i| i as u8).collect();
    encode_frame(&mut out, Opcode::Binary, true, false, &big, mask(rng));
    if deflate {
        let role = if from_client {
            Role::Client
        } else {
            Role::Server
        };
        let mut c = Compressor::new(&DeflateParams::default(), role, 6);
        let z = c.compress(b"compressed compressed compressed");
        encode_frame(&mut out, Opcode::Text, true, true, &z, mask(rng));
    }
    encode_frame(&mut out, Opcode::Pong, true, false, b"", mask(rng));
    encode_frame(
        &mut out,
        Opcode::Close,
        true,
        false,
        b"\x03\xe8bye",
        mask(rng),
    );
    out.to_vec()
}

const NASTY: &[u8] = &[
    0x00, 0x01, 0x7e, 0x7f, 0x80, 0x81, 0x88, 0x89, 0xc1, 0xff, 0xfe, 0x0f, 0x70,
];

/// Feeds `input` in random pieces; every decode call must make progress or stop.
fn feed(rng: &mut Rng, input: &[u8], role: Role, deflate: bool, seed: u64) {
    let mut d = Decoder::new(role, 64 * 1024);
    if deflate {
        d.set_inflater(Inflater::new(&DeflateParams::default(), role));
    }
    let mut buf = BytesMut::new();
    let mut rest = input;
    let mut failed = false;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        // A decode either consumes input or produces nothing more: bound the calls.
        for round in 0.. {
            assert!(round <= input.len() + 2, "decoder loops (seed {seed})");
            match d.decode(&mut buf) {
                Ok(Some(Incoming::Close(_))) | Err(_) => {
                    failed = true;
                    break;
                }
                Ok(Some(_)) => continue,
                Ok(None) => break,
            }
        }
        if failed {
            // A failed or closed decoder ignores whatever follows.
            buf.extend_from_slice(rest);
            assert!(matches!(d.decode(&mut buf), Ok(None)), "seed {seed}");
            assert!(buf.is_empty(), "seed {seed}");
            return;
        }
    }
}

#[test]
fn random_bytes_never_panic_or_loop() {
    for seed in 1..3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let len = rng.below(300);
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        for role in [Role::Server, Role::Client] {
            feed(&mut rng, &input, role, seed % 2 == 0, seed);
        }
    }
}

#[test]
fn mutated_valid_streams_never_panic_or_loop() {
    for seed in 1..3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        for (role, from_client) in [(Role::Server, true), (Role::Client, false)] {
            let deflate = seed % 3 != 0;
            let valid = valid_stream(&mut rng, from_client, deflate);
            let input = rng.mutate(&valid, NASTY, true);
            feed(&mut rng, &input, role, deflate, seed);
        }
    }
}

#[test]
fn the_valid_stream_decodes_in_every_split() {
    let mut rng = Rng(7);
    let valid = valid_stream(&mut rng, true, true);
    for split in 0..valid.len() {
        let mut d = Decoder::new(Role::Server, 1 << 20);
        d.set_inflater(Inflater::new(&DeflateParams::default(), Role::Server));
        let mut buf = BytesMut::from(&valid[..split]);
        let mut got = Vec::new();
        while let Some(i) = d.decode(&mut buf).unwrap() {
            got.push(i);
        }
        buf.extend_from_slice(&valid[split..]);
        while let Some(i) = d.decode(&mut buf).unwrap() {
            got.push(i);
        }
        assert_eq!(got.len(), 6, "split {split}: {got:?}");
        assert!(matches!(got.last(), Some(Incoming::Close(Some((1000, _))))));
    }
}
