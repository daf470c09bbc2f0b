//! TCP echo server: one reactor, or N threads each with its own reactor and its own
//! `SO_REUSEPORT` listener on the same port.
//!
//! ```sh
//! cargo run --release --example echo_server -- --port 9000 --threads 2
//! ```
//! Prints `listening on HOST:PORT` once every thread is ready. Each connection has
//! backpressure: while more than 1 MiB waits to be sent to a client, nothing more is read
//! from it.

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use squall::net::{BindOptions, TcpServer};
use squall::stream::IoStream;
use squall::{Future, Reactor};

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

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn serve(
    bind: String,
    port: u16,
    reuse_port: bool,
    ready: mpsc::Sender<u16>,
) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let server = TcpServer::new(&handle, |stream, _peer| {
        let _ = stream.set_nodelay(true);
        echo(stream);
    });
    let options = BindOptions::default()
        .with_reuse_port(reuse_port)
        .with_backlog(4096);
    let addr = server.listen_with((bind.as_str(), port), &options)?;
    let _ = ready.send(addr.port());
    let h = handle.clone();
    handle.add_signal_handler(signal_hook::consts::SIGINT, move || h.stop())?;
    let h = handle.clone();
    handle.add_signal_handler(signal_hook::consts::SIGTERM, move || h.stop())?;
    reactor.run()
}

fn main() -> squall::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000);
    let threads: usize = arg(&args, "--threads")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let bind = arg(&args, "--bind").unwrap_or_else(|| "127.0.0.1".into());
    let (tx, rx) = mpsc::channel();
    if threads <= 1 {
        let b = bind.clone();
        std::thread::spawn(move || {
            let port = rx.recv_timeout(Duration::from_secs(10)).unwrap_or(0);
            println!("listening on {b}:{port}");
        });
        return serve(bind, port, false, tx);
    }
    // Every thread binds the same port with SO_REUSEPORT: the kernel spreads connections.
    let first = {
        let (tx0, rx0) = mpsc::channel();
        let b = bind.clone();
        let t = std::thread::spawn(move || serve(b, port, true, tx0));
        let p = rx0.recv_timeout(Duration::from_secs(10)).unwrap_or(0);
        (t, p)
    };
    let mut workers = vec![first.0];
    for _ in 1..threads {
        let (b, tx) = (bind.clone(), tx.clone());
        let p = first.1;
        workers.push(std::thread::spawn(move || serve(b, p, true, tx)));
    }
    for _ in 1..threads {
        let _ = rx.recv_timeout(Duration::from_secs(10));
    }
    println!("listening on {bind}:{} ({threads} threads)", first.1);
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            eprintln!("worker failed: {e}");
        }
    }
    Ok(())
}
