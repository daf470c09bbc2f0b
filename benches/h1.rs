//! Sans-IO HTTP/1 costs per request: parsing a typical keep-alive request head and
//! encoding a small response. `cargo bench --bench h1 -- --warm-up-time 1 --measurement-time 3`

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::{HeaderMap, HeaderValue, StatusCode, Version};
use squall::http::h1::{parse_request_head, write_response, HeadLimits};

/// What wrk sends, and what a browser-like client sends.
const WRK: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8090\r\n\r\n";
const BROWSER: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nCookie: a=1; b=2\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let mut g = c.benchmark_group("h1_parse_request_head");
    g.throughput(Throughput::Elements(1));
    for (name, input) in [("wrk", WRK), ("browser", BROWSER)] {
        g.bench_function(name, |b| {
            let mut buf = BytesMut::with_capacity(1024);
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(input);
                black_box(parse_request_head(&mut buf, &limits).unwrap().unwrap());
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    let mut g = c.benchmark_group("h1_write_response");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hello", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            write_response(
                &mut out,
                Version::HTTP_11,
                StatusCode::OK,
                &headers,
                b"Hello, world",
            );
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
