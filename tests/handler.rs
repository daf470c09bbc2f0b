//! Handlers: readiness, removal, re-entrancy, interest changes, level-triggered meaning,
//! stale tokens. Real sockets only (Unix pairs and TCP on 127.0.0.1).

mod support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use squall::{Error, Event, Handle, Interest, Reactor, Token};
use support::{counting_handler, drops, tcp_pair, unix_pair, Counter, DropProbe};

const WAIT: Option<Duration> = Some(Duration::from_secs(5));
const NOW: Option<Duration> = Some(Duration::ZERO);

/// A fresh reactor, its handle, and a non-blocking Unix pair: the end to register and
/// its peer.
fn reactor_and_pair() -> (Reactor, Handle, UnixStream, UnixStream) {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let (a, b) = unix_pair();
    (reactor, handle, a, b)
}

#[test]
fn fires_when_unix_stream_becomes_readable() {
    let (mut reactor, handle, a, mut b) = reactor_and_pair();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    handle
        .add_handler(a, Interest::READABLE, move |s: &mut UnixStream, ev| {
            assert!(ev.is_readable());
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).unwrap();
            g.borrow_mut().extend_from_slice(&buf[..n]);
        })
        .unwrap();
    reactor.run_once(NOW).unwrap();
    assert!(got.borrow().is_empty(), "fired before any data was sent");
    b.write_all(b"ping").unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(&got.borrow()[..], b"ping");
}

#[test]
fn fires_when_tcp_stream_becomes_readable_and_on_peer_close() {
    let (mut reactor, handle) = support::reactor();
    let (mut server, client) = tcp_pair();
    client.set_nonblocking(true).unwrap();
    let reads = Rc::new(RefCell::new(Vec::new()));
    let r = reads.clone();
    let h = handle.clone();
    let token = Rc::new(Cell::new(None::<Token>));
    let t = token.clone();
    let tok = handle
        .add_handler(client, Interest::READABLE, move |s, ev| {
            assert!(ev.is_readable());
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => {
                    r.borrow_mut().push(None);
                    h.remove_handler(t.get().unwrap()).unwrap();
                }
                Ok(n) => r.borrow_mut().push(Some(buf[..n].to_vec())),
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();
    token.set(Some(tok));
    server.write_all(b"hello").unwrap();
    while reads.borrow().is_empty() {
        reactor.run_once(WAIT).unwrap();
    }
    assert_eq!(reads.borrow()[0].as_deref(), Some(&b"hello"[..]));
    drop(server);
    while reads.borrow().len() < 2 {
        reactor.run_once(WAIT).unwrap();
    }
    assert_eq!(reads.borrow()[1], None, "EOF must be reported as readable");
    assert_eq!(handle.stats().handlers, 0);
}

#[test]
fn stops_firing_after_remove_handler() {
    let (mut reactor, handle, a, mut b) = reactor_and_pair();
    let fired = Counter::new();
    let f = fired.clone();
    let token = handle
        .add_handler(a, Interest::READABLE, move |_s, _ev| f.bump())
        .unwrap();
    b.write_all(b"unread").unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(fired.get(), 1);
    handle.remove_handler(token).unwrap();
    for _ in 0..5 {
        reactor.run_once(NOW).unwrap();
    }
    assert_eq!(fired.get(), 1, "a removed handler ran again");
    assert_eq!(handle.stats().handlers, 0);
    // The reactor dropped the source: the peer sees end of file (or a reset, since
    // data was left unread).
    b.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 1];
    match b.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("source still open after remove_handler: {other:?}"),
    }
}

/// A source that counts its drops.
struct Probed(UnixStream, #[allow(dead_code)] DropProbe);

impl AsFd for Probed {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[test]
fn remove_handler_drops_the_source() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let (a, _b) = unix_pair();
    let (probe, count) = DropProbe::new();
    let token = handle
        .add_handler(Probed(a, probe), Interest::READABLE, |_s, _ev| {})
        .unwrap();
    assert_eq!(drops(&count), 0);
    handle.remove_handler(token).unwrap();
    assert_eq!(drops(&count), 1);
}

#[test]
fn remove_self_inside_callback() {
    let (mut reactor, handle, a, mut b) = reactor_and_pair();
    let (probe, count) = DropProbe::new();
    let fired = Counter::new();
    let token = Rc::new(Cell::new(None::<Token>));
    let (f, t, h) = (fired.clone(), token.clone(), handle.clone());
    let c = count.clone();
    let tok = handle
        .add_handler(Probed(a, probe), Interest::READABLE, move |_s, _ev| {
            f.bump();
            h.remove_handler(t.get().unwrap()).unwrap();
            // Still alive while its own callback runs.
            assert_eq!(drops(&c), 0);
            assert!(h.remove_handler(t.get().unwrap()).is_err());
        })
        .unwrap();
    token.set(Some(tok));
    b.write_all(b"never read").unwrap();
    reactor.run_once(WAIT).unwrap();
    for _ in 0..5 {
        reactor.run_once(NOW).unwrap();
    }
    assert_eq!(fired.get(), 1);
    assert_eq!(drops(&count), 1, "source not dropped after self-removal");
    assert_eq!(handle.stats().handlers, 0);
}

#[test]
fn register_another_inside_callback() {
    let (mut reactor, handle, a, mut a_peer) = reactor_and_pair();
    let (c, mut c_peer) = unix_pair();
    c_peer.write_all(b"for the second").unwrap();
    let second = Counter::new();
    let pending = Rc::new(RefCell::new(Some(c)));
    let (h, s2, p) = (handle.clone(), second.clone(), pending.clone());
    handle
        .add_handler(a, Interest::READABLE, move |s, _ev| {
            support::drain(s);
            if let Some(c) = p.borrow_mut().take() {
                counting_handler(&h, c, &s2, |_| {});
            }
        })
        .unwrap();
    a_peer.write_all(b"x").unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(handle.stats().handlers, 2);
    while second.get() == 0 {
        reactor.run_once(WAIT).unwrap();
    }
    assert_eq!(second.get(), 1);
}

#[test]
fn remove_self_and_add_replacement_inside_callback() {
    // The replacement may reuse the slot of the handler that is still running; the old
    // handler must be dropped when it returns and the new one must stay.
    let (mut reactor, handle, a, mut a_peer) = reactor_and_pair();
    let (c, mut c_peer) = unix_pair();
    let (probe, count) = DropProbe::new();
    let token = Rc::new(Cell::new(None::<Token>));
    let replacement = Counter::new();
    let pending = Rc::new(RefCell::new(Some(c)));
    let (t, h, r, p) = (
        token.clone(),
        handle.clone(),
        replacement.clone(),
        pending.clone(),
    );
    let tok = handle
        .add_handler(Probed(a, probe), Interest::READABLE, move |_s, _ev| {
            h.remove_handler(t.get().unwrap()).unwrap();
            let c = p.borrow_mut().take().expect("the first handler ran twice");
            counting_handler(&h, c, &r, |_| {});
        })
        .unwrap();
    token.set(Some(tok));
    a_peer.write_all(b"x").unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(drops(&count), 1);
    assert_eq!(handle.stats().handlers, 1);
    c_peer.write_all(b"y").unwrap();
    while replacement.get() == 0 {
        reactor.run_once(WAIT).unwrap();
    }
    a_peer.write_all(b"z").ok(); // the peer of a dropped socket: may fail, must not fire
    reactor.run_once(NOW).unwrap();
    assert_eq!(
        replacement.get(),
        1,
        "the dropped source's peer woke a handler"
    );
}

#[test]
fn handler_removed_by_another_in_the_same_iteration_does_not_run() {
    let (mut reactor, handle, a, mut a_peer) = reactor_and_pair();
    let (c, mut c_peer) = unix_pair();
    let fired = Counter::new();
    let tokens: Rc<RefCell<Vec<Token>>> = Rc::default();
    for (i, s) in [a, c].into_iter().enumerate() {
        let (t, h) = (tokens.clone(), handle.clone());
        let tok = counting_handler(&handle, s, &fired, move |_| {
            let other = t.borrow()[1 - i];
            h.remove_handler(other)
                .expect("the other handler was removed, yet this one runs");
        });
        tokens.borrow_mut().push(tok);
    }
    // Both ready before the iteration, so both are in the same batch of events.
    a_peer.write_all(b"x").unwrap();
    c_peer.write_all(b"y").unwrap();
    reactor.run_once(WAIT).unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(fired.get(), 1, "the removed handler ran");
    assert_eq!(handle.stats().handlers, 1);
}

#[test]
fn update_handler_switches_interest() {
    let (mut reactor, handle, a, mut b) = reactor_and_pair();
    let events: Rc<RefCell<Vec<Event>>> = Rc::default();
    let e = events.clone();
    let token = handle
        .add_handler(a, Interest::READABLE, move |_s, ev| e.borrow_mut().push(ev))
        .unwrap();
    // Writable but nothing to read: no event while only READABLE is asked.
    reactor.run_once(NOW).unwrap();
    assert!(events.borrow().is_empty());

    handle.update_handler(token, Interest::WRITABLE).unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(*events.borrow(), vec![Event::new(false, true)]);

    // Now readable too, but only writability is asked for.
    b.write_all(b"data").unwrap();
    events.borrow_mut().clear();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(*events.borrow(), vec![Event::new(false, true)]);

    handle.update_handler(token, Interest::NONE).unwrap();
    events.borrow_mut().clear();
    for _ in 0..3 {
        reactor.run_once(NOW).unwrap();
    }
    assert!(events.borrow().is_empty(), "a paused handler fired");

    handle
        .update_handler(token, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(*events.borrow(), vec![Event::new(true, true)]);

    handle.update_handler(token, Interest::READABLE).unwrap();
    events.borrow_mut().clear();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(*events.borrow(), vec![Event::new(true, false)]);
}

#[test]
fn unread_data_keeps_handler_firing_each_iteration() {
    let (mut reactor, handle, a, mut b) = reactor_and_pair();
    let fired = Counter::new();
    let f = fired.clone();
    handle
        .add_handler(a, Interest::READABLE, move |s, _ev| {
            f.bump();
            // Read one byte per call: level-triggered means we get called again.
            let mut one = [0u8; 1];
            assert_eq!(s.read(&mut one).unwrap(), 1);
        })
        .unwrap();
    b.write_all(b"abc").unwrap();
    for i in 1..=3 {
        reactor.run_once(WAIT).unwrap();
        assert_eq!(fired.get(), i, "iteration {i}");
    }
    for _ in 0..3 {
        reactor.run_once(NOW).unwrap();
    }
    assert_eq!(fired.get(), 3, "fired with nothing left to read");
}

#[test]
fn stale_token_does_not_reach_new_handler_in_reused_slot() {
    let (mut reactor, handle, a, _a_peer) = reactor_and_pair();
    let (c, mut c_peer) = unix_pair();
    let old = handle
        .add_handler(a, Interest::READABLE, |_s, _ev| {})
        .unwrap();
    handle.remove_handler(old).unwrap();
    let fired = Counter::new();
    let new = counting_handler(&handle, c, &fired, |_| {});
    assert_ne!(old, new);
    assert!(matches!(
        handle.remove_handler(old),
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        handle.update_handler(old, Interest::NONE),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(handle.stats().handlers, 1);
    c_peer.write_all(b"still here").unwrap();
    reactor.run_once(WAIT).unwrap();
    assert_eq!(
        fired.get(),
        1,
        "the new handler was removed or paused by a stale token"
    );
}

#[test]
fn stale_tokens_stay_stale_over_many_reuses() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let mut stale = Vec::new();
    for _ in 0..100 {
        let (a, _b) = unix_pair();
        let t = handle
            .add_handler(a, Interest::READABLE, |_s, _ev| {})
            .unwrap();
        handle.remove_handler(t).unwrap();
        stale.push(t);
    }
    let (a, _b) = unix_pair();
    let live = handle
        .add_handler(a, Interest::READABLE, |_s, _ev| {})
        .unwrap();
    for t in stale {
        assert!(handle.remove_handler(t).is_err());
    }
    handle.remove_handler(live).unwrap();
}
