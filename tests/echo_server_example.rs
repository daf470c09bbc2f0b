//! The echo server example (`examples/echo_server.rs`) as a user runs it: a client that
//! sends without reading is held back by TCP instead of growing the server, and gets
//! every byte echoed, in order, once it reads.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::process::{example_binary, rss_kib, Running};

/// Most a client sends before it is considered not held back at all.
const SEND_LIMIT: usize = 256 * 1024 * 1024;
/// Resident memory the server may reach while a client does not read: its own size plus
/// the write queue's high-water mark, far below what it was sent.
const RSS_LIMIT: usize = 64 * 1024 * 1024;
/// A write blocked this long means the server stopped taking data (the only way to see
/// backpressure from outside is that progress stops).
const STALLED: Duration = Duration::from_secs(2);
const WAIT_LIMIT: Duration = Duration::from_secs(30);

fn start() -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_binary("echo_server"));
    cmd.args(["--port", "0", "--bind", "127.0.0.1"])
        .stderr(Stdio::inherit());
    Running::serving(&mut cmd, WAIT_LIMIT, "")
}

fn pattern(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| (i % 251) as u8).collect()
}

/// Reads `n` bytes and checks they continue the pattern at `from`.
fn read_back(c: &mut TcpStream, from: usize, n: usize) {
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < n {
        let want = buf.len().min(n - got);
        let k = c.read(&mut buf[..want]).expect("read echo");
        assert!(k > 0, "EOF after {got} of {n} echoed bytes");
        assert!(
            buf[..k] == pattern(from + got, k)[..],
            "echo differs at byte {}",
            from + got
        );
        got += k;
    }
}

#[test]
fn a_client_that_does_not_read_is_held_back_not_buffered() {
    let (server, addr) = start();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_write_timeout(Some(STALLED)).unwrap();
    c.set_read_timeout(Some(WAIT_LIMIT)).unwrap();

    // Send without reading until the server stops taking data.
    let mut sent = 0;
    let chunk = 1 << 20;
    while sent < SEND_LIMIT {
        let data = pattern(sent, chunk);
        match c.write(&data) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write after {sent} bytes: {e}"),
        }
    }
    let rss = rss_kib(server.id()) * 1024;
    assert!(sent < SEND_LIMIT, "the server took all {sent} bytes");
    assert!(rss < RSS_LIMIT, "server RSS {rss} B after {sent} B sent");

    // Reading resumes the echo: every byte comes back, in order, then more flow.
    let mut reader = c.try_clone().unwrap();
    let back = std::thread::spawn(move || {
        read_back(&mut reader, 0, sent + 4096);
    });
    c.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    c.write_all(&pattern(sent, 4096)).unwrap();
    back.join().expect("echo read back");
}
