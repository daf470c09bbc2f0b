//! What a hostile WebSocket peer may cost the server, over real sockets on 127.0.0.1:
//! a ping flood from a peer that never reads (pongs are coalesced, reading pauses, the
//! connection is closed when its writes stay stuck), unsolicited pongs (they do not
//! answer the keep-alive ping), and a peer too slow for what it is sent (closed once,
//! logged once).

mod support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};
use squall::http::server::HttpServer;
use squall::websocket::{accept, WebSocket, WebSocketOptions};
use squall::{Future, Reactor};
use support::log::{install_logger, logged_here};
use support::ws::{cf, pinging, Closes, Raw};
use support::{run_for, turn, with_peer, WAIT_LIMIT};

/// Small kernel buffers on both sides and in both directions, so a peer that does not
/// read shows up after a few kilobytes instead of megabytes. The server's receive buffer
/// matters as much as the client's: with a large one a server that lags takes up to
/// half a megabyte per read, whose pings share one pong, and the flood must carry
/// tens of megabytes before the pongs back up. On a starved machine that much traffic
/// into a peer that never reads can wedge loopback TCP itself (the flooder's
/// retransmissions back off to tens of seconds while its receive buffer, full of pongs,
/// drops the segments that carry the server's acknowledgements), and the server, with
/// nothing queued, has nothing to time out.
const SOCKET_BUFFER: usize = 4096;

/// The server's connections, their close log, and its address. Every connection echoes.
struct Server {
    _server: HttpServer,
    addr: SocketAddr,
    sockets: Rc<RefCell<Vec<WebSocket>>>,
    closes: Closes,
}

fn server(reactor: &Reactor, options: WebSocketOptions, echo: bool) -> Server {
    let closes = Closes::default();
    let sockets: Rc<RefCell<Vec<WebSocket>>> = Rc::default();
    let (c, s) = (closes.clone(), sockets.clone());
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        if let Ok(ws) = accept(&req, resp, &options) {
            let c = c.clone();
            ws.on_close(move |code, reason| c.record(code, reason));
            if echo {
                ws.on_message(|ws: &WebSocket, msg| ws.send(msg));
            }
            s.borrow_mut().push(ws);
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Accepted sockets inherit the listener's buffer sizes.
    let l = SockRef::from(&listener);
    l.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    l.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    let addr = listener.local_addr().unwrap();
    server.add_listener(listener).unwrap();
    Server {
        _server: server,
        addr,
        sockets,
        closes,
    }
}

/// A client socket with a small receive buffer, upgraded; it reads nothing after the
/// handshake unless told.
fn small_client(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    let request = Raw::upgrade_request("");
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed in the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream
}

/// Reads until the server closes the connection (end of file or reset).
fn read_until_closed(stream: &mut TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Runs the loop until `f` is done or `WAIT_LIMIT` passed.
fn run_bounded<T: Clone + 'static>(reactor: &mut Reactor, f: &Future<T>) -> Option<T> {
    let done: Future<()> = Future::new();
    let d = done.clone();
    f.add_done_callback(move |_| {
        let _ = d.try_set_result(());
    });
    let d = done.clone();
    let bound = reactor.handle().call_later(WAIT_LIMIT, move || {
        let _ = d.try_set_result(());
    });
    reactor.run_until(&done).unwrap();
    reactor.handle().cancel_timer(bound);
    f.result().and_then(Result::ok)
}

#[test]
fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded_and_is_closed() {
    // Pings of the largest payload (125 bytes), so that even coalesced pongs fill the
    // small kernel buffers and the flooder is shown to be paused, then closed.
    const PINGS: usize = 400_000;
    const BATCH: usize = 1000;
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default()
        .max_write_buffer_size(Some(1 << 20))
        .write_timeout(Some(Duration::from_millis(500)));
    let srv = server(&reactor, options, true);
    // The most memory the server's write queue held for any connection (its real
    // cost, as the stream counts it), sampled every millisecond.
    let peak = Rc::new(Cell::new(0usize));
    let (p, sockets) = (peak.clone(), srv.sockets.clone());
    let sampler =
        squall::PeriodicCallback::new(&reactor.handle(), Duration::from_millis(1), move || {
            for ws in sockets.borrow().iter() {
                p.set(p.get().max(ws.stream().write_buffer_cost()));
            }
        });
    sampler.start();

    let addr = srv.addr;
    let (flooding, started) = mpsc::channel();
    let (sent, answered) = with_peer(&mut reactor, move || {
        let flooder = std::thread::spawn(move || {
            let mut stream = small_client(addr);
            // Writes block once the server stops reading (backpressure); the server must
            // then close the connection (its `write_timeout` is 500 ms), which ends the
            // blocked write with an error. The bound only keeps a broken server from
            // hanging the test: it is far above the server's timeout, so that a slow
            // machine cannot make the flooder give up and start reading (which would
            // drain the pongs and lift the backpressure) before the server acts.
            stream
                .set_write_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let batch: Vec<u8> = (0..BATCH).flat_map(|_| cf(9, true, &[7u8; 125])).collect();
            let mut sent = 0;
            while sent < PINGS {
                if stream.write_all(&batch).is_err() {
                    break; // the server closed the connection (or the bound above)
                }
                sent += BATCH;
                if sent == BATCH {
                    let _ = flooding.send(());
                }
            }
            let _ = flooding.send(());
            // Now wait, still reading nothing of our own accord, until the server
            // gives up on us.
            read_until_closed(&mut stream);
            sent
        });
        started.recv_timeout(WAIT_LIMIT).expect("flood started");
        // Meanwhile a normal client is answered.
        let (mut raw, _) = Raw::connect(addr, "");
        raw.send_bytes(&cf(1, true, b"still there?"));
        let echo = raw.read_frame().expect("an answer");
        let sent = flooder.join().unwrap();
        (sent, echo.payload)
    });
    sampler.stop();
    assert_eq!(answered, b"still there?");
    let closes = srv.closes.all();
    let peak = peak.get();
    let state: Vec<_> = srv
        .sockets
        .borrow()
        .iter()
        .map(|ws| (ws.is_closed(), ws.stream().write_buffer_len()))
        .collect();
    eprintln!("pings sent {sent}, peak queued cost {peak} B, closes {closes:?}, (closed, queued): {state:?}");
    // One queued pong at a time, whatever the flood: far below the write limit.
    assert!(
        peak <= 16 * 1024,
        "the queue held {peak} B for {sent} pings"
    );
    assert!(
        closes.iter().any(|(code, _)| *code == 1008),
        "the flooder was not closed with 1008: {closes:?}"
    );
}

/// A peer thread on a small client of `addr`, running `body` with its stream and the stop
/// flag; set the flag returned to tell it to stop.
fn peer_until_told<T: Send + 'static>(
    addr: SocketAddr,
    body: impl FnOnce(&mut TcpStream, &AtomicBool) -> T + Send + 'static,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<T>) {
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let peer = std::thread::spawn(move || body(&mut small_client(addr), &st));
    (stop, peer)
}

#[test]
fn unsolicited_pongs_do_not_keep_a_peer_that_never_reads_alive() {
    let mut reactor = Reactor::new().unwrap();
    let options = pinging(Duration::from_millis(50), Duration::from_millis(200));
    let srv = server(&reactor, options, true);
    let (stop, peer) = peer_until_told(srv.addr, |stream, stop| {
        let mut pongs = 0;
        // An unsolicited empty pong every 20 ms, never reading.
        while !stop.load(Ordering::Relaxed) && stream.write_all(&cf(10, true, b"")).is_ok() {
            pongs += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        pongs
    });
    let closed = run_bounded(&mut reactor, &srv.closes.first);
    stop.store(true, Ordering::Relaxed);
    let pongs = peer.join().unwrap();
    eprintln!("closed {closed:?} after {pongs} unsolicited pongs");
    assert_eq!(
        closed.map(|c| c.0),
        Some(1011),
        "still open after {pongs} unsolicited pongs"
    );
}

#[test]
fn a_send_to_a_full_peer_closes_it_once_and_logs_once() {
    install_logger();
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default().max_write_buffer_size(Some(64 * 1024));
    let srv = server(&reactor, options, false);
    // A peer that connects and reads nothing until told.
    let (stop, peer) = peer_until_told(srv.addr, |stream, stop| {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        read_until_closed(stream);
    });
    let joined: Future<()> = Future::new();
    let j = joined.clone();
    let sockets = srv.sockets.clone();
    let poll =
        squall::PeriodicCallback::new(&reactor.handle(), Duration::from_millis(1), move || {
            if !sockets.borrow().is_empty() {
                let _ = j.try_set_result(());
            }
        });
    poll.start();
    assert!(
        run_bounded(&mut reactor, &joined).is_some(),
        "no connection"
    );
    poll.stop();
    let ws = srv.sockets.borrow()[0].clone();
    // A broadcast that ignores what each send returns, as a chat does: 1 000 messages
    // of 1 KiB to a peer that reads nothing, in rounds, letting the loop write between.
    let text = "x".repeat(1024);
    for _round in 0..10 {
        for _ in 0..100 {
            let _ = ws.send_text(text.clone());
        }
        run_for(&mut reactor, Duration::from_millis(5));
    }
    let closed = run_bounded(&mut reactor, &srv.closes.first);
    stop.store(true, Ordering::Relaxed);
    peer.join().unwrap();
    // Let dropped futures and callbacks settle, then count.
    turn(&mut reactor);
    let warnings = logged_here(log::Level::Warn);
    eprintln!("closed {closed:?}; warnings: {warnings:?}");
    assert_eq!(closed.map(|c| c.0), Some(1008), "not closed with 1008");
    assert_eq!(srv.closes.all().len(), 1, "{:?}", srv.closes.all());
    assert_eq!(
        warnings.len(),
        1,
        "{} warnings, first: {:?}",
        warnings.len(),
        warnings.first()
    );
}
