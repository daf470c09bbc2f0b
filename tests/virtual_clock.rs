//! The reactor's virtual clock: timeouts of seconds, hours or days tested in
//! milliseconds of real time, over real sockets.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::http::HttpServerOptions;
use squall::redis::{Redis, RedisOptions};
use squall::testing::{stream_pair, ExpectLog, TestServer};
use squall::web::Application;
use squall::websocket::WebSocketOptions;
use squall::{PeriodicCallback, Reactor};

/// A generous bound on the real time a virtual-clock test may take (they take
/// milliseconds; this only catches a test that really waited).
const WALL_BOUND: Duration = Duration::from_secs(10);

const SEC: Duration = Duration::from_secs(1);

/// Reads what is there without blocking: `Some(bytes)` (possibly empty when nothing
/// came), `None` at end of stream.
fn read_now(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return if out.is_empty() { None } else { Some(out) },
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(out),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn idle_connection_closes_after_exactly_its_timeout_of_virtual_time() {
    let wall = Instant::now();
    let options = HttpServerOptions::default().idle_connection_timeout(Some(30 * SEC));
    let mut server = TestServer::builder()
        .virtual_clock(true)
        .server_options(options)
        .handler(|_, resp| resp.send("ok"))
        .unwrap();
    let mut client = TcpStream::connect(server.addr()).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    server.run_until_idle().unwrap();
    let response = read_now(&mut client).expect("the connection is open");
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert!(response.ends_with(b"\r\n\r\nok"), "{response:?}");

    server.advance(29 * SEC);
    assert_eq!(
        read_now(&mut client),
        Some(vec![]),
        "closed before 30 s of idleness"
    );
    assert_eq!(server.server().connection_count(), 1);
    server.advance(SEC);
    assert_eq!(read_now(&mut client), None, "still open after 30 s idle");
    assert_eq!(server.server().connection_count(), 0);
    assert!(wall.elapsed() < WALL_BOUND, "took {:?}", wall.elapsed());
}

#[test]
fn date_header_follows_the_virtual_clock() {
    let mut server = TestServer::builder()
        .virtual_clock(true)
        .handler(|_, resp| resp.send(""))
        .unwrap();
    let date = |r: &squall::http::HttpResponse| {
        let v = r.headers.get("date").unwrap().to_str().unwrap();
        httpdate::parse_http_date(v).unwrap()
    };
    let first = date(&server.fetch("/").unwrap());
    server.advance(Duration::from_secs(86_400 * 365));
    let later = date(&server.fetch("/").unwrap());
    let moved = later.duration_since(first).unwrap().as_secs();
    // Whole seconds on both sides: within one second of a year.
    assert!(
        (86_400 * 365 - 1..=86_400 * 365 + 1).contains(&moved),
        "Date moved {moved} s"
    );
}

#[test]
fn hourly_periodic_callback_runs_24_times_in_a_virtual_day() {
    let wall = Instant::now();
    // Auto-advance: the loop jumps from one run to the next.
    let mut reactor = Reactor::builder().auto_advance(true).build().unwrap();
    let handle = reactor.handle();
    let start = handle.now();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let (r, h) = (runs.clone(), handle.clone());
    let pc = PeriodicCallback::new(&handle, Duration::from_secs(3600), move || {
        r.borrow_mut().push(h.now() - start);
    });
    pc.start();
    let h = handle.clone();
    handle.call_later(
        Duration::from_secs(86_400) + Duration::from_millis(1),
        move || h.stop(),
    );
    reactor.run().unwrap();
    let expected: Vec<Duration> = (1..=24).map(|i| Duration::from_secs(3600 * i)).collect();
    assert_eq!(*runs.borrow(), expected);

    // By hand: an hour at a time.
    let mut reactor = Reactor::builder().virtual_clock(true).build().unwrap();
    let handle = reactor.handle();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let pc = PeriodicCallback::new(&handle, Duration::from_secs(3600), move || {
        c.set(c.get() + 1)
    });
    pc.start();
    for hour in 1..=24 {
        handle.advance(Duration::from_secs(3599));
        reactor.run_once(Some(Duration::ZERO)).unwrap();
        assert_eq!(count.get(), hour - 1, "ran early in hour {hour}");
        handle.advance(SEC);
        reactor.run_once(Some(Duration::ZERO)).unwrap();
        assert_eq!(count.get(), hour);
    }
    assert!(wall.elapsed() < WALL_BOUND, "took {:?}", wall.elapsed());
}

#[test]
fn advance_fires_due_timers_in_deadline_order_and_not_the_others() {
    let mut reactor = Reactor::builder().virtual_clock(true).build().unwrap();
    let handle = reactor.handle();
    let log = Rc::new(RefCell::new(Vec::new()));
    for s in [5u64, 3, 9, 1, 3] {
        let (l, h) = (log.clone(), handle.clone());
        let t0 = handle.now();
        handle.call_later(Duration::from_secs(s), move || {
            l.borrow_mut().push((s, (h.now() - t0).as_secs()))
        });
    }
    handle.advance(Duration::from_secs(6));
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    // Each sees the advanced time; 9 s is not due.
    assert_eq!(*log.borrow(), [(1, 6), (3, 6), (3, 6), (5, 6)]);
    assert_eq!(handle.stats().timers_pending, 1);
    // Without auto-advance the loop does not wait the timer out in real time.
    let wall = Instant::now();
    reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(log.borrow().len(), 4);
    assert!(wall.elapsed() < WALL_BOUND);
}

#[test]
fn auto_advance_waits_while_io_is_in_flight() {
    // A ping-pong of 2000 messages over an in-process pair while a 1 s timer is pending:
    // auto-advance moves time only after a zero-timeout poll found nothing, so the
    // exchange (always an event in flight) finishes first and virtual time stays put.
    let mut reactor = Reactor::builder().auto_advance(true).build().unwrap();
    let handle = reactor.handle();
    let start = handle.now();
    let (a, b) = stream_pair(&handle).unwrap();
    let fired = Rc::new(Cell::new(None));
    let (f, h) = (fired.clone(), handle.clone());
    handle.call_later(SEC, move || f.set(Some(h.now() - start)));
    let done = squall::Future::new();
    fn bounce(
        from: squall::stream::IoStream,
        to: squall::stream::IoStream,
        left: u32,
        done: squall::Future<u32>,
    ) {
        if left == 0 {
            done.set_result(0);
            return;
        }
        let _ = from.write(&b"x\n"[..]);
        let reader = to.clone();
        to.read_until(b"\n", Some(16)).add_done_callback(move |r| {
            assert!(r.result().is_some_and(|r| r.is_ok()));
            bounce(reader, from, left - 1, done);
        });
    }
    bounce(a, b, 2000, done.clone());
    reactor.run_until(&done).unwrap();
    assert_eq!(fired.get(), None, "the timer fired during the exchange");
    assert_eq!(
        handle.now(),
        start,
        "virtual time moved while I/O was in flight"
    );
    // Now the loop is idle: the next iteration jumps to the timer.
    let timer_done = squall::Future::new();
    let t = timer_done.clone();
    handle.call_later(2 * SEC, move || t.set_result(()));
    reactor.run_until(&timer_done).unwrap();
    assert_eq!(fired.get(), Some(SEC));
    assert_eq!(handle.now() - start, 2 * SEC);
}

/// A WebSocket route on a virtual-clock server, and a raw peer that sent the upgrade:
/// (the server, the peer, the response head it read, the close code the server's socket
/// reports once closed).
fn websocket_and_raw_peer(
    options: WebSocketOptions,
) -> (TestServer, TcpStream, Vec<u8>, Rc<Cell<Option<u16>>>) {
    let code = Rc::new(Cell::new(None));
    let c = code.clone();
    let app = Application::new().websocket("/ws", options, move |_ctx, ws| {
        let c = c.clone();
        ws.on_close(move |code, _| c.set(Some(code)));
        Ok(())
    });
    let mut server = TestServer::builder().virtual_clock(true).app(app).unwrap();
    let mut peer = TcpStream::connect(server.addr()).unwrap();
    peer.write_all(
        b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    server.run_until_idle().unwrap();
    let head = read_now(&mut peer).unwrap();
    (server, peer, head, code)
}

#[test]
fn websocket_ping_timeout_closes_a_silent_peer_with_1011() {
    let wall = Instant::now();
    let options = WebSocketOptions::default()
        .ping_interval(Some(10 * SEC))
        .ping_timeout(Some(5 * SEC));
    // A peer that completes the handshake and then answers nothing.
    let (mut server, mut peer, head, code) = websocket_and_raw_peer(options);
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );

    server.advance(10 * SEC);
    let ping = read_now(&mut peer).unwrap();
    assert_eq!(ping.first(), Some(&0x89), "not a ping: {ping:?}");
    server.advance(4 * SEC);
    assert_eq!(
        read_now(&mut peer),
        Some(vec![]),
        "failed before the ping timeout"
    );
    assert_eq!(code.get(), None);
    server.advance(SEC);
    assert_eq!(code.get(), Some(1011));
    let close = read_now(&mut peer).unwrap_or_default();
    assert!(close.starts_with(&[0x88]), "no close frame: {close:?}");
    assert_eq!(&close[2..4], &1011u16.to_be_bytes(), "{close:?}");
    assert!(wall.elapsed() < WALL_BOUND, "took {:?}", wall.elapsed());
}

#[test]
fn redis_reconnect_back_off_follows_its_sequence_step_by_step() {
    // A port bound but not listening: every connect is refused at once, and no other
    // process can take the port meanwhile.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();

    let mut reactor = Reactor::builder().virtual_clock(true).build().unwrap();
    let handle = reactor.handle();
    let attempts = ExpectLog::new("squall::redis", "connect failed");
    let options = RedisOptions::default()
        .reconnect_min(Duration::from_millis(100))
        .reconnect_max(SEC);
    let redis = Redis::connect(&handle, &format!("redis://127.0.0.1:{port}"), options).unwrap();
    let settle = |reactor: &mut Reactor| {
        // A refused connect is reported on the next poll or two; give it a bounded run.
        for _ in 0..20 {
            reactor.run_once(Some(Duration::from_millis(5))).unwrap();
        }
    };
    settle(&mut reactor);
    assert_eq!(attempts.count(), 1, "the first attempt");
    let sequence_ms = [100u64, 200, 400, 800, 1000, 1000, 1000];
    for (i, ms) in sequence_ms.iter().enumerate() {
        handle.advance(Duration::from_millis(ms - 1));
        settle(&mut reactor);
        assert_eq!(attempts.count(), i + 1, "retried before {ms} ms (step {i})");
        handle.advance(Duration::from_millis(1));
        settle(&mut reactor);
        assert_eq!(attempts.count(), i + 2, "no retry after {ms} ms (step {i})");
    }
    redis.close();
    drop(attempts);
}

#[test]
fn run_until_timeout_counts_virtual_time_and_auto_advance_stops_at_it() {
    let mut reactor = Reactor::builder().auto_advance(true).build().unwrap();
    let handle = reactor.handle();
    let start = handle.now();
    let late = Rc::new(Cell::new(false));
    let l = late.clone();
    handle.call_later(60 * SEC, move || l.set(true));
    let never: squall::Future<()> = squall::Future::new();
    let r = reactor.run_until_timeout(&never, 10 * SEC);
    assert!(matches!(r, Err(squall::Error::Timeout)), "{r:?}");
    assert_eq!(
        handle.now() - start,
        10 * SEC,
        "auto-advance jumped past the timeout"
    );
    assert!(!late.get(), "a later timer ran before the timeout");
}

#[test]
fn stream_idle_timeout_follows_the_virtual_clock() {
    let mut reactor = Reactor::builder().virtual_clock(true).build().unwrap();
    let handle = reactor.handle();
    let (a, b) = stream_pair(&handle).unwrap();
    a.set_idle_timeout(Some(60 * SEC));
    let _ = b.write(&b"x\n"[..]);
    let line = a.read_until(b"\n", Some(16));
    reactor.run_until(&line).unwrap();
    handle.advance(30 * SEC); // activity at 0 s: idle 30 s
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    let _ = b.write(&b"y\n"[..]);
    let line = a.read_until(b"\n", Some(16));
    reactor.run_until(&line).unwrap(); // activity at 30 s
    handle.advance(59 * SEC); // idle 59 s
    for _ in 0..3 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert!(!a.is_closed(), "closed after 59 s idle");
    handle.advance(SEC);
    for _ in 0..3 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert!(a.is_closed(), "open after 60 s idle");
    assert!(
        matches!(a.error(), Some(squall::Error::Timeout)),
        "{:?}",
        a.error()
    );
}

#[test]
fn test_server_fetch_under_auto_advance_sees_a_slow_handler_answer_in_virtual_time() {
    let wall = Instant::now();
    let mut server = TestServer::builder()
        .auto_advance(true)
        .handler(|_, resp| {
            let h = resp_handle();
            h.call_later(10 * SEC, move || resp.send("late"));
        })
        .unwrap();
    HANDLE.with(|h| *h.borrow_mut() = Some(server.handle()));
    let start = server.handle().now();
    let response = server.fetch("/").unwrap();
    assert_eq!(&response.body[..], b"late");
    assert_eq!(server.handle().now() - start, 10 * SEC);
    assert!(
        response.request_time >= 10 * SEC,
        "{:?}",
        response.request_time
    );
    // The client's own request timeout is virtual too: 5 s, shorter than the handler's
    // 10 s, fails the fetch after 5 s of virtual time, at once.
    let impatient =
        squall::http::HttpRequest::new(&server.url("/")).request_timeout(Duration::from_secs(5));
    let start = server.handle().now();
    let r = server.fetch(impatient);
    assert!(matches!(r, Err(squall::Error::HttpTimeout { .. })), "{r:?}");
    assert_eq!(server.handle().now() - start, 5 * SEC);
    assert!(wall.elapsed() < WALL_BOUND, "took {:?}", wall.elapsed());
}

thread_local! {
    static HANDLE: RefCell<Option<squall::Handle>> = const { RefCell::new(None) };
}

fn resp_handle() -> squall::Handle {
    HANDLE.with(|h| h.borrow().clone().expect("handle set"))
}

#[test]
fn websocket_stalled_message_is_closed_with_1008_after_exactly_its_timeout() {
    let options = WebSocketOptions::default().message_timeout(Some(30 * SEC));
    let (mut server, mut peer, head, code) = websocket_and_raw_peer(options);
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // The first fragment of a text message (FIN clear, masked with a zero key), then
    // nothing.
    peer.write_all(&[0x01, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .unwrap();
    server.run_until_idle().unwrap();
    server.advance(29 * SEC);
    assert_eq!(code.get(), None, "closed before 30 s of stall");
    server.advance(SEC);
    assert_eq!(code.get(), Some(1008));
}
