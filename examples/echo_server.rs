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

use std::net::TcpListener;
use std::sync::mpsc;

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

const USAGE: &str = "\
usage: echo_server [--port N] [--bind HOST] [--threads N]
      --port N       port to listen on (default 9000; 0 picks a free port)
      --bind HOST    address to listen on (default 127.0.0.1)
      --threads N    reactors, one per thread, sharing the port (default 1, at most 256)
  -h, --help         this help
";

/// What the command line asked for.
struct Args {
    port: u16,
    bind: String,
    threads: usize,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        port: 9000,
        bind: "127.0.0.1".into(),
        threads: 1,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => args.port = number(&mut parser, "--port")?,
            Long("bind") => args.bind = parser.value()?.string()?,
            Long("threads") => args.threads = number(&mut parser, "--threads")?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if !(1..=256).contains(&args.threads) {
        return Err("--threads must be between 1 and 256".into());
    }
    Ok(args)
}

/// The value of `flag` as a number; the error names the flag.
fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use lexopt::prelude::*;
    let v = parser.value()?.string()?;
    v.parse().map_err(|e| format!("{flag} {v:?}: {e}").into())
}

/// What a server thread tells the main thread.
enum Event {
    /// Listening on this port, signal handlers installed.
    Ready(u16),
    /// Could not start, or the reactor failed: the line to print.
    Failed(String),
    /// The reactor stopped cleanly (SIGINT/SIGTERM).
    Stopped,
}

fn serve(bind: &str, port: u16, reuse_port: bool, events: &mpsc::Sender<Event>) {
    let result = run_reactor(bind, port, reuse_port, events).map_err(|e| e.to_string());
    let _ = events.send(match result {
        Ok(()) => Event::Stopped,
        Err(e) => Event::Failed(e),
    });
}

fn run_reactor(
    bind: &str,
    port: u16,
    reuse_port: bool,
    events: &mpsc::Sender<Event>,
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

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprint!("echo_server: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}

/// Starts the server threads and waits for them; `Err` is the line to print.
fn run(args: Args) -> Result<(), String> {
    let Args {
        port,
        bind,
        threads,
    } = args;
    if threads > 1 && port != 0 {
        // SO_REUSEPORT would let our listeners join those of another process already on
        // the port (and take half its connections): a plain bind first tells a busy port.
        TcpListener::bind((bind.as_str(), port))
            .map_err(|e| format!("cannot listen on {}: {e}", host_port(&bind, port)))?;
    }
    let (tx, rx) = mpsc::channel();
    let start = |port: u16| {
        let (b, tx) = (bind.clone(), tx.clone());
        std::thread::spawn(move || serve(&b, port, threads > 1, &tx));
    };
    // The first thread picks the port (when 0); every other thread binds the same port
    // with SO_REUSEPORT, and the kernel spreads connections between them.
    start(port);
    let port = match rx.recv() {
        Ok(Event::Ready(p)) => p,
        Ok(Event::Failed(e)) => return Err(e),
        _ => return Err("the server thread ended before listening".into()),
    };
    for _ in 1..threads {
        start(port);
    }
    drop(tx);
    for _ in 1..threads {
        match rx.recv() {
            Ok(Event::Ready(_)) => {}
            Ok(Event::Failed(e)) => return Err(e),
            _ => return Err("a server thread ended before listening".into()),
        }
    }
    if threads == 1 {
        println!("listening on {}", host_port(&bind, port));
    } else {
        println!(
            "listening on {} ({threads} threads)",
            host_port(&bind, port)
        );
    }
    // Every thread must stop cleanly; the first failure ends the process.
    let mut stopped = 0;
    while stopped < threads {
        match rx.recv() {
            Ok(Event::Stopped) => stopped += 1,
            Ok(Event::Failed(e)) => return Err(e),
            Ok(Event::Ready(_)) => {}
            Err(_) => return Err("a server thread ended unexpectedly".into()),
        }
    }
    Ok(())
}
