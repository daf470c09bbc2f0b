//! UDP echo server: sends every datagram back to its sender.
//!
//! ```sh
//! cargo run --release --example udp_echo -- --port 9000
//! ```
//! Prints `listening on udp://HOST:PORT` once bound. A reply that finds the kernel's send
//! buffer full waits in the socket's bounded queue; beyond the bound it is refused (and
//! logged once), never dropped silently by squall.
//!
//! `--port N` (default 9000, 0 picks a free port), `--bind HOST` (default 127.0.0.1),
//! `--help`. Exit status: 0 after SIGINT/SIGTERM, 2 for a usage error, 1 when the socket
//! cannot be bound (one line on stderr). `RUST_LOG` sets the log level (default `warn`).

use std::net::{IpAddr, SocketAddr};

use squall::net::UdpSocket;
use squall::Reactor;

#[path = "common/mod.rs"]
mod common;

const USAGE: &str = "\
usage: udp_echo [--port N] [--bind HOST]
      --port N       port to listen on (default 9000; 0 picks a free port)
      --bind HOST    address to listen on (default 127.0.0.1)
  -h, --help         this help
";

fn parse() -> Result<SocketAddr, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut port, mut bind): (u16, IpAddr) = (9000, [127, 0, 0, 1].into());
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => port = parser.value()?.parse()?,
            Long("bind") => bind = parser.value()?.parse()?,
            Short('h') | Long("help") => common::help(USAGE),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(SocketAddr::new(bind, port))
}

fn run(addr: SocketAddr) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let socket = UdpSocket::bind(&handle, addr)?;
    let echo = socket.clone();
    socket.on_datagram(move |data, from| {
        // The future reports a refusal; the socket logs the first one.
        let _ = echo.send_to(data, from);
    });
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let h = handle.clone();
        handle.add_signal_handler(signal, move || h.stop())?;
    }
    println!("listening on udp://{}", socket.local_addr()?);
    reactor.run()
}

fn main() {
    common::init_logging("warn");
    let addr = parse().unwrap_or_else(|e| common::usage_error("udp_echo", USAGE, e));
    if let Err(e) = run(addr) {
        common::failed("udp_echo", e);
    }
}
