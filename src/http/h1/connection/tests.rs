//! The connection core fed every way a stream can be split: the outcome (events, bodies,
//! keep-alive, errors) never depends on where the reads split it.

use super::*;

/// What a run made of a stream, as text (consecutive data merged).
fn push(out: &mut Vec<String>, e: String) {
    if let (Some(new), Some(last)) = (e.strip_prefix("data "), out.last_mut())
        && let Some(prev) = last.strip_prefix("data ")
    {
        *last = format!("data {prev}{new}");
        return;
    }
    out.push(e);
}

fn data(out: &mut Vec<String>, pieces: &mut Vec<Bytes>) {
    for d in pieces.drain(..) {
        assert!(!d.is_empty(), "empty piece");
        push(out, format!("data {}", String::from_utf8_lossy(&d)));
    }
}

/// Feeds `pieces` to a server-role connection, then end-of-file in a poll of its own,
/// answering each message at once; `streamed` chooses the streamed sink for every body.
fn serve(pieces: &[&[u8]], limits: HeadLimits, streamed: bool) -> Vec<String> {
    let limits = ReadLimits::new(limits, 4096);
    let mut conn = Connection::new(Server, &limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut taken = Vec::new();
    let eof: &[u8] = b"";
    let all: Vec<&[u8]> = pieces.iter().copied().chain([eof]).collect();
    for (i, piece) in all.iter().enumerate() {
        buf.extend_from_slice(piece);
        let closed = i + 1 == all.len();
        loop {
            match conn.poll(&limits, &mut buf, closed) {
                Err(e) => {
                    // The kind of a limit may depend on the split (a head is refused as
                    // too large before it is seen as malformed): compare the fact.
                    assert!(matches!(e, Error::HttpParse { .. }), "{e}");
                    assert!(matches!(
                        conn.poll(&limits, &mut buf, closed),
                        Ok(Event::Paused)
                    ));
                    out.push("error".into());
                    return out;
                }
                Ok(Event::NeedMore) => break,
                Ok(Event::Head) => {
                    let head = conn.head_mut().unwrap();
                    out.push(format!("head {} {} {:?}", head.method, head.uri, head.body));
                    conn.start_body(streamed, false);
                }
                Ok(Event::Interim(_)) => unreachable!("the server role has no interim heads"),
                Ok(Event::Data) => {
                    conn.take_data(&mut taken);
                    data(&mut out, &mut taken);
                }
                Ok(Event::Message(mut m)) => {
                    data(&mut out, &mut m.tail);
                    out.push(format!(
                        "message {} {} body={:?} trailers={:?} keep_alive={}",
                        m.head.method, m.head.uri, m.body, m.trailers, m.keep_alive
                    ));
                    assert!(matches!(
                        conn.poll(&limits, &mut buf, closed),
                        Ok(Event::Paused)
                    ));
                    conn.resume();
                }
                Ok(Event::Paused) => unreachable!("resumed after every message"),
                Ok(Event::Closed) => {
                    out.push("closed".into());
                    return out;
                }
            }
        }
    }
    out
}

/// The outcome of `stream` in one read, and checks that every split in two, and one
/// byte per read, give the same.
fn every_split(stream: &[u8], limits: HeadLimits, streamed: bool) -> Vec<String> {
    let whole = serve(&[stream], limits, streamed);
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(
            serve(&[a, b], limits, streamed),
            whole,
            "split at {at} of {:?}",
            String::from_utf8_lossy(stream)
        );
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(serve(&bytes, limits, streamed), whole, "byte by byte");
    whole
}

const REQUESTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y=1 HTTP/1.0\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
    b"PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /partial HTTP/1.1\r\nHo",
    b"POST /short HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc",
    b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
    b"POST /bigchunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n",
    b"\r\n\r\nGARBAGE",
    b"\x16\x03\x01 tls hello\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
];

#[test]
fn every_split_of_each_request() {
    for req in REQUESTS {
        for streamed in [false, true] {
            let outcome = every_split(req, HeadLimits::default(), streamed);
            assert!(!outcome.is_empty(), "{:?}", String::from_utf8_lossy(req));
        }
    }
}

#[test]
fn outcomes() {
    let run = |s: &[u8]| serve(&[s], HeadLimits::default(), false);
    assert_eq!(
        run(REQUESTS[3]),
        [
            "head POST /c Chunked",
            "message POST /c body=b\"abcde\" trailers=Some({\"x-t\": \"1\"}) keep_alive=true",
            "closed"
        ]
    );
    assert_eq!(
        run(REQUESTS[5]),
        [
            "message GET /a body=b\"\" trailers=None keep_alive=true",
            "head POST /b Length(2)",
            "message POST /b body=b\"hi\" trailers=None keep_alive=true",
            "message GET /c body=b\"\" trailers=None keep_alive=false",
            "closed"
        ]
    );
    // A truncated body ends the connection quietly; limits and garbage are errors.
    assert_eq!(run(REQUESTS[7]), ["head POST /short Length(9)", "closed"]);
    assert_eq!(run(REQUESTS[8]), ["error"]);
    assert_eq!(run(REQUESTS[9]), ["head POST /bigchunk Chunked", "error"]);
    assert_eq!(run(REQUESTS[10]), ["error"]);
    // A head cut off by end-of-file is no request: the connection just ends.
    assert_eq!(run(REQUESTS[11]), ["closed"]);
    // Empty lines before a request are skipped (RFC 9112 §2.2).
    assert_eq!(run(REQUESTS[12]), ["closed"]);
    assert_eq!(run(REQUESTS[13]), ["error"]);
    // HTTP/1.0 keep-alive only when asked for.
    assert_eq!(
        run(REQUESTS[14]),
        [
            "message GET / body=b\"\" trailers=None keep_alive=true",
            "message GET /2 body=b\"\" trailers=None keep_alive=true",
            "closed"
        ]
    );
    assert_eq!(
        run(REQUESTS[1]),
        [
            "message GET /x?y=1 body=b\"\" trailers=None keep_alive=false",
            "closed"
        ]
    );
}

/// The last request in a read that also brings end-of-file is answered with a close; a
/// pipelined one after it keeps the connection until it too is answered.
#[test]
fn end_of_file_with_the_last_request_ends_keep_alive() {
    let limits = ReadLimits::new(HeadLimits::default(), 4096);
    let mut conn = Connection::new(Server, &limits);
    let mut buf = BytesMut::from(REQUESTS[5]);
    let mut keep = Vec::new();
    loop {
        match conn.poll(&limits, &mut buf, true).unwrap() {
            Event::Message(m) => {
                keep.push(m.keep_alive);
                conn.resume();
            }
            Event::Head => {}
            Event::Closed => break,
            e => panic!("{e:?}"),
        }
    }
    // The third says `Connection: close` itself.
    assert_eq!(keep, [true, true, false]);
    let mut conn = Connection::new(Server, &limits);
    let mut buf = BytesMut::from(REQUESTS[0]);
    let Event::Message(m) = conn.poll(&limits, &mut buf, true).unwrap() else {
        panic!()
    };
    assert!(!m.keep_alive);
}

/// A buffered fixed-length body is taken in one piece once all of it arrived; a
/// streamed one piece by piece as it arrives.
#[test]
fn fixed_length_bodies_whole_or_in_pieces() {
    let limits = ReadLimits::new(HeadLimits::default(), 4096);
    for streamed in [false, true] {
        let mut conn = Connection::new(Server, &limits);
        let mut buf =
            BytesMut::from(&b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"[..]);
        assert!(matches!(
            conn.poll(&limits, &mut buf, false),
            Ok(Event::Head)
        ));
        conn.start_body(streamed, false);
        let mut got = Vec::new();
        match conn.poll(&limits, &mut buf, false).unwrap() {
            Event::NeedMore => assert!(!streamed && buf.len() == 3),
            Event::Data => {
                assert!(streamed);
                conn.take_data(&mut got);
                assert!(matches!(
                    conn.poll(&limits, &mut buf, false),
                    Ok(Event::NeedMore)
                ));
            }
            e => panic!("{e:?}"),
        }
        buf.extend_from_slice(b"def");
        let m = loop {
            match conn.poll(&limits, &mut buf, false).unwrap() {
                Event::Data => conn.take_data(&mut got),
                Event::Message(m) => break m,
                e => panic!("{e:?}"),
            }
        };
        if streamed {
            assert_eq!((got.concat(), &m.body[..]), (b"abcdef".to_vec(), &b""[..]));
        } else {
            assert_eq!(&m.body[..], b"abcdef");
        }
    }
    // Beyond `whole_body`, a buffered body is taken piece by piece too.
    let limits = limits.whole_body(4);
    let mut conn = Connection::new(Server, &limits);
    let mut buf =
        BytesMut::from(&b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"[..]);
    assert!(matches!(
        conn.poll(&limits, &mut buf, false),
        Ok(Event::Head)
    ));
    assert!(matches!(
        conn.poll(&limits, &mut buf, false),
        Ok(Event::NeedMore)
    ));
    assert!(buf.is_empty());
}

#[cfg(feature = "gzip")]
#[test]
fn gunzip_stage_rewrites_headers_and_hands_on_its_tail() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"compressed body").unwrap();
    let gz = enc.finish().unwrap();
    let limits = ReadLimits::new(HeadLimits::default(), 4096);
    for streamed in [false, true] {
        let mut conn = Connection::new(Server, &limits);
        let mut buf = BytesMut::from(
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                gz.len()
            )
            .as_bytes(),
        );
        buf.extend_from_slice(&gz);
        assert!(matches!(
            conn.poll(&limits, &mut buf, false),
            Ok(Event::Head)
        ));
        let head = conn.head_mut().unwrap();
        assert!(super::super::consume_gzip_encoding(&mut head.headers));
        conn.start_body(streamed, true);
        let mut got = Vec::new();
        let mut m = loop {
            match conn.poll(&limits, &mut buf, false).unwrap() {
                Event::Data => conn.take_data(&mut got),
                Event::Message(m) => break m,
                e => panic!("{e:?}"),
            }
        };
        got.append(&mut m.tail);
        let body = if streamed {
            got.concat()
        } else {
            m.body.to_vec()
        };
        assert_eq!(body, b"compressed body");
        assert_eq!(m.head.headers["x-consumed-content-encoding"], "gzip");
    }
}

/// Every case of the server-pipeline fuzz corpus: the first two bytes pick the splits
/// and the limits, as the fuzz target reads them.
#[test]
fn every_corpus_case() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/server_pipeline");
    let mut cases = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let (seed, stream) = if data.len() < 2 {
            (1, &data[..])
        } else {
            (
                u32::from(u16::from_le_bytes([data[0], data[1]])) | 1,
                &data[2..],
            )
        };
        let selector = (seed >> 8) as u8;
        let limits = if selector & 1 == 0 {
            HeadLimits::default()
        } else {
            HeadLimits {
                max_header_size: 64 + usize::from(selector),
                max_headers: 4,
            }
        };
        for streamed in [false, true] {
            every_split(stream, limits, streamed);
        }
        cases += 1;
    }
    assert!(cases >= 10, "corpus cases: {cases}");
}

#[test]
fn client_role_every_split() {
    let run = |pieces: &[&[u8]], method: Method| {
        let limits = ReadLimits::new(HeadLimits::default(), 4096);
        let mut conn = Connection::new(Client { method }, &limits);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            buf.extend_from_slice(piece);
            loop {
                match conn.poll(&limits, &mut buf, i + 1 == pieces.len()) {
                    Err(_) => return [out, vec!["error".to_string()]].concat(),
                    Ok(Event::Interim(h)) => out.push(format!("interim {}", h.status)),
                    Ok(Event::Head) => {
                        out.push(format!("head {}", conn.head_mut().unwrap().status))
                    }
                    Ok(Event::Message(m)) => {
                        out.push(format!("message {:?} {}", m.body, m.keep_alive));
                        return out;
                    }
                    Ok(Event::NeedMore) => break,
                    Ok(e) => {
                        out.push(format!("{e:?}"));
                        return out;
                    }
                }
            }
        }
        out
    };
    for (stream, method) in [
        (
            &b"HTTP/1.1 103 Early\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
            Method::GET,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
            Method::GET,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", Method::GET),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            Method::GET,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            Method::HEAD,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", Method::GET),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n",
            Method::POST,
        ),
    ] {
        let whole = run(&[stream], method.clone());
        assert!(whole.len() >= 2, "{whole:?}");
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            assert_eq!(run(&[a, b], method.clone()), whole, "split at {at}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&bytes, method.clone()), whole);
    }
}

/// An idle server connection holds only the core's state: its bounds come with each
/// poll, and a body's state is boxed only while a body is read.
#[test]
fn server_core_is_small_between_requests() {
    assert_eq!(std::mem::size_of::<Connection<Server>>(), 24);
}
