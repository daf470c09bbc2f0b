//! The demo HTTP server.
//!
//! ```sh
//! cargo run --release --example http_server -- [--port 8888] [--bind 127.0.0.1] [--threads N]
//!     [--tls-cert CHAIN.pem --tls-key KEY.pem] [--metrics-port N]
//! ```
//! Prints `listening on http://HOST:PORT` once ready (port 0 picks a free port), or
//! `listening on https://HOST:PORT` when serving TLS with the given certificate chain and
//! key;
//! SIGINT/SIGTERM stop it cleanly (in-flight requests finish). Routes:
//! - `GET /` → `Hello, world`
//! - `POST /echo`, `PUT /echo` → the request body
//! - `GET /stream?chunks=N&size=S` → N chunks of S bytes of `x`, chunked, with backpressure
//! - `GET /sleep?ms=M` → `slept M` after M ms, from a timer
//! - anything else → 404
//!
//! `--metrics-port N` serves Prometheus metrics (`GET /metrics`, the `squall::metrics`
//! module) on port N of the same address, one port per reactor (N, N+1, …; 0 picks free
//! ports), and prints `metrics on http://HOST:PORT/metrics` for each after the
//! `listening on` line (nothing changes without the flag).
//!
//! `--threads N` runs N reactors, each on its own thread with its own `SO_REUSEPORT`
//! listener on the same port. `--help` prints the usage. Exit status: 0 after a clean
//! stop, 2 for a usage error (a message and the usage on stderr), 1 when the server
//! cannot start (e.g. the port is in use: one line on stderr) or a reactor fails.
//! `RUST_LOG` sets the log level (default `warn`, so squall's warnings are shown; e.g.
//! `RUST_LOG=squall=debug`).

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use squall::http::{HttpServer, Request, Responder};
use squall::net::BindOptions;
use squall::tls::TlsConfig;
use squall::{Handle, Reactor};

#[path = "common/mod.rs"]
mod common;

use common::{host_port, Event, ServerArgs};

const MAX_CHUNKS: u64 = 1_000_000;
const MAX_CHUNK_SIZE: usize = 1 << 20;
const MAX_SLEEP_MS: u64 = 600_000;

fn route(handle: &Handle, req: Request, mut resp: Responder) {
    match (req.method.clone(), req.path()) {
        (Method::GET | Method::HEAD, "/") => {
            resp.set_header_static(CONTENT_TYPE, "text/plain");
            resp.send(Bytes::from_static(b"Hello, world"));
        }
        (Method::POST | Method::PUT, "/echo") => resp.send(req.body),
        (Method::GET | Method::HEAD, "/stream") => {
            let chunks = arg(&req, "chunks").unwrap_or(10).min(MAX_CHUNKS);
            let size = (arg(&req, "size").unwrap_or(1024) as usize).min(MAX_CHUNK_SIZE);
            resp.set_header_static(CONTENT_TYPE, "text/plain");
            stream_chunks(resp, Bytes::from(vec![b'x'; size]), chunks);
        }
        (Method::GET | Method::HEAD, "/sleep") => {
            let ms = arg(&req, "ms").unwrap_or(0).min(MAX_SLEEP_MS);
            handle.call_later(Duration::from_millis(ms), move || {
                resp.send(format!("slept {ms}"));
            });
        }
        _ => resp.respond(StatusCode::NOT_FOUND, Bytes::from_static(b"Not Found\n")),
    }
}

fn arg(req: &Request, name: &str) -> Option<u64> {
    req.query_arg(name)?.parse().ok()
}

/// Writes the next chunk once the previous one reached the kernel (backpressure).
fn stream_chunks(mut resp: Responder, chunk: Bytes, left: u64) {
    if left == 0 || resp.is_closed() {
        resp.finish();
        return;
    }
    resp.write(chunk.clone())
        .add_done_callback(move |f| match f.take_result() {
            Some(Ok(())) => stream_chunks(resp, chunk, left - 1),
            _ => drop(resp), // client gone: the connection is closed
        });
}

const USAGE: &str = "\
usage: http_server [--port N] [--bind HOST] [--threads N] [--tls-cert FILE --tls-key FILE]
                   [--metrics-port N]
      --port N          port to listen on (default 8888; 0 picks a free port)
      --bind HOST       address to listen on (default 127.0.0.1)
      --threads N       reactors, one per thread, sharing the port (default 1, at most 256)
      --tls-cert FILE   serve https with this PEM certificate chain ...
      --tls-key FILE    ... and this PEM private key
      --metrics-port N  serve Prometheus metrics on port N (N+1, ... for more threads)
  -h, --help            this help
";

/// What the command line asked for: the shared server flags, and TLS and metrics.
struct Args {
    server: ServerArgs,
    tls: Option<(String, String)>,
    metrics_port: Option<u16>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::ValueExt;
    let (mut cert, mut key, mut metrics_port) = (None, None, None);
    let server = ServerArgs::parse(8888, USAGE, |flag, parser| {
        match flag {
            "tls-cert" => cert = Some(parser.value()?.string()?),
            "tls-key" => key = Some(parser.value()?.string()?),
            "metrics-port" => metrics_port = Some(common::number(parser, "--metrics-port")?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Args {
        server,
        tls,
        metrics_port,
    })
}

fn run_reactor(
    bind: &str,
    port: u16,
    reuse_port: bool,
    tls: Option<TlsConfig>,
    metrics_port: Option<u16>,
    events: &mpsc::Sender<Event<(u16, Option<u16>)>>,
) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let h = handle.clone();
    let server = HttpServer::new(&handle, move |req, resp| route(&h, req, resp));
    if let Some(config) = tls {
        server.set_tls(config)?;
    }
    let options = BindOptions::default().reuse_port(reuse_port).backlog(4096);
    let addr = server.listen_with((bind, port), &options)?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let (h, s) = (handle.clone(), server.clone());
        handle.add_signal_handler(signal, move || {
            let h = h.clone();
            s.close_all_connections()
                .add_done_callback(move |_| h.stop());
        })?;
    }
    #[cfg(feature = "metrics")]
    let metrics = match metrics_port {
        Some(p) => Some(squall::metrics::serve(&handle, (bind, p))?),
        None => None,
    };
    #[cfg(feature = "metrics")]
    let metrics_port = metrics.as_ref().map(|(_, a)| a.port());
    #[cfg(not(feature = "metrics"))]
    let metrics_port = metrics_port.and(None);
    if events
        .send(Event::Ready((addr.port(), metrics_port)))
        .is_err()
    {
        return Ok(()); // the main thread is gone
    }
    reactor.run()
}

fn main() {
    common::init_logging("warn");
    let args = parse().unwrap_or_else(|e| common::usage_error("http_server", USAGE, e));
    if let Err(e) = run(args) {
        common::failed("http_server", e);
    }
}

/// Starts the server threads and waits for them; `Err` is the line to print.
fn run(args: Args) -> Result<(), String> {
    let Args {
        server,
        tls,
        metrics_port,
    } = args;
    let tls = match tls {
        Some((cert, key)) => {
            Some(TlsConfig::server_from_pem_files(cert, key).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let bind = server.bind.clone();
    let serve = move |port, i: usize, reuse_port, events: mpsc::Sender<Event<_>>| {
        // One metrics port per reactor (each has its own counters): N, N+1, ...
        let m = metrics_port.map(|p| {
            if p == 0 {
                0
            } else {
                p.saturating_add(i as u16)
            }
        });
        let result = run_reactor(&bind, port, reuse_port, tls.clone(), m, &events);
        common::report(&events, result);
    };
    let ready = |port, reports: Vec<(u16, Option<u16>)>| {
        println!("listening on {scheme}://{}", host_port(&server.bind, port));
        for (_, m) in reports {
            if let Some(m) = m {
                println!("metrics on http://{}/metrics", host_port(&server.bind, m));
            }
        }
    };
    server.run_threads(serve, ready, |(port, _)| *port)
}
