//! TLS on the servers and the TCP client: `TcpServer::set_tls` with a handshake that
//! stalls or is not TLS at all (others are served meanwhile), `TcpClient::connect_tls`.

mod support;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use squall::net::{TcpClient, TcpServer};
use squall::tls::TlsErrorKind;
use squall::{Error, Reactor};
use support::net::echo_lines;
use support::tls::{blocking_client_config, finish_handshake, TestCa};
use support::{run_until, wait, WAIT_LIMIT};

/// A line-echo TLS server; returns its port and the number of streams it was handed.
fn line_echo_server(
    reactor: &Reactor,
    config: squall::tls::TlsConfig,
) -> (TcpServer, u16, Rc<RefCell<u32>>) {
    let served = Rc::new(RefCell::new(0));
    let n = served.clone();
    let server = TcpServer::new(&reactor.handle(), move |stream, _peer| {
        *n.borrow_mut() += 1;
        assert!(
            stream.tls_info().is_some(),
            "handed over after the handshake"
        );
        echo_lines(stream);
    });
    server.set_tls(Some(config)).unwrap();
    let port = server.listen("127.0.0.1:0").unwrap().port();
    (server, port, served)
}

#[test]
fn tcp_server_and_connect_tls_while_a_handshake_stalls() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("tcpserver");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let config = leaf
        .server_config()
        .handshake_timeout(Duration::from_millis(500));
    let (_server, port, served) = line_echo_server(&reactor, config);

    // One client stalls mid-handshake, one sends plain HTTP.
    let mut staller = TcpStream::connect(("127.0.0.1", port)).unwrap();
    staller.write_all(&[0x16, 0x03, 0x01, 0x01, 0x00]).unwrap();
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Meanwhile two TLS clients are served, by name and by address.
    let client = TcpClient::new(&reactor.handle());
    for host in ["localhost", "127.0.0.1"] {
        let c = client.connect_tls(host, port, Some(WAIT_LIMIT), &ca.client_config());
        let c = wait(&mut reactor, &c).unwrap();
        c.write(&b"hello\n"[..]);
        let echo = c.read_until(b"\n", Some(100));
        assert_eq!(&wait(&mut reactor, &echo).unwrap()[..], b"hello\n");
    }
    assert_eq!(*served.borrow(), 2);

    // The plain client gets no answer, just the close; the staller is cut off by the
    // handshake timeout.
    for mut peer in [plain, staller] {
        peer.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let r = peer.read_to_end(&mut got).map(|_| got);
            let _ = tx.send(r);
        });
        // The loop must run for the server to time the staller out.
        let got = loop {
            if let Ok(r) = rx.try_recv() {
                break r;
            }
            reactor.run_once(Some(Duration::from_millis(20))).unwrap();
        };
        let got = got.expect("the server closes the connection");
        assert!(got.is_empty(), "the server answered {got:?}");
    }
    assert_eq!(
        *served.borrow(),
        2,
        "failed handshakes are never handed over"
    );
}

/// The first half of a line rides with the client's Finished message (the server
/// decrypts it while completing the handshake), the second half is sent only once the
/// server has handed the connection over: the read takes what rustls holds, then waits
/// for the socket and echoes the whole line.
#[test]
fn a_line_split_between_the_handshake_and_a_later_write_is_echoed() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("splitline");
    let leaf = ca.leaf(&["localhost"]);
    let (handed_tx, handed_rx) = mpsc::channel();
    let server = TcpServer::new(&reactor.handle(), move |stream, _peer| {
        let _ = handed_tx.send(());
        echo_lines(stream);
    });
    server.set_tls(Some(leaf.server_config())).unwrap();
    let port = server.listen("127.0.0.1:0").unwrap().port();
    let config = blocking_client_config(&ca);
    let peer = std::thread::spawn(move || {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut conn =
            rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        // Queued before the handshake: sent in the same write as the Finished message.
        conn.writer().write_all(b"first half, ").unwrap();
        finish_handshake(&mut conn, &mut tcp);
        handed_rx
            .recv_timeout(WAIT_LIMIT)
            .expect("the server hands the connection over");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"second half\n").unwrap();
        let mut echo = vec![0u8; 24];
        tls.read_exact(&mut echo).unwrap();
        echo
    });
    run_until(&mut reactor, "the peer to read its echo", || {
        peer.is_finished()
    });
    assert_eq!(peer.join().unwrap(), b"first half, second half\n");
}

#[test]
fn connect_tls_names_the_certificate_problem() {
    let mut reactor = Reactor::new().unwrap();
    let (_ca, leaf) = TestCa::with_localhost("connecttls");
    let stranger = TestCa::new("stranger");
    let (_server, port, served) = line_echo_server(&reactor, leaf.server_config());
    let client = TcpClient::new(&reactor.handle());
    let c = client.connect_tls(
        "localhost",
        port,
        Some(WAIT_LIMIT),
        &stranger.client_config(),
    );
    match wait(&mut reactor, &c) {
        Err(Error::Tls(e)) => assert_eq!(e.kind(), TlsErrorKind::UnknownIssuer, "{e}"),
        other => panic!("expected an unknown-issuer error, got {other:?}"),
    }
    assert_eq!(*served.borrow(), 0);
}
