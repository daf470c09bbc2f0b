//! `IoStream` over TLS: handshakes (TLS 1.2 and 1.3, SNI, ALPN, client certificates),
//! certificate errors by cause, `start_tls` after plaintext, bulk data with slow readers,
//! peers that do not speak TLS or stall, close_notify — over real sockets (127.0.0.1, or
//! a socketpair where TCP plays no part) with certificates made by `rcgen`.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use squall::stream::{IoStream, Socket};
use squall::testing::stream_pair;
use squall::tls::{ClientTlsOptions, TlsConfig, TlsErrorKind};
use squall::{Error, Future, Handle, Reactor};
use support::tls::{
    blocking_client_config, client_auth_config, finish_handshake, tls_kind, Leaf, TestCa,
};
use support::{run_until, tcp_pair, wait, WAIT_LIMIT};

/// Handshakes a connected pair (a socketpair: TLS needs no TCP): (server result, client
/// result).
fn handshake(
    reactor: &mut Reactor,
    server: &TlsConfig,
    client: &TlsConfig,
    host: &str,
) -> (squall::Result<IoStream>, squall::Result<IoStream>) {
    let h = reactor.handle();
    let (s, c) = stream_pair(&h).unwrap();
    let s = s.start_tls(true, server, None);
    let c = c.start_tls(false, client, Some(host));
    let c = wait(reactor, &c);
    let s = wait(reactor, &s);
    (s, c)
}

/// A reactor and a pair handshaken with a `localhost` certificate of a fresh CA named
/// after `tag`: (reactor, server, client, the server's certificate).
fn connected(tag: &str) -> (Reactor, IoStream, IoStream, Leaf) {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new(tag);
    let leaf = ca.leaf(&["localhost"]);
    let (s, c) = handshake(
        &mut reactor,
        &leaf.server_config(),
        &ca.client_config(),
        "localhost",
    );
    (reactor, s.unwrap(), c.unwrap(), leaf)
}

/// Starts TLS on `socket` as the server, with `leaf`'s certificate.
fn tls_server_side(h: &Handle, socket: impl Into<Socket>, leaf: &Leaf) -> Future<IoStream> {
    IoStream::new(h, socket)
        .unwrap()
        .start_tls(true, &leaf.server_config(), None)
}

/// Handshakes two connected sockets, `server`'s with `leaf` (a `localhost` certificate
/// of `ca`) and `client`'s trusting `ca`: (server, client).
fn handshake_sockets(
    reactor: &mut Reactor,
    server: impl Into<Socket>,
    client: impl Into<Socket>,
    ca: &TestCa,
    leaf: &Leaf,
) -> (IoStream, IoStream) {
    let h = reactor.handle();
    let s = tls_server_side(&h, server, leaf);
    let c =
        IoStream::new(&h, client)
            .unwrap()
            .start_tls(false, &ca.client_config(), Some("localhost"));
    let c = wait(reactor, &c).unwrap();
    (wait(reactor, &s).unwrap(), c)
}

fn exchange(reactor: &mut Reactor, a: &IoStream, b: &IoStream) {
    a.write(&b"ping\n"[..]);
    let got = b.read_until(b"\n", Some(100));
    assert_eq!(&wait(reactor, &got).unwrap()[..], b"ping\n");
    b.write(&b"pong\n"[..]);
    let got = a.read_until(b"\n", Some(100));
    assert_eq!(&wait(reactor, &got).unwrap()[..], b"pong\n");
}

#[test]
fn handshake_tls13_data_both_ways_alpn_and_info() {
    let (mut reactor, s, c, leaf) = connected("tls13");
    exchange(&mut reactor, &c, &s);
    let ci = c.tls_info().unwrap();
    let si = s.tls_info().unwrap();
    assert_eq!(ci.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(ci.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(si.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(ci.peer_certificates, leaf.certs());
    assert!(si.peer_certificates.is_empty());
    assert_eq!(si.server_name.as_deref(), Some("localhost"));
    assert!(c.is_tls() && s.is_tls());
}

#[test]
fn handshake_tls12() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("tls12");
    let config = rustls::ClientConfig::builder_with_provider(squall::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    let client = TlsConfig::client_from_rustls(Arc::new(config));
    let (s, c) = handshake(&mut reactor, &leaf.server_config(), &client, "localhost");
    let (s, c) = (s.unwrap(), c.unwrap());
    exchange(&mut reactor, &s, &c);
    assert_eq!(
        c.tls_info().unwrap().version,
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        s.tls_info().unwrap().version,
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn sni_picks_the_certificate() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("sni");
    let provider = squall::tls::provider();
    let mut resolver = rustls::server::ResolvesServerCertUsingSni::new();
    for name in ["a.test", "b.test"] {
        let leaf = ca.leaf(&[name]);
        let key = provider.key_provider.load_private_key(leaf.key()).unwrap();
        resolver
            .add(name, rustls::sign::CertifiedKey::new(leaf.certs(), key))
            .unwrap();
    }
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let server = TlsConfig::server(Arc::new(config));
    for name in ["a.test", "b.test"] {
        // The client verifies the certificate against `name`: only the right one passes.
        let (s, c) = handshake(&mut reactor, &server, &ca.client_config(), name);
        let (s, c) = (s.unwrap(), c.unwrap());
        assert_eq!(s.tls_info().unwrap().server_name.as_deref(), Some(name));
        exchange(&mut reactor, &c, &s);
    }
    let (s, c) = handshake(&mut reactor, &server, &ca.client_config(), "c.test");
    assert!(s.is_err() && c.is_err(), "no certificate for c.test");
}

#[test]
fn certificate_problems_are_named() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, good) = TestCa::with_localhost("bad");
    let other_ca = TestCa::new("other");
    let expired = ca.expired_leaf(&["localhost"]);
    let cases = [
        (&good, &other_ca, "localhost", TlsErrorKind::UnknownIssuer),
        (&good, &ca, "example.com", TlsErrorKind::HostnameMismatch),
        (&expired, &ca, "localhost", TlsErrorKind::Expired),
    ];
    for (leaf, trust, host, kind) in cases {
        let (s, c) = handshake(
            &mut reactor,
            &leaf.server_config(),
            &trust.client_config(),
            host,
        );
        assert_eq!(tls_kind(&c), Some(kind), "{c:?}");
        let Err(Error::Tls(e)) = &c else {
            unreachable!()
        };
        assert!(e.is_certificate_problem());
        assert!(
            s.is_err(),
            "the server learns of the failed handshake: {s:?}"
        );
    }
    // validate_cert = false accepts all of them.
    let insecure = TlsConfig::client(&ClientTlsOptions::default().validate_cert(false)).unwrap();
    for leaf in [&good, &expired] {
        let (s, c) = handshake(
            &mut reactor,
            &leaf.server_config(),
            &insecure,
            "wrong.example",
        );
        exchange(&mut reactor, &c.unwrap(), &s.unwrap());
    }
}

#[test]
fn client_certificates_required_and_optional() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("clientauth");
    let me = ca.client_leaf("client.test");
    let with_cert =
        TlsConfig::client(&ca.client_options().client_cert(&me.cert_path, &me.key_path)).unwrap();

    let required = client_auth_config(&ca, &ca.leaf(&["localhost"]), false);
    let (s, c) = handshake(&mut reactor, &required, &with_cert, "localhost");
    let (s, c) = (s.unwrap(), c.unwrap());
    assert_eq!(s.tls_info().unwrap().peer_certificates, me.certs());
    exchange(&mut reactor, &c, &s);

    // Without a certificate the server refuses; in TLS 1.3 the client finishes first
    // and learns it from the alert on its first read.
    let (s, c) = handshake(&mut reactor, &required, &ca.client_config(), "localhost");
    assert_eq!(
        tls_kind(&s),
        Some(TlsErrorKind::CertificateRequired),
        "{s:?}"
    );
    if let Ok(c) = c {
        let r = c.read_until_close();
        let _ = wait(&mut reactor, &r);
        assert!(c.is_closed());
    }

    let optional = client_auth_config(&ca, &ca.leaf(&["localhost"]), true);
    let (s, c) = handshake(&mut reactor, &optional, &ca.client_config(), "localhost");
    let (s, c) = (s.unwrap(), c.unwrap());
    assert!(s.tls_info().unwrap().peer_certificates.is_empty());
    exchange(&mut reactor, &s, &c);
}

#[test]
fn start_tls_after_a_plaintext_exchange() {
    let (mut reactor, h) = support::reactor();
    let (ca, leaf) = TestCa::with_localhost("starttls");
    let (s, c) = stream_pair(&h).unwrap();
    exchange(&mut reactor, &c, &s);
    assert!(!s.is_tls());
    // A stream with a read pending cannot be upgraded.
    let pending = s.read_bytes(1, false);
    let refused = s.start_tls(true, &leaf.server_config(), None);
    assert!(matches!(
        wait(&mut reactor, &refused),
        Err(Error::InvalidState(_))
    ));
    drop(pending);
    let (s, c) = stream_pair(&h).unwrap();
    exchange(&mut reactor, &c, &s);
    let sf = s.start_tls(true, &leaf.server_config(), None);
    let cf = c.start_tls(false, &ca.client_config(), Some("localhost"));
    let c = wait(&mut reactor, &cf).unwrap();
    let s = wait(&mut reactor, &sf).unwrap();
    exchange(&mut reactor, &c, &s);
    assert!(c.is_tls() && s.is_tls());
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Reads `total` bytes in small partial reads, one per iteration (a slow reader).
fn slow_read(stream: &IoStream, total: usize) -> Future<Vec<u8>> {
    let out = Future::new();
    fn step(stream: IoStream, mut acc: Vec<u8>, total: usize, out: Future<Vec<u8>>) {
        if acc.len() == total {
            out.set_result(acc);
            return;
        }
        let s = stream.clone();
        stream
            .read_bytes(4096.min(total - acc.len()), true)
            .add_done_callback(move |f| match f.take_result().unwrap() {
                Ok(b) => {
                    acc.extend_from_slice(&b);
                    step(s, acc, total, out);
                }
                Err(e) => out.set_error(e),
            });
    }
    step(stream.clone(), Vec::new(), total, out.clone());
    out
}

#[test]
fn ten_mib_both_ways_with_slow_readers() {
    let (mut reactor, s, c, _) = connected("bulk");
    const N: usize = 10 * 1024 * 1024;
    let (up, down) = (pattern(N, 1), pattern(N, 7));
    let w1 = c.write(up.clone());
    let w2 = s.write(down.clone());
    let r1 = slow_read(&s, N);
    let r2 = slow_read(&c, N);
    let got_up = wait(&mut reactor, &r1).unwrap();
    let got_down = wait(&mut reactor, &r2).unwrap();
    assert!(got_up == up, "client-to-server bytes differ");
    assert!(got_down == down, "server-to-client bytes differ");
    wait(&mut reactor, &w1).unwrap();
    wait(&mut reactor, &w2).unwrap();
}

/// A blocking rustls client (in a thread) sends its request right behind its Finished
/// message: the server decrypts it while completing the handshake, so no readiness will
/// ever announce it — the first read must find it.
#[test]
fn data_decrypted_during_the_handshake_is_read() {
    let (mut reactor, h) = support::reactor();
    let (ca, leaf) = TestCa::with_localhost("early");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = blocking_client_config(&ca);
    let peer = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut conn =
            rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        // Queued before the handshake: rustls sends it in the same write as its
        // Finished message.
        let mut msg: Vec<u8> = (0..100u32).map(|i| b'a' + (i % 26) as u8).collect();
        msg.push(b'\n');
        assert_eq!(conn.writer().write(&msg).unwrap(), msg.len());
        let mut tcp = tcp;
        finish_handshake(&mut conn, &mut tcp);
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut reply = [0u8; 3];
        tls.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"ok\n");
        // Our close_notify arrives before the TCP close: a clean end, not an
        // UnexpectedEof.
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest)
            .expect("clean TLS close (close_notify)");
        msg
    });
    let (tcp, _) = listener.accept().unwrap();
    let hs = tls_server_side(&h, tcp, &leaf);
    let s = wait(&mut reactor, &hs).unwrap();
    let line = s.read_until(b"\n", None);
    let line = wait(&mut reactor, &line).unwrap();
    s.write(&b"ok\n"[..]);
    s.close_after_writes();
    let sent = peer.join().unwrap();
    assert!(line[..] == sent[..]);
}

#[test]
fn plain_bytes_to_a_tls_server_get_no_answer() {
    let (mut reactor, h) = support::reactor();
    let (_ca, leaf) = TestCa::with_localhost("plain");
    let (s, mut raw) = tcp_pair();
    let hs = tls_server_side(&h, s, &leaf);
    raw.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let r = wait(&mut reactor, &hs);
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::NotTls), "{r:?}");
    raw.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).unwrap();
    assert!(answer.is_empty(), "server answered {answer:?}");
}

#[test]
fn a_client_on_a_plain_server_says_it_does_not_speak_tls() {
    let (mut reactor, h) = support::reactor();
    let ca = TestCa::new("plainserver");
    let (mut raw, c) = tcp_pair();
    let peer = std::thread::spawn(move || {
        raw.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut buf = [0u8; 512];
        let _ = raw.read(&mut buf).unwrap();
        raw.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    });
    let hs = IoStream::new(&h, c)
        .unwrap()
        .start_tls(false, &ca.client_config(), Some("localhost"));
    let r = wait(&mut reactor, &hs);
    peer.join().unwrap();
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::NotTls), "{r:?}");
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("server does not speak TLS"));
}

#[test]
fn a_stalled_handshake_times_out_while_others_are_served() {
    let (mut reactor, h) = support::reactor();
    let (ca, leaf) = TestCa::with_localhost("stall");
    let server = leaf
        .server_config()
        .handshake_timeout(Duration::from_millis(500));
    // The staller sends half a ClientHello and then nothing.
    let (s1, mut staller) = tcp_pair();
    let stalled = IoStream::new(&h, s1)
        .unwrap()
        .start_tls(true, &server, None);
    staller
        .write_all(&[0x16, 0x03, 0x01, 0x01, 0x00, 0x01])
        .unwrap();
    // Meanwhile a well-behaved client is served.
    let (s, c) = handshake(&mut reactor, &server, &ca.client_config(), "localhost");
    let (s, c) = (s.unwrap(), c.unwrap());
    exchange(&mut reactor, &c, &s);
    assert!(
        !stalled.is_done(),
        "the stalled handshake was given up too early"
    );
    let r = wait(&mut reactor, &stalled);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    staller.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut rest = Vec::new();
    staller.read_to_end(&mut rest).unwrap();
}

#[test]
fn closing_sends_close_notify_and_reads_see_a_clean_end() {
    let (mut reactor, s, c, _) = connected("closenotify");
    c.write(&b"last words"[..]);
    c.close_after_writes();
    let all = s.read_until_close();
    assert_eq!(&wait(&mut reactor, &all).unwrap()[..], b"last words");
    assert!(s.error().is_none(), "{:?}", s.error());
}

#[test]
fn misuse_is_refused_with_a_clear_error() {
    let (mut reactor, h) = support::reactor();
    let (ca, leaf) = TestCa::with_localhost("misuse");
    let (s, c) = stream_pair(&h).unwrap();
    // The side must match the configuration; a client needs a host name.
    let r = wait(
        &mut reactor,
        &s.start_tls(false, &leaf.server_config(), None),
    );
    assert!(matches!(r, Err(Error::InvalidState(_))), "{r:?}");
    let r = wait(&mut reactor, &c.start_tls(false, &ca.client_config(), None));
    assert!(matches!(r, Err(Error::InvalidState(_))), "{r:?}");
    // Refusals leave the plain streams usable.
    exchange(&mut reactor, &c, &s);
    // A TcpServer takes only a server configuration.
    let server = squall::net::TcpServer::new(&h, |_s, _p| {});
    assert!(matches!(
        server.set_tls(Some(ca.client_config())),
        Err(Error::InvalidState(_))
    ));
    // A TLS stream cannot be upgraded again; a spent plain handle reads as closed.
    let (s2, c2) = handshake(
        &mut reactor,
        &leaf.server_config(),
        &ca.client_config(),
        "localhost",
    );
    let s2 = s2.unwrap();
    let r = wait(
        &mut reactor,
        &s2.start_tls(true, &leaf.server_config(), None),
    );
    assert!(matches!(r, Err(Error::InvalidState(_))), "{r:?}");
    drop(c2);
    let plain = s.clone();
    let upgraded = s.start_tls(true, &leaf.server_config(), None);
    assert!(plain.is_closed() && !upgraded.is_done());
    let r = wait(&mut reactor, &plain.read_bytes(1, false));
    assert!(matches!(r, Err(Error::StreamClosed)), "{r:?}");
}

/// A pending handshake is kept alive by its timer, which the reactor owns: dropping the
/// reactor frees the stream and closes its socket (no reference cycle keeps it).
#[test]
fn dropping_the_reactor_frees_a_stream_mid_handshake() {
    let reactor = Reactor::new().unwrap();
    let h = reactor.handle();
    let (_ca, leaf) = TestCa::with_localhost("dropmid");
    let (s, mut raw) = tcp_pair();
    let pending = tls_server_side(&h, s, &leaf);
    drop(pending);
    drop(h);
    drop(reactor);
    raw.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest)
        .expect("the socket is closed once the reactor is gone");
    assert!(rest.is_empty());
}

/// One readiness event reads at most 8 chunks of 64 KiB; rustls may then still hold
/// plaintext it decrypted from the last ciphertext read, with the kernel drained: no
/// readiness will come for it, so the stream must come back for it by itself.
#[test]
fn plaintext_held_by_rustls_after_a_full_event_is_read() {
    let (mut reactor, h) = support::reactor();
    let (ca, leaf) = TestCa::with_localhost("held");
    const N: usize = 8 * 64 * 1024 + 100;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = blocking_client_config(&ca);
    let (tx, rx) = std::sync::mpsc::channel();
    let peer = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        socket2::SockRef::from(&tcp)
            .set_send_buffer_size(2 << 20)
            .unwrap();
        tcp.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Everything is written (into the socket buffers) before the reader asks.
        tls.write_all(&vec![b'x'; N]).unwrap();
        tls.flush().unwrap();
        tx.send(()).unwrap();
        let mut ok = [0u8; 2];
        tls.read_exact(&mut ok).unwrap();
    });
    let (tcp, _) = listener.accept().unwrap();
    socket2::SockRef::from(&tcp)
        .set_recv_buffer_size(2 << 20)
        .unwrap();
    let hs = tls_server_side(&h, tcp, &leaf);
    let s = wait(&mut reactor, &hs).unwrap();
    // No read is pending: the stream reads nothing while the peer writes.
    run_until(&mut reactor, "the peer thread to finish", || {
        rx.try_recv().is_ok()
    });
    let all = s.read_bytes(N, false);
    assert_eq!(wait(&mut reactor, &all).unwrap().len(), N);
    let done = s.write(&b"ok"[..]);
    wait(&mut reactor, &done).unwrap();
    peer.join().unwrap();
}

/// `close_after_writes` waits for the ciphertext rustls still holds, not only for the
/// stream's queue: a slow reader gets every byte, then a clean end.
#[test]
fn close_after_writes_flushes_what_rustls_holds() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("closeafter");
    let (s, c) = tcp_pair();
    // A small send buffer: the last ciphertext rustls encrypts does not fit at once.
    socket2::SockRef::from(&s)
        .set_send_buffer_size(4096)
        .unwrap();
    socket2::SockRef::from(&c)
        .set_recv_buffer_size(16384)
        .unwrap();
    let (s, c) = handshake_sockets(&mut reactor, s, c, &ca, &leaf);
    const N: usize = 256 * 1024;
    let data = pattern(N, 5);
    s.write(data.clone());
    s.close_after_writes();
    let got = slow_read(&c, N);
    assert!(wait(&mut reactor, &got).unwrap() == data, "bytes differ");
    let rest = c.read_until_close();
    assert!(wait(&mut reactor, &rest).unwrap().is_empty());
    assert!(c.error().is_none(), "{:?}", c.error());
}

#[test]
fn tls_over_a_unix_socket() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("unix");
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (s, c) = handshake_sockets(&mut reactor, a, b, &ca, &leaf);
    exchange(&mut reactor, &c, &s);
    assert_eq!(s.peer_addr().unwrap(), None);
    assert!(c.tls_info().unwrap().version.is_some());
}
