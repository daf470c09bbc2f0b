//! Behaviour of `TcpClient` and the resolvers over 127.0.0.1: refused connects, connect
//! timeouts, happy eyeballs across addresses, and names answered without the executor.

mod support;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::net::{DefaultResolver, OverrideResolver, Resolver, TcpClient};
use squall::testing::bind_unused_port;
use squall::{Error, Future, Handle, Reactor};
use support::net::*;
use support::{run_for, wait};

#[test]
fn connect_succeeds_and_cancels_its_timeout() {
    let mut reactor = Reactor::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpClient::new(&reactor.handle());
    let f = client.connect("127.0.0.1", addr.port(), Some(Duration::from_millis(200)));
    let stream = wait(&mut reactor, &f).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), Some(addr));
    assert_eq!(
        reactor.handle().stats().timers_pending,
        0,
        "timeout timer left armed"
    );
    // Past the timeout the stream is still fine.
    run_for(&mut reactor, Duration::from_millis(250));
    assert!(!stream.is_closed());
    let (mut accepted, _) = listener.accept().unwrap();
    wait(&mut reactor, &stream.write(&b"hi"[..])).unwrap();
    let mut buf = [0u8; 2];
    std::io::Read::read_exact(&mut accepted, &mut buf).unwrap();
    assert_eq!(&buf, b"hi");
}

#[test]
fn connect_refused_fails_with_io_error_naming_the_address() {
    let mut reactor = Reactor::new().unwrap();
    let closed = support::ReservedPort::closed();
    let port = closed.port();
    let client = TcpClient::new(&reactor.handle());
    let r = wait(
        &mut reactor,
        &client.connect("127.0.0.1", port, Some(Duration::from_secs(5))),
    );
    let e = r.map(|_| ()).unwrap_err();
    assert_eq!(e.io_kind(), Some(ErrorKind::ConnectionRefused), "{e:?}");
    let addr = format!("127.0.0.1:{port}");
    assert!(e.to_string().contains(&addr), "{e} does not name {addr}");
}

#[test]
fn connect_timeout_when_the_handshake_never_completes() {
    let (_listener, addr, _fillers) = unanswered_listener("127.0.0.1:0").expect("listener");
    let mut reactor = Reactor::new().unwrap();
    let client = TcpClient::new(&reactor.handle());
    let start = Instant::now();
    let r = wait(
        &mut reactor,
        &client.connect("127.0.0.1", addr.port(), Some(Duration::from_millis(150))),
    );
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r.map(|_| ()));
    assert!(
        took >= Duration::from_millis(150),
        "timed out after {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "timed out only after {took:?}"
    );
    // The abandoned attempt is deregistered: the loop has nothing left to watch.
    assert_eq!(reactor.handle().stats().handlers, 0);
}

/// A resolver whose answer never comes.
struct NeverResolves;

impl Resolver for NeverResolves {
    fn resolve(&self, _handle: &Handle, _host: &str, _port: u16) -> Future<Vec<SocketAddr>> {
        Future::new()
    }
}

#[test]
fn connect_timeout_covers_name_resolution() {
    let mut reactor = Reactor::new().unwrap();
    let client = TcpClient::with_resolver(&reactor.handle(), Rc::new(NeverResolves));
    let start = Instant::now();
    let r = wait(
        &mut reactor,
        &client.connect("slow.test", 80, Some(Duration::from_millis(100))),
    );
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r.map(|_| ()));
    assert!(start.elapsed() >= Duration::from_millis(100));
}

/// Connects to `svc.test:80`, which resolves to `addrs` in this order (5 s to connect).
fn connect_svc(
    reactor: &mut Reactor,
    addrs: [SocketAddr; 2],
) -> squall::Result<squall::stream::IoStream> {
    let resolver = OverrideResolver::new()
        .with_addr("svc.test", 80, addrs[0])
        .with_addr("svc.test", 80, addrs[1]);
    let client = TcpClient::with_resolver(&reactor.handle(), Rc::new(resolver));
    let connecting = client.connect("svc.test", 80, Some(Duration::from_secs(5)));
    wait(reactor, &connecting)
}

#[test]
fn happy_eyeballs_moves_past_a_refused_address_to_an_open_one() {
    let mut reactor = Reactor::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open: SocketAddr = listener.local_addr().unwrap();
    let closed = support::ReservedPort::closed();
    let refused = closed.addr();
    let stream = connect_svc(&mut reactor, [refused, open]).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), Some(open));
    assert_eq!(
        listener.accept().unwrap().1,
        stream.local_addr().unwrap().unwrap()
    );
}

#[test]
fn happy_eyeballs_reports_the_last_failure_when_every_address_is_refused() {
    let mut reactor = Reactor::new().unwrap();
    let (closed_a, closed_b) = (
        support::ReservedPort::closed(),
        support::ReservedPort::closed_on("127.0.0.2:0"),
    );
    let (a, b) = (closed_a.addr(), closed_b.addr());
    let e = connect_svc(&mut reactor, [a, b]).map(|_| ()).unwrap_err();
    assert_eq!(e.io_kind(), Some(ErrorKind::ConnectionRefused), "{e:?}");
    assert!(
        e.to_string().contains(&b.to_string()),
        "{e} does not name {b}"
    );
    assert_eq!(reactor.handle().stats().handlers, 0);
}

#[test]
fn override_resolver_maps_a_host_to_another_name() {
    let mut reactor = Reactor::new().unwrap();
    let (_listener, port) = bind_unused_port().unwrap();
    let resolver = OverrideResolver::new().with_host("Api.Example.Test", "127.0.0.1");
    let client = TcpClient::with_resolver(&reactor.handle(), Rc::new(resolver));
    let stream = wait(
        &mut reactor,
        &client.connect("api.example.test", port, None),
    )
    .unwrap();
    assert_eq!(stream.peer_addr().unwrap().unwrap().port(), port);
}

#[test]
fn localhost_and_ip_literals_resolve_without_the_executor() {
    let reactor = Reactor::new().unwrap();
    let h = reactor.handle();
    // Answered synchronously: the futures are done before the loop ever runs, which an
    // executor job (finishing on another thread, delivered by the loop) cannot be.
    let f = DefaultResolver.resolve(&h, "localhost", 8080);
    assert!(f.is_done(), "localhost went to the executor");
    let addrs = f.take_result().unwrap().unwrap();
    assert!(
        addrs.contains(&"127.0.0.1:8080".parse().unwrap()),
        "{addrs:?}"
    );
    assert!(addrs[0].is_ipv4(), "{addrs:?}");
    for (host, expect) in [
        ("127.0.0.3", "127.0.0.3:9"),
        ("::1", "[::1]:9"),
        ("[::1]", "[::1]:9"),
        ("LOCALHOST", "127.0.0.1:9"),
    ] {
        let f = DefaultResolver.resolve(&h, host, 9);
        assert!(f.is_done(), "{host} went to the executor");
        let addrs = f.take_result().unwrap().unwrap();
        assert_eq!(addrs[0], expect.parse::<SocketAddr>().unwrap(), "{host}");
    }
}

#[test]
fn connect_to_localhost_reaches_an_ipv4_listener() {
    let mut reactor = Reactor::new().unwrap();
    let (_listener, port) = bind_unused_port().unwrap();
    let client = TcpClient::new(&reactor.handle());
    let connecting = client.connect("localhost", port, Some(Duration::from_secs(5)));
    let stream = wait(&mut reactor, &connecting).unwrap();
    assert_eq!(
        stream.peer_addr().unwrap(),
        Some(([127, 0, 0, 1], port).into())
    );
}
