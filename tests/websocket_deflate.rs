//! permessage-deflate and the read side under hostile or unusual peers, over real sockets
//! on 127.0.0.1: DEFLATE streams that end with a final block, inflating in bounded steps
//! (other work runs between them), and messages that stall half-way.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use squall::http::server::HttpServer;
use squall::websocket::{accept, Message, WebSocket, WebSocketOptions};
use squall::{Handle, Reactor};
use support::ws::{echo_server, Raw};
use support::{with_peer, WAIT_LIMIT};

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/// One whole raw-deflate stream (ends with a final block), as a compressor that finishes
/// its stream for every message sends it.
fn finished_stream(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    let _ = c.compress_vec(data, &mut out, FlushCompress::Finish);
    assert_eq!(c.total_in() as usize, data.len());
    out
}

/// A sync-flushed message from a compressor that keeps its context, tail removed.
fn synced(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let _ = c.compress_vec(data, &mut out, FlushCompress::Sync);
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Inflates the server's compressed replies (one stream, context kept or not).
fn inflate_reply(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    let _ = d.decompress_vec(&input, &mut out, FlushDecompress::Sync);
    out
}

#[test]
fn deflate_streams_ending_with_a_final_block_lose_no_data() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) =
        echo_server(&reactor, WebSocketOptions::default().compression(true));
    let mut keeper = Compress::new(Compression::default(), false);
    let mut rfc_bfinal_hello = vec![0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    rfc_bfinal_hello.push(0x00); // RFC 7692 §7.2.3.6: the final block, then 0x00
    let messages: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            b"first message, its own finished stream".to_vec(),
            Vec::new(),
        ),
        (
            b"second message, another finished stream".to_vec(),
            Vec::new(),
        ),
        (b"Hello".to_vec(), rfc_bfinal_hello),
        (b"third: a kept context, sync flushed".to_vec(), Vec::new()),
        (
            b"third: a kept context, sync flushed again".to_vec(),
            Vec::new(),
        ),
        (b"last one finished again".to_vec(), Vec::new()),
    ];
    let wire: Vec<Vec<u8>> = messages
        .iter()
        .enumerate()
        .map(|(i, (text, given))| match i {
            _ if !given.is_empty() => given.clone(),
            3 | 4 => synced(&mut keeper, text),
            _ => finished_stream(text),
        })
        .collect();
    let echoed = with_peer(&mut reactor, move || {
        let (mut raw, head) = Raw::connect(addr, OFFER);
        assert!(head.contains("permessage-deflate"), "{head}");
        let mut d = Decompress::new(false);
        let mut got = Vec::new();
        for w in &wire {
            let f = raw.frame(1, true, true, w);
            raw.send_bytes(&f);
            let reply = raw.read_frame().expect("an echo");
            assert_eq!(reply.opcode, 1, "{reply:?}");
            got.push(if reply.rsv1 {
                inflate_reply(&mut d, &reply.payload)
            } else {
                reply.payload
            });
        }
        got
    });
    let expected: Vec<Vec<u8>> = messages.into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        echoed
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect::<Vec<_>>()
    );
    // Only the peer's own hang-up (1006, when it drops the socket) may be recorded.
    assert!(
        closes.all().iter().all(|(c, _)| *c == 1006),
        "{:?}",
        closes.all()
    );
}

#[test]
fn data_referring_back_across_a_finished_stream_fails_with_1007_not_wrong_data() {
    // A peer that finishes its stream but keeps its history (a preset dictionary) sends
    // back-references that a new stream cannot resolve: fail, never guess.
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) =
        echo_server(&reactor, WebSocketOptions::default().compression(true));
    let text = b"a sentence that will be repeated word for word".to_vec();
    let first = finished_stream(&text);
    let mut c = Compress::new(Compression::default(), false);
    c.set_dictionary(&text).unwrap();
    let mut second = Vec::with_capacity(256);
    let _ = c.compress_vec(&text, &mut second, FlushCompress::Finish);
    let code = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, OFFER);
        for w in [&first, &second] {
            let f = raw.frame(1, true, true, w);
            raw.send_bytes(&f);
        }
        let echo = raw.read_frame().expect("the first echo");
        assert_eq!(echo.opcode, 1);
        raw.read_close().close_code()
    });
    assert_eq!(code, Some(1007));
    assert_eq!(closes.all()[0].0, 1007);
}

/// Counts loop turns: a callback that re-adds itself until stopped.
fn ticker(handle: &Handle, ticks: Rc<Cell<u64>>, stop: Rc<Cell<bool>>) {
    let h = handle.clone();
    handle.add_callback(move || {
        if stop.get() {
            return;
        }
        ticks.set(ticks.get() + 1);
        ticker(&h, ticks, stop);
    });
}

#[test]
fn a_compressed_16_mib_message_is_inflated_over_many_loop_turns() {
    // 16 MiB of text that compresses to ~16 KiB, right behind a small message in the
    // same write: between the small message's delivery and the big one's, the loop must
    // have turned many times (bounded steps), not inflated it all in one callback.
    let (mut reactor, handle) = support::reactor();
    let ticks = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let seen: Rc<std::cell::RefCell<Vec<(usize, u64)>>> = Rc::default();
    let (t, s) = (ticks.clone(), stop.clone());
    let log = seen.clone();
    let options = WebSocketOptions::default()
        .compression(true)
        .max_message_size(32 << 20);
    let h = handle.clone();
    let server = HttpServer::new(&handle, move |req, resp| {
        if let Ok(ws) = accept(&req, resp, &options) {
            let (t, s, log, h) = (t.clone(), s.clone(), log.clone(), h.clone());
            ws.on_message(move |ws: &WebSocket, msg: Message| {
                let len = match &msg {
                    Message::Text(t) => t.len(),
                    Message::Binary(b) => b.len(),
                };
                log.borrow_mut().push((len, t.get()));
                if log.borrow().len() == 1 {
                    ticker(&h, t.clone(), s.clone());
                } else {
                    s.set(true);
                }
                ws.send_text(format!("{len}"))
            });
        }
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let big = "squall ".repeat((16 << 20) / 7);
    let mut c = Compress::new(Compression::new(9), false);
    let small = synced(&mut c, b"hello");
    let bomb = synced(&mut c, big.as_bytes());
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let big_len = big.len();
    let replies = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, OFFER);
        let mut both = raw.frame(1, true, true, &small);
        both.extend(raw.frame(1, true, true, &bomb));
        raw.send_bytes(&both);
        let mut d = Decompress::new(false);
        let a = raw.read_frame().expect("first echo");
        let b = raw.read_frame().expect("second echo");
        [a, b].map(|f| {
            let p = if f.rsv1 {
                inflate_reply(&mut d, &f.payload)
            } else {
                f.payload
            };
            String::from_utf8(p).unwrap()
        })
    });
    assert_eq!(replies, ["5".to_string(), big_len.to_string()]);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    let turns = seen[1].1 - seen[0].1;
    // 16 MiB in steps of at most 256 KiB: at least 64 steps, each its own turn.
    eprintln!("{turns} loop turns between the two deliveries");
    assert!(turns >= 32, "{turns} loop turns while inflating 16 MiB");
}

/// Runs `peer` in a thread with a raw client of a fresh echo server whose message
/// timeout is `timeout`, while the loop serves it; returns what `peer` returned and the
/// closes the server saw by then.
fn against_message_timeout<T: Send + 'static>(
    timeout: Duration,
    peer: impl FnOnce(&mut Raw) -> T + Send + 'static,
) -> (T, Vec<(u16, String)>) {
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default().message_timeout(Some(timeout));
    let (_server, addr, closes) = echo_server(&reactor, options);
    let out = with_peer(&mut reactor, move || peer(&mut Raw::connect(addr, "").0));
    (out, closes.all())
}

#[test]
fn a_message_that_stalls_half_way_is_closed_with_1008() {
    let ((code, waited), closes) = against_message_timeout(Duration::from_millis(300), |raw| {
        // A 1 MiB binary frame announced, 600 KiB of it sent, then nothing.
        let payload = vec![7u8; 1 << 20];
        let f = raw.frame(2, true, false, &payload);
        raw.send_bytes(&f[..600 << 10]);
        let start = std::time::Instant::now();
        let close = raw.read_close();
        (close.close_code(), start.elapsed())
    });
    assert_eq!(code, Some(1008));
    assert!(waited < WAIT_LIMIT, "{waited:?}");
    assert_eq!(closes[0], (1008, "message timeout".to_string()));
}

#[test]
fn a_slow_but_steady_message_is_not_cut() {
    let (echoed, closes) = against_message_timeout(Duration::from_secs(2), |raw| {
        // 20 pieces 100 ms apart: 2 s in all, each gap well under the timeout.
        let payload = vec![7u8; 20 * 1000];
        let f = raw.frame(2, true, false, &payload);
        for piece in f.chunks(f.len().div_ceil(20)) {
            raw.send_bytes(piece);
            std::thread::sleep(Duration::from_millis(100));
        }
        raw.read_frame().expect("the echo").payload.len()
    });
    assert_eq!(echoed, 20 * 1000);
    // Only the peer's own hang-up (1006, when it drops the socket) may be recorded.
    assert!(closes.iter().all(|(c, _)| *c == 1006), "{closes:?}");
}
