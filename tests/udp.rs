//! `squall::net::UdpSocket` over 127.0.0.1 and ::1: callbacks and futures, connected
//! sockets, a full kernel buffer that makes sends wait (never drop), the send queue's
//! bound, bounded work per turn, `SO_REUSEPORT` and multicast.

mod support;

use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use squall::net::{UdpOptions, UdpSocket};
use squall::{join_all, Bytes, Error, Future, Reactor};

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Runs the loop until `cond` holds, with a bounded number of short turns.
fn run_until_cond(reactor: &mut Reactor, mut cond: impl FnMut() -> bool) {
    let handle = reactor.handle();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        let f = Future::new();
        let g = f.clone();
        handle.call_later(std::time::Duration::from_millis(1), move || {
            g.set_result(())
        });
        reactor.run_until(&f).unwrap();
    }
}

#[test]
fn callback_echo_and_recv_from() {
    let (mut reactor, handle) = support::reactor();
    let server = UdpSocket::bind(&handle, v4()).unwrap();
    let echo = server.clone();
    server.on_datagram(move |data, from| {
        echo.send_to(data, from);
    });
    let client = UdpSocket::bind(&handle, v4()).unwrap();
    let server_addr = server.local_addr().unwrap();
    for i in 0..10u8 {
        reactor
            .run_until(&client.send_to(vec![i; 100 + i as usize], server_addr))
            .unwrap();
        let (data, from) = reactor.run_until(&client.recv_from()).unwrap();
        assert_eq!(from, server_addr);
        assert_eq!(data, vec![i; 100 + i as usize]);
    }
}

#[test]
fn ipv6_round_trip() {
    let (mut reactor, handle) = support::reactor();
    let Ok(a) = UdpSocket::bind(&handle, "[::1]:0".parse().unwrap()) else {
        eprintln!("skipped: IPv6 loopback is not available here");
        return;
    };
    let b = UdpSocket::bind(&handle, "[::1]:0".parse().unwrap()).unwrap();
    b.send_to(&b"over v6"[..], a.local_addr().unwrap());
    let (data, from) = reactor.run_until(&a.recv_from()).unwrap();
    assert_eq!(
        (&data[..], from),
        (&b"over v6"[..], b.local_addr().unwrap())
    );
}

#[test]
fn largest_datagram_is_not_truncated() {
    let (mut reactor, handle) = support::reactor();
    let a = UdpSocket::bind(&handle, v4()).unwrap();
    let b = UdpSocket::bind(&handle, v4()).unwrap();
    let big: Vec<u8> = (0..65_507u32).map(|i| (i % 253) as u8).collect();
    let got = a.recv_from();
    reactor
        .run_until(&b.send_to(big.clone(), a.local_addr().unwrap()))
        .unwrap();
    let (data, _) = reactor.run_until(&got).unwrap();
    assert_eq!(data.len(), big.len());
    assert!(data[..] == big[..]);
    // One byte more is the kernel's refusal, reported, not dropped.
    let err = reactor
        .run_until(&b.send_to(vec![0u8; 65_508], a.local_addr().unwrap()))
        .unwrap_err();
    assert!(err.io_kind().is_some(), "{err}");
}

#[test]
fn connected_socket_sends_to_its_peer_only() {
    let (mut reactor, handle) = support::reactor();
    let a = UdpSocket::bind(&handle, v4()).unwrap();
    let b = UdpSocket::bind(&handle, v4()).unwrap();
    let stranger = UdpSocket::bind(&handle, v4()).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    // The stranger's datagram is filtered by the kernel; b's arrives.
    reactor
        .run_until(&stranger.send_to(&b"no"[..], a.local_addr().unwrap()))
        .unwrap();
    reactor
        .run_until(&b.send_to(&b"yes"[..], a.local_addr().unwrap()))
        .unwrap();
    let (data, from) = reactor.run_until(&a.recv_from()).unwrap();
    assert_eq!((&data[..], from), (&b"yes"[..], b.local_addr().unwrap()));
    reactor.run_until(&a.send(&b"back"[..])).unwrap();
    let (data, from) = reactor.run_until(&b.recv_from()).unwrap();
    assert_eq!((&data[..], from), (&b"back"[..], a.local_addr().unwrap()));
}

/// A sender whose kernel buffer really fills. Loopback UDP never pushes back (the kernel
/// releases a datagram's send-buffer charge as it hands it over, and drops it at a full
/// receiver), so the send path is driven through a connected Unix datagram pair, which
/// does: the same socket type, `send` on a connected socket. Returns the squall sender and
/// the raw receiving end.
fn backpressured_pair(
    handle: &squall::Handle,
    options: UdpOptions,
) -> (UdpSocket, std::os::unix::net::UnixDatagram) {
    let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let fd: std::os::fd::OwnedFd = a.into();
    let tx = UdpSocket::from_std(handle, std::net::UdpSocket::from(fd), options).unwrap();
    b.set_nonblocking(true).unwrap();
    (tx, b)
}

/// Sends until the kernel's buffer is full and datagrams queue; every one is delivered, in
/// order, once the receiver reads — none is lost, none refused under the bound.
#[test]
fn full_send_buffer_queues_then_drains_in_order() {
    let (mut reactor, handle) = support::reactor();
    let (tx, rx) = backpressured_pair(&handle, UdpOptions::default().max_send_queue(8 << 20));
    let mut sends = Vec::new();
    for i in 0..5000u32 {
        sends.push(tx.send(Bytes::from(i.to_be_bytes().repeat(250))));
    }
    let queued = tx.send_queued();
    assert!(
        queued > 0,
        "the kernel took all 5000 datagrams without pushing back"
    );
    assert!(sends.iter().all(|f| !matches!(f.result(), Some(Err(_)))));
    let got: Rc<RefCell<Vec<u32>>> = Rc::default();
    let g = got.clone();
    handle
        .add_handler(rx, squall::Interest::READABLE, move |rx, _| {
            let mut buf = [0u8; 2000];
            while let Ok(n) = rx.recv(&mut buf) {
                assert_eq!(n, 1000);
                g.borrow_mut()
                    .push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            }
        })
        .unwrap();
    let n = reactor.run_until(&join_all(sends)).unwrap().len();
    assert_eq!(n, 5000);
    run_until_cond(&mut reactor, || got.borrow().len() >= 5000);
    assert_eq!(
        *got.borrow(),
        (0..5000).collect::<Vec<u32>>(),
        "lost or reordered"
    );
    assert_eq!(tx.send_queued(), 0);
    eprintln!("{queued} B were queued while the kernel buffer was full");
}

#[test]
fn send_queue_bound_gives_queue_full() {
    let (mut reactor, handle) = support::reactor();
    const BOUND: usize = 64 * 1024;
    let (tx, rx) = backpressured_pair(&handle, UdpOptions::default().max_send_queue(BOUND));
    let mut outcomes = Vec::new();
    for _ in 0..3000 {
        outcomes.push(tx.send(vec![7u8; 1000]));
        assert!(tx.send_queued() <= BOUND, "queue at {} B", tx.send_queued());
    }
    let full = outcomes
        .iter()
        .filter(|f| matches!(f.result(), Some(Err(Error::QueueFull))))
        .count();
    assert!(
        full > 0,
        "no send was refused although the queue bound is {BOUND} B"
    );
    // Every other send completes once the receiver reads.
    let others: Vec<_> = outcomes
        .into_iter()
        .filter(|f| !matches!(f.result(), Some(Err(Error::QueueFull))))
        .collect();
    let n = others.len();
    let count = Rc::new(Cell::new(0usize));
    let c = count.clone();
    handle
        .add_handler(rx, squall::Interest::READABLE, move |rx, _| {
            let mut buf = [0u8; 2000];
            while rx.recv(&mut buf).is_ok() {
                c.set(c.get() + 1);
            }
        })
        .unwrap();
    assert_eq!(reactor.run_until(&join_all(others)).unwrap().len(), n);
    run_until_cond(&mut reactor, || count.get() >= n);
    assert_eq!(count.get(), n, "accepted sends that never arrived");
    eprintln!("{full} of 3000 sends refused with QueueFull, {n} delivered");
}

#[test]
fn reads_are_bounded_per_turn() {
    let (mut reactor, handle) = support::reactor();
    let rx = UdpSocket::bind_with(
        &handle,
        v4(),
        UdpOptions::default()
            .max_datagrams_per_turn(4)
            .recv_buffer_size(Some(1 << 20)),
    )
    .unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..40u8 {
        tx.send_to(&[i], rx.local_addr().unwrap()).unwrap();
    }
    // A callback that counts datagrams per loop iteration (a ticker marks iterations).
    let per_turn: Rc<RefCell<Vec<usize>>> = Rc::new(RefCell::new(vec![0]));
    let seen = Rc::new(Cell::new(0usize));
    let (p, s) = (per_turn.clone(), seen.clone());
    rx.on_datagram(move |_, _| {
        *p.borrow_mut().last_mut().unwrap() += 1;
        s.set(s.get() + 1);
    });
    fn tick(h: squall::Handle, p: Rc<RefCell<Vec<usize>>>) {
        p.borrow_mut().push(0);
        let h2 = h.clone();
        h.add_callback(move || tick(h2, p));
    }
    tick(handle.clone(), per_turn.clone());
    run_until_cond(&mut reactor, || seen.get() >= 40);
    let max = per_turn.borrow().iter().copied().max().unwrap();
    assert!(max <= 4, "read {max} datagrams in one iteration");
    assert_eq!(seen.get(), 40);
}

#[test]
fn close_fails_pending_and_refuses_new() {
    let (mut reactor, handle) = support::reactor();
    let a = UdpSocket::bind(&handle, v4()).unwrap();
    let pending = a.recv_from();
    a.close();
    assert!(matches!(
        reactor.run_until(&pending),
        Err(Error::StreamClosed)
    ));
    assert!(a.is_closed());
    assert!(matches!(
        a.send_to(&b"x"[..], "127.0.0.1:9".parse().unwrap())
            .result(),
        Some(Err(Error::StreamClosed))
    ));
    assert!(matches!(a.local_addr(), Err(Error::StreamClosed)));
}

#[test]
fn reuse_port_shares_a_port() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let opts = UdpOptions::default().reuse_port(true);
    let a = UdpSocket::bind_with(&handle, v4(), opts.clone()).unwrap();
    let b = UdpSocket::bind_with(&handle, a.local_addr().unwrap(), opts).unwrap();
    assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    // Without it the port is taken.
    let err = UdpSocket::bind(&handle, a.local_addr().unwrap()).unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::AddrInUse));
}

#[test]
fn multicast_v4_join_receive_leave() {
    let (mut reactor, handle) = support::reactor();
    let group = Ipv4Addr::new(239, 255, 42, 99);
    let rx = UdpSocket::bind_with(
        &handle,
        "0.0.0.0:0".parse().unwrap(),
        UdpOptions::default().reuse_address(true),
    )
    .unwrap();
    let port = rx.local_addr().unwrap().port();
    if let Err(e) = rx.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
        eprintln!("skipped: cannot join a multicast group on loopback here: {e}");
        return;
    }
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.set_multicast_loop_v4(true).unwrap();
    let sock = socket2::SockRef::from(&tx);
    sock.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    let got = rx.recv_from();
    tx.send_to(b"to the group", (group, port)).unwrap();
    let (data, _) = reactor.run_until(&got).unwrap();
    assert_eq!(&data[..], b"to the group");
    rx.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
    // Leaving twice is the kernel's error, reported.
    assert!(rx.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).is_err());
}

#[test]
fn multicast_v6_join_leave() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let Ok(rx) = UdpSocket::bind(&handle, "[::]:0".parse().unwrap()) else {
        eprintln!("skipped: IPv6 is not available here");
        return;
    };
    let group: Ipv6Addr = "ff02::1:4242".parse().unwrap();
    // Interface 1 is loopback on Linux; some kernels refuse multicast on it.
    match rx
        .join_multicast_v6(group, 0)
        .or_else(|_| rx.join_multicast_v6(group, 1))
    {
        Ok(()) => {}
        Err(e) => {
            eprintln!("skipped: cannot join an IPv6 multicast group here: {e}");
            return;
        }
    }
    assert!(rx.leave_multicast_v6(group, 0).is_ok() || rx.leave_multicast_v6(group, 1).is_ok());
}
