//! Descriptor leaks over TCP: 10 000 connect/echo/close cycles through `TcpServer` and
//! `TcpClient`, plus refused and timed-out connects, leave the process with as many
//! descriptors as before. A single test in its own binary, so no other test opens or
//! closes descriptors while it counts them.

mod support;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use squall::net::{TcpClient, TcpServer};
use squall::Future;
use support::net::{echo_lines, unanswered_listener};
use support::{open_fds, run_until, wait};

const CYCLES: usize = 10_000;

/// One cycle: connect, send a line, read the echo, close. Resolves when done.
fn cycle(client: &TcpClient, port: u16) -> Future<()> {
    client
        .connect("127.0.0.1", port, Some(Duration::from_secs(10)))
        .and_then(|stream| {
            stream.write(&b"ping\n"[..]);
            stream.read_until(b"\n", Some(64)).map(move |r| {
                assert_eq!(&r?[..], b"ping\n");
                stream.close();
                Ok(())
            })
        })
}

/// Runs `n` cycles one after another, resolving with how many completed.
fn cycles(client: TcpClient, port: u16, n: usize, done: Future<usize>, i: usize) {
    if i == n {
        done.set_result(i);
        return;
    }
    cycle(&client, port).add_done_callback(move |f| match f.take_result() {
        Some(Ok(())) => cycles(client, port, n, done, i + 1),
        Some(Err(e)) => done.set_error(e),
        None => unreachable!(),
    });
}

#[test]
fn connect_close_cycles_leak_no_descriptors() {
    let (mut reactor, h) = support::reactor();
    let live = Rc::new(Cell::new(0usize));
    let l = live.clone();
    let server = TcpServer::new(&h, move |stream, _| {
        l.set(l.get() + 1);
        let l = l.clone();
        stream.set_close_callback(move |_| l.set(l.get() - 1));
        echo_lines(stream);
    });
    let port = server.listen("127.0.0.1:0").unwrap().port();
    let client = TcpClient::new(&h);
    let refused = support::ReservedPort::closed();
    let refused_port = refused.port();
    let (_hung, hung_addr, _fillers) = unanswered_listener("127.0.0.1:0").expect("listener");

    // Warm up (lazily created descriptors, thread-locals), then count.
    let done = Future::new();
    cycles(client.clone(), port, 10, done.clone(), 0);
    wait(&mut reactor, &done).unwrap();
    run_until(&mut reactor, "every connection closed", || live.get() == 0);
    let before = open_fds();

    let done = Future::new();
    cycles(client.clone(), port, CYCLES, done.clone(), 0);
    assert_eq!(wait(&mut reactor, &done).unwrap(), CYCLES);
    // The server sees each client's close and closes its side too.
    run_until(&mut reactor, "every connection closed", || live.get() == 0);

    // Failed connects: refused, and abandoned on timeout.
    for _ in 0..1_000 {
        let r = wait(
            &mut reactor,
            &client.connect("127.0.0.1", refused_port, None),
        );
        assert_eq!(
            r.map(|_| ()).unwrap_err().io_kind(),
            Some(ErrorKind::ConnectionRefused)
        );
    }
    for _ in 0..5 {
        let f = client.connect(
            "127.0.0.1",
            hung_addr.port(),
            Some(Duration::from_millis(20)),
        );
        assert!(matches!(
            wait(&mut reactor, &f),
            Err(squall::Error::Timeout)
        ));
    }

    let after = open_fds();
    assert_eq!(
        after, before,
        "descriptors leaked: {before} before, {after} after"
    );
    assert_eq!(
        reactor.handle().stats().handlers,
        1,
        "only the listener stays registered"
    );
}
