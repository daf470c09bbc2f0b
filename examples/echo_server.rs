//! TCP echo server: one reactor, or N threads each with its own reactor and its own
//! `SO_REUSEPORT` listener on the same port.
//!
//! ```sh
//! cargo run --release --example echo_server -- --port 9000 --threads 2
//! ```
//! Prints `listening on HOST:PORT` once every thread is ready. Each connection has
//! backpressure: while more than 1 MiB waits to be sent to a client, nothing more is read
//! from it.
//!
//! `--port N` (default 9000, 0 picks a free port), `--bind HOST` (default 127.0.0.1),
//! `--threads N` (default 1), `--help`. Exit status: 0 after SIGINT/SIGTERM, 2 for a usage
//! error (a message and the usage on stderr), 1 when the server cannot start (e.g. the
//! port is in use: one line on stderr) or a reactor fails. `RUST_LOG` sets the log level
//! (default `warn`).

use std::sync::mpsc;

use bytes::Bytes;
use squall::net::{BindOptions, TcpServer};
use squall::stream::IoStream;
use squall::{Future, Reactor};

#[path = "common/mod.rs"]
mod common;

use common::{host_port, Event, ServerArgs};

/// Bytes queued for a peer above which the server stops reading from it, and the level
/// they must drain to before it reads again. Without this, a client that sends without
/// reading makes the server buffer everything it sends.
const HIGH_WATER: usize = 1024 * 1024;
const LOW_WATER: usize = 256 * 1024;

/// Reads whatever arrives and writes it back, until the peer closes.
fn echo(stream: IoStream) {
    let s = stream.clone();
    stream
        .read_bytes(64 * 1024, true)
        .add_done_callback(move |f: &Future<Bytes>| {
            if let Some(Ok(data)) = f.take_result() {
                s.write_and_forget(data);
                if s.write_buffer_len() > HIGH_WATER {
                    // Backpressure: no reads (the kernel's buffers fill and TCP slows the
                    // sender) until the peer has taken most of what we owe it.
                    let next = s.clone();
                    s.drained_to(LOW_WATER)
                        .add_done_callback(move |_| echo(next));
                } else {
                    echo(s.clone());
                }
            }
        });
}

const USAGE: &str = "\
usage: echo_server [--port N] [--bind HOST] [--threads N]
      --port N       port to listen on (default 9000; 0 picks a free port)
      --bind HOST    address to listen on (default 127.0.0.1)
      --threads N    reactors, one per thread, sharing the port (default 1, at most 256)
  -h, --help         this help
";

fn run_reactor(
    bind: &str,
    port: u16,
    reuse_port: bool,
    events: &mpsc::Sender<Event<u16>>,
) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let server = TcpServer::new(&handle, |stream, _peer| {
        let _ = stream.set_nodelay(true);
        echo(stream);
    });
    let options = BindOptions::default().reuse_port(reuse_port).backlog(4096);
    let addr = server.listen_with((bind, port), &options)?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let h = handle.clone();
        handle.add_signal_handler(signal, move || h.stop())?;
    }
    if events.send(Event::Ready(addr.port())).is_err() {
        return Ok(()); // the main thread is gone
    }
    reactor.run()
}

fn main() {
    common::init_logging("warn");
    let args = ServerArgs::parse(9000, USAGE, |_, _| Ok(false))
        .unwrap_or_else(|e| common::usage_error("echo_server", USAGE, e));
    let bind = args.bind.clone();
    let threads = args.threads;
    let serve = move |port, _i, reuse_port, events: mpsc::Sender<Event<u16>>| {
        common::report(&events, run_reactor(&bind, port, reuse_port, &events));
    };
    let ready = |port, _| {
        let at = host_port(&args.bind, port);
        if threads == 1 {
            println!("listening on {at}");
        } else {
            println!("listening on {at} ({threads} threads)");
        }
    };
    if let Err(e) = args.run_threads(serve, ready, |p| *p) {
        common::failed("echo_server", e);
    }
}
