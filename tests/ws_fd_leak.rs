//! Ownership of WebSocket connections: a connection lives while open even when nobody
//! keeps a handle, and dropping the reactor frees it (its socket is closed). Alone in its
//! binary because it counts the process's descriptors.

mod support;

use squall::websocket::WebSocketOptions;
use squall::{Future, Reactor};
use support::ws::{assert_answers, connect_default, echo_server};

#[test]
fn connections_live_without_handles_and_die_with_the_reactor() {
    let fds_before = support::open_fds();
    let mut reactor = Reactor::new().unwrap();
    let (server, addr, closes) = echo_server(&reactor, WebSocketOptions::default());
    let url = format!("ws://{addr}/");
    let ws = connect_default(&mut reactor, &url);
    // The server side kept no handle (the echo closure only): it still answers.
    assert_answers(&mut reactor, &ws, "still there?", "still there?");
    // Neither side's handles are kept, both connections are open: the reactor owns them.
    let weak_probe = ws.closed();
    drop(ws);
    for _ in 0..5 {
        let tick: Future<()> = Future::new();
        let t = tick.clone();
        reactor.handle().add_callback(move || t.set_result(()));
        reactor.run_until(&tick).unwrap();
    }
    assert!(!weak_probe.is_done());
    assert!(closes.all().is_empty());
    drop(server);
    drop(reactor);
    assert_eq!(
        support::open_fds(),
        fds_before,
        "sockets of open connections were closed"
    );
}
