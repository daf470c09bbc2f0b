//! The UDP echo example (`examples/udp_echo.rs`) as a user runs it: `--port 0` prints
//! `listening on udp://HOST:PORT` and every datagram comes back to its sender.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use support::process::{example_binary, listening_addr, Running};

const WAIT_LIMIT: Duration = Duration::from_secs(60);

fn start(bind: &str) -> (Running, String) {
    let mut cmd = Command::new(example_binary("udp_echo"));
    cmd.args(["--port", "0", "--bind", bind]);
    Running::spawn(&mut cmd, WAIT_LIMIT)
}

fn echo_round_trips(addr: SocketAddr, client_bind: &str) {
    let client = UdpSocket::bind(client_bind).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for i in 0..20u32 {
        let msg = format!("datagram {i}");
        // UDP may lose a datagram even on loopback under load: resend until answered,
        // within the test's limit.
        let deadline = std::time::Instant::now() + WAIT_LIMIT;
        loop {
            client.send_to(msg.as_bytes(), addr).unwrap();
            let mut buf = [0u8; 100];
            if let Ok((n, from)) = client.recv_from(&mut buf) {
                assert_eq!(from, addr);
                assert_eq!(&buf[..n], msg.as_bytes());
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no echo for {msg:?}");
        }
    }
}

#[test]
fn echoes_over_ipv4() {
    let (_server, line) = start("127.0.0.1");
    let addr = listening_addr(&line, "udp://");
    assert_eq!(
        line,
        format!("listening on udp://127.0.0.1:{}\n", addr.port())
    );
    assert_ne!(addr.port(), 0);
    echo_round_trips(addr, "127.0.0.1:0");
}

#[test]
fn echoes_over_ipv6() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: IPv6 loopback is not available here");
        return;
    }
    let (_server, line) = start("::1");
    let addr = listening_addr(&line, "udp://");
    assert!(addr.is_ipv6());
    echo_round_trips(addr, "[::1]:0");
}

#[test]
fn bad_port_is_a_usage_error() {
    let out = Command::new(example_binary("udp_echo"))
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
