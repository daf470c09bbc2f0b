//! The sans-IO HTTP/1 parsers never panic and never loop on hostile input: random
//! bytes, and valid messages with random mutations, fed whole and in random splits.
//! (A deterministic generator, so a failure reproduces with the printed seed.)

mod support;

use bytes::BytesMut;
use http::Method;
use squall::http::h1::{
    parse_request_head, parse_response_head, BodyDecoder, BodyKind, Decoded, HeadLimits,
};
use support::Rng;

const SEEDS: &[&[u8]] = &[
    b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"PUT / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
];

const NASTY: &[u8] = b"\r\n :;,\t\x00\x7f\xff0123456789abcdefABCDEF-+chunked";

/// Feeds `input` in random pieces to the request or response parser, then the body
/// decoder; every step must end (no infinite loop) and nothing may panic.
fn run(rng: &mut Rng, input: &[u8], response: bool) -> Outcome {
    let limits = HeadLimits {
        max_header_size: 512,
        max_headers: 8,
    };
    let mut buf = BytesMut::new();
    let mut rest = input;
    let mut body: Option<BodyDecoder> = None;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if body.is_none() {
            let kind = if response {
                match parse_response_head(&mut buf, &limits, &Method::GET) {
                    Ok(Some(h)) => Some(h.body),
                    Ok(None) => None,
                    Err(_) => return Outcome::Rejected,
                }
            } else {
                match parse_request_head(&mut buf, &limits) {
                    Ok(Some(h)) => Some(h.body),
                    Ok(None) => None,
                    Err(_) => return Outcome::Rejected,
                }
            };
            match kind {
                Some(BodyKind::Empty) => return Outcome::Complete,
                Some(k) => body = Some(BodyDecoder::with_limits(k, limits)),
                None => continue,
            }
        }
        let dec = body.as_mut().expect("decoder");
        for _ in 0..10_000 {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(d)) => assert!(!d.is_empty(), "empty data chunk"),
                Ok(Decoded::NeedMore) => break,
                Ok(Decoded::Done { .. }) => return Outcome::Complete,
                Err(_) => return Outcome::Rejected,
            }
        }
    }
    if let Some(mut dec) = body {
        let _ = dec.eof();
    }
    Outcome::Incomplete
}

#[derive(PartialEq)]
enum Outcome {
    Complete,
    Rejected,
    Incomplete,
}

#[test]
fn random_mutations_of_valid_messages_never_panic() {
    let (mut complete, mut rejected) = (0, 0);
    for seed in 1..=20_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let base = SEEDS[rng.below(SEEDS.len())];
        let msg = rng.mutate(base, NASTY, false);
        let response = base.starts_with(b"HTTP/");
        match run(&mut rng, &msg, response) {
            Outcome::Complete => complete += 1,
            Outcome::Rejected => rejected += 1,
            Outcome::Incomplete => {}
        }
    }
    // The mutations must exercise both paths, or this test proves nothing.
    assert!(
        complete > 1_000 && rejected > 1_000,
        "complete {complete}, rejected {rejected}"
    );
}

#[test]
fn random_bytes_never_panic() {
    for seed in 1..=5_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let len = rng.below(600);
        let msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        run(&mut rng, &msg, seed % 2 == 0);
    }
}
