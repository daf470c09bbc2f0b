//! Behaviour of `IoStream` over real sockets (127.0.0.1 and Unix-domain pairs): every
//! read kind with data in one burst and in 1-byte pieces, delimiter limits, closes,
//! buffering, write ordering and back-pressure, close callbacks and idle timeouts.

mod support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use squall::stream::{IoStream, StreamOptions};
use squall::{Error, Future, Handle, Reactor};
use support::net::*;
use support::{run_for, run_until, wait, WAIT_LIMIT};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";

/// What a case starts from: a fresh reactor, its handle, a stream over one kind of socket
/// and the raw peer that feeds it (shared, so the loop can feed it piece by piece).
type Setup = (Reactor, Handle, IoStream, SharedPeer);

/// A [`Setup`] over `kind`, the stream made with `options`.
fn setup(kind: Kind, options: StreamOptions) -> Setup {
    let (reactor, h) = support::reactor();
    let (stream, peer) = stream_and_peer_with(&h, kind, options);
    (reactor, h, stream, shared(peer))
}

/// Runs `case` for every socket kind, on a fresh [`Setup`] with the default options each
/// time.
fn each_kind(mut case: impl FnMut(Setup, Kind)) {
    for kind in KINDS {
        case(setup(kind, StreamOptions::default()), kind);
    }
}

/// Runs `case` for every socket kind and delivery, on a fresh [`Setup`] each time, with a
/// context naming both for its messages.
fn each_setup(mut case: impl FnMut(Setup, Delivery, &str)) {
    for kind in KINDS {
        for delivery in DELIVERIES {
            let ctx = format!("{kind:?}, {delivery:?}");
            case(setup(kind, StreamOptions::default()), delivery, &ctx);
        }
    }
}

#[test]
fn read_until_finds_delimiter_in_bursts_and_single_bytes() {
    each_setup(|(mut reactor, h, stream, peer), delivery, ctx| {
        send(&h, &peer, REQUEST, delivery, false);
        let head = wait(&mut reactor, &stream.read_until(b"\r\n\r\n", Some(1024))).expect(ctx);
        assert_eq!(&head[..], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "{ctx}");
        let body = wait(&mut reactor, &stream.read_bytes(4, false)).expect(ctx);
        assert_eq!(&body[..], b"BODY", "{ctx}");
        assert!(!stream.is_closed(), "{ctx}");
    });
}

#[test]
fn read_bytes_exact_returns_exactly_n_in_bursts_and_single_bytes() {
    each_setup(|(mut reactor, h, stream, peer), delivery, ctx| {
        send(&h, &peer, b"0123456789abcdef", delivery, false);
        let first = wait(&mut reactor, &stream.read_bytes(10, false)).expect(ctx);
        assert_eq!(&first[..], b"0123456789", "{ctx}");
        let rest = wait(&mut reactor, &stream.read_bytes(6, false)).expect(ctx);
        assert_eq!(&rest[..], b"abcdef", "{ctx}");
    });
}

#[test]
fn read_bytes_partial_returns_what_is_there_up_to_n() {
    each_setup(|(mut reactor, h, stream, peer), delivery, ctx| {
        let data = b"0123456789abcdef";
        send(&h, &peer, data, delivery, true);
        let (got, sizes) = wait(&mut reactor, &collect_partial(&stream, 5)).expect(ctx);
        assert_eq!(&got[..], &data[..], "{ctx}");
        assert!(
            sizes.iter().all(|&n| (1..=5).contains(&n)),
            "{ctx}: {sizes:?}"
        );
        if delivery == Delivery::Burst {
            // Everything was buffered at once: full pieces, then the remainder.
            assert_eq!(sizes, vec![5, 5, 5, 1], "{ctx}");
        }
    });
}

#[test]
fn read_until_close_gets_everything_in_bursts_and_single_bytes() {
    each_setup(|(mut reactor, h, stream, peer), delivery, ctx| {
        send(&h, &peer, REQUEST, delivery, true);
        let all = wait(&mut reactor, &stream.read_until_close()).expect(ctx);
        assert_eq!(&all[..], REQUEST, "{ctx}");
        assert!(stream.is_closed(), "{ctx}");
        assert!(stream.error().is_none(), "{ctx}: {:?}", stream.error());
    });
}

/// A length-prefixed message parser (`11:hello world`) for `read_with`.
fn length_prefixed(
    calls: Rc<Cell<u32>>,
) -> impl FnMut(&mut bytes::BytesMut, bool) -> squall::Result<Option<String>> {
    move |buf, _closed| {
        calls.set(calls.get() + 1);
        let Some(colon) = buf.iter().position(|&b| b == b':') else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&buf[..colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::http(400, "bad length"))?;
        if buf.len() < colon + 1 + len {
            return Ok(None);
        }
        buf.advance(colon + 1);
        let body = buf.split_to(len);
        Ok(Some(String::from_utf8(body.to_vec()).unwrap()))
    }
}

#[test]
fn read_with_parses_in_place_in_bursts_and_single_bytes() {
    each_setup(|(mut reactor, h, stream, peer), delivery, ctx| {
        send(&h, &peer, b"11:hello world5:again", delivery, false);
        let calls = Rc::new(Cell::new(0));
        let msg = wait(
            &mut reactor,
            &stream.read_with(length_prefixed(calls.clone())),
        )
        .expect(ctx);
        assert_eq!(msg, "hello world", "{ctx}");
        if delivery != Delivery::Burst {
            assert!(calls.get() >= 2, "{ctx}: parser ran {} times", calls.get());
        }
        // The parser consumed only its message; the next one is still buffered or coming.
        let next = wait(
            &mut reactor,
            &stream.read_with(length_prefixed(calls.clone())),
        )
        .expect(ctx);
        assert_eq!(next, "again", "{ctx}");
    });
}

#[test]
fn read_with_error_fails_the_read_and_closes_the_stream() {
    let (mut reactor, h, stream, peer) = setup(Kind::Unix, StreamOptions::default());
    send(&h, &peer, b"xx:oops", Delivery::Burst, false);
    let r = wait(
        &mut reactor,
        &stream.read_with(length_prefixed(Rc::new(Cell::new(0)))),
    );
    assert!(matches!(r, Err(Error::Http { status: 400, .. })), "{r:?}");
    assert!(stream.is_closed());
}

/// Writes `first`, waits until the stream buffered it (the read is still pending), then
/// writes `second`: the delimiter is guaranteed to be split across two reads.
fn split_delimiter_case(kind: Kind, first: &[u8], second: &[u8], delimiter: &[u8], expect: &[u8]) {
    let (mut reactor, h, stream, peer) = setup(kind, StreamOptions::default());
    let read = stream.read_until(delimiter, Some(1024));
    send(&h, &peer, first, Delivery::Burst, false);
    run_until(&mut reactor, "the first bytes buffered", || {
        stream.buffered() == first.len()
    });
    assert!(
        !read.is_done(),
        "{kind:?}: resolved before the delimiter was complete"
    );
    send(&h, &peer, second, Delivery::Burst, false);
    let got = wait(&mut reactor, &read).unwrap();
    assert_eq!(&got[..], expect, "{kind:?}");
}

#[test]
fn delimiter_split_across_packets_is_found() {
    for kind in KINDS {
        split_delimiter_case(kind, b"abc\r", b"\nrest", b"\r\n", b"abc\r\n");
        split_delimiter_case(kind, b"head\r\n", b"\r\nbody", b"\r\n\r\n", b"head\r\n\r\n");
        split_delimiter_case(
            kind,
            b"a\r\n\r",
            b"x\r\n\r\n",
            b"\r\n\r\n",
            b"a\r\n\rx\r\n\r\n",
        );
        split_delimiter_case(kind, b"a\r\n\r", b"\n", b"\r\n\r\n", b"a\r\n\r\n");
    }
}

#[test]
fn max_bytes_exceeded_fails_with_unsatisfiable_read_and_closes() {
    // (data, delivery, max_bytes): no delimiter at all, or one that comes too late.
    let cases: [(&[u8], Delivery, usize); 4] = [
        (&[b'a'; 100], Delivery::Burst, 16),
        (b"0123456789\n", Delivery::Burst, 5),
        (b"0123456789\n", Delivery::PerIteration, 8),
        (b"0123456789\n", Delivery::PerTick, 8),
    ];
    for kind in KINDS {
        for (data, delivery, max) in cases {
            let ctx = format!("{kind:?} {delivery:?} max {max}");
            let (mut reactor, h, stream, peer) = setup(kind, StreamOptions::default());
            let (closed, _) = on_close(&stream);
            send(&h, &peer, data, delivery, false);
            let r = wait(&mut reactor, &stream.read_until(b"\n", Some(max)));
            assert!(
                matches!(r, Err(Error::UnsatisfiableRead(_))),
                "{ctx}: {r:?}"
            );
            assert!(stream.is_closed(), "{ctx}");
            assert!(
                matches!(stream.error(), Some(Error::UnsatisfiableRead(_))),
                "{ctx}"
            );
            let e = wait(&mut reactor, &closed).unwrap();
            assert!(
                matches!(e, Some(Error::UnsatisfiableRead(_))),
                "{ctx}: {e:?}"
            );
        }
    }
}

#[test]
fn delimiter_exactly_at_max_bytes_is_accepted() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        send(&h, &peer, b"0123\nmore", Delivery::Burst, false);
        let line = wait(&mut reactor, &stream.read_until(b"\n", Some(5))).unwrap();
        assert_eq!(&line[..], b"0123\n", "{kind:?}");
        assert!(!stream.is_closed());
    })
}

#[test]
fn peer_close_fails_pending_reads_except_read_until_close() {
    type Start = fn(&IoStream) -> Future<Bytes>;
    /// What the read is, the bytes sent before closing, the expected outcome.
    type Case = (&'static str, Start, &'static [u8], Option<&'static [u8]>);
    let cases: [Case; 5] = [
        (
            "read_until",
            |s| s.read_until(b"\n", Some(1024)),
            b"no newline",
            None,
        ),
        (
            "read_bytes exact",
            |s| s.read_bytes(10, false),
            b"four",
            None,
        ),
        ("read_bytes partial", |s| s.read_bytes(10, true), b"", None),
        (
            "read_until_close",
            |s| s.read_until_close(),
            b"all of it",
            Some(b"all of it"),
        ),
        (
            "read_until_close empty",
            |s| s.read_until_close(),
            b"",
            Some(b""),
        ),
    ];
    for kind in KINDS {
        for (name, start, sent, expect) in cases {
            let ctx = format!("{kind:?} {name}");
            let (mut reactor, h, stream, peer) = setup(kind, StreamOptions::default());
            let read = start(&stream);
            send(&h, &peer, sent, Delivery::Burst, false);
            run_until(&mut reactor, "everything sent buffered", || {
                stream.buffered() == sent.len()
            });
            assert!(!read.is_done(), "{ctx}: resolved before the close");
            close_peer(&peer);
            let r = wait(&mut reactor, &read);
            match expect {
                Some(data) => assert_eq!(&r.expect(&ctx)[..], data, "{ctx}"),
                None => assert!(matches!(r, Err(Error::StreamClosed)), "{ctx}: {r:?}"),
            }
            assert!(stream.is_closed(), "{ctx}");
        }
    }
}

#[test]
fn peer_close_during_read_with_calls_the_parser_with_closed_then_fails() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        let seen_closed = Rc::new(RefCell::new(None));
        let seen = seen_closed.clone();
        let read = stream.read_with(move |buf, closed| -> squall::Result<Option<()>> {
            if closed {
                *seen.borrow_mut() = Some(buf.to_vec());
            }
            Ok(None)
        });
        send(&h, &peer, b"partial", Delivery::Burst, true);
        let r = wait(&mut reactor, &read);
        assert!(matches!(r, Err(Error::StreamClosed)), "{kind:?}: {r:?}");
        assert_eq!(
            seen_closed.borrow().as_deref(),
            Some(&b"partial"[..]),
            "{kind:?}"
        );
    })
}

#[test]
fn peer_close_still_serves_buffered_data_to_later_reads() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        let (closed, _) = on_close(&stream);
        send(&h, &peer, b"line\ntail", Delivery::Burst, true);
        assert_eq!(
            wait(&mut reactor, &closed).unwrap().map(|e| e.to_string()),
            None
        );
        let line = wait(&mut reactor, &stream.read_until(b"\n", None)).unwrap();
        assert_eq!(&line[..], b"line\n", "{kind:?}");
        let r = wait(&mut reactor, &stream.read_until(b"\n", None));
        assert!(matches!(r, Err(Error::StreamClosed)), "{kind:?}: {r:?}");
    })
}

#[test]
fn second_pending_read_fails_with_invalid_state_without_disturbing_the_first() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        let first = stream.read_until(b"\n", Some(1024));
        let seconds = [
            stream.read_bytes(1, false),
            stream.read_bytes(1, true),
            stream.read_until(b"\n", None),
            stream.read_until_close(),
        ];
        let custom = stream.read_with(|_buf, _closed| Ok(Some(())));
        for second in &seconds {
            let r = wait(&mut reactor, second);
            assert!(matches!(r, Err(Error::InvalidState(_))), "{kind:?}: {r:?}");
        }
        let r = wait(&mut reactor, &custom);
        assert!(matches!(r, Err(Error::InvalidState(_))), "{kind:?}: {r:?}");
        assert!(!first.is_done() && stream.reading() && !stream.is_closed());
        send(&h, &peer, b"hello\nworld", Delivery::Burst, false);
        let line = wait(&mut reactor, &first).unwrap();
        assert_eq!(&line[..], b"hello\n", "{kind:?}");
        assert_eq!(
            &wait(&mut reactor, &stream.read_bytes(5, false)).unwrap()[..],
            b"world"
        );
    })
}

#[test]
fn buffered_lines_are_served_without_the_socket() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        send(&h, &peer, b"one\ntwo\n", Delivery::Burst, false);
        let one = wait(&mut reactor, &stream.read_until(b"\n", Some(64))).unwrap();
        assert_eq!(&one[..], b"one\n");
        assert_eq!(stream.buffered(), 4, "{kind:?}: second line not buffered");
        // Served at once, before the loop runs again: no socket read involved.
        let two = stream.read_until(b"\n", Some(64));
        assert!(
            two.is_done(),
            "{kind:?}: buffered line not served synchronously"
        );
        assert_eq!(&wait(&mut reactor, &two).unwrap()[..], b"two\n");
        assert_eq!(stream.buffered(), 0);
    })
}

#[test]
fn ten_thousand_queued_writes_arrive_in_order() {
    const N: usize = 10_000;
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let (writer, reader) = stream_pair_small_buffers(&h, kind, 64 * 1024);
        let order = Rc::new(RefCell::new(Vec::with_capacity(N)));
        let mut total = 0;
        // Record i: "iiiiii:" then (i % 600) filler bytes, ~3 MB in all: far more than
        // the kernel buffers hold, so most of it waits in the stream's queue.
        for i in 0..N {
            let mut rec = format!("{i:06}:").into_bytes();
            rec.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 600));
            total += rec.len();
            let o = order.clone();
            writer.write(rec).add_done_callback(move |f| {
                assert!(matches!(f.take_result(), Some(Ok(()))));
                o.borrow_mut().push(i);
            });
        }
        assert!(
            writer.write_buffer_len() > 0,
            "{kind:?}: nothing was queued"
        );
        let data = wait(&mut reactor, &reader.read_bytes(total, false)).unwrap();
        let mut rest = &data[..];
        for i in 0..N {
            let head = format!("{i:06}:");
            assert!(
                rest.starts_with(head.as_bytes()),
                "{kind:?}: record {i} out of place"
            );
            rest = &rest[head.len()..];
            let fill = i % 600;
            assert!(
                rest[..fill].iter().all(|&b| b == b'a' + (i % 26) as u8),
                "{kind:?}: record {i}"
            );
            rest = &rest[fill..];
        }
        assert!(rest.is_empty());
        run_until(&mut reactor, "every callback", || order.borrow().len() == N);
        assert!(
            order.borrow().iter().copied().eq(0..N),
            "{kind:?}: write futures out of order"
        );
        assert_eq!(writer.write_buffer_len(), 0);
    }
}

#[test]
fn slow_reader_hits_max_write_buffer_size_instead_of_growing() {
    const LIMIT: usize = 256 * 1024;
    const CHUNK: usize = 16 * 1024;
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let options = StreamOptions::default().max_write_buffer_size(Some(LIMIT));
        let (stream, mut peer) = stream_and_peer_with(&h, kind, options);
        let chunk = Bytes::from(vec![b'x'; CHUNK]);
        let mut accepted = 0usize;
        let mut last_ok = None;
        let mut refused = None;
        // The peer reads nothing: the kernel buffers fill, then the stream's queue.
        for _ in 0..10_000 {
            let f = stream.write(chunk.clone());
            if f.is_done()
                && let Some(Err(e)) = f.take_result()
            {
                refused = Some(e);
                break;
            }
            accepted += CHUNK;
            last_ok = Some(f);
            assert!(
                stream.write_buffer_len() <= LIMIT,
                "{kind:?}: queue grew past the limit"
            );
        }
        assert!(
            matches!(refused, Some(Error::StreamBufferFull)),
            "{kind:?}: {refused:?}"
        );
        assert!(
            stream.write_buffer_cost() + CHUNK > LIMIT,
            "{kind:?}: refused too early"
        );
        assert!(
            stream.write_buffer_cost() <= LIMIT,
            "{kind:?}: queued memory grew past the limit"
        );
        assert!(!stream.is_closed() && stream.error().is_none(), "{kind:?}");
        assert!(
            !stream.write_and_forget(chunk.clone()),
            "{kind:?}: write_and_forget accepted"
        );

        // Once the peer drains, the stream flushes and takes writes again.
        let expect = accepted + 3;
        let drain = std::thread::spawn(move || {
            let mut got = Vec::with_capacity(expect);
            let mut buf = vec![0; 64 * 1024];
            while got.len() < expect {
                let n = peer.read(&mut buf).expect("peer read");
                assert!(n > 0, "EOF after {} of {expect} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        wait(&mut reactor, &last_ok.unwrap()).unwrap();
        wait(&mut reactor, &stream.write(&b"END"[..])).unwrap();
        let got = drain.join().unwrap();
        assert_eq!(got.len(), expect, "{kind:?}");
        assert!(got[..accepted].iter().all(|&b| b == b'x') && got.ends_with(b"END"));
    }
}

#[test]
fn close_callback_fires_once_on_local_close() {
    each_kind(|(mut reactor, _, stream, peer), kind| {
        let (closed, count) = on_close(&stream);
        stream.close();
        assert_eq!(count.get(), 0, "close callback ran inside close()");
        stream.close();
        close_peer(&peer);
        assert!(wait(&mut reactor, &closed).unwrap().is_none());
        run_for(&mut reactor, Duration::from_millis(30));
        assert_eq!(count.get(), 1, "{kind:?}");
        // Writes and reads on a closed stream fail cleanly.
        assert!(matches!(
            wait(&mut reactor, &stream.write(&b"x"[..])),
            Err(Error::StreamClosed)
        ));
        assert!(matches!(
            wait(&mut reactor, &stream.read_bytes(1, false)),
            Err(Error::StreamClosed)
        ));
    })
}

#[test]
fn close_callback_fires_once_when_peer_closes_without_a_pending_read() {
    each_kind(|(mut reactor, _, stream, peer), kind| {
        let (closed, count) = on_close(&stream);
        close_peer(&peer);
        assert!(wait(&mut reactor, &closed).unwrap().is_none(), "{kind:?}");
        assert!(stream.is_closed());
        stream.close();
        run_for(&mut reactor, Duration::from_millis(30));
        assert_eq!(count.get(), 1, "{kind:?}");
    })
}

#[test]
fn close_callback_set_after_close_runs_on_next_iteration() {
    let (mut reactor, _, stream, _peer) = setup(Kind::Unix, StreamOptions::default());
    stream.close();
    let (closed, count) = on_close(&stream);
    assert_eq!(count.get(), 0);
    assert!(wait(&mut reactor, &closed).unwrap().is_none());
    assert_eq!(count.get(), 1);
}

#[test]
fn close_callback_gets_the_error_that_closed_the_stream() {
    let (mut reactor, h, stream, peer) = setup(Kind::Tcp, StreamOptions::default());
    let (closed, count) = on_close(&stream);
    send(&h, &peer, b"far too long a line\n", Delivery::Burst, false);
    let r = wait(&mut reactor, &stream.read_until(b"\n", Some(4)));
    assert!(matches!(r, Err(Error::UnsatisfiableRead(_))));
    let e = wait(&mut reactor, &closed).unwrap();
    assert!(matches!(e, Some(Error::UnsatisfiableRead(_))), "{e:?}");
    stream.close();
    run_for(&mut reactor, Duration::from_millis(30));
    assert_eq!(count.get(), 1);
}

#[test]
fn idle_timeout_closes_with_timeout_error() {
    const IDLE: Duration = Duration::from_millis(100);
    for kind in KINDS {
        let options = StreamOptions::default().idle_timeout(Some(IDLE));
        let start = Instant::now();
        let (mut reactor, _, stream, _peer) = setup(kind, options);
        let (closed, count) = on_close(&stream);
        let read = stream.read_until(b"\n", None);
        let e = wait(&mut reactor, &closed).unwrap();
        let elapsed = start.elapsed();
        assert!(matches!(e, Some(Error::Timeout)), "{kind:?}: {e:?}");
        assert!(elapsed >= IDLE, "{kind:?}: closed after {elapsed:?}");
        assert!(matches!(stream.error(), Some(Error::Timeout)));
        assert!(matches!(
            wait(&mut reactor, &read),
            Err(Error::StreamClosed)
        ));
        assert_eq!(count.get(), 1);
    }
}

#[test]
fn idle_timeout_is_postponed_by_activity() {
    // A tick 20x shorter than the timeout: on a loaded machine a timer may fire late by
    // hundreds of ms and a slipped tick must not pass for idleness.
    const IDLE: Duration = Duration::from_millis(1000);
    const TICK: Duration = Duration::from_millis(50);
    const BYTES: usize = 40; // 40 ticks of 50 ms: 2 s of activity, twice the timeout
    for kind in KINDS {
        let options = StreamOptions::default().idle_timeout(Some(IDLE));
        let (mut reactor, h, stream, peer) = setup(kind, options);
        let (closed, _) = on_close(&stream);
        // The peer sends one byte per tick; the stream reads each as it comes.
        let last_byte_at = Rc::new(Cell::new(None));
        fn tick(h: squall::Handle, peer: SharedPeer, left: usize, last: Rc<Cell<Option<Instant>>>) {
            if left == 0 {
                return;
            }
            if let Some(p) = peer.borrow_mut().as_mut() {
                std::io::Write::write_all(p, b"x").unwrap();
            }
            last.set(Some(Instant::now()));
            let h2 = h.clone();
            h.call_later(TICK, move || tick(h2, peer, left - 1, last));
        }
        tick(h.clone(), peer.clone(), BYTES, last_byte_at.clone());
        let got = collect_partial(&stream, 1);
        let e = wait(&mut reactor, &closed).unwrap();
        let closed_at = Instant::now();
        assert!(matches!(e, Some(Error::Timeout)), "{kind:?}: {e:?}");
        let (data, _) = wait(&mut reactor, &got).unwrap();
        assert_eq!(
            data.len(),
            BYTES,
            "{kind:?}: closed while the peer was still active"
        );
        let quiet = closed_at - last_byte_at.get().unwrap();
        // The coarse clock the stream uses may round by a few ms.
        assert!(
            quiet + Duration::from_millis(10) >= IDLE,
            "{kind:?}: closed {quiet:?} after the last byte"
        );
    }
}

#[test]
fn read_needing_more_than_max_buffer_size_fails_with_stream_buffer_full() {
    type Start = fn(&IoStream) -> Future<Bytes>;
    let cases: [(&str, Start); 3] = [
        ("read_bytes", |s| s.read_bytes(64 * 1024, false)),
        ("read_until", |s| s.read_until(b"\n", None)),
        ("read_until_close", |s| s.read_until_close()),
    ];
    for kind in KINDS {
        for (name, start) in cases {
            let ctx = format!("{kind:?} {name}");
            let options = StreamOptions::default().max_buffer_size(4096);
            let (mut reactor, h, stream, peer) = setup(kind, options);
            let (closed, _) = on_close(&stream);
            let read = start(&stream);
            send(&h, &peer, &[b'z'; 16 * 1024], Delivery::Burst, false);
            let r = wait(&mut reactor, &read);
            assert!(matches!(r, Err(Error::StreamBufferFull)), "{ctx}: {r:?}");
            assert!(stream.is_closed(), "{ctx}");
            let e = wait(&mut reactor, &closed).unwrap();
            assert!(matches!(e, Some(Error::StreamBufferFull)), "{ctx}: {e:?}");
        }
    }
}

/// Writes `data` from `peer` on a thread (blocking, so the kernel's buffers need not
/// hold all of it at once); returns how much the peer wrote before an error.
fn write_from_thread(mut peer: Peer, data: Vec<u8>) -> std::thread::JoinHandle<(Peer, usize)> {
    std::thread::spawn(move || {
        let _ = match &peer {
            Peer::Tcp(s) => s.set_write_timeout(Some(WAIT_LIMIT)),
            Peer::Unix(s) => s.set_write_timeout(Some(WAIT_LIMIT)),
        };
        let written = match std::io::Write::write_all(&mut peer, &data) {
            Ok(()) => data.len(),
            Err(_) => 0,
        };
        (peer, written)
    })
}

/// Chains `count` reads made by `start`, collecting what each returned and the most
/// bytes the stream held buffered at any done-callback.
fn chain_reads(
    stream: &IoStream,
    count: usize,
    start: fn(&IoStream) -> Future<Bytes>,
) -> Future<(Vec<Bytes>, usize)> {
    fn step(
        stream: IoStream,
        left: usize,
        start: fn(&IoStream) -> Future<Bytes>,
        mut acc: Vec<Bytes>,
        most: usize,
        out: Future<(Vec<Bytes>, usize)>,
    ) {
        if left == 0 {
            out.set_result((acc, most));
            return;
        }
        let s = stream.clone();
        start(&stream).add_done_callback(move |f| match f.take_result() {
            Some(Ok(piece)) => {
                acc.push(piece);
                let most = most.max(s.buffered());
                step(s, left - 1, start, acc, most, out);
            }
            Some(Err(e)) => out.set_error(e),
            None => out.set_error(Error::invalid_state("read result taken")),
        });
    }
    let out = Future::new();
    step(stream.clone(), count, start, Vec::new(), 0, out.clone());
    out
}

/// Tornado's small reads from a large buffer, over `kind`: the peer writes `data` from a
/// thread while a stream that buffers at most 10 KiB serves 100 reads made by `start`.
/// The pieces must make `data`, the buffer never hold more than its limit, the stream
/// stay open and the peer write everything; returns the pieces.
fn small_reads_from_a_large_buffer(
    kind: Kind,
    data: &[u8],
    start: fn(&IoStream) -> Future<Bytes>,
) -> Vec<Bytes> {
    const MAX: usize = 10 * 1024;
    let (mut reactor, h) = support::reactor();
    let options = StreamOptions::default().max_buffer_size(MAX);
    let (stream, peer) = stream_and_peer_with(&h, kind, options);
    let writer = write_from_thread(peer, data.to_vec());
    let reads = chain_reads(&stream, 100, start);
    let (pieces, most) = wait(&mut reactor, &reads).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert_eq!(pieces.concat(), data, "{kind:?}");
    assert!(most <= MAX, "{kind:?}: buffered {most} > {MAX}");
    assert!(!stream.is_closed(), "{kind:?}");
    let (_peer, written) = writer.join().unwrap();
    assert_eq!(written, data.len());
    pieces
}

/// Tornado's `test_small_reads_from_large_buffer`: a buffer limit bounds what the
/// stream takes from the socket, not what a peer may send in total.
#[test]
fn small_reads_from_a_large_buffer_all_succeed() {
    let data: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
    for kind in KINDS {
        let pieces = small_reads_from_a_large_buffer(kind, &data, |s| s.read_bytes(1024, false));
        assert!(pieces.iter().all(|p| p.len() == 1024), "{kind:?}");
    }
}

/// Tornado's `test_small_read_untils_from_large_buffer`.
#[test]
fn small_read_untils_from_a_large_buffer_all_succeed() {
    let mut data = Vec::new();
    for i in 0..100u8 {
        data.extend(std::iter::repeat_n(b'a' + i % 26, 1023));
        data.push(b'\n');
    }
    for kind in KINDS {
        let lines =
            small_reads_from_a_large_buffer(kind, &data, |s| s.read_until(b"\n", Some(4096)));
        assert!(
            lines.iter().all(|l| l.len() == 1024 && l.ends_with(b"\n")),
            "{kind:?}"
        );
    }
}

/// A read that fits is served even when the peer sent far more than the limit, and
/// the bytes beyond it stay in the kernel until a read wants them.
#[test]
fn bytes_beyond_the_buffer_limit_stay_in_the_kernel_until_read() {
    const MAX: usize = 4096;
    for kind in KINDS {
        let options = StreamOptions::default().max_buffer_size(MAX);
        let (mut reactor, h, stream, peer) = setup(kind, options);
        let (_closed, _) = on_close(&stream); // reads ahead while idle, to notice a close
        send(&h, &peer, &[b'q'; 32 * 1024], Delivery::Burst, true);
        let first = wait(&mut reactor, &stream.read_bytes(100, false)).unwrap();
        assert_eq!(first.len(), 100);
        run_until(&mut reactor, "a full buffer or the close", || {
            stream.buffered() == MAX || stream.is_closed()
        });
        // Idle, with the buffer at its limit: nothing more is taken and nothing fails,
        // though the socket stays readable (a stream that wanted more would take it on
        // any of these iterations).
        for _ in 0..10 {
            reactor.run_once(Some(Duration::ZERO)).unwrap();
        }
        assert!(stream.buffered() <= MAX, "{kind:?}: {}", stream.buffered());
        assert!(!stream.is_closed(), "{kind:?}: {:?}", stream.error());
        let rest = wait(&mut reactor, &stream.read_until_close());
        // 32 KiB > MAX: the peer's close cannot be reached within the limit.
        assert!(
            matches!(rest, Err(Error::StreamBufferFull)),
            "{kind:?}: {rest:?}"
        );
    }
}

/// Sets `stream`'s close callback, then starts `op`; records `label` when `op` is done and
/// `close` when the close callback runs, in the order they ran. Returns `op`'s future and
/// the record.
fn done_and_close<T: 'static>(
    stream: &IoStream,
    label: &'static str,
    op: impl FnOnce() -> Future<T>,
) -> (Future<T>, Rc<RefCell<Vec<&'static str>>>) {
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    stream.set_close_callback(move |_| o.borrow_mut().push("close"));
    let o = order.clone();
    let f = op();
    f.add_done_callback(move |_| o.borrow_mut().push(label));
    (f, order)
}

/// The last data is processed before teardown: a read (or write) that the close
/// completes runs its done-callbacks before the close callback.
#[test]
fn read_done_callbacks_run_before_the_close_callback() {
    type Start = fn(&IoStream) -> Future<Bytes>;
    let cases: [(&str, Start); 3] = [
        ("read_until_close", |s| s.read_until_close()),
        ("read_bytes exact", |s| s.read_bytes(100, false)),
        ("read_until", |s| s.read_until(b"\n", None)),
    ];
    for kind in KINDS {
        for (name, start) in cases {
            let ctx = format!("{kind:?} {name}");
            let (mut reactor, h, stream, peer) = setup(kind, StreamOptions::default());
            let (_read, order) = done_and_close(&stream, "read", || start(&stream));
            send(&h, &peer, b"last words", Delivery::Burst, true);
            run_until(&mut reactor, "both callbacks", || order.borrow().len() == 2);
            assert_eq!(*order.borrow(), ["read", "close"], "{ctx}");
        }
    }
}

#[test]
fn read_with_done_callbacks_run_before_the_close_callback() {
    each_kind(|(mut reactor, h, stream, peer), kind| {
        let (read, order) = done_and_close(&stream, "read", || {
            stream.read_with(|buf, closed| -> squall::Result<Option<usize>> {
                Ok(closed.then(|| buf.split().len()))
            })
        });
        send(&h, &peer, b"last words", Delivery::Burst, true);
        run_until(&mut reactor, "both callbacks", || order.borrow().len() == 2);
        assert_eq!(*order.borrow(), ["read", "close"], "{kind:?}");
        assert_eq!(wait(&mut reactor, &read).unwrap(), 10);
    })
}

#[test]
fn write_done_callbacks_run_before_the_close_callback() {
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let (writer, _reader) = stream_pair_small_buffers(&h, kind, 4096);
        // Far more than the kernel takes: the write stays queued until the close.
        let (write, order) = done_and_close(&writer, "write", || {
            writer.write(vec![b'w'; 4 * 1024 * 1024])
        });
        assert!(!write.is_done(), "{kind:?}: the kernel took it all");
        writer.close();
        run_until(&mut reactor, "both callbacks", || order.borrow().len() == 2);
        assert_eq!(*order.borrow(), ["write", "close"], "{kind:?}");
        assert!(matches!(
            wait(&mut reactor, &write),
            Err(Error::StreamClosed)
        ));
    }
}

#[test]
fn drained_to_resolves_once_the_write_queue_is_down_to_the_mark() {
    const TOTAL: usize = 256 * 1024;
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let (writer, reader) = stream_pair_small_buffers(&h, kind, 16 * 1024);
        writer.write_and_forget(vec![b'd'; TOTAL]);
        let queued = writer.write_buffer_len();
        assert!(
            queued > TOTAL / 2,
            "{kind:?}: the kernel took {}",
            TOTAL - queued
        );
        // Asked out of order: each resolves when its own mark is reached.
        let seen = Rc::new(RefCell::new(Vec::new()));
        for mark in [0, queued / 2, queued - 1] {
            let (w, seen) = (writer.clone(), seen.clone());
            writer.drained_to(mark).add_done_callback(move |f| {
                seen.borrow_mut()
                    .push((mark, w.write_buffer_len(), f.take_result()))
            });
        }
        let all = reader.read_bytes(TOTAL, false);
        assert!(
            seen.borrow().is_empty(),
            "{kind:?}: resolved inside the call"
        );
        assert_eq!(wait(&mut reactor, &all).unwrap().len(), TOTAL, "{kind:?}");
        run_until(&mut reactor, "three callbacks", || seen.borrow().len() == 3);
        let seen = seen.borrow();
        let marks: Vec<usize> = seen.iter().map(|s| s.0).collect();
        assert_eq!(marks, [queued - 1, queued / 2, 0], "{kind:?}");
        for (mark, len, r) in seen.iter() {
            assert!(matches!(r, Some(Ok(()))), "{kind:?} {mark}: {r:?}");
            assert!(len <= mark, "{kind:?}: {len} bytes queued at mark {mark}");
        }
        // Already there: resolves (on the loop); closed: fails.
        assert!(wait(&mut reactor, &writer.drained_to(0)).is_ok());
        writer.write_and_forget(vec![b'e'; TOTAL]);
        let pending = writer.drained_to(0);
        writer.close();
        assert!(matches!(
            wait(&mut reactor, &pending),
            Err(Error::StreamClosed)
        ));
        assert!(matches!(
            wait(&mut reactor, &writer.drained_to(0)),
            Err(Error::StreamClosed)
        ));
    }
}

/// The limit is exact: a read of `max_buffer_size` bytes succeeds, one byte more fails,
/// and `read_until_close` of a stream exactly that long gets all of it.
#[test]
fn buffer_limit_is_exact_at_the_boundary() {
    const MAX: usize = 4096;
    type Start = fn(&IoStream) -> Future<Bytes>;
    // The read, what the peer sends (then closes or not), the expected length or None
    // for StreamBufferFull.
    type Case = (&'static str, Start, usize, bool, Option<usize>);
    let cases: [Case; 6] = [
        (
            "read_bytes max",
            |s| s.read_bytes(MAX, false),
            2 * MAX,
            false,
            Some(MAX),
        ),
        (
            "read_bytes max+1",
            |s| s.read_bytes(MAX + 1, false),
            2 * MAX,
            false,
            None,
        ),
        (
            "read_until at max",
            |s| s.read_until(b"\n", None),
            MAX,
            false,
            Some(MAX),
        ),
        (
            "read_until beyond",
            |s| s.read_until(b"\n", None),
            MAX + 1,
            false,
            None,
        ),
        (
            "read_until_close max",
            |s| s.read_until_close(),
            MAX,
            true,
            Some(MAX),
        ),
        (
            "read_until_close max+1",
            |s| s.read_until_close(),
            MAX + 1,
            true,
            None,
        ),
    ];
    for kind in KINDS {
        for (name, start, len, close, expect) in cases {
            let ctx = format!("{kind:?} {name}");
            let options = StreamOptions::default().max_buffer_size(MAX);
            let (mut reactor, h, stream, peer) = setup(kind, options);
            let mut data = vec![b'b'; len];
            if name.starts_with("read_until ") {
                // The delimiter is the last byte: at the limit, or one beyond it.
                *data.last_mut().unwrap() = b'\n';
            }
            let read = start(&stream);
            send(&h, &peer, &data, Delivery::Burst, close);
            let r = wait(&mut reactor, &read);
            match expect {
                Some(n) => assert_eq!(r.expect(&ctx).len(), n, "{ctx}"),
                None => assert!(matches!(r, Err(Error::StreamBufferFull)), "{ctx}: {r:?}"),
            }
        }
    }
}

#[test]
fn a_panicking_read_with_parser_closes_its_stream_with_the_panic() {
    // The loop catches the parser's panic (and logs it); the stream must not be left
    // believing a callback still runs (its writes would queue forever): it closes, with
    // the panic as its error, and the peer sees the end of the stream.
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let (stream, mut peer) = stream_and_peer(&h, kind);
        let (closed, _) = on_close(&stream);
        let read = stream
            .read_with(|_buf, _closed| -> squall::Result<Option<()>> { panic!("a parser bug") });
        peer.write_all(b"x").unwrap();
        let error = wait(&mut reactor, &closed).unwrap();
        assert!(
            matches!(error, Some(Error::Panicked(_))),
            "{kind:?}: closed with {error:?}"
        );
        assert!(stream.is_closed(), "{kind:?}");
        drop(read);
        peer.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{kind:?}: {rest:?}");
    }
}

#[test]
fn a_read_started_by_a_parser_that_wants_more_runs_on_what_is_buffered() {
    // The first parser hands over to a second one (a new read started from inside it)
    // and returns "not done": the second must see the bytes already buffered, not wait
    // for more that may never come.
    for kind in KINDS {
        let (mut reactor, h) = support::reactor();
        let (stream, mut peer) = stream_and_peer(&h, kind);
        let second: Rc<RefCell<Option<Future<Bytes>>>> = Rc::default();
        let (s, slot) = (stream.clone(), second.clone());
        let _first = stream.read_with(move |_buf, _closed| -> squall::Result<Option<()>> {
            if slot.borrow().is_none() {
                let next = s.read_with(|buf, _closed| Ok(Some(buf.split().freeze())));
                *slot.borrow_mut() = Some(next);
            }
            Ok(None)
        });
        peer.write_all(b"hello").unwrap();
        run_until(&mut reactor, "the first parser to run", || {
            second.borrow().is_some()
        });
        let next = second.borrow().clone().unwrap();
        assert_eq!(
            &wait(&mut reactor, &next).unwrap()[..],
            b"hello",
            "{kind:?}"
        );
    }
}
