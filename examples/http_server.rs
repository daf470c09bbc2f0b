//! The demo HTTP server.
//!
//! ```sh
//! cargo run --release --example http_server -- [--port 8888] [--bind 127.0.0.1] [--threads N]
//! ```
//! Prints `listening on http://HOST:PORT` once ready (port 0 picks a free port);
//! SIGINT/SIGTERM stop it cleanly (in-flight requests finish). Routes:
//! - `GET /` → `Hello, world`
//! - `POST /echo`, `PUT /echo` → the request body
//! - `GET /stream?chunks=N&size=S` → N chunks of S bytes of `x`, chunked, with backpressure
//! - `GET /sleep?ms=M` → `slept M` after M ms, from a timer
//! - anything else → 404

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use squall::http::{HttpServer, Request, Responder};
use squall::net::BindOptions;
use squall::{Handle, Reactor};

const MAX_CHUNKS: u64 = 1_000_000;
const MAX_CHUNK_SIZE: usize = 1 << 20;
const MAX_SLEEP_MS: u64 = 600_000;

fn route(handle: &Handle, req: Request, mut resp: Responder) {
    match (req.method.clone(), req.path()) {
        (Method::GET | Method::HEAD, "/") => {
            resp.set_header_static("content-type", "text/plain");
            resp.send(Bytes::from_static(b"Hello, world"));
        }
        (Method::POST | Method::PUT, "/echo") => resp.send(req.body),
        (Method::GET | Method::HEAD, "/stream") => {
            let chunks = arg(&req, "chunks").unwrap_or(10).min(MAX_CHUNKS);
            let size = (arg(&req, "size").unwrap_or(1024) as usize).min(MAX_CHUNK_SIZE);
            resp.set_header_static("content-type", "text/plain");
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

fn serve(bind: &str, port: u16, reuse_port: bool, ready: mpsc::Sender<u16>) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let h = handle.clone();
    let server = HttpServer::new(&handle, move |req, resp| route(&h, req, resp));
    let options = BindOptions::default()
        .with_reuse_port(reuse_port)
        .with_backlog(4096);
    let addr = server.listen_with((bind, port), &options)?;
    let _ = ready.send(addr.port());
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let (h, s) = (handle.clone(), server.clone());
        handle.add_signal_handler(signal, move || {
            let h = h.clone();
            s.close_all_connections()
                .add_done_callback(move |_| h.stop());
        })?;
    }
    reactor.run()
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = flag(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(8888);
    let threads: usize = flag(&args, "--threads")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let bind = flag(&args, "--bind").unwrap_or_else(|| "127.0.0.1".into());
    let (tx, rx) = mpsc::channel();
    let b = bind.clone();
    let first = std::thread::spawn(move || serve(&b, port, threads > 1, tx));
    let Ok(port) = rx.recv() else {
        if let Ok(Err(e)) = first.join() {
            eprintln!("http_server: {e}");
        }
        std::process::exit(1);
    };
    // Further threads: own reactor, own SO_REUSEPORT listener on the same port.
    let mut workers = vec![first];
    for _ in 1..threads {
        let (b, tx) = (bind.clone(), mpsc::channel().0);
        workers.push(std::thread::spawn(move || serve(&b, port, true, tx)));
    }
    println!("listening on http://{bind}:{port}");
    let mut failed = false;
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            eprintln!("http_server: {e}");
            failed = true;
        }
    }
    std::process::exit(i32::from(failed));
}
