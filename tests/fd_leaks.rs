//! Descriptor leaks. A single test in its own binary, so no other test opens or closes
//! descriptors while it counts them.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use squall::{Future, Interest};
use support::{open_fds, tcp_pair, unix_pair};

#[test]
fn dropping_the_reactor_closes_every_descriptor_it_owned() {
    // No executor jobs here: a worker drops its clone of the Remote (which keeps the
    // poller's descriptors alive) just after sending the result, at a moment this
    // thread cannot observe without sleeping.
    let before = open_fds();
    {
        let (mut reactor, handle) = support::reactor();
        let mut peers = Vec::new();
        for _ in 0..10 {
            let (a, b) = unix_pair();
            let h = handle.clone(); // a cycle through the reactor: freed by its drop
            handle
                .add_handler(a, Interest::READABLE, move |s, _ev| {
                    support::drain(s);
                    let _ = &h;
                })
                .unwrap();
            peers.push(b);
        }
        let (mut s, c) = tcp_pair();
        c.set_nonblocking(true).unwrap();
        handle
            .add_handler(c, Interest::READABLE | Interest::WRITABLE, |s, _| {
                support::drain(s);
            })
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        handle
            .add_handler(listener, Interest::READABLE, |_l, _ev| {})
            .unwrap();
        // Signal pipes, one removed explicitly and one left to the reactor's drop.
        let t = handle
            .add_signal_handler(signal_hook::consts::SIGUSR2, || {})
            .unwrap();
        handle.remove_handler(t).unwrap();
        handle
            .add_signal_handler(signal_hook::consts::SIGUSR2, || {})
            .unwrap();
        s.write_all(b"data").unwrap();
        for p in &mut peers {
            p.write_all(b"x").unwrap();
        }
        let first: Future<()> = Future::new();
        let f = first.clone();
        handle.call_later(Duration::from_millis(1), move || f.set_result(()));
        reactor.run_until(&first).unwrap();
        // A timer and a pending callback holding handles too.
        let h = handle.clone();
        handle.call_later(Duration::from_secs(60), move || drop(h));
        let pending: Future<()> = Future::new();
        let h = handle.clone();
        pending.add_done_callback(move |_| drop(h));
        handle.add_callback(move || pending.set_result(()));
        assert!(open_fds() > before);
        drop(handle);
        drop(reactor);
        drop(peers);
        drop(s);
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}
