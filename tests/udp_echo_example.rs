//! The UDP echo example (`examples/udp_echo.rs`) as a user runs it: `--port 0` prints
//! `listening on udp://HOST:PORT` and every datagram comes back to its sender.

mod util;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT_LIMIT: Duration = Duration::from_secs(60);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bind: &str) -> (Server, String) {
    let mut child = Command::new(util::example_binary("udp_echo"))
        .args(["--port", "0", "--bind", bind])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn udp_echo");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(WAIT_LIMIT)
        .expect("udp_echo printed nothing");
    (server, line)
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
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on udp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
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
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on udp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(addr.is_ipv6());
    echo_round_trips(addr, "[::1]:0");
}

#[test]
fn bad_port_is_a_usage_error() {
    let out = Command::new(util::example_binary("udp_echo"))
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
