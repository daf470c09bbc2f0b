//! WebSocket server and client over real sockets on 127.0.0.1: squall against itself and
//! against a raw peer sending hand-made frames, one test per protocol rule, each failure
//! with the close code RFC 6455 asks for.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use squall::http::server::HttpServer;
use squall::websocket::{accept, connect, Message, WebSocket, WebSocketOptions};
use squall::{Error, Future, Reactor};
use support::with_peer;
use support::ws::{
    assert_answers, cf, connect_default, echo_server, encode, patterned, pinging, round_trip, Raw,
    RawFrame,
};
use support::WAIT_LIMIT;

fn client(
    reactor: &mut Reactor,
    addr: std::net::SocketAddr,
    options: WebSocketOptions,
) -> WebSocket {
    let url = format!("ws://{addr}/chat");
    reactor
        .run_until(&connect(&reactor.handle(), &url, options))
        .expect("connect")
}

#[test]
fn echo_text_binary_empty_and_large() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) = echo_server(
        &reactor,
        WebSocketOptions::default().max_message_size(17 << 20),
    );
    let ws = client(
        &mut reactor,
        addr,
        WebSocketOptions::default().max_message_size(17 << 20),
    );
    let big = patterned(16 << 20, 251);
    let messages = [
        Message::Text("hello κόσμε".into()),
        Message::Binary(Bytes::from_static(b"\x00\xff\x01")),
        Message::Text("".into()),
        Message::Binary(Bytes::new()),
        Message::Binary(big),
    ];
    for m in messages {
        round_trip(&mut reactor, &ws, m);
    }
    ws.close(1000, "bye").unwrap();
    assert_eq!(
        reactor.run_until(&ws.closed()).unwrap(),
        (1000, "bye".into())
    );
    assert!(ws.is_clean_close());
    assert_eq!(reactor.run_until(&ws.read_message()).unwrap(), None);
    // The server side reported the same close, once.
    reactor.run_until(&closes.first).unwrap();
    assert_eq!(closes.all(), vec![(1000, "bye".to_string())]);
}

fn status_of(addr: std::net::SocketAddr, request: &str) -> String {
    let (_raw, head) = Raw::request(addr, request);
    head
}

#[test]
fn bad_upgrades_are_refused_with_tornados_statuses() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let heads = with_peer(&mut reactor, move || {
        let k = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let base = "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
        vec![
            status_of(addr, &format!("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n{k}Sec-WebSocket-Version: 13\r\n\r\n")),
            status_of(addr, &format!("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n{k}Sec-WebSocket-Version: 13\r\n\r\n")),
            status_of(addr, &format!("GET / HTTP/1.1\r\n{base}{k}Sec-WebSocket-Version: 8\r\n\r\n")),
            status_of(addr, &format!("GET / HTTP/1.1\r\n{base}Sec-WebSocket-Version: 13\r\n\r\n")),
            status_of(addr, &format!("GET / HTTP/1.1\r\n{base}{k}Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n")),
            status_of(addr, &format!("GET / HTTP/1.1\r\n{base}{k}Sec-WebSocket-Version: 13\r\nOrigin: http://a\r\n\r\n")),
        ]
    });
    assert!(heads[0].starts_with("HTTP/1.1 400 "), "{}", heads[0]);
    assert!(heads[1].starts_with("HTTP/1.1 400 "), "{}", heads[1]);
    assert!(heads[2].starts_with("HTTP/1.1 426 "), "{}", heads[2]);
    assert!(
        heads[2]
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{}",
        heads[2]
    );
    assert!(heads[3].starts_with("HTTP/1.1 400 "), "{}", heads[3]);
    assert!(heads[4].starts_with("HTTP/1.1 403 "), "{}", heads[4]);
    assert!(heads[5].starts_with("HTTP/1.1 101 "), "{}", heads[5]);
}

/// Sends `frames` after a handshake and returns the close code the server answers with.
fn server_closes_with(
    options: WebSocketOptions,
    extra: &'static str,
    frames: Vec<Vec<u8>>,
) -> (u16, Vec<(u16, String)>) {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) = echo_server(&reactor, options);
    let code = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, extra);
        for f in &frames {
            raw.send_bytes(f);
        }
        let close = raw.read_close();
        assert!(raw.reaches_eof());
        close.close_code().unwrap_or(0)
    });
    (code, closes.all())
}

fn code(frames: Vec<Vec<u8>>) -> u16 {
    server_closes_with(
        WebSocketOptions::default().max_message_size(1000),
        "",
        frames,
    )
    .0
}

#[test]
fn unmasked_client_frame_is_1002() {
    assert_eq!(code(vec![encode(false, 1, true, false, b"hi")]), 1002);
}

#[test]
fn reserved_bits_and_opcodes_are_1002() {
    assert_eq!(code(vec![encode(true, 1, true, true, b"hi")]), 1002); // RSV1, no extension
    for (bit, name) in [(0x20, "RSV2"), (0x10, "RSV3")] {
        let mut f = cf(1, true, b"hi");
        f[0] |= bit;
        assert_eq!(code(vec![f]), 1002, "{name}");
    }
    assert_eq!(code(vec![cf(3, true, b"")]), 1002);
    assert_eq!(code(vec![cf(0xb, true, b"")]), 1002);
}

#[test]
fn bad_control_frames_are_1002() {
    assert_eq!(code(vec![cf(9, true, &[0; 126])]), 1002); // ping longer than 125
    assert_eq!(code(vec![cf(9, false, b"x")]), 1002); // fragmented ping
}

#[test]
fn fragmentation_errors_are_1002() {
    assert_eq!(code(vec![cf(0, true, b"x")]), 1002); // continuation without a start
    assert_eq!(code(vec![cf(1, false, b"a"), cf(1, true, b"b")]), 1002); // new message inside
    assert_eq!(code(vec![cf(2, false, b"a"), cf(2, true, b"b")]), 1002);
}

#[test]
fn invalid_utf8_is_1007_even_mid_frame() {
    assert_eq!(code(vec![cf(1, true, b"ok\xff")]), 1007);
    // Valid, then an invalid sequence in a later fragment.
    assert_eq!(
        code(vec![
            cf(1, false, "κό".as_bytes()),
            cf(0, true, &[0xed, 0xa0, 0x80])
        ]),
        1007
    );
    // Only the first bytes of a 100-byte frame are sent: the server must not wait.
    let frame = cf(1, true, &[b'a'; 100]);
    let mut head = frame[..6 + 3].to_vec();
    head[6 + 2] = 0xff ^ 0x56; // masked 0xff at offset 2
    assert_eq!(code(vec![head]), 1007);
}

#[test]
fn invalid_close_payloads() {
    for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
        assert_eq!(
            code(vec![cf(8, true, &bad.to_be_bytes())]),
            1002,
            "code {bad}"
        );
    }
    assert_eq!(code(vec![cf(8, true, b"\x03")]), 1002); // 1-byte payload
    assert_eq!(code(vec![cf(8, true, b"\x03\xe8\xff")]), 1007); // reason not UTF-8
}

#[test]
fn oversized_message_is_1009() {
    assert_eq!(code(vec![cf(2, true, &[0; 1001])]), 1009);
    assert_eq!(
        code(vec![cf(2, false, &[0; 600]), cf(0, true, &[0; 600])]),
        1009
    );
}

#[test]
fn valid_close_codes_are_echoed_and_reported() {
    for good in [1000u16, 1001, 1003, 1007, 1011, 3000, 4999] {
        let mut payload = good.to_be_bytes().to_vec();
        payload.extend_from_slice(b"why");
        let (echoed, closes) =
            server_closes_with(WebSocketOptions::default(), "", vec![cf(8, true, &payload)]);
        assert_eq!(echoed, good);
        assert_eq!(closes, vec![(good, "why".to_string())]);
    }
    // An empty close is answered with an empty close and reported as 1005.
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) = echo_server(&reactor, WebSocketOptions::default());
    let reply = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, "");
        raw.send_bytes(&cf(8, true, b""));
        raw.read_close()
    });
    assert!(reply.payload.is_empty());
    reactor.run_until(&closes.first).unwrap();
    assert_eq!(closes.all(), vec![(1005, String::new())]);
}

#[test]
fn pings_are_answered_inside_fragmented_messages_and_data_after_close_is_ignored() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let frames = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, "");
        raw.send_bytes(&cf(1, false, b"frag"));
        raw.send_bytes(&cf(9, true, b"are you there"));
        raw.send_bytes(&cf(0, true, b"mented"));
        let pong = raw.read_frame().unwrap();
        let echo = raw.read_frame().unwrap();
        let mut close = cf(8, true, b"\x03\xe8");
        close.extend(cf(1, true, b"after close"));
        raw.send_bytes(&close);
        let mut rest = Vec::new();
        while let Some(f) = raw.read_frame() {
            rest.push(f);
        }
        (pong, echo, rest)
    });
    let (pong, echo, rest) = frames;
    assert_eq!(
        (pong.opcode, &pong.payload[..], pong.masked),
        (0xA, &b"are you there"[..], false)
    );
    assert_eq!((echo.opcode, &echo.payload[..]), (1, &b"fragmented"[..]));
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0].close_code(), Some(1000));
}

/// Lets the loop turn `n` times.
fn spin(reactor: &mut Reactor, n: usize) {
    for _ in 0..n {
        let tick: Future<()> = Future::new();
        let t = tick.clone();
        reactor.handle().add_callback(move || t.set_result(()));
        reactor.run_until(&tick).unwrap();
    }
}

#[test]
fn slow_consumer_gets_the_next_message_only_when_done() {
    let mut reactor = Reactor::new().unwrap();
    let arrivals: Vec<Future<Message>> = (0..3).map(|_| Future::new()).collect();
    let gates: Vec<Future<()>> = (0..3).map(|_| Future::new()).collect();
    let (a, g) = (arrivals.clone(), gates.clone());
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        let ws = accept(&req, resp, &WebSocketOptions::default()).unwrap();
        let (a, g) = (a.clone(), g.clone());
        let mut n = 0;
        ws.on_message(move |_ws, m| {
            a[n].set_result(m);
            n += 1;
            g[n - 1].clone() // the next message waits for this
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let ws = client(&mut reactor, addr, WebSocketOptions::default());
    let sent: Vec<Future<()>> = (0..3).map(|i| ws.send_text(format!("m{i}"))).collect();
    reactor.run_until(&squall::join_all(sent)).unwrap();
    assert_eq!(
        reactor.run_until(&arrivals[0]).unwrap(),
        Message::Text("m0".into())
    );
    spin(&mut reactor, 50);
    assert!(!arrivals[1].is_done(), "the next message waited");
    gates[0].set_result(());
    assert_eq!(
        reactor.run_until(&arrivals[1]).unwrap(),
        Message::Text("m1".into())
    );
    spin(&mut reactor, 20);
    assert!(!arrivals[2].is_done());
    gates[1].set_result(());
    assert_eq!(
        reactor.run_until(&arrivals[2]).unwrap(),
        Message::Text("m2".into())
    );
}

#[test]
fn ping_pong_callbacks_and_ping_size_limit() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let ws = client(&mut reactor, addr, WebSocketOptions::default());
    let pong: Future<Bytes> = Future::new();
    let p = pong.clone();
    ws.on_pong(move |_, data| {
        let _ = p.try_set_result(data);
    });
    ws.ping(Bytes::from_static(b"x1")).unwrap();
    assert_eq!(&reactor.run_until(&pong).unwrap()[..], b"x1");
    assert!(matches!(
        ws.ping(vec![0u8; 126]),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn unanswered_pings_close_a_dead_peer_with_1011() {
    let mut reactor = Reactor::new().unwrap();
    let options = pinging(Duration::from_millis(50), Duration::from_millis(100));
    let (_server, addr, closes) = echo_server(&reactor, options);
    // The raw peer reads but never answers pings.
    let frames = with_peer(&mut reactor, move || {
        let (mut raw, _) = Raw::connect(addr, "");
        let mut seen = Vec::new();
        while let Some(f) = raw.read_frame() {
            seen.push(f.opcode);
        }
        seen
    });
    assert_eq!(frames.first(), Some(&9), "{frames:?}");
    assert_eq!(frames.last(), Some(&8), "{frames:?}");
    assert_eq!(reactor.run_until(&closes.first).unwrap().0, 1011);
}

#[test]
fn subprotocol_is_the_first_offered_that_the_server_supports() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(
        &reactor,
        WebSocketOptions::default().subprotocols(["chat.v1"]),
    );
    let ws = client(
        &mut reactor,
        addr,
        WebSocketOptions::default().subprotocols(["chat.v2", "chat.v1"]),
    );
    assert_eq!(ws.subprotocol(), Some("chat.v1"));
    let ws = client(
        &mut reactor,
        addr,
        WebSocketOptions::default().subprotocols(["other"]),
    );
    assert_eq!(ws.subprotocol(), None);
}

#[test]
fn compression_with_and_without_context_takeover() {
    for no_takeover in [false, true] {
        let mut reactor = Reactor::new().unwrap();
        let opts = || {
            WebSocketOptions::default()
                .compression(true)
                .compression_no_context_takeover(no_takeover)
                .max_message_size(4 << 20)
        };
        let (_server, addr, _) = echo_server(&reactor, opts());
        let ws = client(&mut reactor, addr, opts());
        let ext = ws.extensions().expect("negotiated").to_string();
        assert!(ext.starts_with("permessage-deflate"), "{ext}");
        // The server's own compressor keeps no context by default (memory); the
        // client's does unless asked.
        assert!(ext.contains("server_no_context_takeover"), "{ext}");
        assert_eq!(
            ext.contains("client_no_context_takeover"),
            no_takeover,
            "{ext}"
        );
        let text = "squall squall squall ".repeat(100_000); // 2.1 MB, compresses well
        for _ in 0..2 {
            ws.send_text(text.clone());
            assert_eq!(
                reactor.run_until(&ws.read_message()).unwrap(),
                Some(Message::Text(text.clone().into()))
            );
        }
        ws.send_binary(vec![1u8, 2, 3]);
        assert_eq!(
            reactor.run_until(&ws.read_message()).unwrap(),
            Some(Message::Binary(vec![1u8, 2, 3].into()))
        );
    }
}

#[test]
fn deflate_bomb_is_1009_without_inflating_it() {
    // 16 MiB of zeros compresses to ~16 KiB; the server's limit is 1 MiB.
    let mut z = squall::websocket::deflate::Compressor::new(
        &Default::default(),
        squall::websocket::frame::Role::Client,
        9,
    );
    let bomb = z.compress(&vec![0u8; 16 << 20]);
    let frame = encode(true, 2, true, true, &bomb);
    let (code, _) = server_closes_with(
        WebSocketOptions::default()
            .compression(true)
            .max_message_size(1 << 20),
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        vec![frame],
    );
    assert_eq!(code, 1009);
}

/// A listener for a raw server peer, and a client with `options` connecting to it.
fn client_of_a_raw_server(
    reactor: &Reactor,
    options: WebSocketOptions,
) -> (TcpListener, Future<WebSocket>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let connecting = connect(&reactor.handle(), &url, options);
    (listener, connecting)
}

#[test]
fn client_rejects_masked_server_frames_with_1002() {
    let mut reactor = Reactor::new().unwrap();
    let (listener, connecting) = client_of_a_raw_server(&reactor, WebSocketOptions::default());
    let peer = std::thread::spawn(move || {
        let mut raw = Raw::accept(&listener, "");
        raw.send_bytes(&encode(true, 1, true, false, b"masked"));
        let close = raw.read_close();
        (close.masked, close.close_code())
    });
    let ws = reactor.run_until(&connecting).unwrap();
    assert_eq!(reactor.run_until(&ws.closed()).unwrap().0, 1002);
    assert!(!ws.is_clean_close());
    assert_eq!(peer.join().unwrap(), (true, Some(1002)));
}

#[test]
fn close_gives_up_after_close_timeout_when_the_peer_never_answers() {
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default().close_timeout(Duration::from_millis(100));
    let (listener, connecting) = client_of_a_raw_server(&reactor, options);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut raw = Raw::accept(&listener, "");
        let close = raw.read_close(); // read, never answered
        let _ = rx.recv_timeout(WAIT_LIMIT);
        close.close_code()
    });
    let ws = reactor.run_until(&connecting).unwrap();
    ws.close(4001, "going").unwrap();
    let (code, _) = reactor.run_until(&ws.closed()).unwrap();
    assert_eq!(code, 1006);
    assert!(!ws.is_clean_close());
    tx.send(()).unwrap();
    assert_eq!(peer.join().unwrap(), Some(4001));
}

#[test]
fn connect_failures() {
    let (mut reactor, h) = support::reactor();
    // A plain HTTP server answering 404.
    let server = HttpServer::new(&h, |_req, resp| {
        resp.respond(http::StatusCode::NOT_FOUND, "no")
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let r = reactor.run_until(&connect(
        &h,
        &format!("ws://{addr}/"),
        WebSocketOptions::default(),
    ));
    assert!(matches!(r, Err(Error::Http { status: 404, .. })), "{r:?}");
    // Refused.
    // A port held bound but not listening: refused for the whole test (a port freed by
    // dropping its listener could be handed to another test meanwhile).
    let closed_port = support::ReservedPort::closed();
    let closed = closed_port.addr();
    let r = reactor.run_until(&connect(
        &h,
        &format!("ws://{closed}/"),
        WebSocketOptions::default(),
    ));
    assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
    // Other schemes, bad URLs (wss:// is in tests/websocket_tls.rs).
    let r = reactor.run_until(&connect(
        &h,
        &format!("ftp://{addr}/"),
        WebSocketOptions::default(),
    ));
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    let r = reactor.run_until(&connect(&h, "not a url", WebSocketOptions::default()));
    assert!(matches!(r, Err(Error::HttpFetch { .. })), "{r:?}");
    // A server that accepts and never answers: the connect timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let options = WebSocketOptions::default().connect_timeout(Some(Duration::from_millis(100)));
    let r = reactor.run_until(&connect(&h, &url, options));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
}

#[test]
fn closes_after_close_are_noops_and_sends_fail() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let ws = client(&mut reactor, addr, WebSocketOptions::default());
    assert!(ws.close(1005, "").is_err()); // may not be sent
    ws.close(1000, "").unwrap();
    ws.close(1000, "").unwrap();
    let r = reactor.run_until(&ws.send_text("late"));
    assert!(matches!(r, Err(Error::StreamClosed)), "{r:?}");
    assert_eq!(reactor.run_until(&ws.closed()).unwrap().0, 1000);
    let called: Future<(u16, String)> = Future::new();
    let c = called.clone();
    ws.on_close(move |code, reason| c.set_result((code, reason)));
    assert_eq!(reactor.run_until(&called).unwrap().0, 1000);
}

#[test]
fn a_dropped_peer_is_reported_as_1006() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, closes) = echo_server(&reactor, WebSocketOptions::default());
    with_peer(&mut reactor, move || {
        let (raw, _) = Raw::connect(addr, "");
        drop(raw);
    });
    assert_eq!(reactor.run_until(&closes.first).unwrap().0, 1006);
}

#[test]
fn a_consumer_holding_a_message_is_not_blamed_for_unread_pongs() {
    let mut reactor = Reactor::new().unwrap();
    let gate: Future<()> = Future::new();
    let arrived: Future<()> = Future::new();
    let (g, a) = (gate.clone(), arrived.clone());
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        let options = pinging(Duration::from_millis(20), Duration::from_millis(40));
        let ws = accept(&req, resp, &options).unwrap();
        let (g, a) = (g.clone(), a.clone());
        ws.on_message(move |ws, m| {
            let _ = a.try_set_result(());
            let (ws, g2) = (ws.clone(), g.clone());
            let done = Future::new();
            let d = done.clone();
            // Echo once the test opens the gate; the next message waits until then.
            g2.add_done_callback(move |_| {
                ws.send(m);
                d.set_result(());
            });
            done
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let ws = client(&mut reactor, addr, WebSocketOptions::default());
    ws.send_text("slow");
    reactor.run_until(&arrived).unwrap();
    // Hold the message for many ping timeouts: the server reads nothing meanwhile.
    support::run_for(&mut reactor, Duration::from_millis(300));
    assert!(!ws.is_closed());
    gate.set_result(());
    assert_eq!(
        reactor.run_until(&ws.read_message()).unwrap(),
        Some(Message::Text("slow".into()))
    );
    assert!(!ws.is_closed());
}

#[test]
fn upgrade_from_a_web_application_route() {
    use squall::web::{Application, Context};
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default();
    let app = Application::new().get("/rooms/{name}", move |ctx: &mut Context| {
        let room = ctx.param("name").unwrap_or("").to_string();
        if let Ok(ws) = ctx.accept_websocket(&options) {
            ws.on_message(move |ws, msg| {
                let text = format!("{room}: {}", msg.as_text().unwrap_or(""));
                ws.send_text(text)
            });
        }
        Ok(())
    });
    let server = app.server(&reactor.handle());
    let addr = server.listen("127.0.0.1:0").unwrap();
    let url = format!("ws://{addr}/rooms/lobby");
    let ws = connect_default(&mut reactor, &url);
    assert_answers(&mut reactor, &ws, "hi", "lobby: hi");
    // A plain GET on the route is refused by the upgrade checks.
    let head = with_peer(&mut reactor, move || {
        status_of(addr, "GET /rooms/lobby HTTP/1.1\r\nHost: a\r\n\r\n")
    });
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

/// Sends the upgrade request and a frame (`opcode`, `payload`) in one write, before the
/// 101 arrived; returns the frame the server sent back.
fn echo_of_a_frame_behind_the_request(
    reactor: &mut Reactor,
    addr: std::net::SocketAddr,
    opcode: u8,
    payload: &'static [u8],
) -> RawFrame {
    with_peer(reactor, move || {
        let mut bytes = Raw::upgrade_request("").into_bytes();
        bytes.extend(cf(opcode, true, payload));
        let (mut raw, head) = Raw::request(addr, &bytes);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        raw.read_frame().unwrap()
    })
}

#[test]
fn frames_sent_right_behind_the_upgrade_request_are_read() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let echo = echo_of_a_frame_behind_the_request(&mut reactor, addr, 1, b"eager");
    assert_eq!((echo.opcode, &echo.payload[..]), (1, &b"eager"[..]));
}

#[test]
fn accept_later_from_a_timer_still_reads_what_followed_the_request() {
    let (mut reactor, h) = support::reactor();
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        // An asynchronous check (say, a session lookup) before accepting.
        h.call_later(Duration::from_millis(20), move || {
            let ws = accept(&req, resp, &WebSocketOptions::default()).unwrap();
            ws.on_message(|ws, m| ws.send(m));
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let echo = echo_of_a_frame_behind_the_request(&mut reactor, addr, 2, b"early bird");
    assert_eq!((echo.opcode, &echo.payload[..]), (2, &b"early bird"[..]));
}
