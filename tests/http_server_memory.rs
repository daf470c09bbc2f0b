//! What a request body costs is what arrived, not what its `Content-Length` declares:
//! 20 connections each declaring 100 MB and sending 3 bytes must not reserve 2 GB of
//! address space (an abort under strict overcommit or a memory cgroup). Alone in its
//! binary so that no other test's allocations blur the measurement.

use std::cell::Cell;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use squall::http::{HttpServer, Responder};
use squall::Reactor;

/// The process's address space in KiB (`VmSize`), 0 where /proc is missing.
fn vm_size_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn declared_content_length_is_not_reserved() {
    const CONNS: usize = 20;
    const DECLARED: u64 = 100_000_000;
    if vm_size_kib() == 0 {
        eprintln!("skipped: /proc/self/status is not available");
        return;
    }
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let heads = Rc::new(Cell::new(0usize));
    let h = heads.clone();
    let server = HttpServer::new(&handle, |_req, resp: Responder| resp.send("done"));
    // The factory sees each head: a way to know the server is waiting for its body.
    server.set_body_delegate_factory(move |_req| {
        h.set(h.get() + 1);
        None
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let mut s = TcpStream::connect(addr).unwrap();
            let head =
                format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {DECLARED}\r\n\r\nabc");
            s.write_all(head.as_bytes()).unwrap();
            conns.push(s);
        }
        sent_tx.send(()).unwrap();
        release_rx.recv_timeout(Duration::from_secs(60)).ok();
    });
    sent_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let before = vm_size_kib();
    let deadline = Instant::now() + Duration::from_secs(30);
    while heads.get() < CONNS {
        assert!(Instant::now() < deadline, "heads never all arrived");
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    // One more turn: the body bytes that came with each head are read.
    reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    let grown_mib = vm_size_kib().saturating_sub(before) / 1024;
    release_tx.send(()).unwrap();
    client.join().unwrap();
    assert!(
        grown_mib < 256,
        "address space grew by {grown_mib} MiB for {CONNS} bodies of 3 bytes"
    );
    assert_eq!(server.connection_count(), CONNS);
}
