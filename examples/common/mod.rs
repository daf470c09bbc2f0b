//! What the example servers share: logging set up from `RUST_LOG`, the exit codes (0 after
//! `--help`, 2 for a usage error, 1 when the server cannot run), the `--port`, `--bind`
//! and `--threads` flags, and N reactors on N threads sharing one port with
//! `SO_REUSEPORT`.
//!
//! Included by each server with `#[path = "common/mod.rs"] mod common;` (one copy, no
//! library crate for the examples). Each example uses a part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::exit;
use std::sync::mpsc;

/// Logs through `env_logger`: `RUST_LOG` when set, else `default` (e.g. `"warn"`).
pub fn init_logging(default: &str) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).init();
}

/// `--help`: the usage on stdout, exit 0.
pub fn help(usage: &str) -> ! {
    print!("{usage}");
    exit(0)
}

/// A usage error: `NAME: ERROR` and the usage on stderr, exit 2.
pub fn usage_error(name: &str, usage: &str, error: impl std::fmt::Display) -> ! {
    eprint!("{name}: {error}\n{usage}");
    exit(2)
}

/// A failure to run: one line `NAME: ERROR` on stderr, exit 1.
pub fn failed(name: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("{name}: {error}");
    exit(1)
}

/// The value of `flag` as a number; the error names the flag.
pub fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use lexopt::prelude::*;
    let v = parser.value()?.string()?;
    v.parse().map_err(|e| format!("{flag} {v:?}: {e}").into())
}

/// `HOST:PORT`, with an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The flags every threaded server takes: `--port N`, `--bind HOST`, `--threads N`.
pub struct ServerArgs {
    pub port: u16,
    pub bind: String,
    pub threads: usize,
}

impl ServerArgs {
    /// Port `port`, address 127.0.0.1, one thread.
    pub fn new(port: u16) -> ServerArgs {
        ServerArgs {
            port,
            bind: "127.0.0.1".into(),
            threads: 1,
        }
    }

    /// Parses the command line: these flags, `-h`/`--help` (prints `usage`, exits 0),
    /// and any other long flag `other(name, parser)` takes (it returns whether it did,
    /// reading the flag's value from `parser`); anything else is an error.
    pub fn parse(
        port: u16,
        usage: &str,
        mut other: impl FnMut(&str, &mut lexopt::Parser) -> Result<bool, lexopt::Error>,
    ) -> Result<ServerArgs, lexopt::Error> {
        use lexopt::prelude::*;
        let mut args = ServerArgs::new(port);
        let mut parser = lexopt::Parser::from_env();
        while let Some(arg) = parser.next()? {
            match arg {
                Long("port") => args.port = number(&mut parser, "--port")?,
                Long("bind") => args.bind = parser.value()?.string()?,
                Long("threads") => args.threads = number(&mut parser, "--threads")?,
                Short('h') | Long("help") => help(usage),
                _ => {
                    let name = match &arg {
                        Long(name) => Some(name.to_string()),
                        _ => None,
                    };
                    let unexpected = arg.unexpected();
                    match name {
                        Some(name) if other(&name, &mut parser)? => {}
                        _ => return Err(unexpected),
                    }
                }
            }
        }
        if !(1..=256).contains(&args.threads) {
            return Err("--threads must be between 1 and 256".into());
        }
        Ok(args)
    }

    /// Runs `threads` reactors, one per thread, on one port: `serve(port, i, reuse_port,
    /// events)` runs reactor `i` (from 0) on `port` and reports on `events`. The first
    /// one picks the port (when it is 0), the others bind the same port with
    /// `SO_REUSEPORT` and the kernel spreads connections between them. Once every one is
    /// ready, `ready(port, what each reported)` prints the `listening on` line; then this
    /// waits until all stop. `Err` is the line to print: the first failure ends it.
    pub fn run_threads<R: Send + 'static>(
        &self,
        serve: impl Fn(u16, usize, bool, mpsc::Sender<Event<R>>) + Send + Clone + 'static,
        ready: impl FnOnce(u16, Vec<R>),
        port_of: impl Fn(&R) -> u16,
    ) -> Result<(), String> {
        let (port, threads) = (self.port, self.threads);
        if threads > 1 && port != 0 {
            // SO_REUSEPORT would let our listeners join those of another process already
            // on the port (and take half its connections): a plain bind first tells a
            // busy port.
            TcpListener::bind((self.bind.as_str(), port))
                .map_err(|e| format!("cannot listen on {}: {e}", host_port(&self.bind, port)))?;
        }
        let (tx, rx) = mpsc::channel();
        let start = |port: u16, i: usize| {
            let (serve, tx) = (serve.clone(), tx.clone());
            std::thread::spawn(move || serve(port, i, threads > 1, tx));
        };
        start(port, 0);
        let mut reports = Vec::new();
        let port = match rx.recv() {
            Ok(Event::Ready(r)) => {
                let p = port_of(&r);
                reports.push(r);
                p
            }
            Ok(Event::Failed(e)) => return Err(e),
            _ => return Err("the server thread ended before listening".into()),
        };
        for i in 1..threads {
            start(port, i);
        }
        drop(tx);
        for _ in 1..threads {
            match rx.recv() {
                Ok(Event::Ready(r)) => reports.push(r),
                Ok(Event::Failed(e)) => return Err(e),
                _ => return Err("a server thread ended before listening".into()),
            }
        }
        ready(port, reports);
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
}

/// What a server thread tells the main thread.
pub enum Event<R> {
    /// Listening (what it reports: its port, at least), signal handlers installed.
    Ready(R),
    /// Could not start, or the reactor failed: the line to print.
    Failed(String),
    /// The reactor stopped cleanly (SIGINT/SIGTERM).
    Stopped,
}

/// Sends how a server thread's reactor ended.
pub fn report<R>(events: &mpsc::Sender<Event<R>>, result: squall::Result<()>) {
    let _ = events.send(match result {
        Ok(()) => Event::Stopped,
        Err(e) => Event::Failed(e.to_string()),
    });
}
