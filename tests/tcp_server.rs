//! Behaviour of `TcpServer` over 127.0.0.1: serving, accept bursts, stream options,
//! and `stop()`.

mod support;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use squall::net::{TcpClient, TcpServer};
use squall::stream::{IoStream, StreamOptions};
use squall::{join_all, Error, Future, Reactor};
use support::net::echo_lines;
use support::{run_for, run_until, wait, WAIT_LIMIT};

/// Every stream a server accepted, with the peer address it was given.
type Accepted = Rc<RefCell<Vec<(IoStream, SocketAddr)>>>;

/// An echo server that also records every accepted stream and its peer address.
fn echo_server(reactor: &Reactor) -> (TcpServer, SocketAddr, Accepted) {
    let accepted = Rc::new(RefCell::new(Vec::new()));
    let a = accepted.clone();
    let server = TcpServer::new(&reactor.handle(), move |stream, peer| {
        a.borrow_mut().push((stream.clone(), peer));
        echo_lines(stream);
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    (server, addr, accepted)
}

/// Connects `client` to the echo server at `addr`, and waits until the server accepted
/// the connection.
fn connect_accepted(
    reactor: &mut Reactor,
    client: &TcpClient,
    addr: SocketAddr,
    accepted: &Accepted,
) -> IoStream {
    let n = accepted.borrow().len() + 1;
    let connecting = client.connect("127.0.0.1", addr.port(), None);
    let stream = wait(reactor, &connecting).unwrap();
    run_until(reactor, "the connection accepted", || {
        accepted.borrow().len() == n
    });
    stream
}

/// Connects, sends `line`, and resolves with the echoed line.
fn round_trip(client: &TcpClient, addr: SocketAddr, line: String) -> Future<Bytes> {
    client
        .connect("127.0.0.1", addr.port(), Some(Duration::from_secs(5)))
        .and_then(move |stream| {
            stream.write(line.into_bytes());
            // The read's callback keeps the stream alive (dropping it would close it).
            stream
                .read_until(b"\n", Some(1024))
                .map(move |r| r.inspect(|_| drop(stream)))
        })
}

#[test]
fn server_echoes_for_many_concurrent_clients() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, accepted) = echo_server(&reactor);
    let client = TcpClient::new(&reactor.handle());
    let replies: Vec<_> = (0..50)
        .map(|i| round_trip(&client, addr, format!("hello {i}\n")))
        .collect();
    let replies = wait(&mut reactor, &join_all(replies)).unwrap();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(&r[..], format!("hello {i}\n").as_bytes());
    }
    assert_eq!(accepted.borrow().len(), 50);
}

#[test]
fn server_reports_the_peer_address_of_each_connection() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, accepted) = echo_server(&reactor);
    let client = TcpClient::new(&reactor.handle());
    let stream = connect_accepted(&mut reactor, &client, addr, &accepted);
    let local = stream.local_addr().unwrap().unwrap();
    let (server_side, peer) = accepted.borrow()[0].clone();
    assert_eq!(peer, local);
    assert_eq!(server_side.peer_addr().unwrap(), Some(local));
    assert_eq!(server_side.local_addr().unwrap(), Some(addr));
}

#[test]
fn server_accepts_a_burst_larger_than_one_accept_round() {
    // More than the 128 accepts done per readiness event: the rest must follow.
    const N: usize = 300;
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, accepted) = echo_server(&reactor);
    let clients: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(addr).unwrap()).collect();
    run_until(&mut reactor, "every connection accepted", || {
        accepted.borrow().len() == N
    });
    // Every one of them is served.
    let h = reactor.handle();
    let replies: Vec<Future<Bytes>> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let c = IoStream::new(&h, c).unwrap();
            c.write(format!("{i}\n").into_bytes());
            let keep = c.clone();
            c.read_until(b"\n", Some(64))
                .map(move |r| r.inspect(|_| drop(keep)))
        })
        .collect();
    let replies = wait(&mut reactor, &join_all(replies)).unwrap();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(&r[..], format!("{i}\n").as_bytes());
    }
}

#[test]
fn server_applies_its_stream_options_to_accepted_streams() {
    let mut reactor = Reactor::new().unwrap();
    let server_closed: Future<Option<Error>> = Future::new();
    let sc = server_closed.clone();
    let streams = Rc::new(RefCell::new(Vec::new()));
    let keep = streams.clone();
    let server = TcpServer::new(&reactor.handle(), move |stream, _| {
        let sc = sc.clone();
        stream.set_close_callback(move |e| sc.set_result(e));
        keep.borrow_mut().push(stream); // dropping the last handle would close it
    });
    server
        .set_stream_options(StreamOptions::default().idle_timeout(Some(Duration::from_millis(50))));
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = TcpClient::new(&reactor.handle());
    let stream = wait(
        &mut reactor,
        &client.connect("127.0.0.1", addr.port(), None),
    )
    .unwrap();
    // The server side times out and closes; the client sees a clean EOF.
    let rest = wait(&mut reactor, &stream.read_until_close()).unwrap();
    assert!(rest.is_empty());
    let e = wait(&mut reactor, &server_closed).unwrap();
    assert!(matches!(e, Some(Error::Timeout)), "{e:?}");
}

#[test]
fn stop_refuses_new_connections_while_open_streams_keep_working() {
    let mut reactor = Reactor::new().unwrap();
    let (server, addr, accepted) = echo_server(&reactor);
    let client = TcpClient::new(&reactor.handle());
    let open = connect_accepted(&mut reactor, &client, addr, &accepted);

    server.stop();
    // The listening socket is closed at once: the kernel refuses new connections.
    let e = TcpStream::connect(addr).expect_err("connected to a stopped server");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let r = wait(
        &mut reactor,
        &client.connect("127.0.0.1", addr.port(), None),
    );
    assert_eq!(
        r.map(|_| ()).unwrap_err().io_kind(),
        Some(ErrorKind::ConnectionRefused)
    );
    server.stop(); // idempotent

    // The connection accepted before stop() is still served.
    for i in 0..3 {
        open.write(format!("still here {i}\n").into_bytes());
        let line = wait(&mut reactor, &open.read_until(b"\n", Some(1024))).unwrap();
        assert_eq!(&line[..], format!("still here {i}\n").as_bytes());
    }
    assert_eq!(accepted.borrow().len(), 1);
}

#[test]
fn dropping_the_last_server_handle_stops_it() {
    let mut reactor = Reactor::new().unwrap();
    let (server, addr, _accepted) = echo_server(&reactor);
    let client = TcpClient::new(&reactor.handle());
    let reply = wait(&mut reactor, &round_trip(&client, addr, "ping\n".into())).unwrap();
    assert_eq!(&reply[..], b"ping\n");
    let copy = server.clone();
    drop(server);
    // A clone keeps it serving.
    let reply = wait(&mut reactor, &round_trip(&client, addr, "pong\n".into())).unwrap();
    assert_eq!(&reply[..], b"pong\n");
    drop(copy);
    // Without any handle nobody can stop it any more: the listener must not linger
    // (connections would queue unanswered while the loop spins on the ready listener).
    let connected = TcpStream::connect(addr);
    let before = reactor.handle().stats().iterations;
    run_for(&mut reactor, Duration::from_millis(100));
    let spins = reactor.handle().stats().iterations - before;
    assert!(spins < 100, "{spins} loop iterations in 100 ms");
    let e = connected.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

/// Tornado's `test_stop_in_callback`: `stop()` inside the stream callback of a batch of
/// accepted connections stops at once, not after the rest of the batch.
#[test]
fn stop_inside_the_stream_callback_stops_the_rest_of_the_batch() {
    const CLIENTS: usize = 40;
    let mut reactor = Reactor::new().unwrap();
    let calls = Rc::new(std::cell::Cell::new(0));
    let me: Rc<RefCell<Option<TcpServer>>> = Rc::new(RefCell::new(None));
    let (c, m) = (calls.clone(), me.clone());
    let server = TcpServer::new(&reactor.handle(), move |stream, _peer| {
        c.set(c.get() + 1);
        if let Some(s) = m.borrow().as_ref() {
            s.stop();
        }
        stream.close();
    });
    *me.borrow_mut() = Some(server.clone());
    let addr = server.listen("127.0.0.1:0").unwrap();
    // Every client is connected (in the kernel's accept queue) before the loop runs.
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let readers = std::thread::spawn(move || {
        clients
            .into_iter()
            .map(|mut c| {
                c.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
                let mut buf = [0u8; 16];
                match std::io::Read::read(&mut c, &mut buf) {
                    Ok(0) => Ok(()),
                    Ok(n) => Err(format!("{n} unexpected bytes")),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            })
            .collect::<Vec<_>>()
    });
    run_until(&mut reactor, "the readers to finish", || {
        readers.is_finished()
    });
    let outcomes = readers.join().unwrap();
    // Every client was closed: the one handed over by the callback, the rest by stop().
    for (i, o) in outcomes.iter().enumerate() {
        assert!(o.is_ok(), "client {i}: {o:?}");
    }
    assert_eq!(calls.get(), 1, "stream callback ran after stop()");
    me.borrow_mut().take();
}
