//! Compressed sends in bounded steps, over real sockets on 127.0.0.1: a large message is
//! compressed a piece per loop turn and sent as a fragmented message; messages stay in
//! order, control frames go between the fragments, closing waits for or drops the rest
//! as documented, and what waits behind a message in progress counts against the write
//! limit.

mod support;

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;

use flate2::{Decompress, FlushDecompress};
use squall::http::server::HttpServer;
use squall::websocket::{accept, connect, Message, WebSocket, WebSocketOptions};
use std::time::{Duration, Instant};

use squall::{Error, Future, Handle, Reactor};
use support::ws::{echo_server, Raw, RawFrame};
use support::{with_peer, WAIT_LIMIT as LIMIT};

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/// 16 MiB of text that compresses to a few KiB.
fn big_text() -> String {
    let mut s = "squall ".repeat((16 << 20) / 7 + 1);
    s.truncate(16 << 20);
    s
}

/// Inflates the concatenated payloads of one compressed message (tail appended).
fn inflate(d: &mut Decompress, frames: &[RawFrame]) -> Vec<u8> {
    let mut input: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    let mut at = 0;
    loop {
        if out.capacity() - out.len() < 1 << 16 {
            out.reserve(out.capacity());
        }
        let before = d.total_in();
        d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
            .expect("valid deflate data");
        at += (d.total_in() - before) as usize;
        if at == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

/// What the raw peer saw of one message: its data frames, and the control frames that
/// arrived between its first and last frame (in order), or the close frame that cut it.
#[derive(Default)]
struct Seen {
    data: Vec<RawFrame>,
    between: Vec<RawFrame>,
    /// The message ended with a FIN frame (not cut by a close frame or EOF).
    complete: bool,
}

/// Reads frames until a data message is complete, or a close frame or EOF ends it.
fn read_message(raw: &mut Raw) -> Seen {
    let mut seen = Seen::default();
    while let Some(f) = raw.read_frame() {
        match f.opcode {
            8 => {
                seen.between.push(f);
                return seen;
            }
            9 | 10 => seen.between.push(f),
            _ => {
                let fin = f.fin;
                seen.data.push(f);
                if fin {
                    seen.complete = true;
                    return seen;
                }
            }
        }
    }
    seen
}

/// Checks a message's frames are one well-formed compressed fragmented (or whole)
/// message with `opcode`.
fn check_fragments(frames: &[RawFrame], opcode: u8) {
    assert!(!frames.is_empty());
    assert_eq!((frames[0].opcode, frames[0].rsv1), (opcode, true));
    for f in &frames[1..] {
        assert_eq!((f.opcode, f.rsv1), (0, false), "a continuation frame");
    }
    for f in &frames[..frames.len() - 1] {
        assert!(!f.fin);
    }
}

type Outcomes = Rc<RefCell<Vec<(&'static str, Option<Result<(), String>>)>>>;

/// Records how `f` ends under `name` (`None` until it does).
fn record(log: &Outcomes, name: &'static str, f: &Future<()>) {
    let at = {
        let mut l = log.borrow_mut();
        l.push((name, None));
        l.len() - 1
    };
    let log = log.clone();
    f.add_done_callback(move |f| {
        let r = f.take_result().map(|r| r.map_err(|e| e.to_string()));
        log.borrow_mut()[at].1 = r;
    });
}

/// Runs the loop until every recorded send has ended (bounded by [`LIMIT`]).
fn settle(reactor: &mut Reactor, log: &Outcomes) {
    fn poll(h: Handle, log: Outcomes, done: Future<()>, deadline: Instant) {
        if log.borrow().iter().all(|(_, r)| r.is_some()) || Instant::now() > deadline {
            done.set_result(());
            return;
        }
        let h2 = h.clone();
        h.call_later(Duration::from_millis(1), move || {
            poll(h2, log, done, deadline)
        });
    }
    let done = Future::new();
    poll(
        reactor.handle(),
        log.clone(),
        done.clone(),
        Instant::now() + LIMIT,
    );
    reactor.run_until(&done).unwrap();
}

/// A server whose connections obey text commands: `big` sends the 16 MiB text; `big
/// after` sends it and then "after"; `big close` sends it, closes with 1000 and tries
/// one more send; `big big` sends it twice. Anything else is echoed. What each send
/// came to is recorded.
fn command_server(
    reactor: &Reactor,
    options: WebSocketOptions,
) -> (HttpServer, SocketAddr, Outcomes) {
    let log: Outcomes = Rc::default();
    let l = log.clone();
    let big = Rc::new(big_text());
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        let Ok(ws) = accept(&req, resp, &options) else {
            return;
        };
        let (log, big) = (l.clone(), big.clone());
        ws.on_message(move |ws: &WebSocket, msg: Message| {
            let send = |name, m: String| record(&log, name, &ws.send_text(m));
            match msg.as_text() {
                Some("big") => send("big", (*big).clone()),
                Some("big after") => {
                    send("big", (*big).clone());
                    send("after", "after".into());
                }
                Some("big close") => {
                    send("big", (*big).clone());
                    ws.close(1000, "bye").unwrap();
                    send("after close", "too late".into());
                }
                Some("big big") => {
                    send("big", (*big).clone());
                    send("big 2", (*big).clone());
                }
                _ => record(&log, "echo", &ws.send(msg)),
            }
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    (server, addr, log)
}

fn options() -> WebSocketOptions {
    WebSocketOptions::default()
        .compression(true)
        .max_message_size(32 << 20)
}

/// Runs `peer` in a thread with a raw client that offered deflate to a fresh command
/// server with `options`, while the loop serves it; returns the loop, the server (still
/// serving), what `peer` returned and the server's log of sends.
fn against_command_server<T: Send + 'static>(
    options: WebSocketOptions,
    peer: impl FnOnce(&mut Raw) -> T + Send + 'static,
) -> (Reactor, HttpServer, T, Outcomes) {
    let mut reactor = Reactor::new().unwrap();
    let (server, addr, log) = command_server(&reactor, options);
    let out = with_peer(&mut reactor, move || {
        let (mut raw, head) = Raw::connect(addr, OFFER);
        assert!(head.contains("permessage-deflate"), "{head}");
        peer(&mut raw)
    });
    (reactor, server, out, log)
}

#[test]
fn a_large_compressed_message_is_sent_in_steps_as_a_fragmented_message() {
    let (mut reactor, _server, (frames, text), log) = against_command_server(options(), |raw| {
        raw.send_bytes(&raw.frame(1, true, false, b"big"));
        let seen = read_message(raw);
        assert!(seen.complete && seen.between.is_empty());
        let text = inflate(&mut Decompress::new(false), &seen.data);
        (seen.data, text)
    });
    check_fragments(&frames, 1);
    // 16 MiB in steps of 256 KiB: one frame per step (before: one frame in all).
    eprintln!("{} frames", frames.len());
    assert!(frames.len() >= 64, "{} frames", frames.len());
    assert!(text == big_text().as_bytes(), "{} bytes", text.len());
    settle(&mut reactor, &log);
    assert_eq!(log.borrow()[..], [("big", Some(Ok(())))]);
}

#[test]
fn a_message_sent_while_a_large_one_is_in_progress_arrives_after_it_intact() {
    let (mut reactor, _server, (big, after, big2), log) =
        against_command_server(options(), |raw| {
            raw.send_bytes(&raw.frame(1, true, false, b"big after"));
            let mut d = Decompress::new(false);
            let big = read_message(raw);
            let after = read_message(raw);
            raw.send_bytes(&raw.frame(1, true, false, b"big big"));
            let b1 = read_message(raw);
            let b2 = read_message(raw);
            for s in [&big, &after, &b1, &b2] {
                assert!(s.complete && s.between.is_empty());
                check_fragments(&s.data, 1);
            }
            assert_eq!(inflate(&mut d, &b1.data).len(), 16 << 20);
            (
                inflate(&mut d, &big.data),
                (after.data.len(), inflate(&mut d, &after.data)),
                inflate(&mut d, &b2.data),
            )
        });
    assert!(big == big_text().as_bytes());
    assert!(big2 == big_text().as_bytes());
    // The small message behind it keeps its single frame.
    assert_eq!(after, (1, b"after".to_vec()));
    settle(&mut reactor, &log);
    assert_eq!(
        log.borrow()[..],
        [
            ("big", Some(Ok(()))),
            ("after", Some(Ok(()))),
            ("big", Some(Ok(()))),
            ("big 2", Some(Ok(())))
        ]
    );
}

#[test]
fn a_ping_is_answered_between_the_fragments_of_a_large_message() {
    let (_reactor, _server, seen, _log) = against_command_server(options(), |raw| {
        // The command and a ping in one write: the server reads the ping while it
        // still has most of the message to compress.
        let mut both = raw.frame(1, true, false, b"big");
        both.extend(raw.frame(9, true, false, b"are you there"));
        raw.send_bytes(&both);
        read_message(raw)
    });
    assert!(seen.complete);
    check_fragments(&seen.data, 1);
    // The pong came between the fragments, not after the whole message.
    assert_eq!(seen.between.len(), 1, "frames: {}", seen.data.len());
    assert_eq!(
        (seen.between[0].opcode, &seen.between[0].payload[..]),
        (10, &b"are you there"[..])
    );
}

#[test]
fn close_during_a_large_message_sends_the_rest_then_the_close_frame() {
    let (mut reactor, _server, (text, close, more), log) =
        against_command_server(options(), |raw| {
            raw.send_bytes(&raw.frame(1, true, false, b"big close"));
            let seen = read_message(raw);
            assert!(seen.complete && seen.between.is_empty());
            check_fragments(&seen.data, 1);
            let close = raw.read_frame().expect("the close frame");
            raw.send_bytes(&raw.frame(8, true, false, &close.payload));
            let more = raw.read_frame();
            (
                inflate(&mut Decompress::new(false), &seen.data),
                close,
                more,
            )
        });
    assert!(text == big_text().as_bytes());
    assert_eq!((close.opcode, close.close_code()), (8, Some(1000)));
    assert_eq!(&close.payload[2..], b"bye");
    assert!(more.is_none(), "nothing after the close frame: {more:?}");
    settle(&mut reactor, &log);
    assert_eq!(
        log.borrow()[..],
        [
            ("big", Some(Ok(()))),
            ("after close", Some(Err(Error::StreamClosed.to_string())))
        ]
    );
}

#[test]
fn a_close_from_the_peer_during_a_large_message_is_answered_at_once() {
    let (mut reactor, _server, seen, log) = against_command_server(options(), |raw| {
        let mut both = raw.frame(1, true, false, b"big");
        both.extend(raw.frame(8, true, false, &[0x03, 0xe8]));
        raw.send_bytes(&both);
        let seen = read_message(raw);
        assert!(raw.reaches_eof());
        seen
    });
    // Some fragments, then the close frame: the rest of the message was dropped, and
    // no data frame followed the close frame (the peer reached EOF after it).
    assert!(!seen.complete, "{} frames, all sent", seen.data.len());
    check_fragments(&seen.data, 1);
    assert!(seen.data.len() < 64, "{}", seen.data.len());
    assert_eq!(seen.between.len(), 1);
    assert_eq!(seen.between[0].close_code(), Some(1000));
    settle(&mut reactor, &log);
    assert_eq!(
        log.borrow()[..],
        [("big", Some(Err(Error::StreamClosed.to_string())))]
    );
}

#[test]
fn a_send_queued_behind_a_large_message_counts_against_the_write_limit() {
    // 1 MiB write limit: the 16 MiB message in progress is held as handed over, but a
    // second one queued behind it counts its 16 MiB (before: compressed at once to
    // ~16 KiB, it fit).
    let (mut reactor, _server, code, log) =
        against_command_server(options().max_write_buffer_size(Some(1 << 20)), |raw| {
            raw.send_bytes(&raw.frame(1, true, false, b"big big"));
            raw.read_close().close_code()
        });
    assert_eq!(code, Some(1008));
    settle(&mut reactor, &log);
    let log = log.borrow();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].0, "big");
    assert!(matches!(log[0].1, Some(Err(_))), "{log:?}");
    assert_eq!(
        log[1],
        ("big 2", Some(Err(Error::StreamBufferFull.to_string())))
    );
}

#[test]
fn squall_client_and_server_echo_16_mib_compressed_messages_at_once() {
    // Two clients on one server, each echoing two 16 MiB messages: the server's
    // connections compress in steps at the same time, both without context takeover
    // (the thread's shared compressor must not pass between them mid-message), and the
    // clients compress theirs in steps too.
    for server_keeps_context in [false, true] {
        let mut reactor = Reactor::new().unwrap();
        let (_server, addr, closes) = echo_server(
            &reactor,
            options().server_no_context_takeover(!server_keeps_context),
        );
        let url = format!("ws://{addr}/");
        let handle = reactor.handle();
        let clients: Vec<WebSocket> = (0..2)
            .map(|_| {
                reactor
                    .run_until(&connect(&handle, &url, options()))
                    .unwrap()
            })
            .collect();
        let texts: Vec<String> = (0..2)
            .map(|k| {
                let mut t = big_text();
                t.replace_range(..8, &format!("client {k}"));
                t
            })
            .collect();
        for _ in 0..2 {
            for (ws, t) in clients.iter().zip(&texts) {
                ws.send_text(t.clone());
            }
            for (ws, t) in clients.iter().zip(&texts) {
                let got = reactor.run_until(&ws.read_message()).unwrap();
                assert!(
                    got.as_ref().and_then(Message::as_text) == Some(t.as_str()),
                    "server keeps context: {server_keeps_context}, {:?} bytes",
                    got.map(|m| m.len())
                );
            }
        }
        assert!(closes.all().is_empty(), "{:?}", closes.all());
    }
}

#[test]
fn the_client_sends_a_large_compressed_message_in_masked_steps() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut reactor = Reactor::new().unwrap();
    let ws = {
        let peer = std::thread::spawn(move || {
            let mut raw = Raw::accept(
                &listener,
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n",
            );
            let seen = read_message(&mut raw);
            raw.send_bytes(&raw.frame(8, true, false, &[0x03, 0xe8]));
            seen
        });
        let ws = reactor
            .run_until(&connect(
                &reactor.handle(),
                &format!("ws://{addr}/"),
                options(),
            ))
            .unwrap();
        let sent = ws.send_text(big_text());
        reactor.run_until(&sent).unwrap();
        let seen = peer.join().unwrap();
        assert!(seen.complete);
        check_fragments(&seen.data, 1);
        assert!(seen.data.iter().all(|f| f.masked));
        assert!(seen.data.len() >= 64, "{}", seen.data.len());
        let text = inflate(&mut Decompress::new(false), &seen.data);
        assert!(text == big_text().as_bytes());
        ws
    };
    assert_eq!(reactor.run_until(&ws.closed()).unwrap().0, 1000);
}
